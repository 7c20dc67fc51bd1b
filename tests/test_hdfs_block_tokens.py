"""Block access tokens (dfs.block.access.token.enable) and the writes that may never destroy a replica."""

from __future__ import annotations

import pytest

from hdfs.blocktoken import AccessMode, BlockKey, BlockKeyManager, InvalidBlockToken, TokenIdentifier, sign, verify
from hdfs.namenode.events import AddBlock, Create, DatanodeRegistered, SetReplication
from tests.namenode_fixtures import SUPERUSER, add_datanodes, heartbeat, make_namesystem, run, tick

MiB = 1 << 20
KEY = BlockKey(1, b"k" * 32, expiry_s=2000.0)


def token(block_id=7, stamp=1001, modes=AccessMode.READ, expiry_s=1500.0, key=KEY):
    return sign(key, TokenIdentifier(key.key_id, expiry_s, "alice", block_id, stamp, modes))


@pytest.mark.parametrize("presented, block_id, stamp, mode, now_s, message", [
    (b"", 7, 1001, AccessMode.READ, 1000.0, "no block token"),
    (token(block_id=8), 7, 1001, AccessMode.READ, 1000.0, "is for blk_8_1001"),
    (token(stamp=1000), 7, 1001, AccessMode.READ, 1000.0, "is for blk_7_1000"),
    (token(modes=AccessMode.READ), 7, 1001, AccessMode.WRITE, 1000.0, "not WRITE"),
    (token(), 7, 1001, AccessMode.READ, 1600.0, "has expired"),
    (token()[:-1] + b"x", 7, 1001, AccessMode.READ, 1000.0, "bad signature"),
    (token(key=BlockKey(2, b"o" * 32, 2000.0)), 7, 1001, AccessMode.READ, 1000.0, "does not have"),
    (b"\xc1" * 40, 7, 1001, AccessMode.READ, 1000.0, "malformed"),
])
def test_a_token_is_refused_for_another_block_stamp_mode_time_key_or_signature(presented, block_id, stamp, mode,
                                                                                now_s, message):
    with pytest.raises(InvalidBlockToken, match=message):
        verify({KEY.key_id: KEY}, presented, block_id, stamp, mode, now_s)


def test_a_good_token_is_accepted_and_keys_roll_while_old_tokens_stay_valid():
    assert verify({1: KEY}, token(modes=AccessMode.READ | AccessMode.WRITE), 7, 1001, AccessMode.WRITE, 1000.0).user == "alice"
    manager = BlockKeyManager(update_interval_s=10, token_lifetime_s=30, secret_source=lambda n: bytes(n), now_s=0.0)
    issued = manager.issue("bob", 7, 1001, AccessMode.READ, now_s=1.0)
    assert manager.roll_if_due(11.0) and manager.current.key_id == 2
    assert verify(manager.keys, issued, 7, 1001, AccessMode.READ, 20.0).user == "bob"


def test_the_namenode_hands_keys_to_datanodes_and_signs_copies_it_asks_for():
    from hdfs.namenode.events import KeyUpdateCommand, TransferCommand
    from tests.test_namenode_state import write_file

    namesystem = make_namesystem(properties={"dfs.block.access.token.enable": "true",
                                             "dfs.block.access.key.update.interval": "1"})  # minutes
    keys = run(namesystem, DatanodeRegistered("uuid-9", "core-9", "127.0.0.1:9999", 1 << 40)).block_keys
    assert [key.key_id for key in keys] == [namesystem.block_keys.current.key_id]
    add_datanodes(namesystem, 3)
    write_file(namesystem, "/f", [100], replication=2)
    run(namesystem, SetReplication(SUPERUSER, "/f", 3))
    namesystem.clock.tick(61)  # past the key update interval
    for uuid in ("uuid-1", "uuid-2", "uuid-3"):
        heartbeat(namesystem, uuid)  # still alive
    tick(namesystem)
    commands = [command for uuid in ("uuid-1", "uuid-2", "uuid-3")
                for command in heartbeat(namesystem, uuid)]
    updates = [command for command in commands if isinstance(command, KeyUpdateCommand)]
    assert len(updates) == 3 and {key.key_id for key in updates[0].block_keys} == {1, 2}
    (transfer,) = [command for command in commands if isinstance(command, TransferCommand)]
    key_ring = {key.key_id: key for key in updates[0].block_keys}
    verify(key_ring, transfer.block_token, transfer.block.block_id, transfer.block.generation_stamp, AccessMode.COPY,
           namesystem.clock())


def test_a_write_never_replaces_a_finalized_replica_whatever_its_stamp(tmp_path):
    from emrlab_common.errors import FailedPrecondition
    from hdfs import checksum
    from hdfs.datanode.storage import Storage
    from hdfs.errors import FileAlreadyExists

    storage = Storage(tmp_path)
    writer = storage.create_rbw(7, 1001, 512)
    writer.write(0, b"precious", checksum.chunk_checksums(b"precious", 512))
    storage.finalize(writer)
    for stamp in (1001, 1002, 1 << 62):
        with pytest.raises(FileAlreadyExists, match="a write may not replace it"):
            storage.create_rbw(7, stamp, 512)
    assert storage.get(7).block_path.read_bytes() == b"precious"
    # Nor does a recovery nobody began: only InitReplicaRecovery's recovery id may truncate it.
    with pytest.raises(FailedPrecondition, match="InitReplicaRecovery comes first"):
        storage.recover(7, 1002, 3)
    with pytest.raises(FailedPrecondition, match="not newer"):
        storage.begin_recovery(storage.get(7), 1001)
    storage.begin_recovery(storage.get(7), 1002)
    assert storage.recover(7, 1002, 3).block_path.read_bytes() == b"pre"


# ---------------------------------------------------------------- a real cluster with tokens on

@pytest.mark.cluster
def test_with_tokens_on_strangers_cannot_read_write_or_claim_a_node_and_the_cluster_still_heals(cluster_factory):
    import os

    from emrlab_common.credentials import key_path
    from emrlab_common.errors import EmrlabError, PermissionDenied
    from emrlab_common.protos import hdfs_pb2, hdfs_pb2_grpc
    from emrlab_common.rpc import call, connect, stream
    from hdfs.pipeline import PipelineStream
    from tests.conftest import wait_until
    from tests.test_hdfs_cluster import fsck_is_healthy_with

    cluster = cluster_factory(core=4, properties={"dfs.block.access.token.enable": "true"})
    superuser = cluster.client()
    superuser.mkdirs("/user/alice")
    superuser.chown("/user/alice", "alice")
    owner = cluster.client(user="alice")
    data = os.urandom(MiB + 1000)
    owner.write_bytes("/user/alice/secret.bin", data, replication=3)
    owner.chmod("/user/alice/secret.bin", 0o600)
    assert owner.read_bytes("/user/alice/secret.bin") == data  # the owner's tokens work
    located = owner._block_locations("/user/alice/secret.bin").blocks[0]
    replica = located.locations[0]
    stub = hdfs_pb2_grpc.DataTransferProtocolStub(connect(replica.address))
    # A stranger who guessed the block id: no token, or a made-up one, reads nothing.
    for forged in (b"", b"\x96" + b"x" * 60):
        request = hdfs_pb2.ReadBlockRequest(block=located.block, length_bytes=10, block_token=forged)
        with pytest.raises(PermissionDenied, match="block token"):
            list(stream(stub.ReadBlock, request, timeout_s=10))
    # Three header-only writes with a higher stamp, with and without a token stolen for reading: nothing is lost.
    stolen = located.block_token
    for block_token in (b"", stolen, stolen):
        header = hdfs_pb2.WriteBlockHeader(
            block=hdfs_pb2.Block(block_id=located.block.block_id, generation_stamp=located.block.generation_stamp + 99),
            stage=hdfs_pb2.PIPELINE_SETUP_CREATE, bytes_per_checksum=512, block_token=block_token)
        with pytest.raises(EmrlabError):
            stream = PipelineStream(stub, header, 10.0, peer=replica.node_id)
            stream.cancel()
    assert owner.read_bytes("/user/alice/secret.bin") == data
    # A client that only claims to be on the replica's node gets the name of a proof, not the replica's files.
    access = call(stub.RequestShortCircuitAccess, hdfs_pb2.RequestShortCircuitAccessRequest(
        block=located.block, client_node_id=replica.node_id, block_token=stolen), timeout_s=10)
    assert access.proof_path and not access.block_path
    # Nor can a stranger truncate it through block recovery, which takes the NameNode's RECOVER token.
    for method, request in ((stub.InitReplicaRecovery, hdfs_pb2.InitReplicaRecoveryRequest(
                                 block=located.block, recovery_id=located.block.generation_stamp + 5, block_token=stolen)),
                            (stub.UpdateReplicaUnderRecovery, hdfs_pb2.UpdateReplicaUnderRecoveryRequest(
                                 block=located.block, recovery_id=located.block.generation_stamp + 5, new_length_bytes=1,
                                 block_token=stolen))):
        with pytest.raises(PermissionDenied, match="not RECOVER"):
            call(method, request, timeout_s=10)
    # Nor can a stranger pose as a DataNode to be handed the block keys: that takes the cluster key.
    namenode = hdfs_pb2_grpc.DatanodeProtocolStub(connect(cluster.cluster_dir.address_of("namenode")))
    impostor = hdfs_pb2.RegisterDatanodeRequest(id=hdfs_pb2.DatanodeId(
        datanode_uuid="impostor", node_id="core-9", address="127.0.0.1:1"), capacity_bytes=1 << 40)
    with pytest.raises(PermissionDenied, match="not a daemon of this cluster"):
        call(namenode.RegisterDatanode, impostor, timeout_s=10)
    assert oct(key_path(cluster.cluster_dir.root).stat().st_mode & 0o777) == "0o600"
    local = cluster.client(user="alice", node_id=replica.node_id)
    # The owner on a replica's node reads its blocks there straight from the files: the DataNode counts each access.
    blocks_here = sum(any(location.node_id == replica.node_id for location in block.locations)
                      for block in owner._block_locations("/user/alice/secret.bin").blocks)
    activity = "Hadoop:service=DataNode,name=DataNodeActivity"
    granted = cluster.jmx(f"datanode-{replica.node_id}", activity)["BlocksGetLocalPathInfo"]
    assert local.read_bytes("/user/alice/secret.bin") == data
    assert cluster.jmx(f"datanode-{replica.node_id}", activity)["BlocksGetLocalPathInfo"] == granted + blocks_here
    # Re-replication carries the NameNode's COPY tokens: a killed DataNode is healed around.
    cluster.kill(f"datanode-{replica.node_id}")
    wait_until(lambda: fsck_is_healthy_with(cluster, 3), what="fsck HEALTHY with 3 replicas per block")
    assert owner.read_bytes("/user/alice/secret.bin") == data


def test_a_lease_recovery_command_carries_a_recover_token_for_the_block():
    from hdfs.namenode.events import KeyUpdateCommand, RecoverCommand

    namesystem = make_namesystem(properties={"dfs.block.access.token.enable": "true"})
    uuids = add_datanodes(namesystem, 3)
    run(namesystem, Create(SUPERUSER, "/abandoned", 0o644, "gone", False, True, 3, 0))
    located = run(namesystem, AddBlock(SUPERUSER, "/abandoned", "gone", None, frozenset(), "")).located
    commands = []
    for _ in range(14):  # the writer is silent past the lease hard limit; the DataNodes are not
        namesystem.clock.tick(1)
        for uuid in uuids:
            commands += heartbeat(namesystem, uuid)
        tick(namesystem)
    (recover,) = [command for command in commands if isinstance(command, RecoverCommand)]
    assert not any(isinstance(command, KeyUpdateCommand) for command in commands)  # keys came at registration
    verify(namesystem.block_keys.keys, recover.block_token, located.block.block_id, located.block.generation_stamp,
           AccessMode.RECOVER, namesystem.clock())


def test_a_daemon_proof_is_signed_with_the_cluster_key_and_expires(tmp_path):
    from emrlab_common.credentials import ensure_key, proof_metadata, verify_proof
    from emrlab_common.errors import PermissionDenied

    key = ensure_key(tmp_path)
    assert ensure_key(tmp_path) == key  # made once, then kept
    assert verify_proof(key, proof_metadata(key, "datanode core-1", now_s=100.0), now_s=200.0) == "datanode core-1"
    for metadata, now_s in ((proof_metadata(key, "datanode core-1", now_s=100.0), 1000.0),
                            (proof_metadata(b"another cluster", "datanode core-1", now_s=100.0), 200.0),
                            ((), 200.0)):
        with pytest.raises(PermissionDenied):
            verify_proof(key, metadata, now_s=now_s)


# ---------------------------------------------------------------- users: token authentication

@pytest.mark.cluster
def test_in_token_mode_a_user_is_who_they_can_prove_not_who_they_say(cluster_factory, tmp_path, monkeypatch):
    from emrlab_common.errors import PermissionDenied
    from emrlab_common.protos import hdfs_pb2, hdfs_pb2_grpc
    from emrlab_common.rpc import call, connect
    from hdfs import Client

    cluster = cluster_factory(core=1, properties={"hadoop.security.authentication": "token"})
    owner = cluster.client()  # this process can read the cluster key: it proves any user it names
    owner.write_bytes("/private.txt", b"for the superuser", replication=1)
    owner.chmod("/private.txt", 0o600)
    namenode = hdfs_pb2_grpc.ClientProtocolStub(connect(cluster.cluster_dir.address_of("namenode")))
    with pytest.raises(PermissionDenied, match="no delegation token and no proof"):
        call(namenode.GetFileInfo, hdfs_pb2.GetFileInfoRequest(path="/private.txt"), user=SUPERUSER, timeout_s=10)
    # A process that cannot read the key gets in with a delegation token only, as the token's user.
    alice_token = cluster.client(user="alice").delegation_token()
    address = cluster.cluster_dir.address_of("namenode")
    config = cluster.client().config
    stranger = Client(address, user="root-please", config=config)  # no cluster_root: no key
    with pytest.raises(PermissionDenied, match="no delegation token"):
        stranger.exists("/private.txt")
    token_file = tmp_path / "alice.token"
    token_file.write_text(alice_token)
    monkeypatch.setenv("HADOOP_TOKEN_FILE_LOCATION", str(token_file))
    with pytest.raises(PermissionDenied, match="user=alice"):  # believed as alice, whatever it says
        stranger.read_bytes("/private.txt")
    token_file.write_text(alice_token[:-2] + ("00" if not alice_token.endswith("00") else "11"))
    with pytest.raises(PermissionDenied, match="not signed with this cluster's key"):
        stranger.exists("/private.txt")
    stranger.close()

"""Issue 13's findings, each reproduced first: deep namespaces, unreadable blocks, damaged replicas,
replication asked while DataNodes were down, and bad input at the edge."""

from __future__ import annotations

import contextlib

import pytest

from emrlab_common.config import load
from emrlab_common.errors import InvalidArgument, ResourceExhausted
from hdfs import paths
from hdfs.errors import InvalidPath
from hdfs.namenode.config import NameNodeConfig
from hdfs.namenode.events import (
    AddBlock,
    BlocksReceivedAndDeleted,
    Complete,
    Create,
    DatanodeRegistered,
    Delete,
    Mkdirs,
    Rename,
    SetPermission,
    SetReplication,
    SetSafeMode,
)
from hdfs.namenode.server import NameNode
from tests.namenode_fixtures import SUPERUSER, TEST_PROPERTIES, heartbeat, make_namesystem, run, tick

MiB = 1 << 20
DEEP_LEVELS = 995  # beyond Python's recursion limit, within HDFS's 1000 levels


def deep_path(levels: int = DEEP_LEVELS) -> str:
    return "/tmp" + "/d" * (levels - 1)


# ---------------------------------------------------------------- 1. deep directories

def test_a_namenode_with_a_directory_995_levels_deep_restarts_and_traverses_it(tmp_path):
    config = load(NameNodeConfig, TEST_PROPERTIES)
    namenode = NameNode(config, tmp_path, SUPERUSER)
    namenode.handle(SetSafeMode("leave"))
    namenode.handle(Mkdirs(SUPERUSER, deep_path(), 0o755, True))
    namenode.editlog.close()  # as kill -9: no checkpoint, the edit log replays
    restarted = NameNode(config, tmp_path, SUPERUSER)
    restarted.handle(SetSafeMode("leave"))
    with restarted.operation() as namesystem:
        assert namesystem.file_info(SUPERUSER, deep_path()).is_directory
        assert namesystem.content_summary(SUPERUSER, "/").directory_count == DEEP_LEVELS + 1
        assert len(namesystem.fsck(SUPERUSER, "/")) == DEEP_LEVELS + 1
    restarted.close()  # a checkpoint: now the image holds it
    from_image = NameNode(config, tmp_path, SUPERUSER)
    from_image.handle(SetSafeMode("leave"))
    assert from_image.namesystem.file_info(SUPERUSER, deep_path()).is_directory
    from_image.handle(Delete(SUPERUSER, "/tmp", True))
    assert from_image.namesystem.file_info(SUPERUSER, "/tmp") is None
    from_image.close()


def test_hadoops_path_limits_are_enforced_with_its_messages():
    namesystem = make_namesystem(properties={"dfs.namenode.fs-limits.max-component-length": "10",
                                             "dfs.namenode.fs-limits.max-directory-items": "3"})
    with pytest.raises(InvalidArgument, match="The maximum path component name limit of abcdefghijk in "
                                              "directory /a is exceeded: limit=10 length=11"):
        run(namesystem, Mkdirs(SUPERUSER, "/a/abcdefghijk", 0o755, True))
    run(namesystem, Mkdirs(SUPERUSER, "/b/one", 0o755, True))
    run(namesystem, Mkdirs(SUPERUSER, "/b/two", 0o755, True))
    run(namesystem, Mkdirs(SUPERUSER, "/b/three", 0o755, True))
    with pytest.raises(ResourceExhausted, match="The directory item limit of /b is exceeded: limit=3 items=3"):
        run(namesystem, Mkdirs(SUPERUSER, "/b/four/five", 0o755, True))
    with pytest.raises(ResourceExhausted, match="directory item limit"):
        run(namesystem, Create(SUPERUSER, "/b/file", 0o644, "c1", False, True, 1, 0))
    run(namesystem, Mkdirs(SUPERUSER, "/c", 0o755, True))
    with pytest.raises(ResourceExhausted, match="directory item limit"):
        run(namesystem, Rename(SUPERUSER, "/c", "/b/c"))
    run(namesystem, Mkdirs(SUPERUSER, "/c" + "/d" * 600, 0o755, True))
    run(namesystem, Mkdirs(SUPERUSER, "/e" + "/f" * 500, 0o755, True))
    with pytest.raises(InvalidArgument, match="would be 1102 levels deep; the limit is 1000"):
        run(namesystem, Rename(SUPERUSER, "/c", "/e" + "/f" * 500))
    for too_long in ("/x" * 1001, "/" + "/".join(["y" * 200] * 41)):
        with pytest.raises(InvalidPath, match="Pathname too long.  Limit 8000 characters, 1000 levels.") as error:
            paths.validate(too_long)
        assert len(str(error.value)) < 400  # the message does not repeat the path


def test_client_walk_and_dfs_descendants_do_not_recurse_on_depth():
    from hdfs.cli.dfs.common import descendants
    from hdfs.client.client import Client
    from hdfs.protocol import FileStatus

    class FakeNamenode(Client):
        """A Client whose namespace is a chain of DEEP_LEVELS directories, with no NameNode behind it."""

        def __init__(self):
            pass

        def status(self, path):
            return FileStatus(path, True, 0, 0, 0, "u", "g", 0o755, 0, 0, 1)

        def list(self, path):
            if path.count("/") >= DEEP_LEVELS:
                return []
            return [self.status(path.rstrip("/") + "/d")]

    client = FakeNamenode()
    assert sum(1 for _ in client.walk("/")) == DEEP_LEVELS + 1
    assert sum(1 for _ in descendants(client, "/")) == DEEP_LEVELS


# ---------------------------------------------------------------- 2. every replica corrupt; 3. a damaged .meta header

class FakeReplicaClient:
    """What InputStream needs of a Client, with DataNodes that serve bytes whose checksums never match."""

    BLOCK = 1024

    def __init__(self, tmp_path=None, node_id=""):
        from hdfs.client.config import ClientConfig

        self.config = ClientConfig()
        self.node_id = node_id
        self.client_name = "DFSClient_test"
        self.user = "alice"
        self.lookups = self.reports = 0
        self.tmp_path = tmp_path
        self._locality_proofs = {}

    def located(self):
        from emrlab_common.protos import hdfs_pb2

        replicas = [hdfs_pb2.DatanodeId(datanode_uuid=f"uuid-{index}", node_id=f"core-{index}", address=f"127.0.0.1:{index}")
                    for index in (1, 2)]
        block = hdfs_pb2.Block(block_id=7, generation_stamp=1001, length_bytes=self.BLOCK)
        return hdfs_pb2.GetBlockLocationsResponse(
            file_length_bytes=self.BLOCK, blocks=[hdfs_pb2.LocatedBlock(block=block, offset_bytes=0, locations=replicas)])

    def _block_locations(self, path):
        self.lookups += 1
        return self.located()

    def _report_bad_block(self, block, datanode_uuid):
        self.reports += 1

    def _datanode(self, address):
        from emrlab_common.protos import hdfs_pb2

        client = self

        class Stub:
            def ReadBlock(self, request, timeout, metadata):
                return iter([hdfs_pb2.ReadBlockResponse(offset_in_block=0, data=b"x" * client.BLOCK,
                                                        checksums=b"\0\0\0\0" * 2, bytes_per_checksum=512)])

            def RequestShortCircuitAccess(self, request, timeout, metadata):
                block_path, meta_path = client.tmp_path / "blk_7", client.tmp_path / "blk_7_1001.meta"
                block_path.write_bytes(b"y" * client.BLOCK)
                meta_path.write_bytes(b"\x00\x01")  # a header cut short
                return hdfs_pb2.RequestShortCircuitAccessResponse(block_path=str(block_path), meta_path=str(meta_path))

        return contextlib.nullcontext(Stub())  # what the reader does with a hold: `with hold as stub`


def read_in_thread(stream, timeout_s=20.0):
    import threading

    outcome = {}

    def read():
        try:
            outcome["data"] = stream.read()
        except Exception as error:  # what the test looks at
            outcome["error"] = error

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(timeout_s)
    assert not thread.is_alive(), "the read hangs"
    return outcome


def test_a_block_whose_replicas_are_all_corrupt_fails_the_read_with_block_missing():
    from hdfs.client.reader import InputStream
    from hdfs.errors import BlockMissing

    client = FakeReplicaClient()
    outcome = read_in_thread(InputStream(client, "/f", client.located()))
    assert isinstance(outcome.get("error"), BlockMissing), outcome
    assert "Could not obtain block: blk_7 file=/f" in str(outcome["error"])
    retries = client.config.read_block_retries
    assert client.lookups == retries and client.reports == 2 * (retries + 1)  # each replica once per round


def test_a_damaged_meta_header_falls_back_from_the_short_circuit_read(tmp_path):
    from hdfs.client.reader import InputStream
    from hdfs.errors import BlockMissing

    client = FakeReplicaClient(tmp_path, node_id="core-1")
    outcome = read_in_thread(InputStream(client, "/f", client.located()))
    # The short-circuit read is refused cleanly and the network read is tried (whose bytes are bad too).
    assert isinstance(outcome.get("error"), BlockMissing), outcome


# ---------------------------------------------------------------- 3. damaged, missing and grown replica files

def datanode_with_replicas(tmp_path, count=3, length=1500):
    """A DataNode with `count` finalized replicas, and its actor, listening but not running: what the
    DataNode's threads tell it waits in its state (`actor.state.pending`), since no NameNode is called."""
    from emrlab_common.clusterdir import ClusterDir
    from emrlab_common.config import load
    from hdfs import checksum
    from hdfs.datanode.actor import NameNodeActor
    from hdfs.datanode.config import DataNodeConfig
    from hdfs.datanode.node import DataNode

    config = load(DataNodeConfig, {"dfs.datanode.scan.period.hours": "0.2s", "dfs.datanode.directoryscan.interval": "0.1s",
                                   "dfs.block.scanner.volume.bytes.per.second": "100m"})
    datanode = DataNode(config, ClusterDir(tmp_path / "cluster"), "core-1", tmp_path)
    for block_id in range(1, count + 1):
        writer = datanode.storage.create_rbw(block_id, 1001, 512)
        data = bytes([block_id]) * length
        writer.write(0, data, checksum.chunk_checksums(data, 512))
        datanode.storage.finalize(writer)
    return datanode, NameNodeActor(datanode)


def block_ids(blocks) -> list[int]:
    return [block.block_id for block in blocks]


def test_the_block_scanner_survives_a_damaged_meta_header_and_reports_it(tmp_path):
    import threading
    import time

    from hdfs.datanode.scanner import BlockScanner

    datanode, actor = datanode_with_replicas(tmp_path)
    datanode.storage.get(2).meta_path.write_bytes(b"\x00\x01")  # a header cut short
    scanner = BlockScanner(datanode)
    stop = threading.Event()
    thread = threading.Thread(target=scanner.run, args=(stop,), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (len(scanner.last_scanned_s) == 3 and actor.state.pending.bad):
            time.sleep(0.05)
        assert thread.is_alive()
        assert set(scanner.last_scanned_s) == {1, 2, 3} and block_ids(actor.state.pending.bad) == [2]
    finally:
        stop.set()
        thread.join(5)
        datanode.close()


def test_the_directory_scan_reports_deleted_grown_and_unknown_replica_files(tmp_path):
    import shutil

    from hdfs.datanode.directoryscan import DirectoryScanner
    from hdfs.datanode.storage import Storage

    datanode, actor = datanode_with_replicas(tmp_path, count=4)
    storage, pending = datanode.storage, actor.state.pending
    storage.get(1).block_path.unlink()
    storage.get(2).meta_path.unlink()
    leftover = storage.get(2).block_path
    with open(storage.get(3).block_path, "ab") as grown:
        grown.write(b"appended behind the DataNode's back")
    scanner = DirectoryScanner(datanode)
    assert len(scanner.scan_once()) == 3
    # The actor carried the state's commands out: the missing ones forgotten (then reported deleted), the
    # grown one reported bad and kept until the NameNode has it deleted.
    assert sorted(block_ids(pending.deleted)) == [1, 2] and block_ids(pending.bad) == [3]
    assert storage.get(1) is None and storage.get(2) is None and storage.get(3) is not None
    assert not leftover.exists()  # a replica without its checksums goes whole
    pending.bad.clear()  # as if it went out
    assert block_ids(d.block for d in scanner.scan_once()) == [3] and not pending.bad  # said once
    # A replica file the DataNode does not know (restored by hand, to another subdirectory, say) is adopted.
    other, _ = datanode_with_replicas(tmp_path / "other", count=5)
    source = other.storage.get(5)
    shutil.copy(source.block_path, storage.get(4).block_path.parent / source.block_path.name)
    shutil.copy(source.meta_path, storage.get(4).block_path.parent / source.meta_path.name)
    scanner.scan_once()
    assert block_ids(pending.received) == [5] and storage.get(5).length_bytes == 1500
    assert set(Storage(tmp_path).replicas) == {3, 4, 5}
    datanode.close()
    other.close()


@pytest.mark.cluster
def test_a_deleted_and_a_grown_replica_file_are_found_by_the_directory_scan_and_healed(cluster_factory):
    import os

    from tests.conftest import wait_until

    cluster = cluster_factory(core=3, properties={"dfs.datanode.directoryscan.interval": "0.3"})
    client = cluster.client()
    data = os.urandom(700_000)
    client.write_bytes("/scanned.bin", data, replication=3)

    def block_file(node_id):
        found = [path for path in cluster.node_data_dir(node_id).rglob("blk_*") if path.suffix != ".meta"]
        if len(found) != 1:
            raise FileNotFoundError(f"{len(found)} replica files on {node_id}")  # yet: wait_until keeps polling
        return found[0]

    deleted, grown = block_file("core-1"), block_file("core-2")
    deleted.unlink()
    with open(grown, "ab") as file:
        file.write(b"appended behind the DataNode's back")
    # Each node holds the block again, intact: the only place a third copy can go is where it was lost.
    wait_until(lambda: block_file("core-1").read_bytes() == data, what="core-1's replica copied back")
    wait_until(lambda: block_file("core-2").read_bytes() == data, what="core-2's grown replica replaced")
    # It was each node's directory scan that found its replica changed (as the scan counts on /jmx), not a read.
    activity = "Hadoop:service=DataNode,name=DataNodeActivity"
    assert cluster.jmx("datanode-core-1", activity)["DirectoryScanMissingReplicas"] >= 1
    assert cluster.jmx("datanode-core-2", activity)["DirectoryScanDamagedReplicas"] >= 1
    assert client.read_bytes("/scanned.bin") == data


# ---------------------------------------------------------------- 4. replication asked while DataNodes are down

def test_a_file_written_while_datanodes_are_down_keeps_its_replication_and_is_copied_when_they_return():
    from hdfs.namenode.events import TransferCommand
    from tests.namenode_fixtures import add_datanodes
    from tests.test_namenode_state import write_file

    namesystem = make_namesystem()
    add_datanodes(namesystem, 2)
    created = run(namesystem, Create(SUPERUSER, "/early", 0o644, "c0", False, True, 3, 0))
    assert created.status.replication == 3 and "under-replicated until more DataNodes join" in created.warning
    run(namesystem, Delete(SUPERUSER, "/early", False))
    write_file(namesystem, "/f", [100], replication=3)
    assert namesystem.file_info(SUPERUSER, "/f").replication == 3
    assert namesystem.blocks.counts()["under_replicated"] == 1
    run(namesystem, DatanodeRegistered("uuid-3", "core-3", "127.0.0.1:9003", 1 << 40))
    heartbeat(namesystem, "uuid-3")
    namesystem.clock.tick(2)
    tick(namesystem)
    commands = [command for uuid in ("uuid-1", "uuid-2") for command in heartbeat(namesystem, uuid)]
    (transfer,) = [command for command in commands if isinstance(command, TransferCommand)]
    assert [target.uuid for target in transfer.targets] == ["uuid-3"]


def test_blocks_with_one_replica_are_copied_first_and_may_use_the_hard_stream_limit():
    from hdfs.namenode.events import TransferCommand
    from tests.namenode_fixtures import add_datanodes

    namesystem = make_namesystem(properties={"dfs.namenode.replication.work.multiplier.per.iteration": "1"})
    add_datanodes(namesystem, 4)
    lonely, common = [], []
    for index in range(6):  # one replica each, all on core-1 (the writer's node)
        path = f"/lonely-{index}"
        run(namesystem, Create(SUPERUSER, path, 0o644, "c1", False, True, 1, 0))
        located = run(namesystem, AddBlock(SUPERUSER, path, "c1", None, frozenset(), "core-1")).located
        ref = type(located.block)(located.block.block_id, located.block.generation_stamp, 100)
        run(namesystem, BlocksReceivedAndDeleted("uuid-1", (ref,), ()))
        assert run(namesystem, Complete(path, "c1", ref)).completed
        lonely.append(located.block.block_id)
    from tests.test_namenode_state import write_file
    for index in range(6):
        write_file(namesystem, f"/common-{index}", [100], replication=3)
    for index in range(6):
        run(namesystem, SetReplication(SUPERUSER, f"/lonely-{index}", 3))
    for index in range(6):
        run(namesystem, SetReplication(SUPERUSER, f"/common-{index}", 4))
    namesystem.clock.tick(2)
    tick(namesystem)  # a budget of 4 (1 per live DataNode): every one goes to a block with one replica
    scheduled = [command.block.block_id for datanode in namesystem.datanodes.live() for command in datanode.transfers]
    assert len(scheduled) == 4 and set(scheduled) <= set(lonely)
    # core-1 is the only source of those: it may run the hard limit (4) of streams, not max-streams (2).
    commands = heartbeat(namesystem, "uuid-1")
    assert len([command for command in commands if isinstance(command, TransferCommand)]) == 4


def test_the_default_replication_is_sized_to_the_clusters_core_nodes_unless_set():
    from emrlab.launcher import sized_properties  # the cluster layer sizes it, as EMR writes hdfs-site.xml

    assert load(NameNodeConfig, sized_properties({}, 2)).replication == 2
    assert load(NameNodeConfig, sized_properties({"dfs.replication": "3"}, 2)).replication == 3
    assert load(NameNodeConfig, sized_properties({}, 5)).replication == 3


# ---------------------------------------------------------------- 6. bad input at the edge

@pytest.fixture
def namenode_server(tmp_path):
    """A real NameNode servicer on a loopback port, in this process, and a stub to it."""
    from emrlab_common.protos import hdfs_pb2_grpc
    from emrlab_common.rpc import connect, create_server
    from hdfs.namenode.server import register_servicers

    namenode = NameNode(load(NameNodeConfig, TEST_PROPERTIES), tmp_path, SUPERUSER)
    namenode.handle(SetSafeMode("leave"))
    server, port = create_server("127.0.0.1:0", register_servicers(namenode))
    channel = connect(f"127.0.0.1:{port}")
    yield hdfs_pb2_grpc.ClientProtocolStub(channel)
    channel.close()
    server.stop(0).wait()
    namenode.close()


def rpc(method, request):
    from emrlab_common.rpc import call

    return call(method, request, timeout_s=10, user=SUPERUSER)


def test_an_out_of_range_enum_is_an_invalid_argument(namenode_server):
    from emrlab_common.protos import hdfs_pb2

    with pytest.raises(InvalidArgument, match="no safe mode action 99"):
        rpc(namenode_server.SetSafeMode, hdfs_pb2.SetSafeModeRequest(action=99))


def test_an_error_about_a_huge_name_still_reaches_the_client_in_one_short_line(namenode_server):
    from emrlab_common.protos import hdfs_pb2

    huge = "/" + "x" * (1 << 20)
    with pytest.raises(InvalidPath) as error:
        rpc(namenode_server.Mkdirs, hdfs_pb2.MkdirsRequest(path=huge, permission=0o755, create_parent=True))
    assert len(str(error.value)) < 400
    from hdfs.errors import LeaseExpired

    rpc(namenode_server.Create, hdfs_pb2.CreateRequest(path="/f", permission=0o644, client_name="c1", replication=1))
    with pytest.raises(LeaseExpired, match="No lease on /f") as error:  # the message names the caller's client
        rpc(namenode_server.AddBlock, hdfs_pb2.AddBlockRequest(path="/f", client_name="c" * (1 << 20)))
    assert len(str(error.value)) <= 4096


@pytest.mark.parametrize("name", ["line\nbreak", "escape\x1b[2J", "tab\there", "bell\x07", "delete\x7f"])
def test_names_with_control_characters_are_refused(name):
    with pytest.raises(InvalidPath, match="control character"):
        paths.validate(f"/tmp/{name}")


def test_absurd_modes_and_block_sizes_are_refused():
    namesystem = make_namesystem()
    with pytest.raises(InvalidArgument, match="not a permission"):
        run(namesystem, Mkdirs(SUPERUSER, "/m", 0xFFFFFFFF, True))
    with pytest.raises(InvalidArgument, match="not a permission"):
        run(namesystem, Create(SUPERUSER, "/f", 0o10000, "c1", False, True, 1, 0))
    with pytest.raises(InvalidArgument, match="not a permission"):
        run(namesystem, SetPermission(SUPERUSER, "/", 0xFFFFFFFF))
    with pytest.raises(InvalidArgument, match="block size"):
        run(namesystem, Create(SUPERUSER, "/f", 0o644, "c1", False, True, 1, (1 << 64) - 512))
    assert namesystem.file_info(SUPERUSER, "/f") is None and namesystem.file_info(SUPERUSER, "/m") is None

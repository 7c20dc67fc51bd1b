"""HDFS with real daemons: a NameNode and DataNodes as separate processes on loopback.

These tests use the `emrlab` command the way a student does where the
command is what is being tested, and the Python client where the test needs
to reach inside (a pipeline in the middle of a write, a replica's file).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter

import pytest

from tests.conftest import wait_until

pytestmark = pytest.mark.cluster

MiB = 1 << 20
DATANODE_ACTIVITY = "Hadoop:service=DataNode,name=DataNodeActivity"


def replica_counts(client, path):
    return [len(location.hosts) for location in client.block_locations(path)]


def replica_files_on_disk(cluster, nodes) -> Counter:
    """How many replica files of each block the DataNodes' disks hold, whatever the NameNode believes."""
    return Counter(path.name for node in nodes for path in cluster.node_data_dir(node).rglob("blk_*")
                   if path.suffix != ".meta")


def fsck_is_healthy_with(cluster, replicas):
    result = cluster.emrlab("fsck", "/", "-files", "-blocks")
    output = result.stdout.decode()
    return result.returncode == 0 and "is HEALTHY" in output and " Under-replicated blocks:\t0 " in output \
        and f"Average block replication:\t{replicas}.0" in output


# ---------------------------------------------------------------- put and get through the command line

@pytest.mark.parametrize("size", [0, 1000, 3 * MiB, 3 * MiB + 1], ids=["empty", "small", "three-blocks", "three-blocks-plus-one"])
def test_put_and_get_return_identical_bytes(shared_cluster, tmp_path, size):
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(size))
    name = f"/put-get/{size}.bin"
    shared_cluster.emrlab("dfs", "-mkdir", "-p", "/put-get", check=True)
    shared_cluster.emrlab("dfs", "-put", str(source), name, check=True)
    shared_cluster.emrlab("dfs", "-get", name, str(tmp_path / "copy.bin"), check=True)
    assert (tmp_path / "copy.bin").read_bytes() == source.read_bytes()
    listing = shared_cluster.emrlab("dfs", "-ls", "/put-get", check=True).stdout.decode()
    assert f" {size} " in listing and name in listing
    client = shared_cluster.client()
    assert len(client.block_locations(name)) == (size + MiB - 1) // MiB
    assert all(count == 3 for count in replica_counts(client, name))


def test_cat_ls_du_stat_mv_rm_from_the_command_line(shared_cluster):
    run = shared_cluster.emrlab
    run("dfs", "-mkdir", "-p", "/cli/in", check=True)
    run("dfs", "-put", "-", "/cli/in/words.txt", input_bytes=b"to be or not to be\n", check=True)
    assert run("dfs", "-cat", "/cli/in/words.txt", check=True).stdout == b"to be or not to be\n"
    assert run("dfs", "-stat", "%b %r %n", "/cli/in/words.txt", check=True).stdout == b"19 3 words.txt\n"
    assert b"19  57  /cli/in/words.txt" in run("dfs", "-du", "/cli/in", check=True).stdout
    run("dfs", "-mv", "/cli/in/words.txt", "/cli/moved.txt", check=True)
    assert run("dfs", "-test", "-e", "/cli/in/words.txt").returncode == 1
    assert run("dfs", "-test", "-f", "/cli/moved.txt").returncode == 0
    run("dfs", "-cp", "/cli/moved.txt", "/cli/copy.txt", check=True)
    assert run("dfs", "-cat", "/cli/copy.txt", check=True).stdout == b"to be or not to be\n"
    assert b"Deleted /cli" in run("dfs", "-rm", "-r", "/cli", check=True).stdout
    assert run("dfs", "-test", "-d", "/cli").returncode == 1


def test_path_patterns_expand_as_in_hdfs_dfs(shared_cluster):
    client = shared_cluster.client()
    for name in ("part-r-00000", "part-r-00001", "_SUCCESS"):
        client.write_bytes(f"/glob/out/{name}", name.encode() + b"\n")
    client.write_bytes("/glob/other/part-r-00000", b"other\n")
    run = shared_cluster.emrlab
    assert run("dfs", "-cat", "/glob/out/part-*", check=True).stdout == b"part-r-00000\npart-r-00001\n"
    assert client.glob("/glob/*/part-r-0000[0]") == ["/glob/other/part-r-00000", "/glob/out/part-r-00000"]
    assert client.glob("/glob/out/_SUCCESS") == ["/glob/out/_SUCCESS"]
    assert client.glob("/glob/nothing*") == []
    missing = run("dfs", "-cat", "/glob/out/nothing-*")
    assert missing.returncode == 1 and missing.stderr == b"cat: `/glob/out/nothing-*': No such file or directory\n"
    run("dfs", "-rm", "-r", "/glob/o*", check=True)
    assert client.glob("/glob/*") == []


def test_setrep_changes_the_replica_count_and_waits(shared_cluster):
    client = shared_cluster.client()
    client.write_bytes("/setrep.bin", os.urandom(MiB + 5))
    result = shared_cluster.emrlab("dfs", "-setrep", "-w", "2", "/setrep.bin", check=True)
    assert b"Replication 2 set: /setrep.bin" in result.stdout
    assert replica_counts(client, "/setrep.bin") == [2, 2]


def test_replication_above_the_datanode_count_is_kept_with_a_warning(shared_cluster, tmp_path):
    source = tmp_path / "f"
    source.write_bytes(b"x")
    result = shared_cluster.emrlab("dfs", "-D", "dfs.replication=9", "-put", str(source), "/wide.txt", check=True)
    assert b"WARN: replication 9 but only 4 DataNode(s) in service" in result.stderr
    assert shared_cluster.client().status("/wide.txt").replication == 9
    shared_cluster.client().delete("/wide.txt")  # under-replicated for ever otherwise, in a shared cluster


@pytest.mark.parametrize("arguments, message", [
    (["dfs", "-cat", "/no/such/file"], b"No such file or directory"),
    (["dfs", "-ls", "/no/such/dir"], b"No such file or directory"),
    (["dfs", "-mkdir", "/no/such/parent/dir"], b"No such file or directory"),
    (["dfs", "-rm", "-r", "/"], b"cannot delete the root"),
    (["dfs", "-put", "/definitely/not/a/local/file", "/x"], b"No such file or directory"),
    (["dfs", "-ls", "-Z", "/"], b"Illegal option -Z"),
    (["dfs", "-frobnicate"], b"Unknown command"),
    (["dfs", "-ls", "hdfs:///a:b/c"], b"invalid character"),
    (["dfs", "-setrep", "two", "/x"], b"invalid replication"),
    (["fsck", "/no/such/path"], b"No such file or directory"),
    (["dfsadmin", "-safemode", "sideways"], b"invalid choice"),
])
def test_bad_input_is_one_clear_line_and_a_nonzero_exit(shared_cluster, arguments, message):
    result = shared_cluster.emrlab(*arguments)
    assert result.returncode != 0
    assert message in result.stderr
    assert b"Traceback" not in result.stderr


def test_existing_targets_are_refused(shared_cluster, tmp_path):
    source = tmp_path / "f"
    source.write_bytes(b"first")
    shared_cluster.emrlab("dfs", "-put", str(source), "/exists.txt", check=True)
    again = shared_cluster.emrlab("dfs", "-put", str(source), "/exists.txt")
    assert again.returncode == 1 and b"File exists" in again.stderr
    shared_cluster.emrlab("dfs", "-mkdir", "/existing-dir", check=True)
    assert b"File exists" in shared_cluster.emrlab("dfs", "-mkdir", "/existing-dir").stderr
    local = tmp_path / "already-here"
    local.write_bytes(b"mine")
    refused = shared_cluster.emrlab("dfs", "-get", "/exists.txt", str(local))
    assert refused.returncode == 1 and local.read_bytes() == b"mine"


def test_another_users_private_file_is_denied(shared_cluster):
    owner = shared_cluster.client()
    owner.mkdirs("/user/alice")
    owner.chown("/user/alice", "alice", "alice")
    alice = shared_cluster.client(user="alice")
    alice.write_bytes("/user/alice/diary.txt", b"private")
    alice.chmod("/user/alice/diary.txt", 0o600)
    result = shared_cluster.emrlab("dfs", "-cat", "/user/alice/diary.txt", user="mallory")
    assert result.returncode == 1
    assert b"Permission denied: user=mallory, access=READ" in result.stderr
    denied = shared_cluster.emrlab("dfs", "-rm", "/user/alice/diary.txt", user="mallory")
    assert b"Permission denied" in denied.stderr
    assert alice.read_bytes("/user/alice/diary.txt") == b"private"
    relative = shared_cluster.emrlab("dfs", "-cat", "diary.txt", user="alice", check=True)
    assert relative.stdout == b"private"


def test_short_circuit_read_on_the_replicas_node(shared_cluster):
    writer = shared_cluster.client(node_id="core-2")
    data = os.urandom(2 * MiB + 3)
    writer.write_bytes("/local.bin", data)
    locations = writer.block_locations("/local.bin")
    assert len(locations) == 3 and all(location.hosts[0] == "core-2" for location in locations)
    granted = shared_cluster.jmx("datanode-core-2", DATANODE_ACTIVITY)["BlocksGetLocalPathInfo"]
    assert writer.read_bytes("/local.bin") == data
    # Each block was read straight from its files: the DataNode counts each short-circuit access it grants.
    assert shared_cluster.jmx("datanode-core-2", DATANODE_ACTIVITY)["BlocksGetLocalPathInfo"] == granted + 3


# ---------------------------------------------------------------- failures

def test_a_dead_datanode_is_replaced_and_fsck_returns_to_healthy(cluster_factory):
    cluster = cluster_factory(core=4)
    client = cluster.client()
    for index in range(3):
        client.write_bytes(f"/data/part-{index}", os.urandom(2 * MiB + index))
    cluster.kill("datanode-core-1")
    wait_until(lambda: "Dead datanodes (1)" in cluster.emrlab("dfsadmin", "-report").stdout.decode(),
               what="core-1 declared dead")
    wait_until(lambda: fsck_is_healthy_with(cluster, 3), what="fsck HEALTHY with 3 replicas per block")
    for index in range(3):
        blocks = 2 if index == 0 else 3
        assert replica_counts(client, f"/data/part-{index}") == [3] * blocks
        assert "core-1" not in {host for location in client.block_locations(f"/data/part-{index}") for host in location.hosts}


SMALL_PACKETS = {"dfs.client-write-packet-size": "64k"}  # Hadoop's size: a block is many packets in flight


def test_a_write_survives_a_datanode_dying_in_its_pipeline(cluster_factory):
    cluster = cluster_factory(core=4, properties=SMALL_PACKETS)
    client = cluster.client()
    data = os.urandom(6 * MiB + 123)
    with client.create("/survivor.bin") as out:
        out.write(data[: 2 * MiB + MiB // 2])
        victim = out._block.locations[0].node_id  # the first node: its death breaks the stream itself
        cluster.kill(f"datanode-{victim}")
        out.write(data[2 * MiB + MiB // 2:])
    assert client.read_bytes("/survivor.bin") == data
    wait_until(lambda: replica_counts(client, "/survivor.bin") == [3] * 7, what="re-replication to 3")


def test_flipped_bytes_are_read_around_and_healed(cluster_factory):
    cluster = cluster_factory(core=4)
    client = cluster.client()
    data = os.urandom(MiB + 100)
    client.write_bytes("/rot.bin", data)
    location = client.block_locations("/rot.bin")[0]
    victim = location.hosts[0]
    block_file = next(cluster.node_data_dir(victim).glob("finalized/*/blk_*[0-9]"))
    corrupted = bytearray(block_file.read_bytes())
    corrupted[4096] ^= 0xFF
    block_file.write_bytes(corrupted)
    reader = cluster.client(node_id=victim)  # reads the local (corrupt) replica first
    assert reader.read_bytes("/rot.bin") == data
    wait_until(lambda: fsck_is_healthy_with(cluster, 3), what="fsck HEALTHY again")
    wait_until(lambda: block_file.exists() is False or block_file.read_bytes() == data[:MiB],
               what="the corrupt replica deleted or replaced")


def test_the_block_scanner_finds_rot_nobody_read(cluster_factory):
    cluster = cluster_factory(core=3, properties={"dfs.datanode.scan.period.hours": "1s",
                                                  "dfs.block.scanner.volume.bytes.per.second": "100m"})
    client = cluster.client()
    data = os.urandom(200_000)
    client.write_bytes("/quiet.bin", data, replication=2)
    victim = client.block_locations("/quiet.bin")[0].hosts[0]
    block_file = next(cluster.node_data_dir(victim).glob("finalized/*/blk_*[0-9]"))
    corrupted = bytearray(block_file.read_bytes())
    corrupted[10] ^= 0x01
    block_file.write_bytes(corrupted)
    # Nobody reads it: only the scanner can find it, and only its report gets the rotten replica replaced.
    wait_until(lambda: not block_file.exists() or block_file.read_bytes() == data,
               what="the scanner's find reported and the corrupt replica deleted or replaced")
    wait_until(lambda: fsck_is_healthy_with(cluster, 2), what="healed to 2 good replicas")


def test_acknowledged_writes_survive_kill_9_of_the_namenode(cluster_factory):
    cluster = cluster_factory(core=3)
    client = cluster.client()
    files = {f"/durable/file-{index}": os.urandom(index * 300_000 + 1) for index in range(6)}
    client.mkdirs("/durable/empty-dir")
    for path, data in files.items():
        client.write_bytes(path, data)
    client.rename("/durable/file-5", "/durable/renamed")
    files["/durable/renamed"] = files.pop("/durable/file-5")
    client.delete("/durable/file-0")
    files.pop("/durable/file-0")
    cluster.kill("namenode")
    cluster.start("hdfs.namenode")
    fresh = cluster.client()
    wait_until(lambda: not fresh.safe_mode()[0], what="the restarted NameNode to leave safe mode")
    assert {status.path for status in fresh.list("/durable")} == set(files) | {"/durable/empty-dir"}
    for path, data in files.items():
        assert fresh.read_bytes(path) == data


def test_a_checkpoint_then_more_edits_replay_after_a_restart(cluster_factory):
    cluster = cluster_factory(core=2, properties={"dfs.namenode.checkpoint.txns": "5"})
    client = cluster.client()
    for index in range(12):
        client.write_bytes(f"/ckpt/{index}", str(index).encode())
    wait_until(lambda: any(cluster.cluster_dir.namenode_dir.glob("current/fsimage_*")), what="a checkpoint image")
    client.write_bytes("/ckpt/after", b"after the image")
    cluster.kill("namenode")
    cluster.start("hdfs.namenode")
    fresh = cluster.client()
    wait_until(lambda: not fresh.safe_mode()[0], what="safe mode off")
    assert [fresh.read_bytes(f"/ckpt/{index}") for index in range(12)] == [str(index).encode() for index in range(12)]
    assert fresh.read_bytes("/ckpt/after") == b"after the image"


WRITER_THAT_DIES = textwrap.dedent("""
    import sys, time
    from hdfs import Client
    client = Client.for_cluster(sys.argv[1])
    out = client.create("/crashed.bin")
    out.write(b"a" * (1024 * 1024 + 300_000))
    print("written", flush=True)
    time.sleep(600)
""")


@pytest.mark.parametrize("block_tokens", ["false", "true"], ids=["simple", "block-tokens"])
def test_a_crashed_writers_file_is_closed_by_lease_recovery(cluster_factory, block_tokens):
    cluster = cluster_factory(core=3, properties={**SMALL_PACKETS, "dfs.block.access.token.enable": block_tokens})
    client = cluster.client()
    writer = subprocess.Popen([sys.executable, "-c", WRITER_THAT_DIES, str(cluster.cluster_dir.root)],
                              stdout=subprocess.PIPE)
    try:
        assert writer.stdout.readline() == b"written\n"
        wait_until(lambda: client.status("/crashed.bin").length_bytes == MiB, what="the first block to complete")
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    status = wait_until(lambda: (lambda s: not s.under_construction and s)(client.status("/crashed.bin")),
                        what="the lease to be recovered and the file closed")
    assert MiB <= status.length_bytes <= MiB + 300_000
    assert client.read_bytes("/crashed.bin") == b"a" * status.length_bytes


def test_two_clusters_run_side_by_side(cluster_factory):
    first = cluster_factory(core=1)
    second = cluster_factory(core=1)
    first.client().write_bytes("/only-in-first", b"1")
    assert first.client().exists("/only-in-first")
    assert not second.client().exists("/only-in-first")
    assert first.cluster_dir.address_of("namenode") != second.cluster_dir.address_of("namenode")


def test_commands_without_a_running_cluster_say_how_to_start_one(tmp_path):
    environment = dict(os.environ, EMRLAB_CLUSTER=str(tmp_path / "nothing-here"))
    result = subprocess.run([sys.executable, "-m", "emrlab", "dfs", "-ls", "/"], capture_output=True, env=environment)
    assert result.returncode == 1
    assert b"emrlab cluster up" in result.stderr and b"Traceback" not in result.stderr


def test_a_returning_datanode_makes_blocks_over_replicated_and_extras_are_deleted(cluster_factory):
    cluster = cluster_factory(core=4)
    client = cluster.client()
    client.write_bytes("/over.bin", os.urandom(2 * MiB))
    holder = client.block_locations("/over.bin")[0].hosts[0]
    block_name = next(cluster.node_data_dir(holder).glob("finalized/*/blk_*[0-9]")).name  # one it holds
    cluster.kill(f"datanode-{holder}")
    wait_until(lambda: "Dead datanodes (1)" in cluster.emrlab("dfsadmin", "-report").stdout.decode(),
               what=f"{holder} declared dead")
    wait_until(lambda: fsck_is_healthy_with(cluster, 3), what="re-replicated without the dead node")
    cores = [f"core-{index}" for index in range(1, 5)]
    assert replica_files_on_disk(cluster, cores)[block_name] == 4  # the dead node's copy is still on its disk
    cluster.start("hdfs.datanode", holder)
    wait_until(lambda: "Live datanodes (4)" in cluster.emrlab("dfsadmin", "-report").stdout.decode(),
               what=f"{holder} back")
    wait_until(lambda: set(replica_files_on_disk(cluster, cores).values()) == {3}
               and fsck_is_healthy_with(cluster, 3) and replica_counts(client, "/over.bin") == [3, 3],
               what="the excess replicas deleted: exactly 3 of each block, on disk too")

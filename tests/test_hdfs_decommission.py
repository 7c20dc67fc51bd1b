"""DataNode decommissioning (dfs.hosts.exclude + refreshNodes): the NameNode's state alone, then a real cluster."""

import pytest

from emrlab_common.errors import FailedPrecondition
from hdfs.namenode.datanodes import AdminState
from hdfs.namenode.events import (
    AddBlock,
    BlocksReceivedAndDeleted,
    Create,
    DatanodeRegistered,
    InvalidateCommand,
    RefreshNodes,
    RefreshNodesReply,
    SetReplication,
    TransferCommand,
)
from tests.namenode_fixtures import SUPERUSER, FakeClock, MiB, add_datanodes, heartbeat, make_namesystem, run, tick
from tests.test_namenode_state import write_file

FAST_DECOMMISSION = {"dfs.namenode.decommission.interval": "1"}


def run_monitors(namesystem, clock, rounds=6):
    """Tick the monitors and play the DataNodes' part: carry out every transfer and deletion they are sent."""
    for _ in range(rounds):
        clock.tick(1.1)
        tick(namesystem)
        for datanode in namesystem.datanodes.live():
            for command in heartbeat(namesystem, datanode.uuid):
                if isinstance(command, TransferCommand):
                    for target in command.targets:
                        run(namesystem, BlocksReceivedAndDeleted(target.uuid, (command.block,), ()))
                elif isinstance(command, InvalidateCommand):
                    run(namesystem, BlocksReceivedAndDeleted(datanode.uuid, (), command.blocks))


def decommissioning_cluster(datanode_count=4, replication=3):
    clock = FakeClock()
    namesystem = make_namesystem(clock, properties=FAST_DECOMMISSION)
    add_datanodes(namesystem, datanode_count)
    for index in range(3):
        write_file(namesystem, f"/f{index}", [MiB, 100], replication=replication)
    return namesystem, clock


def holders(namesystem, datanode):
    return {block_id for block_id in datanode.block_ids if namesystem.blocks.blocks.get(block_id)}


def test_an_excluded_datanode_takes_no_new_blocks_copies_its_replicas_away_then_is_decommissioned():
    namesystem, clock = decommissioning_cluster()
    victim = max(namesystem.datanodes.live(), key=lambda node: len(node.block_ids))
    held = holders(namesystem, victim)
    assert held
    assert run(namesystem, RefreshNodes(frozenset({victim.node_id}))) == RefreshNodesReply((victim.node_id,), ())
    assert victim.admin_state is AdminState.DECOMMISSION_INPROGRESS
    assert not victim.in_service
    run(namesystem, Create(SUPERUSER, "/new", 0o644, "c9", False, True, 3, 0))
    located = run(namesystem, AddBlock(SUPERUSER, "/new", "c9", None, frozenset(), victim.node_id)).located
    assert victim not in located.locations  # not even when the writer runs on it
    # Still readable from it, but listed after the in-service replicas.
    _, blocks, _ = namesystem.block_locations(SUPERUSER, "/f0", 0, 0, victim.node_id)
    assert all(block.locations[0] is not victim for block in blocks)
    run_monitors(namesystem, clock)
    assert victim.admin_state is AdminState.DECOMMISSIONED
    for block_id in held:
        block = namesystem.blocks.blocks[block_id]
        assert victim not in namesystem.blocks.in_service_replicas(block)
        assert len(namesystem.blocks.in_service_replicas(block)) == 3
    assert namesystem.blocks.counts() == {"under_replicated": 0, "corrupt": 0, "missing": 0}
    assert victim.block_ids >= held  # its replicas are kept: nothing deleted from a leaving node


def test_a_block_only_the_decommissioning_node_has_is_under_replicated_not_missing():
    namesystem, clock = decommissioning_cluster(datanode_count=3, replication=1)
    victim = next(node for node in namesystem.datanodes.live() if node.block_ids)
    run(namesystem, RefreshNodes(frozenset({victim.node_id})))
    assert namesystem.blocks.counts()["missing"] == 0
    report = {status.path: blocks for status, blocks in namesystem.fsck(SUPERUSER, "/") if blocks}
    lonely = [block for blocks in report.values() for block in blocks if victim in block.decommissioning]
    assert lonely and all(not block.live for block in lonely)
    run_monitors(namesystem, clock)
    assert victim.admin_state is AdminState.DECOMMISSIONED
    for blocks in report.values():
        for block in blocks:
            assert len(namesystem.blocks.in_service_replicas(namesystem.blocks.blocks[block.block.block_id])) == 1


def test_removing_a_node_from_the_exclude_list_recommissions_it_and_drops_excess_replicas():
    namesystem, clock = decommissioning_cluster()
    victim = max(namesystem.datanodes.live(), key=lambda node: len(node.block_ids))
    run(namesystem, RefreshNodes(frozenset({victim.node_id})))
    run_monitors(namesystem, clock)
    assert victim.admin_state is AdminState.DECOMMISSIONED
    assert run(namesystem, RefreshNodes(frozenset())) == RefreshNodesReply((), (victim.node_id,))
    assert victim.admin_state is AdminState.NORMAL and victim.in_service
    run_monitors(namesystem, clock)
    for block in namesystem.blocks.blocks.values():
        assert len(namesystem.blocks.in_service_replicas(block)) == 3  # the extra copies are deleted again


def test_a_decommission_that_would_leave_fewer_nodes_than_a_files_replication_is_refused():
    namesystem, _ = decommissioning_cluster(datanode_count=3)
    reason = namesystem.decommission_check({"core-1"})
    assert "would leave 2 in-service DataNode(s), fewer than the replication 3 of /f" in reason
    with pytest.raises(FailedPrecondition, match="refreshNodes refused"):
        run(namesystem, RefreshNodes(frozenset({"core-1"})))
    assert all(node.admin_state is AdminState.NORMAL for node in namesystem.datanodes.by_uuid.values())
    assert namesystem.decommission_check({"core-9"}) == "no DataNode called core-9"
    run(namesystem, SetReplication(SUPERUSER, "/f0", 2))
    run(namesystem, SetReplication(SUPERUSER, "/f1", 2))
    run(namesystem, SetReplication(SUPERUSER, "/f2", 2))
    assert namesystem.decommission_check({"127.0.0.1:9001"}) == ""  # an address names a node too
    assert run(namesystem, RefreshNodes(frozenset({"127.0.0.1:9001"}))) == RefreshNodesReply(("core-1",), ())


def test_a_node_in_the_exclude_file_decommissions_as_it_registers_and_a_dead_one_is_decommissioned():
    namesystem, clock = decommissioning_cluster(datanode_count=4)
    run(namesystem, RefreshNodes(frozenset({"core-5"})))  # not registered yet: no check, no change
    run(namesystem, DatanodeRegistered("uuid-5", "core-5", "127.0.0.1:9005", 1 << 40))
    assert namesystem.datanodes.get("uuid-5").admin_state is AdminState.DECOMMISSION_INPROGRESS
    run(namesystem, RefreshNodes(frozenset({"core-5", "core-4"})))
    dead = namesystem.datanodes.get("uuid-4")
    dead.last_heartbeat_s = clock() - 10 * namesystem.datanodes.expire_interval_s
    run_monitors(namesystem, clock)
    assert dead.admin_state is AdminState.DECOMMISSIONED and not dead.live
    assert namesystem.datanodes.get("uuid-5").admin_state is AdminState.DECOMMISSIONED


# ---------------------------------------------------------------- a real cluster

@pytest.mark.cluster
def test_a_decommissioned_datanode_can_be_killed_without_losing_a_byte(cluster_factory):
    import os

    from tests.conftest import wait_until
    from tests.test_hdfs_cluster import fsck_is_healthy_with

    cluster = cluster_factory(core=4, properties={"dfs.namenode.decommission.interval": "0.3"})
    client = cluster.client()
    contents = {f"/data/part-{index}": os.urandom(2 * MiB + 1000 * index) for index in range(3)}
    for path, data in contents.items():
        client.write_bytes(path, data, replication=3)
    victim = max(client.datanode_report().datanodes, key=lambda node: node.block_count).id.node_id
    exclude_path = cluster.cluster_dir.read_daemon("namenode").extra["exclude_path"]
    with open(exclude_path, "w") as exclude:
        exclude.write(f"# shrinking the core group\n{victim}\n")
    result = cluster.emrlab("dfsadmin", "-refreshNodes", check=True)
    assert f"decommissioning: {victim}" in result.stdout.decode()
    wait_until(lambda: client.admin_states()[victim] == "DECOMMISSIONED", what=f"{victim} DECOMMISSIONED")
    assert f"Hostname: {victim}\nDecommission Status : Decommissioned" in cluster.emrlab("dfsadmin", "-report").stdout.decode()
    assert fsck_is_healthy_with(cluster, 3)
    # A second one would leave 2 in-service DataNodes for files of replication 3: refused, nothing changes.
    other = next(node_id for node_id in client.admin_states() if node_id != victim)
    assert "fewer than the replication 3" in client.decommission_check([other])
    with open(exclude_path, "a") as exclude:
        exclude.write(f"{other}\n")
    refused = cluster.emrlab("dfsadmin", "-refreshNodes")
    assert refused.returncode != 0 and "refreshNodes refused" in refused.stderr.decode()
    assert client.admin_states()[other] == "NORMAL"
    cluster.kill(f"datanode-{victim}")
    for path, data in contents.items():
        assert client.read_bytes(path) == data

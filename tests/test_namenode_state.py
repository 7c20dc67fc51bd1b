"""The NameNode's state machine alone: no processes, no network, a fake clock."""

import pytest

from emrlab_common.lifecycle import InvalidTransition
from hdfs.errors import (
    AccessControl,
    FileAlreadyExists,
    FileNotFound,
    LeaseExpired,
    NoDatanodes,
    PathIsNotEmptyDirectory,
    SafeMode,
)
from hdfs.namenode.blocks import BlockEvent, BlockInfo, BlockState
from hdfs.namenode.datanodes import BlockRef, InvalidateCommand, RecoverCommand, RegisterCommand, TransferCommand
from hdfs.namenode.editlog import EditLog
from tests.namenode_fixtures import SUPERUSER, FakeClock, MiB, add_datanodes, make_namesystem


def write_file(namesystem, path, sizes, client="client-1", user=SUPERUSER, replication=3):
    """Create `path` with blocks of `sizes`, every replica reported by its pipeline."""
    namesystem.create(user, path, 0o644, client, False, True, replication, 0)
    previous = None
    for size in sizes:
        located = namesystem.add_block(path, client, previous, set(), "")
        previous = BlockRef(located.block.block_id, located.block.generation_stamp, size)
        namesystem.blocks_received_and_deleted(located.locations[0].uuid, [previous], [])
        for node in located.locations[1:]:
            namesystem.blocks_received_and_deleted(node.uuid, [previous], [])
    assert namesystem.complete(path, client, previous)
    namesystem.validate_state()


def test_a_blocks_lifecycle_is_a_table_and_a_complete_block_takes_no_event():
    block = BlockInfo(1, 1001, 0, None)
    for event, state in [(BlockEvent.START_RECOVERY, BlockState.UNDER_RECOVERY),
                         (BlockEvent.START_RECOVERY, BlockState.UNDER_RECOVERY),
                         (BlockEvent.COMMIT, BlockState.COMMITTED), (BlockEvent.COMMIT, BlockState.COMMITTED),
                         (BlockEvent.MIN_REPLICATED, BlockState.COMPLETE)]:
        block.handle(event)
        assert block.state is state, event
    for event in BlockEvent:
        with pytest.raises(InvalidTransition):
            block.handle(event)
    with pytest.raises(InvalidTransition):
        BlockInfo(2, 1001, 0, None).handle(BlockEvent.MIN_REPLICATED)  # only a committed block completes so


def test_mkdirs_listing_and_status():
    namesystem = make_namesystem()
    namesystem.mkdirs(SUPERUSER, "/a/b/c", 0o755, True)
    entries, remaining = namesystem.listing(SUPERUSER, "/a", "")
    assert [entry.path for entry in entries] == ["/a/b"] and remaining == 0
    assert namesystem.file_info(SUPERUSER, "/a/b/c").is_directory
    assert namesystem.file_info(SUPERUSER, "/nope") is None
    with pytest.raises(FileNotFound):
        namesystem.mkdirs(SUPERUSER, "/x/y", 0o755, False)


def test_files_are_written_block_by_block_and_complete_only_when_replicated():
    namesystem = make_namesystem()
    add_datanodes(namesystem, 3)
    namesystem.create(SUPERUSER, "/f", 0o644, "c1", False, True, 3, 0)
    located = namesystem.add_block("/f", "c1", None, set(), "")
    assert len({node.uuid for node in located.locations}) == 3
    last = BlockRef(located.block.block_id, located.block.generation_stamp, 100)
    assert namesystem.complete("/f", "c1", last) is False  # no replica reported yet
    namesystem.blocks_received_and_deleted(located.locations[0].uuid, [last], [])
    assert namesystem.complete("/f", "c1", last) is True
    status = namesystem.file_info(SUPERUSER, "/f")
    assert status.length_bytes == 100 and not status.under_construction


def test_a_second_writer_is_refused_and_a_stranger_has_no_lease():
    namesystem = make_namesystem()
    add_datanodes(namesystem, 1)
    namesystem.create(SUPERUSER, "/f", 0o644, "c1", False, True, 1, 0)
    with pytest.raises(Exception, match="already being created"):
        namesystem.create(SUPERUSER, "/f", 0o644, "c2", True, True, 1, 0)
    with pytest.raises(LeaseExpired):
        namesystem.add_block("/f", "c2", None, set(), "")


def test_no_datanodes_is_a_clear_error():
    namesystem = make_namesystem()
    namesystem.create(SUPERUSER, "/f", 0o644, "c1", False, True, 1, 0)
    with pytest.raises(NoDatanodes, match="could only be written to 0"):
        namesystem.add_block("/f", "c1", None, set(), "")


def test_replication_above_the_datanodes_in_service_is_kept_with_a_warning():
    namesystem = make_namesystem()
    add_datanodes(namesystem, 2)
    status, warning = namesystem.create(SUPERUSER, "/f", 0o644, "c1", False, True, 3, 0)
    assert status.replication == 3 and "only 2 DataNode(s) in service" in warning


def test_permissions_follow_owner_group_other_and_superuser_passes():
    namesystem = make_namesystem()
    namesystem.mkdirs(SUPERUSER, "/user/alice", 0o755, True)
    namesystem.set_owner(SUPERUSER, "/user/alice", "alice", "alice")
    namesystem.mkdirs("alice", "/user/alice/private", 0o700, False)
    with pytest.raises(AccessControl, match="user=bob, access=READ_EXECUTE"):
        namesystem.listing("bob", "/user/alice/private", "")
    with pytest.raises(AccessControl, match="access=WRITE"):
        namesystem.mkdirs("bob", "/user/alice/bobs", 0o755, False)
    namesystem.listing(SUPERUSER, "/user/alice/private", "")
    with pytest.raises(AccessControl):
        namesystem.set_owner("alice", "/user/alice", "bob", "")


def test_sticky_directory_protects_other_users_entries():
    namesystem = make_namesystem()
    add_datanodes(namesystem, 1)
    namesystem.mkdirs(SUPERUSER, "/tmp", 0o777, False)
    namesystem.set_permission(SUPERUSER, "/tmp", 0o1777)
    write_file(namesystem, "/tmp/alices", [10], user="alice", replication=1)
    with pytest.raises(AccessControl, match="sticky"):
        namesystem.delete("bob", "/tmp/alices", False)
    namesystem.delete("alice", "/tmp/alices", False)


def test_rename_into_directory_and_delete_rules():
    namesystem = make_namesystem()
    add_datanodes(namesystem, 1)
    namesystem.mkdirs(SUPERUSER, "/d", 0o755, False)
    write_file(namesystem, "/f", [5], replication=1)
    assert namesystem.rename(SUPERUSER, "/f", "/d") == "/d/f"
    write_file(namesystem, "/g", [5], replication=1)
    with pytest.raises(FileAlreadyExists):
        namesystem.rename(SUPERUSER, "/g", "/d/f")
    with pytest.raises(PathIsNotEmptyDirectory):
        namesystem.delete(SUPERUSER, "/d", False)
    namesystem.delete(SUPERUSER, "/d", True)
    assert namesystem.file_info(SUPERUSER, "/d") is None


def test_safe_mode_refuses_changes_until_blocks_are_reported():
    journal = []
    first = make_namesystem(journal=journal.append)
    uuids = add_datanodes(first, 1)
    write_file(first, "/f", [10, 20], replication=1)
    clock = FakeClock()
    restarted = make_namesystem(clock=clock, leave_safe_mode=False)
    for edit in journal:
        restarted.replay(edit)
    restarted.after_load()
    with pytest.raises(SafeMode, match="safe mode"):
        restarted.mkdirs(SUPERUSER, "/x", 0o755, False)
    restarted.register_datanode(uuids[0], "core-1", "a:1", 1 << 40)
    blocks = [BlockRef(block.block_id, block.generation_stamp, block.length_bytes)
              for block in restarted.namespace.get_file("/f").blocks]
    restarted.block_report(uuids[0], [(ref, True) for ref in blocks])
    clock.tick(5)
    restarted.tick()
    assert not restarted.safe_mode.on
    restarted.mkdirs(SUPERUSER, "/x", 0o755, False)


def test_dead_datanode_blocks_are_copied_elsewhere_on_a_heartbeat():
    clock = FakeClock()
    namesystem = make_namesystem(clock=clock)
    uuids = add_datanodes(namesystem, 4)
    write_file(namesystem, "/f", [10], replication=3)
    block = namesystem.namespace.get_file("/f").blocks[0]
    holders = {node.uuid for node in namesystem.blocks.live_replicas(block)}
    victim = sorted(holders)[0]
    commands = []
    for _ in range(20):  # everyone but the victim keeps heartbeating
        clock.tick(1)
        for uuid in uuids:
            if uuid != victim:
                commands += namesystem.heartbeat(uuid, 1 << 40, 0, 1 << 40, 0)
        namesystem.tick()
    assert not namesystem.datanodes.get(victim).live
    transfers = [command for command in commands if isinstance(command, TransferCommand)]
    assert len(transfers) == 1 and len(transfers[0].targets) == 1
    target = transfers[0].targets[0]
    assert target.uuid not in holders
    namesystem.blocks_received_and_deleted(target.uuid, [block.ref()], [])
    assert len(namesystem.blocks.live_replicas(block)) == 3


def test_corrupt_replica_is_replaced_then_deleted():
    clock = FakeClock()
    namesystem = make_namesystem(clock=clock)
    uuids = add_datanodes(namesystem, 4)
    write_file(namesystem, "/f", [10], replication=3)
    block = namesystem.namespace.get_file("/f").blocks[0]
    bad = namesystem.blocks.live_replicas(block)[0]
    namesystem.report_bad_blocks(bad.uuid, [block.ref()])
    clock.tick(2)
    namesystem.tick()
    transfers = [command for uuid in uuids for command in namesystem.heartbeat(uuid, 1 << 40, 0, 1 << 40, 0)
                 if isinstance(command, TransferCommand)]
    assert len(transfers) == 1
    namesystem.blocks_received_and_deleted(transfers[0].targets[0].uuid, [block.ref()], [])
    clock.tick(2)
    namesystem.tick()
    deletions = [command for command in namesystem.heartbeat(bad.uuid, 1 << 40, 0, 1 << 40, 0)
                 if isinstance(command, InvalidateCommand)]
    assert deletions and deletions[0].blocks[0].block_id == block.block_id


def test_unknown_datanode_is_told_to_register():
    namesystem = make_namesystem()
    assert namesystem.heartbeat("ghost", 1, 0, 1, 0) == [RegisterCommand()]


def test_expired_lease_is_recovered_through_a_datanode():
    clock = FakeClock()
    namesystem = make_namesystem(clock=clock)
    uuids = add_datanodes(namesystem, 2)
    namesystem.create(SUPERUSER, "/open", 0o644, "crashed-client", False, True, 2, 0)
    located = namesystem.add_block("/open", "crashed-client", None, set(), "")
    commands = []
    for _ in range(15):
        clock.tick(1)
        for uuid in uuids:
            commands += namesystem.heartbeat(uuid, 1 << 40, 0, 1 << 40, 0)
        namesystem.tick()
    recoveries = [command for command in commands if isinstance(command, RecoverCommand)]
    assert recoveries, "the primary should be asked to recover the last block"
    recovery = recoveries[0]
    agreed = BlockRef(located.block.block_id, recovery.new_generation_stamp, 777)
    namesystem.commit_block_synchronization(agreed, [node.uuid for node in located.locations], False)
    status = namesystem.file_info(SUPERUSER, "/open")
    assert not status.under_construction and status.length_bytes == 777
    assert namesystem.namespace.get_file("/open").blocks[0].state is BlockState.COMPLETE


def test_a_restart_after_lease_recovery_remembers_the_recovery_generation_stamp(tmp_path):
    """Hadoop logs the stamp a lease recovery takes (OP_SET_GENSTAMP_V2). A restarted NameNode that forgot it
    would give the same stamp to its next block, which the recovering DataNodes' replicas would then pass for."""
    clock = FakeClock()
    editlog = EditLog(tmp_path)
    namesystem = make_namesystem(clock=clock, journal=editlog.append, leave_safe_mode=False)
    editlog.load(namesystem.load_image, namesystem.replay)
    namesystem.set_safe_mode("leave")
    uuids = add_datanodes(namesystem, 2)
    namesystem.create(SUPERUSER, "/open", 0o644, "crashed-client", False, True, 2, 0)
    namesystem.add_block("/open", "crashed-client", None, set(), "")
    recoveries = []
    for _ in range(15):
        clock.tick(1)
        for uuid in uuids:
            recoveries += [command for command in namesystem.heartbeat(uuid, 1 << 40, 0, 1 << 40, 0)
                           if isinstance(command, RecoverCommand)]
        namesystem.tick()
    assert recoveries, "the primary should be asked to recover the last block"
    editlog.sync(editlog.last_written_txid)
    editlog.close()

    editlog = EditLog(tmp_path)  # the NameNode restarts before the recovery is committed
    restarted = make_namesystem(clock=clock, journal=editlog.append, leave_safe_mode=False)
    editlog.load(restarted.load_image, restarted.replay)
    restarted.after_load()
    restarted.set_safe_mode("leave")
    add_datanodes(restarted, 2)
    restarted.create(SUPERUSER, "/next", 0o644, "client-2", False, True, 2, 0)
    located = restarted.add_block("/next", "client-2", None, set(), "")
    editlog.close()
    assert located.block.generation_stamp > recoveries[0].new_generation_stamp


def test_replay_of_the_journal_rebuilds_the_same_namespace():
    journal = []
    namesystem = make_namesystem(journal=journal.append)
    add_datanodes(namesystem, 3)
    namesystem.mkdirs(SUPERUSER, "/a/b", 0o750, True)
    write_file(namesystem, "/a/b/f", [MiB, 7])
    namesystem.rename(SUPERUSER, "/a/b/f", "/a/g")
    namesystem.set_replication(SUPERUSER, "/a/g", 2)
    namesystem.set_permission(SUPERUSER, "/a", 0o700)
    replayed = make_namesystem(leave_safe_mode=False)
    for edit in journal:
        replayed.replay(edit)
    assert replayed.namespace.to_image() == namesystem.namespace.to_image()
    image_loaded = make_namesystem(leave_safe_mode=False)
    image_loaded.load_image(namesystem.image())
    assert image_loaded.namespace.to_image() == namesystem.namespace.to_image()


def test_placement_never_doubles_up_and_honours_exclusions_and_the_writers_node():
    import random

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from hdfs.namenode.datanodes import DatanodeDescriptor
    from hdfs.namenode.placement import choose_targets

    @settings(max_examples=200, deadline=None)
    @given(st.integers(1, 8), st.integers(1, 5), st.sets(st.integers(0, 7)), st.integers(0, 7), st.integers(0, 99))
    def check(node_count, count, excluded_indexes, favored_index, seed):
        nodes = [DatanodeDescriptor(f"u{index}", f"core-{index}", "a:1", remaining_bytes=1 << 30) for index in range(node_count)]
        excluded = {f"u{index}" for index in excluded_indexes}
        favored = nodes[favored_index] if favored_index < node_count else None
        chosen = choose_targets(count, nodes, excluded, favored, 1024, random.Random(seed))
        uuids = [node.uuid for node in chosen]
        assert len(uuids) == len(set(uuids))
        assert not set(uuids) & excluded
        assert len(chosen) == min(count, node_count - len(excluded & {node.uuid for node in nodes}))
        if favored is not None and favored.uuid not in excluded:
            assert chosen[0] is favored

    check()

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
from hdfs.namenode import datanodes
from hdfs.namenode.blocks import BlockEvent, BlockInfo, BlockState
from hdfs.namenode.editlog import EditLog
from hdfs.namenode.events import (
    AddBlock,
    BadBlocksReported,
    BlockRef,
    BlockReport,
    BlocksReceivedAndDeleted,
    BlockSynchronizationCommitted,
    Complete,
    Create,
    DatanodeHeartbeat,
    DatanodeRegistered,
    Delete,
    InvalidateCommand,
    Mkdirs,
    RecoverCommand,
    RegisterCommand,
    Rename,
    SetOwner,
    SetPermission,
    SetReplication,
    SetSafeMode,
    TransferCommand,
)
from tests.namenode_fixtures import (
    SUPERUSER,
    FakeClock,
    MiB,
    add_datanodes,
    commands_for,
    heartbeat,
    make_namesystem,
    run,
    tick,
)


def write_file(namesystem, path, sizes, client="client-1", user=SUPERUSER, replication=3):
    """Create `path` with blocks of `sizes`, every replica reported by its pipeline."""
    run(namesystem, Create(user, path, 0o644, client, False, True, replication, 0))
    previous = None
    for size in sizes:
        located = run(namesystem, AddBlock(SUPERUSER, path, client, previous, frozenset(), "")).located
        previous = BlockRef(located.block.block_id, located.block.generation_stamp, size)
        run(namesystem, BlocksReceivedAndDeleted(located.locations[0].uuid, (previous,), ()))
        for node in located.locations[1:]:
            run(namesystem, BlocksReceivedAndDeleted(node.uuid, (previous,), ()))
    assert run(namesystem, Complete(path, client, previous)).completed
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
    run(namesystem, Mkdirs(SUPERUSER, "/a/b/c", 0o755, True))
    entries, remaining = namesystem.listing(SUPERUSER, "/a", "")
    assert [entry.path for entry in entries] == ["/a/b"] and remaining == 0
    assert namesystem.file_info(SUPERUSER, "/a/b/c").is_directory
    assert namesystem.file_info(SUPERUSER, "/nope") is None
    with pytest.raises(FileNotFound):
        run(namesystem, Mkdirs(SUPERUSER, "/x/y", 0o755, False))


def test_files_are_written_block_by_block_and_complete_only_when_replicated():
    namesystem = make_namesystem()
    add_datanodes(namesystem, 3)
    run(namesystem, Create(SUPERUSER, "/f", 0o644, "c1", False, True, 3, 0))
    located = run(namesystem, AddBlock(SUPERUSER, "/f", "c1", None, frozenset(), "")).located
    assert len({node.uuid for node in located.locations}) == 3
    last = BlockRef(located.block.block_id, located.block.generation_stamp, 100)
    assert run(namesystem, Complete("/f", "c1", last)).completed is False  # no replica reported yet
    run(namesystem, BlocksReceivedAndDeleted(located.locations[0].uuid, (last,), ()))
    assert run(namesystem, Complete("/f", "c1", last)).completed is True
    status = namesystem.file_info(SUPERUSER, "/f")
    assert status.length_bytes == 100 and not status.under_construction


def test_a_second_writer_is_refused_and_a_stranger_has_no_lease():
    namesystem = make_namesystem()
    add_datanodes(namesystem, 1)
    run(namesystem, Create(SUPERUSER, "/f", 0o644, "c1", False, True, 1, 0))
    with pytest.raises(Exception, match="already being created"):
        run(namesystem, Create(SUPERUSER, "/f", 0o644, "c2", True, True, 1, 0))
    with pytest.raises(LeaseExpired):
        run(namesystem, AddBlock(SUPERUSER, "/f", "c2", None, frozenset(), ""))


def test_no_datanodes_is_a_clear_error():
    namesystem = make_namesystem()
    run(namesystem, Create(SUPERUSER, "/f", 0o644, "c1", False, True, 1, 0))
    with pytest.raises(NoDatanodes, match="could only be written to 0"):
        run(namesystem, AddBlock(SUPERUSER, "/f", "c1", None, frozenset(), ""))


def test_replication_above_the_datanodes_in_service_is_kept_with_a_warning():
    namesystem = make_namesystem()
    add_datanodes(namesystem, 2)
    created = run(namesystem, Create(SUPERUSER, "/f", 0o644, "c1", False, True, 3, 0))
    assert created.status.replication == 3 and "only 2 DataNode(s) in service" in created.warning


def test_permissions_follow_owner_group_other_and_superuser_passes():
    namesystem = make_namesystem()
    run(namesystem, Mkdirs(SUPERUSER, "/user/alice", 0o755, True))
    run(namesystem, SetOwner(SUPERUSER, "/user/alice", "alice", "alice"))
    run(namesystem, Mkdirs("alice", "/user/alice/private", 0o700, False))
    with pytest.raises(AccessControl, match="user=bob, access=READ_EXECUTE"):
        namesystem.listing("bob", "/user/alice/private", "")
    with pytest.raises(AccessControl, match="access=WRITE"):
        run(namesystem, Mkdirs("bob", "/user/alice/bobs", 0o755, False))
    namesystem.listing(SUPERUSER, "/user/alice/private", "")
    with pytest.raises(AccessControl):
        run(namesystem, SetOwner("alice", "/user/alice", "bob", ""))


def test_sticky_directory_protects_other_users_entries():
    namesystem = make_namesystem()
    add_datanodes(namesystem, 1)
    run(namesystem, Mkdirs(SUPERUSER, "/tmp", 0o777, False))
    run(namesystem, SetPermission(SUPERUSER, "/tmp", 0o1777))
    write_file(namesystem, "/tmp/alices", [10], user="alice", replication=1)
    with pytest.raises(AccessControl, match="sticky"):
        run(namesystem, Delete("bob", "/tmp/alices", False))
    run(namesystem, Delete("alice", "/tmp/alices", False))


def test_rename_into_directory_and_delete_rules():
    namesystem = make_namesystem()
    add_datanodes(namesystem, 1)
    run(namesystem, Mkdirs(SUPERUSER, "/d", 0o755, False))
    write_file(namesystem, "/f", [5], replication=1)
    assert run(namesystem, Rename(SUPERUSER, "/f", "/d")).final_path == "/d/f"
    write_file(namesystem, "/g", [5], replication=1)
    with pytest.raises(FileAlreadyExists):
        run(namesystem, Rename(SUPERUSER, "/g", "/d/f"))
    with pytest.raises(PathIsNotEmptyDirectory):
        run(namesystem, Delete(SUPERUSER, "/d", False))
    run(namesystem, Delete(SUPERUSER, "/d", True))
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
    restarted.after_load(clock())
    with pytest.raises(SafeMode, match="safe mode"):
        run(restarted, Mkdirs(SUPERUSER, "/x", 0o755, False))
    run(restarted, DatanodeRegistered(uuids[0], "core-1", "a:1", 1 << 40))
    blocks = [BlockRef(block.block_id, block.generation_stamp, block.length_bytes)
              for block in restarted.namespace.get_file("/f").blocks]
    run(restarted, BlockReport(uuids[0], tuple((ref, True) for ref in blocks)))
    clock.tick(5)
    tick(restarted)
    assert not restarted.safe_mode.on
    run(restarted, Mkdirs(SUPERUSER, "/x", 0o755, False))


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
                commands += heartbeat(namesystem, uuid)
        tick(namesystem)
    assert not namesystem.datanodes.get(victim).live
    transfers = [command for command in commands if isinstance(command, TransferCommand)]
    assert len(transfers) == 1 and len(transfers[0].targets) == 1
    target = transfers[0].targets[0]
    assert target.uuid not in holders
    run(namesystem, BlocksReceivedAndDeleted(target.uuid, (block.ref(),), ()))
    assert len(namesystem.blocks.live_replicas(block)) == 3


def test_corrupt_replica_is_replaced_then_deleted():
    clock = FakeClock()
    namesystem = make_namesystem(clock=clock)
    uuids = add_datanodes(namesystem, 4)
    write_file(namesystem, "/f", [10], replication=3)
    block = namesystem.namespace.get_file("/f").blocks[0]
    bad = namesystem.blocks.live_replicas(block)[0]
    run(namesystem, BadBlocksReported(bad.uuid, (block.ref(),)))
    clock.tick(2)
    tick(namesystem)
    transfers = [command for uuid in uuids for command in heartbeat(namesystem, uuid)
                 if isinstance(command, TransferCommand)]
    assert len(transfers) == 1
    run(namesystem, BlocksReceivedAndDeleted(transfers[0].targets[0].uuid, (block.ref(),), ()))
    clock.tick(2)
    tick(namesystem)
    deletions = [command for command in heartbeat(namesystem, bad.uuid)
                 if isinstance(command, InvalidateCommand)]
    assert deletions and deletions[0].blocks[0].block_id == block.block_id


def test_unknown_datanode_is_told_to_register():
    namesystem = make_namesystem()
    assert commands_for(namesystem, DatanodeHeartbeat("ghost", 1, 0, 1, 0)) == [RegisterCommand()]


def test_expired_lease_is_recovered_through_a_datanode():
    clock = FakeClock()
    namesystem = make_namesystem(clock=clock)
    uuids = add_datanodes(namesystem, 2)
    run(namesystem, Create(SUPERUSER, "/open", 0o644, "crashed-client", False, True, 2, 0))
    located = run(namesystem, AddBlock(SUPERUSER, "/open", "crashed-client", None, frozenset(), "")).located
    commands = []
    for _ in range(15):
        clock.tick(1)
        for uuid in uuids:
            commands += heartbeat(namesystem, uuid)
        tick(namesystem)
    recoveries = [command for command in commands if isinstance(command, RecoverCommand)]
    assert recoveries, "the primary should be asked to recover the last block"
    recovery = recoveries[0]
    agreed = BlockRef(located.block.block_id, recovery.new_generation_stamp, 777)
    run(namesystem, BlockSynchronizationCommitted(agreed, tuple(node.uuid for node in located.locations), False))
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
    run(namesystem, SetSafeMode("leave"))
    uuids = add_datanodes(namesystem, 2)
    run(namesystem, Create(SUPERUSER, "/open", 0o644, "crashed-client", False, True, 2, 0))
    run(namesystem, AddBlock(SUPERUSER, "/open", "crashed-client", None, frozenset(), ""))
    recoveries = []
    for _ in range(15):
        clock.tick(1)
        for uuid in uuids:
            recoveries += [command for command in heartbeat(namesystem, uuid)
                           if isinstance(command, RecoverCommand)]
        tick(namesystem)
    assert recoveries, "the primary should be asked to recover the last block"
    editlog.sync(editlog.last_written_txid)
    editlog.close()

    editlog = EditLog(tmp_path)  # the NameNode restarts before the recovery is committed
    restarted = make_namesystem(clock=clock, journal=editlog.append, leave_safe_mode=False)
    editlog.load(restarted.load_image, restarted.replay)
    restarted.after_load(clock())
    run(restarted, SetSafeMode("leave"))
    add_datanodes(restarted, 2)
    run(restarted, Create(SUPERUSER, "/next", 0o644, "client-2", False, True, 2, 0))
    located = run(restarted, AddBlock(SUPERUSER, "/next", "client-2", None, frozenset(), "")).located
    editlog.close()
    assert located.block.generation_stamp > recoveries[0].new_generation_stamp


def test_replay_of_the_journal_rebuilds_the_same_namespace():
    journal = []
    namesystem = make_namesystem(journal=journal.append)
    add_datanodes(namesystem, 3)
    run(namesystem, Mkdirs(SUPERUSER, "/a/b", 0o750, True))
    write_file(namesystem, "/a/b/f", [MiB, 7])
    run(namesystem, Rename(SUPERUSER, "/a/b/f", "/a/g"))
    run(namesystem, SetReplication(SUPERUSER, "/a/g", 2))
    run(namesystem, SetPermission(SUPERUSER, "/a", 0o700))
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


def test_deletions_past_the_queue_bound_wait_for_the_next_block_report(monkeypatch):
    monkeypatch.setattr(datanodes, "INVALIDATIONS_QUEUED_MAX", 2)
    namesystem = make_namesystem()
    (uuid,) = add_datanodes(namesystem, 1)
    refs = []
    for number in range(3):
        write_file(namesystem, f"/f{number}", [10], replication=1)
        refs.append(namesystem.namespace.get_file(f"/f{number}").blocks[0].ref())
    for number in range(3):
        run(namesystem, Delete(SUPERUSER, f"/f{number}", False))
    datanode = namesystem.datanodes.get(uuid)
    assert len(datanode.invalidations) == 2 and not datanode.block_ids  # the third is refused, and not counted
    [deleted] = [command for command in heartbeat(namesystem, uuid) if isinstance(command, InvalidateCommand)]
    assert set(deleted.blocks) == set(refs[:2])
    # Its replica is still on the DataNode's disk: the next full block report names it, and it is deleted then.
    run(namesystem, BlockReport(uuid, ((refs[2], True),)))
    [deleted] = [command for command in heartbeat(namesystem, uuid) if isinstance(command, InvalidateCommand)]
    assert deleted.blocks == (refs[2],)

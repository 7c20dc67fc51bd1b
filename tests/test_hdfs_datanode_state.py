"""Unit tests of the DataNode's pure conversation with the NameNode: when it registers, heartbeats and
reports, what the NameNode's commands become, the bound on copies running at once; the incremental block
reports it batches (finalized, deleted and bad replicas, a directory scan's differences) and their bounds;
and, with no network, the actor carrying a directory scan's commands out and putting back unsent reports."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emrlab_common.clusterdir import ClusterDir
from emrlab_common.config import load
from emrlab_common.errors import Unavailable
from emrlab_common.protos import hdfs_pb2
from hdfs.datanode.actor import NameNodeActor
from hdfs.datanode.config import DataNodeConfig
from hdfs.datanode.events import (
    AdoptReplica,
    BadReplicaFound,
    BlockReportAnswered,
    CommitBlockSynchronization,
    CopyFinished,
    CopyReplica,
    DeleteReplicas,
    Difference,
    DirectoryScanFinished,
    Discrepancy,
    ForgetReplica,
    HeartbeatAnswered,
    NameNodeMoved,
    RecoverBlock,
    RecoveryFinished,
    Register,
    Registered,
    ReplicaDeleted,
    ReplicaFinalized,
    ReportBadBlocks,
    ReportsNotSent,
    SendBlockReport,
    SendHeartbeat,
    SendIncrementalBlockReport,
    SetBlockKeys,
    Tick,
)
from hdfs.datanode.node import DataNode
from hdfs.datanode.state import RECOVERIES_MAX, TRANSFERS_MAX, DataNodeState
from tests.conftest import wait_until

HEARTBEAT_S, BLOCK_REPORT_S = 3.0, 3600.0


def registered_state(**bounds) -> DataNodeState:
    state = DataNodeState(HEARTBEAT_S, BLOCK_REPORT_S, **bounds)
    assert state.handle(Tick(), 0.0) == [Register()]
    assert state.handle(Registered(), 0.1) == [SendBlockReport(), SendHeartbeat()]
    state.handle(BlockReportAnswered(()), 0.2)
    state.handle(HeartbeatAnswered(()), 0.2)
    return state


def transfer(block_id: int) -> hdfs_pb2.DatanodeCommand:
    return hdfs_pb2.DatanodeCommand(transfer=hdfs_pb2.TransferCommand(block=hdfs_pb2.Block(block_id=block_id)))


def test_it_registers_then_reports_everything_once_then_heartbeats_on_time():
    state = registered_state()
    assert state.handle(Tick(), 1.0) == [] and state.wait_s(1.0) == HEARTBEAT_S - 0.8
    assert state.handle(Tick(), 3.2) == [SendHeartbeat()]
    state.handle(HeartbeatAnswered(()), 3.3)
    assert state.handle(Tick(), BLOCK_REPORT_S + 0.3) == [SendBlockReport(), SendHeartbeat()]
    state.validate_state()


def test_a_moved_namenode_or_its_register_command_means_registering_again():
    state = registered_state()
    state.handle(NameNodeMoved(), 1.0)
    assert state.handle(Tick(), 1.1) == [Register()] and state.wait_s(1.1) == 0.0
    state = registered_state()
    assert state.handle(HeartbeatAnswered((hdfs_pb2.DatanodeCommand(register=hdfs_pb2.RegisterCommand()),)), 1.0) == []
    assert state.handle(Tick(), 1.1) == [Register()]


def test_the_namenodes_commands_become_the_datanodes_in_order():
    state = registered_state()
    block = hdfs_pb2.Block(block_id=7, generation_stamp=1001)
    commands = (
        hdfs_pb2.DatanodeCommand(invalidate=hdfs_pb2.InvalidateCommand(blocks=[block])),
        transfer(8),
        hdfs_pb2.DatanodeCommand(recover=hdfs_pb2.RecoverBlockCommand(block=block, new_generation_stamp=1002)),
        hdfs_pb2.DatanodeCommand(key_update=hdfs_pb2.KeyUpdateCommand(block_keys=[hdfs_pb2.BlockKey(key_id=3)])),
    )
    delete, copy, recover, keys = state.handle(HeartbeatAnswered(commands), 1.0)
    assert isinstance(delete, DeleteReplicas) and delete.blocks == (block,)
    assert isinstance(copy, CopyReplica) and copy.transfer.block.block_id == 8
    assert isinstance(recover, RecoverBlock) and recover.recover.new_generation_stamp == 1002
    assert isinstance(keys, SetBlockKeys) and keys.keys[0].key_id == 3


def test_copies_are_bounded_and_one_block_is_copied_once_at_a_time():
    state = registered_state()
    commands = state.handle(HeartbeatAnswered(tuple(transfer(block_id) for block_id in range(TRANSFERS_MAX + 3))), 1.0)
    assert len(commands) == TRANSFERS_MAX and state.copies == set(range(TRANSFERS_MAX))
    assert state.handle(HeartbeatAnswered((transfer(0),)), 2.0) == []  # already being copied
    state.handle(CopyFinished(0), 3.0)
    assert [command.transfer.block.block_id for command in state.handle(
        BlockReportAnswered((transfer(TRANSFERS_MAX + 1),)), 3.1)] == [TRANSFERS_MAX + 1]
    state.validate_state()


def recover(block_id: int, stamp: int = 1002) -> hdfs_pb2.DatanodeCommand:
    return hdfs_pb2.DatanodeCommand(recover=hdfs_pb2.RecoverBlockCommand(
        block=hdfs_pb2.Block(block_id=block_id), new_generation_stamp=stamp))


def test_recoveries_are_bounded_and_one_block_is_recovered_once_at_a_time():
    state = registered_state()
    commands = state.handle(HeartbeatAnswered(tuple(recover(block_id) for block_id in range(RECOVERIES_MAX + 2))), 1.0)
    assert len(commands) == RECOVERIES_MAX and state.recoveries == set(range(RECOVERIES_MAX))
    assert state.handle(HeartbeatAnswered((recover(0, 1003),)), 2.0) == []  # its recovery still runs
    state.handle(RecoveryFinished(0), 3.0)
    assert [command.recover.new_generation_stamp for command in state.handle(
        HeartbeatAnswered((recover(0, 1003),)), 3.1)] == [1003]
    state.validate_state()


def test_a_recoverys_result_goes_out_on_the_next_tick_once_registered_and_holds_its_slot_until_then():
    state = registered_state(recoveries_max=1)
    state.handle(HeartbeatAnswered((recover(7),)), 1.0)
    commit = hdfs_pb2.CommitBlockSynchronizationRequest(block=hdfs_pb2.Block(block_id=7), delete_block=True)
    assert state.handle(RecoveryFinished(7, commit), 1.5) == []  # told from the pool's thread: nothing to call there
    assert state.wait_s(1.5) == 0.0
    state.handle(NameNodeMoved(), 1.6)
    assert state.handle(HeartbeatAnswered((recover(8),)), 1.7) == []  # 7 still holds the one slot
    assert state.handle(Tick(), 1.8) == [Register()]
    assert CommitBlockSynchronization(commit) in state.handle(Registered(), 1.9)
    state.validate_state()
    assert state.recoveries == set() and CommitBlockSynchronization(commit) not in state.handle(Tick(), 2.0)
    assert len(state.handle(HeartbeatAnswered((recover(8),)), 2.1)) == 1


def test_a_recovery_on_the_pool_leaves_the_namenode_to_the_loop(tmp_path):
    datanode = DataNode(load(DataNodeConfig, {}), ClusterDir(tmp_path / "cluster"), "core-1", tmp_path / "data")
    callers: list[threading.Thread] = []

    class WatchedActor(NameNodeActor):
        def _namenode(self):
            callers.append(threading.current_thread())
            return super()._namenode()

    actor = WatchedActor(datanode)
    actor.state.registered = True
    actor.state.next_heartbeat_s = actor.state.next_block_report_s = float("inf")
    actor.submit(HeartbeatAnswered((recover(5),)))  # no replica to ask: the NameNode is to delete the block
    wait_until(lambda: actor.state.commits or not actor.state.recoveries, what="the recovery on the pool")
    assert callers == [] and actor.state.commits[5].delete_block
    with pytest.raises(Unavailable):  # the loop's next tick tells the NameNode (none runs here)
        actor.submit(Tick())
    assert callers == [threading.current_thread()] and not actor.state.recoveries
    datanode.close()


def test_damaged_replicas_remembered_as_reported_are_bounded_oldest_forgotten_first():
    state = registered_state(damage_reported_max=2)
    for block_id in (1, 2, 3):
        state.handle(DirectoryScanFinished((discrepancy(block_id, Difference.DAMAGED),)), 1.0)
        state.validate_state()
    assert list(state.damage_reported) == [(2, 1001), (3, 1001)]
    state.handle(Tick(), 1.0)
    state.handle(DirectoryScanFinished((discrepancy(1, Difference.DAMAGED),)), 2.0)  # forgotten: said again
    assert state.handle(Tick(), 2.0) == [ReportBadBlocks((block(1),))]


def block(block_id: int, stamp: int = 1001) -> hdfs_pb2.Block:
    return hdfs_pb2.Block(block_id=block_id, generation_stamp=stamp, length_bytes=10)


def test_a_finalized_replica_goes_at_the_next_tick_and_a_deleted_one_waits_for_the_heartbeat():
    state = registered_state()
    state.handle(ReplicaDeleted(block(1)), 1.0)
    assert state.wait_s(1.0) == HEARTBEAT_S - 0.8 and state.handle(Tick(), 1.0) == []  # it rides with the heartbeat
    assert state.handle(ReplicaFinalized(block(2)), 1.1) == []  # told on a writer's thread: nothing of its own
    assert state.wait_s(1.1) == 0.0
    assert state.handle(Tick(), 1.1) == [SendIncrementalBlockReport((block(2),), (block(1),))]  # what waits goes too
    state.handle(ReplicaDeleted(block(3)), 1.2)
    assert state.handle(Tick(), HEARTBEAT_S + 0.2) == [SendIncrementalBlockReport((), (block(3),)), SendHeartbeat()]
    state.validate_state()


def test_a_replica_received_again_after_its_deletion_is_reported_received_only():
    state = registered_state()
    state.handle(ReplicaDeleted(block(1)), 1.0)  # waits for the heartbeat
    state.handle(ReplicaFinalized(block(1, 1002)), 1.1)  # a re-replication target again
    assert state.handle(Tick(), 1.1) == [SendIncrementalBlockReport((block(1, 1002),), ())]
    state.handle(ReplicaDeleted(block(2)), 1.2)
    state.handle(ReportsNotSent(received=(block(2, 1000),)), 1.2)  # an older receipt put back: the deletion holds
    assert state.handle(Tick(), HEARTBEAT_S + 0.2) == [SendIncrementalBlockReport((), (block(2),)), SendHeartbeat()]
    state.validate_state()


def test_a_replica_deleted_while_its_receipt_waits_is_reported_deleted_only():
    state = registered_state(incremental_report_interval_s=5.0)
    state.handle(ReplicaFinalized(block(1)), 0.1)
    assert state.handle(Tick(), 0.1) == [SendIncrementalBlockReport((block(1),), ())]
    state.handle(ReplicaFinalized(block(2)), 0.2)  # waits for the interval
    state.handle(ReplicaDeleted(block(2)), 0.3)
    state.handle(ReplicaFinalized(block(3)), 0.3)
    state.handle(ReportsNotSent(deleted=(block(3, 1000),)), 0.3)  # an older deletion put back: the receipt holds
    assert state.handle(Tick(), HEARTBEAT_S + 0.2) == [SendIncrementalBlockReport((block(3),), (block(2),)),
                                                     SendHeartbeat()]
    state.validate_state()


def test_incremental_reports_are_at_most_one_per_interval():
    state = registered_state(incremental_report_interval_s=0.5)
    state.handle(ReplicaFinalized(block(1)), 0.1)
    assert state.handle(Tick(), 0.1) == [SendIncrementalBlockReport((block(1),), ())]
    state.handle(ReplicaFinalized(block(2)), 0.2)
    assert state.handle(Tick(), 0.2) == [] and state.wait_s(0.2) == pytest.approx(0.4)
    assert state.handle(Tick(), 0.6) == [SendIncrementalBlockReport((block(2),), ())]


def test_reports_wait_while_unregistered_and_go_after_the_full_report():
    state = DataNodeState(HEARTBEAT_S, BLOCK_REPORT_S)
    state.handle(ReplicaFinalized(block(1)), 0.0)
    state.handle(BadReplicaFound(block(2), "a read"), 0.0)
    assert state.handle(Tick(), 0.0) == [Register()]
    assert state.handle(Registered(), 0.1) == [SendBlockReport(), SendIncrementalBlockReport((block(1),), ()),
                                               ReportBadBlocks((block(2),)), SendHeartbeat()]


def test_a_bad_replica_is_reported_once_while_it_waits_and_bad_ones_are_bounded():
    state = registered_state(bad_blocks_max=2)
    for block_id in (1, 1, 2, 3):  # the same one twice (a read and the scanner), then one past the bound
        state.handle(BadReplicaFound(block(block_id), "the block scanner"), 0.1)
    assert state.wait_s(0.1) == 0.0
    assert state.handle(Tick(), 0.1) == [ReportBadBlocks((block(1), block(2)))]  # 3 waits for the next pass
    state.validate_state()


def test_more_replicas_waiting_than_the_bound_give_way_to_a_full_block_report_at_once():
    state = registered_state(pending_blocks_max=3)
    for block_id in range(3):
        state.handle(ReplicaFinalized(block(block_id)), 0.1)
    state.handle(ReplicaDeleted(block(9)), 0.2)  # the fourth: all of them go, the full report says it all
    assert state.handle(Tick(), 0.2) == [SendBlockReport()]
    state.validate_state()


def test_reports_not_sent_wait_again_in_their_order():
    state = registered_state()
    state.handle(ReplicaFinalized(block(3)), 1.0)
    state.handle(ReportsNotSent(received=(block(1), block(2)), deleted=(block(9),), bad=(block(5),)), 1.0)
    assert state.handle(Tick(), 1.0) == [SendIncrementalBlockReport((block(1), block(2), block(3)), (block(9),)),
                                         ReportBadBlocks((block(5),))]


def discrepancy(block_id: int, difference: Difference, stamp: int = 1001) -> Discrepancy:
    return Discrepancy(block(block_id, stamp), difference, "test", Path(f"subdir0/blk_{block_id}"))


def test_a_directory_scan_forgets_missing_replicas_adopts_unknown_ones_and_reports_damage_once():
    state = registered_state()
    scan = DirectoryScanFinished((discrepancy(1, Difference.MISSING), discrepancy(2, Difference.DAMAGED),
                                  discrepancy(3, Difference.UNKNOWN)))
    assert state.handle(scan, 1.0) == [ForgetReplica(block(1)), AdoptReplica(block(3), Path("subdir0/blk_3"))]
    assert state.handle(Tick(), 1.0) == [ReportBadBlocks((block(2),))]
    state.handle(DirectoryScanFinished((discrepancy(2, Difference.DAMAGED),)), 2.0)
    assert state.handle(Tick(), 2.0) == []  # said once: the NameNode copies it, then deletes this replica
    state.handle(ReplicaDeleted(block(2)), 2.1)  # deleted, then written again at the same stamp, and damaged again
    state.handle(DirectoryScanFinished((discrepancy(2, Difference.DAMAGED),)), 2.2)
    assert state.handle(Tick(), 2.2) == [ReportBadBlocks((block(2),))]


def datanode_and_actor(tmp_path) -> tuple[DataNode, NameNodeActor]:
    datanode = DataNode(load(DataNodeConfig, {}), ClusterDir(tmp_path / "cluster"), "core-1", tmp_path / "data")
    return datanode, NameNodeActor(datanode)  # listening, not running: no NameNode is called unless a test asks


def test_reports_a_failed_call_kept_from_going_out_wait_in_the_state_again(tmp_path):
    datanode, actor = datanode_and_actor(tmp_path)
    actor.state.registered = True
    actor.state.next_heartbeat_s = actor.state.next_block_report_s = float("inf")
    datanode.tell(ReplicaFinalized(block(1)))  # as a write pipeline's thread does
    datanode.tell(BadReplicaFound(block(2), "a read"))
    with pytest.raises(Unavailable):  # no NameNode runs in this cluster directory
        actor.submit(Tick())
    assert actor.state.pending.received == [block(1)] and actor.state.pending.bad == [block(2)]
    datanode.close()


def test_recovery_results_a_failed_call_kept_from_going_out_wait_again_holding_their_slots(tmp_path):
    datanode, actor = datanode_and_actor(tmp_path)
    actor.state.registered = True
    actor.state.next_heartbeat_s = float("inf")
    actor.state.next_block_report_s = 0.0  # due first, as after a NameNode restart; its call fails
    actor.state.handle(HeartbeatAnswered((recover(7),)), 0.0)
    commit = hdfs_pb2.CommitBlockSynchronizationRequest(block=hdfs_pb2.Block(block_id=7), delete_block=True)
    actor.state.handle(RecoveryFinished(7, commit), 0.0)
    with pytest.raises(Unavailable):  # no NameNode runs in this cluster directory
        actor.submit(Tick())
    assert actor.state.commits == {7: commit} and actor.state.recoveries == {7}
    actor.state.validate_state()
    actor.state.next_block_report_s = float("inf")
    assert actor.state.handle(Tick(), 1.0) == [CommitBlockSynchronization(commit)]
    datanode.close()


# ---------------------------------------------------------------- no replica goes unreported

EVENTS = st.one_of(
    st.tuples(st.just("finalized"), st.integers(0, 20)),
    st.tuples(st.just("deleted"), st.integers(0, 20)),
    st.tuples(st.just("tick"), st.floats(0.0, 5.0)),
    st.tuples(st.just("tick and fail"), st.floats(0.0, 5.0)),  # the NameNode call fails: ReportsNotSent
    st.tuples(st.just("namenode moved"), st.just(0)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(EVENTS, max_size=60))
def test_every_replica_told_is_reported_incrementally_or_by_a_full_report_after_it(steps):
    state = DataNodeState(HEARTBEAT_S, BLOCK_REPORT_S, pending_blocks_max=3)
    unreported: set[tuple[str, int]] = set()
    now_s = 0.0

    def carry_out(commands, fail: bool) -> None:
        for command in commands:
            match command:
                case Register():
                    carry_out(state.handle(Registered(), now_s), fail)
                case SendBlockReport():
                    unreported.clear()  # it lists all the disk holds: what was told before it is said
                    state.handle(BlockReportAnswered(()), now_s)
                case SendHeartbeat():
                    state.handle(HeartbeatAnswered(()), now_s)
                case SendIncrementalBlockReport(received, deleted) if fail:
                    state.handle(ReportsNotSent(received, deleted), now_s)
                case SendIncrementalBlockReport(received, deleted):
                    unreported.difference_update({("finalized", b.block_id) for b in received}
                                                 | {("deleted", b.block_id) for b in deleted})

    for kind, value in steps:
        if kind in ("finalized", "deleted"):
            event = ReplicaFinalized(block(value)) if kind == "finalized" else ReplicaDeleted(block(value))
            assert state.handle(event, now_s) == []
            unreported.discard(("deleted" if kind == "finalized" else "finalized", value))  # superseded
            unreported.add((kind, value))
        elif kind == "namenode moved":
            state.handle(NameNodeMoved(), now_s)
        else:
            now_s += value
            carry_out(state.handle(Tick(), now_s), fail=kind == "tick and fail")
        state.validate_state()
    for _ in range(2):  # a quiet NameNode for a heartbeat or two: everything waiting goes
        now_s += HEARTBEAT_S
        carry_out(state.handle(Tick(), now_s), fail=False)
    assert not unreported and not state.pending.received and not state.pending.deleted

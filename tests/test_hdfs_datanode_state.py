"""Unit tests of the DataNode's pure conversation with the NameNode: when it registers, heartbeats and
reports, what the NameNode's commands become, and the bound on copies running at once; and the bound on
its outbox to the NameNode (node.py), which an overflow turns into a full block report."""

from __future__ import annotations

from pathlib import Path

from emrlab_common.clusterdir import ClusterDir
from emrlab_common.config import load
from emrlab_common.protos import hdfs_pb2
from hdfs.datanode.config import DataNodeConfig
from hdfs.datanode.node import DataNode
from hdfs.datanode.state import (
    RECOVERIES_MAX,
    TRANSFERS_MAX,
    BlockReportAnswered,
    CopyFinished,
    CopyReplica,
    DataNodeState,
    DeleteReplicas,
    HeartbeatAnswered,
    NameNodeMoved,
    OutboxOverflowed,
    RecoverBlock,
    RecoveryFinished,
    Register,
    Registered,
    SendBlockReport,
    SendHeartbeat,
    SetBlockKeys,
    Tick,
)
from hdfs.datanode.storage import Replica, ReplicaState

HEARTBEAT_S, BLOCK_REPORT_S = 3.0, 3600.0


def registered_state() -> DataNodeState:
    state = DataNodeState(HEARTBEAT_S, BLOCK_REPORT_S)
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


def test_an_overflowed_outbox_makes_a_full_block_report_due_at_once():
    state = registered_state()
    assert state.handle(Tick(), 1.0) == []
    assert state.handle(OutboxOverflowed(), 1.1) == [SendBlockReport()]
    state.handle(BlockReportAnswered(()), 1.2)
    assert state.handle(Tick(), 1.3) == []
    unregistered = DataNodeState(HEARTBEAT_S, BLOCK_REPORT_S)
    assert unregistered.handle(OutboxOverflowed(), 0.0) == [Register()]  # registering reports everything anyway
    state.validate_state()


def replica(block_id: int) -> Replica:
    return Replica(block_id, 1001, 10, ReplicaState.FINALIZED, Path(f"blk_{block_id}"), Path(f"blk_{block_id}.meta"))


def test_the_outbox_is_bounded_and_an_overflow_gives_way_to_a_full_report(tmp_path):
    datanode = DataNode(load(DataNodeConfig, {}), ClusterDir(tmp_path / "cluster"), "core-1", tmp_path / "data")
    datanode.outbox_blocks_max, datanode.bad_blocks_max = 4, 2
    for block_id in range(3):
        datanode.block_received(replica(block_id))
    datanode.block_deleted(replica(9))
    assert not datanode.take_full_report_wanted()
    received, deleted, bad = datanode.take_outbox()
    assert [block.block_id for block in received] == [0, 1, 2] and [block.block_id for block in deleted] == [9]
    datanode.return_outbox(received, deleted, bad)  # the NameNode could not be told: they wait again
    datanode.block_received(replica(3))  # the fifth: the outbox collapses
    assert datanode.take_outbox()[:2] == ([], []) and datanode.take_full_report_wanted()
    assert not datanode.take_full_report_wanted()  # once
    for block_id in range(3):
        datanode.bad_block_found(replica(block_id))
    assert [block.block_id for block in datanode.take_outbox()[2]] == [0, 1]  # the third waits for the scanner
    datanode.close()

"""Every change to the NameNode's namesystem is an event: `handle(event, now_s) -> list[Command]`.

Pure: no processes, no network; the time comes with each event. The commands
are the DataNode commands for the caller and, for an RPC's event, exactly one
reply, which server.py turns into the RPC's response.
"""

from __future__ import annotations

import typing

import pytest

from hdfs.errors import SafeMode
from hdfs.namenode.events import (
    AbandonBlock,
    Acknowledged,
    AddBlock,
    AddBlockReply,
    Append,
    AppendReply,
    BadBlocksReported,
    BlockRef,
    BlockReport,
    BlocksReceivedAndDeleted,
    BlockSynchronizationCommitted,
    Complete,
    CompleteReply,
    Create,
    CreateReply,
    DatanodeHeartbeat,
    DatanodeRegistered,
    Delete,
    Event,
    Mkdirs,
    RefreshNodes,
    RefreshNodesReply,
    RegisterCommand,
    RegisterDatanodeReply,
    Rename,
    RenameReply,
    RenewLease,
    Reply,
    SafeModeReply,
    SetOwner,
    SetPermission,
    SetReplication,
    SetReplicationReply,
    SetSafeMode,
    SetTimes,
    Tick,
    datanode_commands,
)
from tests.namenode_fixtures import SUPERUSER, make_namesystem

NOW_S = 5000.0


def test_every_event_has_a_handler():
    namesystem = make_namesystem()
    assert set(namesystem.handlers) == set(typing.get_args(Event))


def test_an_unknown_event_is_a_loud_programmer_error():
    namesystem = make_namesystem()
    with pytest.raises(AssertionError, match="unknown event"):
        namesystem.handle(object(), NOW_S)
    with pytest.raises(AssertionError, match="unknown event"):
        namesystem.handle(Acknowledged(), NOW_S)  # a reply is not an event


def test_a_files_life_through_handle_answers_each_rpc_with_exactly_one_reply():
    journal = []
    namesystem = make_namesystem(journal=journal.append)
    handled = set()

    def answer(event, kind):
        commands = namesystem.handle(event, NOW_S)
        namesystem.validate_state()
        handled.add(type(event))
        replies = [command for command in commands if isinstance(command, typing.get_args(Reply))]
        assert len(replies) == 1 and isinstance(replies[0], kind), (event, commands)
        return replies[0], datanode_commands(commands)

    for index in (1, 2):
        registered, _ = answer(DatanodeRegistered(f"uuid-{index}", f"core-{index}", f"a:{index}", 1 << 40),
                               RegisterDatanodeReply)
        assert registered.block_keys == ()  # block tokens are off
        answer(DatanodeHeartbeat(f"uuid-{index}", 1 << 40, 0, 1 << 40, 0), Acknowledged)
    _, commands = answer(DatanodeHeartbeat("ghost", 1, 0, 1, 0), Acknowledged)
    assert commands == [RegisterCommand()]
    answer(Mkdirs(SUPERUSER, "/d", 0o755, False), Acknowledged)
    created, _ = answer(Create(SUPERUSER, "/d/f", 0o644, "c1", False, True, 2, 0), CreateReply)
    assert created.status.path == "/d/f" and created.warning == ""
    added, _ = answer(AddBlock(SUPERUSER, "/d/f", "c1", None, frozenset(), ""), AddBlockReply)
    assert len(added.located.locations) == 2 and added.block_token == b""
    answer(AbandonBlock("/d/f", "c1", added.located.block), Acknowledged)
    added, _ = answer(AddBlock(SUPERUSER, "/d/f", "c1", None, frozenset(), ""), AddBlockReply)
    block = BlockRef(added.located.block.block_id, added.located.block.generation_stamp, 10)
    answer(BlocksReceivedAndDeleted("uuid-1", (block,), ()), Acknowledged)
    answer(BlockReport("uuid-2", ((block, True),)), Acknowledged)
    answer(RenewLease("c1"), Acknowledged)
    completed, _ = answer(Complete("/d/f", "c1", block), CompleteReply)
    assert completed.completed
    renamed, _ = answer(Rename(SUPERUSER, "/d/f", "/d/g"), RenameReply)
    assert renamed.final_path == "/d/g"
    answer(SetPermission(SUPERUSER, "/d/g", 0o600), Acknowledged)
    answer(SetOwner(SUPERUSER, "/d/g", "alice", ""), Acknowledged)
    answer(SetTimes(SUPERUSER, "/d/g", 1234), Acknowledged)
    changed, _ = answer(SetReplication(SUPERUSER, "/d/g", 3), SetReplicationReply)
    assert "only 2 DataNode(s) in service" in changed.warning
    appended, _ = answer(Append(SUPERUSER, "/d/g", "c2"), AppendReply)
    assert appended.last_block == block and appended.status.under_construction
    answer(BadBlocksReported("uuid-2", (block,)), Acknowledged)
    answer(BlockSynchronizationCommitted(block, ("uuid-1",), False), Acknowledged)  # no recovery: ignored
    refreshed, _ = answer(RefreshNodes(frozenset()), RefreshNodesReply)
    assert refreshed == RefreshNodesReply((), ())
    safe_mode, _ = answer(SetSafeMode("get"), SafeModeReply)
    assert not safe_mode.safe_mode
    answer(Delete(SUPERUSER, "/d", True), Acknowledged)
    assert namesystem.handle(Tick(), NOW_S) == []  # not an RPC: no reply
    handled.add(Tick)
    assert handled == set(typing.get_args(Event))
    assert namesystem.file_info(SUPERUSER, "/d") is None and journal


def test_the_time_comes_with_the_event_not_from_the_clock():
    namesystem = make_namesystem()  # the test's clock says 1000 s
    namesystem.handle(Mkdirs(SUPERUSER, "/d", 0o755, False), NOW_S)
    assert namesystem.file_info(SUPERUSER, "/d").modification_time_ms == int(NOW_S * 1000)


def test_an_operating_error_is_raised_from_handle_and_logs_nothing():
    journal = []
    namesystem = make_namesystem(journal=journal.append, leave_safe_mode=False)
    with pytest.raises(SafeMode, match="safe mode"):
        namesystem.handle(Mkdirs(SUPERUSER, "/d", 0o755, False), NOW_S)
    assert journal == [] and namesystem.file_info(SUPERUSER, "/d") is None
    namesystem.validate_state()

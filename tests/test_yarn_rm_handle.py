"""The ResourceManager's NodeManager and ApplicationMaster RPCs as events: `handle(event, now_s) -> list[Command]`.

Pure: no processes, no clock. The commands are the NodeManager commands the
event causes and one reply, which server.py turns into the RPC's response.
"""

from __future__ import annotations

import pytest
from test_yarn_state import make_rm, submit

from yarn.records import ContainerRequest, Resource
from yarn.resourcemanager.containers import CleanupApplication, LaunchContainer
from yarn.resourcemanager.events import (
    AllocateReply,
    AMAllocate,
    AMFinished,
    AMRegistered,
    AMRegisterReply,
    NodeHeartbeat,
    NodeHeartbeatReply,
    NodeRegistered,
    NodeRegisterReply,
    node_commands,
    reply,
)
from yarn.resourcemanager.state import NORMAL, RESYNC


def test_a_node_and_an_application_master_talk_to_the_rm_through_handle():
    rm = make_rm()
    assert rm.handle(NodeHeartbeat("core-1", (), True, ""), 0.0) == [
        NodeHeartbeatReply("core-1", RESYNC, "node core-1 is not registered (or was lost)")]
    assert rm.handle(NodeRegistered("core-1", "127.0.0.1:1000", "CORE", Resource(4096, 4)), 0.0) == [
        NodeRegisterReply("core-1", NORMAL)]
    app_id = submit(rm)
    commands = rm.handle(NodeHeartbeat("core-1", (), True, ""), 1.0)
    assert reply(commands, NodeHeartbeatReply).action is NORMAL
    (am_launch,) = node_commands(commands)
    assert isinstance(am_launch, LaunchContainer) and am_launch.node_id == "core-1"
    attempt = rm.applications[app_id].current_attempt.attempt_id

    (registered,) = rm.handle(AMRegistered(attempt, "host", 1234, ""), 1.0)
    assert registered == AMRegisterReply(rm.maximum_resource(), registered.queue)
    asked = rm.handle(AMAllocate(attempt, 0, (ContainerRequest(Resource(512), allocation_request_id=1),), (), (),
                                 0.1), 1.0)
    assert reply(asked, AllocateReply).response.allocated == []
    rm.handle(NodeHeartbeat("core-1", (), True, ""), 2.0)  # the scheduler places the container on this heartbeat
    given = reply(rm.handle(AMAllocate(attempt, 1, (), (), (), 0.2), 2.0), AllocateReply)
    assert [container.node_id for container in given.response.allocated] == ["core-1"]
    rm.validate_state()

    finished = rm.handle(AMFinished(attempt, "SUCCEEDED", "", ""), 3.0)
    assert CleanupApplication("core-1", app_id) in finished


def test_an_unknown_event_is_a_programmer_error():
    with pytest.raises(AssertionError, match="unknown event"):
        make_rm().handle(object(), 0.0)

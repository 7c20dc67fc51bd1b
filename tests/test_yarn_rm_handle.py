"""Every change to the ResourceManager's state is an event: `handle(event, now_s) -> list[Command]`.

Pure: no processes, no clock. The commands are the NodeManager commands the
event causes and, for an RPC's event, one reply, which server.py turns into
the RPC's response.
"""

from __future__ import annotations

import typing

import pytest
from test_yarn_state import make_rm, submit

from yarn.errors import ApplicationNotFound, NodeNotFound
from yarn.records import (
    ApplicationState,
    ApplicationSubmissionContext,
    ContainerLaunchContext,
    ContainerRequest,
    NodeState,
    Resource,
)
from yarn.resourcemanager.events import (
    AllocateReply,
    AMAllocate,
    AMFinished,
    AMFinishReply,
    AMRegistered,
    AMRegisterReply,
    ApplicationKilled,
    ApplicationSubmitted,
    CleanupApplication,
    Event,
    KillReply,
    LaunchContainer,
    NewApplicationReply,
    NewApplicationRequested,
    NodeHeartbeat,
    NodeHeartbeatReply,
    NodeRegistered,
    NodeRegisterReply,
    NodesDecommissioned,
    NodesRefreshed,
    RefreshNodesReply,
    RemoveStoredApplication,
    Reply,
    StateRecovered,
    StoreApplication,
    SubmitReply,
    Tick,
    node_commands,
    reply,
    store_commands,
)
from yarn.resourcemanager.state import NORMAL, RESYNC


def test_a_node_and_an_application_master_talk_to_the_rm_through_handle():
    rm = make_rm(place_on_allocate=True)  # the default
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

    registered = rm.handle(AMRegistered(attempt, "host", 1234, ""), 1.0)
    assert registered == [AMRegisterReply(rm.maximum_resource(), "default"), StoreApplication(rm.applications[app_id])]
    asked = rm.handle(AMAllocate(attempt, 0, (ContainerRequest(Resource(512), allocation_request_id=1),), (), (),
                                 0.1), 1.0)
    # core-1 has room: the request is placed as it arrives (emrlab.scheduler.place-on-allocate), in this answer
    assert [container.node_id for container in reply(asked, AllocateReply).response.allocated] == ["core-1"]
    rm.validate_state()

    finished = rm.handle(AMFinished(attempt, "SUCCEEDED", "", ""), 3.0)
    assert CleanupApplication("core-1", app_id) in finished and reply(finished, AMFinishReply).attempt == attempt
    rm.validate_state()


def test_clients_and_administrators_change_the_state_through_handle_too():
    rm = make_rm()
    rm.handle(NodeRegistered("core-1", "127.0.0.1:1000", "CORE", Resource(4096, 4)), 0.0)
    rm.handle(NodeRegistered("core-2", "127.0.0.1:1001", "CORE", Resource(2048, 4)), 0.0)
    (new,) = rm.handle(NewApplicationRequested(), 0.0)
    assert new == NewApplicationReply("application_1700000000000_0001", rm.maximum_resource())
    app_id = submit(rm)
    rm.handle(NodeHeartbeat("core-1", (), True, ""), 1.0)  # the AM container goes to core-1

    killed = rm.handle(ApplicationKilled(app_id, "enough"), 2.0)
    assert reply(killed, KillReply) == KillReply(app_id, already_finished=False)
    assert node_commands(killed) == [CleanupApplication("core-1", app_id)]
    assert rm.application_report(app_id).state is ApplicationState.KILLED
    assert rm.handle(ApplicationKilled(app_id), 3.0) == [KillReply(app_id, already_finished=True)]
    with pytest.raises(ApplicationNotFound):
        rm.handle(ApplicationKilled("application_1700000000000_0042"), 3.0)

    (decommissioned,) = rm.handle(NodesDecommissioned(("core-2",), graceful=True, timeout_s=60.0), 4.0)
    assert [(node.node_id, node.state) for node in decommissioned.nodes] == [("core-2", NodeState.DECOMMISSIONED)]
    with pytest.raises(NodeNotFound):
        rm.handle(NodesDecommissioned(("core-9",), graceful=True, timeout_s=60.0), 4.0)
    (refreshed,) = rm.handle(NodesRefreshed(frozenset({"core-1"}), graceful=False, timeout_s=0.0), 5.0)
    assert refreshed == RefreshNodesReply(decommissioned=("core-1",))
    assert rm.handle(Tick(), 6.0) == []
    rm.validate_state()


def test_an_event_that_changes_what_is_durable_returns_the_state_store_writes():
    rm = make_rm(completed_applications_max=1)
    rm.handle(NodeRegistered("core-1", "127.0.0.1:1000", "CORE", Resource(4096, 4)), 0.0)
    (new,) = rm.handle(NewApplicationRequested(), 0.0)  # nothing durable yet
    submitted = rm.handle(ApplicationSubmitted(ApplicationSubmissionContext(
        new.application_id, "test", ContainerLaunchContext(["true"]), Resource(256, 1)), "alice"), 0.0)
    first = rm.applications[new.application_id]
    assert submitted == [SubmitReply(first.application_id), StoreApplication(first)]
    assert store_commands(rm.handle(NodeHeartbeat("core-1", (), True, ""), 1.0)) == [StoreApplication(first)]
    assert store_commands(rm.handle(NodeHeartbeat("core-1", (), True, ""), 2.0)) == []  # nothing durable changed
    second = rm.applications[submit(rm)]
    assert store_commands(rm.handle(ApplicationKilled(first.application_id), 3.0)) == [StoreApplication(first)]
    # yarn.resourcemanager.max-completed-applications 1: the older finished application is forgotten, and unstored.
    assert store_commands(rm.handle(ApplicationKilled(second.application_id), 4.0)) == [
        StoreApplication(second), RemoveStoredApplication(first.application_id)]
    rm.validate_state()


def test_every_event_has_a_handler_and_the_events_that_are_not_rpcs_no_reply():
    rm = make_rm()
    assert set(rm.handlers) == set(typing.get_args(Event))
    assert not [command for command in rm.handle(Tick(), 0.0) + rm.handle(StateRecovered((), 1), 0.0)
                if isinstance(command, typing.get_args(Reply))]


def test_an_unknown_event_is_a_loud_programmer_error():
    rm = make_rm()
    with pytest.raises(AssertionError, match="unknown event"):
        rm.handle(object(), 0.0)
    with pytest.raises(AssertionError, match="unknown event"):
        rm.handle(AMRegisterReply(Resource(1, 1), "default"), 0.0)  # a reply is not an event

"""Unit tests of the ResourceManager's pure state: node and application lifecycles, containers, AM retries.

No processes, no clock: a test registers nodes, submits applications and
sends heartbeats by handing the state events (`events.py`) with the time it
chooses, through helpers that do what the shell does with the commands.
"""

from __future__ import annotations

import pytest

from emrlab_common.lifecycle import InvalidTransition
from yarn.errors import ApplicationNotFound, InvalidResourceRequest, NodeNotFound
from yarn.records import (
    ApplicationState,
    ApplicationSubmissionContext,
    ContainerExitStatus,
    ContainerLaunchContext,
    ContainerRequest,
    ContainerState,
    ContainerStatus,
    FinalApplicationStatus,
    NodeState,
    Resource,
)
from yarn.resourcemanager.config import ResourceManagerConfig
from yarn.resourcemanager.containers import (
    HeartbeatResult,
    NodeOutboxes,
    RMContainerEvent,
    RMContainerState,
)
from yarn.resourcemanager.events import (
    AllocateReply,
    AMAllocate,
    AMFinished,
    AMRegistered,
    AMRegisterReply,
    ApplicationKilled,
    ApplicationSubmitted,
    CleanupApplication,
    CleanupContainer,
    DecommissionReply,
    KillReply,
    NewApplicationReply,
    NewApplicationRequested,
    NodeHeartbeat,
    NodeHeartbeatReply,
    NodeRegistered,
    NodeRegisterReply,
    NodesDecommissioned,
    NodesRefreshed,
    RefreshNodesReply,
    StoreApplication,
    Tick,
    node_commands,
    reply,
    store_commands,
)
from yarn.resourcemanager.nodes import TRANSITIONS, NodeEvent, RMNode
from yarn.resourcemanager.state import NORMAL, RESYNC, SHUTDOWN, ResourceManagerState

EXPIRY_S = 10.0


class StateWithOutboxes(ResourceManagerState):
    """The pure state and what the shell (server.py) keeps beside it: commands wait in each node's outbox, and
    with a state store (`store`, recovery on) its writes are done after each event."""

    def __init__(self, *arguments, **keywords):
        super().__init__(*arguments, **keywords)
        self.outboxes = NodeOutboxes()
        self.store = None

    def send(self, event, now_s: float) -> list:
        """Handle the event as the shell does: its node commands go to the outboxes; the commands are returned."""
        commands = self.handle(event, now_s)
        if isinstance(event, NodeRegistered):  # what waited for a node that registers again is moot
            self.outboxes.registered(event.node_id, node_commands(commands))
        else:
            self.outboxes.add(node_commands(commands))
        for command in store_commands(commands) if self.store is not None else ():
            if isinstance(command, StoreApplication):
                self.store.store(command.app)
            else:
                self.store.remove(command.application_id)
        self.validate_state()
        return commands


def make_rm(**overrides) -> StateWithOutboxes:
    """Most tests here script Hadoop's default, placement at node heartbeats only (a request is granted at the
    heartbeat after the allocate that brought it); place-on-allocate has its own tests."""
    overrides.setdefault("place_on_allocate", False)
    config = ResourceManagerConfig(node_expiry_s=EXPIRY_S, **overrides)
    return StateWithOutboxes(config, cluster_timestamp_ms=1700000000000)


# Each call as the shell makes it: an event sent, the answer its reply carries.

def register_node(rm, node_id, address, label, capability, now_s, reports=()):
    """(action, the node commands returned)."""
    commands = rm.send(NodeRegistered(node_id, address, label, capability, tuple(reports)), now_s)
    return reply(commands, NodeRegisterReply).action, node_commands(commands)


def add_nodes(rm, *nodes, memory_mb=4096, now_s=0.0):
    for node_id, label in nodes:
        action, _ = register_node(rm, node_id, f"127.0.0.1:{len(rm.nodes) + 1000}", label, Resource(memory_mb, 4),
                                  now_s)
        assert action == NORMAL


def submit(rm, memory_mb=256, now_s=0.0, **context) -> str:
    app_id = reply(rm.send(NewApplicationRequested(), now_s), NewApplicationReply).application_id
    rm.send(ApplicationSubmitted(ApplicationSubmissionContext(app_id, "test", ContainerLaunchContext(["true"]),
                                                              Resource(memory_mb, 1), **context), "alice"), now_s)
    return app_id


def heartbeat(rm, node_id, statuses=(), now_s=0.0, healthy=True):
    """The node's heartbeat as the shell answers it: with every command waiting for it."""
    answer = reply(rm.send(NodeHeartbeat(node_id, tuple(statuses), healthy, "" if healthy else "disk full"), now_s),
                   NodeHeartbeatReply)
    rm.validate_state()
    return rm.outboxes.answer(node_id, HeartbeatResult(answer.action, diagnostics=answer.diagnostics))


def register_am(rm, attempt, host="host", rpc_port=1234, tracking_url="", now_s=0.0):
    return reply(rm.send(AMRegistered(attempt, host, rpc_port, tracking_url), now_s), AMRegisterReply)


def allocate(rm, attempt, response_id, asks, cancelled, releases, progress, now_s):
    answer = reply(rm.send(AMAllocate(attempt, response_id, tuple(asks), tuple(cancelled), tuple(releases), progress),
                           now_s), AllocateReply)
    return answer.response_id, answer.response


def tick(rm, now_s):
    rm.send(Tick(), now_s)


def decommission(rm, node_ids, graceful, timeout_s, now_s):
    return list(reply(rm.send(NodesDecommissioned(tuple(node_ids), graceful, timeout_s), now_s),
                      DecommissionReply).nodes)


def refresh_nodes(rm, excluded, graceful, timeout_s, now_s):
    return reply(rm.send(NodesRefreshed(frozenset(excluded), graceful, timeout_s), now_s), RefreshNodesReply)


def finish_application_master(rm, attempt, final_status, diagnostics, tracking_url, now_s):
    rm.send(AMFinished(attempt, final_status, diagnostics, tracking_url), now_s)


def kill_application(rm, application_id, diagnostics, now_s):
    return reply(rm.send(ApplicationKilled(application_id, diagnostics), now_s), KillReply).already_finished


def complete(container_id, exit_status=0):
    return ContainerStatus(container_id, ContainerState.COMPLETE, exit_status)


def start_am(rm, app_id, now_s=0.0):
    """Heartbeat CORE nodes until the AM container is placed; register the AM; return (attempt id, AM container)."""
    for node_id in sorted(rm.nodes):
        for launch in heartbeat(rm, node_id, now_s=now_s).launches:
            attempt = rm.applications[app_id].current_attempt.attempt_id
            register_am(rm, attempt, now_s=now_s)
            return attempt, launch.container
    raise AssertionError("no AM container placed")


# ---------------------------------------------------------------- node lifecycle

def test_node_transition_table_covers_the_documented_lifecycle():
    node = RMNode("core-1", "a", "CORE", Resource(1024, 1))
    for event, expected in [(NodeEvent.STARTED, NodeState.RUNNING), (NodeEvent.UNHEALTHY, NodeState.UNHEALTHY),
                            (NodeEvent.HEALTHY, NodeState.RUNNING), (NodeEvent.GRACEFUL_DECOMMISSION, NodeState.DECOMMISSIONING),
                            (NodeEvent.RECOMMISSION, NodeState.RUNNING), (NodeEvent.EXPIRE, NodeState.LOST),
                            (NodeEvent.RECONNECTED, NodeState.RUNNING), (NodeEvent.DECOMMISSION, NodeState.DECOMMISSIONED)]:
        assert node.handle(event) is expected
    with pytest.raises(InvalidTransition):
        node.handle(NodeEvent.EXPIRE)  # a decommissioned node cannot be lost
    assert all(target in NodeState for target in TRANSITIONS.values())


def test_a_silent_node_is_lost_and_its_containers_reach_the_application_as_aborted():
    rm = make_rm()
    add_nodes(rm, ("core-1", "CORE"), ("core-2", "CORE"))
    app_id = submit(rm)
    attempt, am = start_am(rm, app_id)
    allocate(rm, attempt, 0, [ContainerRequest(Resource(512), nodes=("core-2",), allocation_request_id=1)], [], [], 0.1, 0.0)
    heartbeat(rm, "core-2", now_s=1.0)
    _, response = allocate(rm, attempt, 1, [], [], [], 0.2, 1.0)
    (container,) = response.allocated
    assert container.node_id == "core-2" and container.allocation_request_id == 1
    heartbeat(rm, am.node_id, now_s=EXPIRY_S + 1.5)  # the AM's node keeps talking; core-2 falls silent
    tick(rm, EXPIRY_S + 2.0)
    assert rm.nodes["core-2"].state is NodeState.LOST
    _, response = allocate(rm, attempt, 2, [], [], [], 0.3, EXPIRY_S + 2.0)
    (status,) = response.completed
    assert status.container_id == container.id and status.exit_status == ContainerExitStatus.ABORTED
    assert ContainerExitStatus.is_lost(status.exit_status) and "lost" in status.diagnostics
    assert [node.node_id for node in response.updated_nodes] == ["core-2"]
    assert heartbeat(rm, "core-2", now_s=EXPIRY_S + 3.0).action == RESYNC
    rm.validate_state()


def test_a_lost_node_that_registers_again_runs_again():
    rm = make_rm()
    add_nodes(rm, ("core-1", "CORE"))
    tick(rm, EXPIRY_S + 1)
    assert rm.nodes["core-1"].state is NodeState.LOST
    add_nodes(rm, ("core-1", "CORE"), now_s=EXPIRY_S + 2)
    assert rm.nodes["core-1"].state is NodeState.RUNNING


def test_an_unhealthy_node_gets_no_containers_until_healthy_again():
    rm = make_rm()
    add_nodes(rm, ("core-1", "CORE"))
    heartbeat(rm, "core-1", healthy=False)
    app_id = submit(rm)
    assert rm.nodes["core-1"].state is NodeState.UNHEALTHY
    assert heartbeat(rm, "core-1", healthy=False).launches == []
    assert heartbeat(rm, "core-1").launches[0].container.id.endswith("_01_000001")
    assert rm.applications[app_id].current_attempt.am_container is not None


def test_graceful_decommission_waits_for_containers_and_applications_then_shuts_the_node_down():
    rm = make_rm()
    add_nodes(rm, ("core-1", "CORE"), ("core-2", "CORE"))
    app_id = submit(rm)
    attempt, _ = start_am(rm, app_id)
    allocate(rm, attempt, 0, [ContainerRequest(Resource(256), nodes=("core-2",), relax_locality=False,
                                              allocation_request_id=1)], [], [], 0, 0)
    heartbeat(rm, "core-2")
    (container,) = allocate(rm, attempt, 1, [], [], [], 0, 0)[1].allocated
    (report,) = decommission(rm, ["core-2"], graceful=True, timeout_s=60, now_s=1.0)
    assert report.state is NodeState.DECOMMISSIONING
    allocate(rm, attempt, 2, [ContainerRequest(Resource(256), nodes=("core-2",), relax_locality=False,
                                              allocation_request_id=2)], [], [], 0, 1)
    assert heartbeat(rm, "core-2", [ContainerStatus(container.id, ContainerState.RUNNING)], now_s=2.0).action == NORMAL
    assert rm.nodes["core-2"].state is NodeState.DECOMMISSIONING and allocate(rm, attempt, 3, [], [], [], 0, 2)[1].allocated == []
    assert heartbeat(rm, "core-2", [complete(container.id)], now_s=3.0).action == NORMAL
    completed = allocate(rm, attempt, 4, [], [], [], 0, 3)[1].completed
    assert [(status.container_id, status.exit_status) for status in completed] == [(container.id, 0)]
    # Its container is done, but its application may still fetch map output from it: the node waits.
    assert rm.nodes["core-2"].state is NodeState.DECOMMISSIONING
    finish_application_master(rm, attempt, "SUCCEEDED", "", "", 4.0)
    assert rm.nodes["core-2"].state is NodeState.DECOMMISSIONED
    assert heartbeat(rm, "core-2", now_s=4.5).action == SHUTDOWN
    assert register_node(rm, "core-2", "x", "CORE", Resource(1024, 1), 5.0)[0] == SHUTDOWN


def test_graceful_decommission_times_out_and_aborts_what_is_left():
    rm = make_rm()
    add_nodes(rm, ("core-1", "CORE"))
    app_id = submit(rm)
    start_am(rm, app_id)
    decommission(rm, ["core-1"], graceful=True, timeout_s=5, now_s=1.0)
    tick(rm, 3.0)
    assert rm.nodes["core-1"].state is NodeState.DECOMMISSIONING
    tick(rm, 6.5)
    assert rm.nodes["core-1"].state is NodeState.DECOMMISSIONED
    # The AM was lost with its node: a new attempt, not counted against the application.
    app = rm.applications[app_id]
    assert app.state is ApplicationState.ACCEPTED and len(app.attempts) == 2 and app.counted_attempts() == 1


def test_without_waiting_for_applications_a_drained_node_leaves_at_once():
    rm = make_rm(decommission_waits_for_applications=False)
    add_nodes(rm, ("core-1", "CORE"), ("core-2", "CORE"))
    attempt, _ = start_am(rm, submit(rm))
    allocate(rm, attempt, 0, [ContainerRequest(Resource(256), nodes=("core-2",), relax_locality=False,
                                              allocation_request_id=1)], [], [], 0, 0)
    heartbeat(rm, "core-2")
    (container,) = allocate(rm, attempt, 1, [], [], [], 0, 0)[1].allocated
    decommission(rm, ["core-2"], graceful=True, timeout_s=60, now_s=1.0)
    assert heartbeat(rm, "core-2", [complete(container.id)], now_s=2.0).action == SHUTDOWN


def test_decommissioning_an_unknown_node_is_a_clear_error():
    rm = make_rm()
    with pytest.raises(NodeNotFound, match="no node 'core-9'"):
        decommission(rm, ["core-9"], graceful=True, timeout_s=1, now_s=0)


def test_refresh_nodes_decommissions_listed_nodes_and_recommissions_the_rest():
    rm = make_rm()
    add_nodes(rm, ("core-1", "CORE"), ("core-2", "CORE"))
    app_id = submit(rm)
    start_am(rm, app_id)  # on core-1, so core-1 drains slowly
    changes = refresh_nodes(rm, {"core-1", "core-2"}, graceful=True, timeout_s=100, now_s=1)
    assert changes.decommissioning == ("core-1",) and changes.decommissioned == ("core-2",)
    changes = refresh_nodes(rm, set(), graceful=True, timeout_s=100, now_s=2)
    assert changes.recommissioned == ("core-1",) and rm.nodes["core-1"].state is NodeState.RUNNING


# ---------------------------------------------------------------- applications

def test_application_runs_through_its_lifecycle_and_finishes_with_the_am_status():
    rm = make_rm()
    add_nodes(rm, ("core-1", "CORE"))
    app_id = submit(rm, memory_mb=200)
    assert rm.application_report(app_id).state is ApplicationState.ACCEPTED
    attempt, am = start_am(rm, app_id)
    assert am.resource == Resource(256, 1)  # rounded up to yarn.scheduler.minimum-allocation-mb
    report = rm.application_report(app_id)
    assert report.state is ApplicationState.RUNNING and report.am_address == "host:1234"
    finish_application_master(rm, attempt, "SUCCEEDED", "done", "", 5.0)
    report = rm.application_report(app_id)
    assert (report.state, report.final_status, report.progress) == (ApplicationState.FINISHED,
                                                                   FinalApplicationStatus.SUCCEEDED, 1.0)
    assert heartbeat(rm, "core-1").cleanup_applications == [app_id]


def test_am_goes_only_to_core_nodes():
    rm = make_rm()
    add_nodes(rm, ("task-1", "TASK"), ("task-2", "TASK"))
    app_id = submit(rm)
    for _ in range(5):
        assert heartbeat(rm, "task-1").launches == [] and heartbeat(rm, "task-2").launches == []
    add_nodes(rm, ("core-1", "CORE"))
    assert heartbeat(rm, "core-1").launches[0].container.node_id == "core-1"
    assert rm.application_report(app_id).am_node_id == "core-1"


def test_a_failed_am_is_retried_up_to_max_attempts_then_the_application_fails():
    rm = make_rm(am_attempts_max=2)
    add_nodes(rm, ("core-1", "CORE"))
    app_id = submit(rm)
    _, am = start_am(rm, app_id)
    (relaunch,) = heartbeat(rm, "core-1", [complete(am.id, 1)]).launches  # the second attempt's AM, same heartbeat
    assert relaunch.container.id.endswith("_02_000002")
    assert rm.application_report(app_id).current_attempt_id.endswith("_000002")
    assert heartbeat(rm, "core-1", [complete(relaunch.container.id, 1)]).launches == []
    report = rm.application_report(app_id)
    assert report.state is ApplicationState.FAILED and report.final_status is FinalApplicationStatus.FAILED
    assert "failed 2 times" in report.diagnostics and "exitCode: 1" in report.diagnostics


def test_killing_an_application_tells_its_nodes_to_clean_up():
    rm = make_rm()
    add_nodes(rm, ("core-1", "CORE"))
    app_id = submit(rm)
    start_am(rm, app_id)
    assert kill_application(rm, app_id, "", 1.0) is False
    assert rm.application_report(app_id).state is ApplicationState.KILLED
    assert kill_application(rm, app_id, "", 2.0) is True
    assert heartbeat(rm, "core-1").cleanup_applications == [app_id]
    assert rm.scheduler.used_on("core-1") == Resource(0, 0)


def test_unknown_application_and_impossible_requests_are_clear_errors():
    rm = make_rm(maximum_allocation_mb=8192)
    add_nodes(rm, ("core-1", "CORE"), memory_mb=1024)
    with pytest.raises(ApplicationNotFound, match="doesn't exist"):
        rm.application_report("application_1_0042")
    with pytest.raises(InvalidResourceRequest, match="larger than any CORE node"):
        submit(rm, memory_mb=2048)
    with pytest.raises(InvalidResourceRequest, match="maximum allocation"):
        submit(rm, memory_mb=9000)


def test_released_containers_complete_as_aborted_and_free_their_room():
    rm = make_rm()
    add_nodes(rm, ("core-1", "CORE"))
    app_id = submit(rm)
    attempt, _ = start_am(rm, app_id)
    allocate(rm, attempt, 0, [ContainerRequest(Resource(1024), allocation_request_id=7)], [], [], 0, 0)
    heartbeat(rm, "core-1")
    (container,) = allocate(rm, attempt, 1, [], [], [], 0, 0)[1].allocated
    _, response = allocate(rm, attempt, 2, [], [], [container.id], 0, 0)
    assert [status.exit_status for status in response.completed] == [ContainerExitStatus.ABORTED]
    assert heartbeat(rm, "core-1").cleanup_containers == [container.id]
    assert rm.scheduler.used_on("core-1") == Resource(256, 1)


def test_with_place_on_allocate_a_request_is_granted_in_the_answer_that_brought_it_where_it_may_go_now():
    rm = make_rm(place_on_allocate=True)
    add_nodes(rm, ("core-1", "CORE"), ("core-2", "CORE"), memory_mb=1024)
    app_id = submit(rm, memory_mb=1024)  # the AM fills one node
    attempt, am = start_am(rm, app_id)
    full, free = am.node_id, ({"core-1", "core-2"} - {am.node_id}).pop()
    anywhere = ContainerRequest(Resource(512), allocation_request_id=1)
    on_full_node = ContainerRequest(Resource(512), nodes=(full,), allocation_request_id=2)
    _, response = allocate(rm, attempt, 0, [anywhere, on_full_node], [], [], 0.1, 0.0)
    assert [(c.allocation_request_id, c.node_id) for c in response.allocated] == [(1, free)]
    rm.validate_state()
    # The request for the AM's node did not go elsewhere: arriving is no scheduling opportunity, so its locality
    # delay (one round of heartbeats) has not begun to pass.
    (pending,) = rm.scheduler.pending(app_id)
    assert pending.allocation_request_id == 2
    assert rm.scheduler.applications[app_id].requests[2].missed_opportunities == 0
    _, response = allocate(rm, attempt, 1, [ContainerRequest(Resource(512), allocation_request_id=3)], [], [], 0.2,
                           0.0)
    assert [(c.allocation_request_id, c.node_id) for c in response.allocated] == [(3, free)]
    _, response = allocate(rm, attempt, 2, [ContainerRequest(Resource(512), allocation_request_id=4)], [], [], 0.3,
                           0.0)
    assert response.allocated == []  # no room left anywhere: it waits for a heartbeat
    rm.validate_state()


def test_without_place_on_allocate_a_request_waits_for_a_node_heartbeat():
    rm = make_rm(place_on_allocate=False)
    add_nodes(rm, ("core-1", "CORE"))
    attempt, _ = start_am(rm, submit(rm))
    _, response = allocate(rm, attempt, 0, [ContainerRequest(Resource(512), allocation_request_id=1)], [], [], 0.1,
                           0.0)
    assert response.allocated == []
    heartbeat(rm, "core-1", now_s=1.0)
    _, response = allocate(rm, attempt, 1, [], [], [], 0.2, 1.0)
    assert [c.allocation_request_id for c in response.allocated] == [1]


def test_a_repeated_allocate_gets_the_same_answer():
    rm = make_rm()
    add_nodes(rm, ("core-1", "CORE"))
    attempt, _ = start_am(rm, submit(rm))
    allocate(rm, attempt, 0, [ContainerRequest(Resource(128), allocation_request_id=1)], [], [], 0, 0)
    heartbeat(rm, "core-1")
    first = allocate(rm, attempt, 1, [], [], [], 0, 0)
    assert allocate(rm, attempt, 1, [], [], [], 0, 0) == first and len(first[1].allocated) == 1


def test_a_container_its_am_never_starts_is_taken_back():
    rm = make_rm(container_expiry_s=30.0, am_expiry_s=1000.0)
    add_nodes(rm, ("core-1", "CORE"))
    attempt, _ = start_am(rm, submit(rm))
    allocate(rm, attempt, 0, [ContainerRequest(Resource(1024), allocation_request_id=1)], [], [], 0, 0)
    heartbeat(rm, "core-1", now_s=1.0)
    (container,) = allocate(rm, attempt, 1, [], [], [], 0, 2.0)[1].allocated
    heartbeat(rm, "core-1", now_s=20.0)
    tick(rm, 20.0)
    assert container.id in rm.containers
    heartbeat(rm, "core-1", now_s=39.0)
    tick(rm, 40.0)
    assert container.id not in rm.containers and rm.scheduler.used_on("core-1") == Resource(256, 1)
    (status,) = allocate(rm, attempt, 2, [], [], [], 0, 40.0)[1].completed
    assert (status.exit_status, status.diagnostics) == (ContainerExitStatus.ABORTED, "Container expired since it was unused")


# ---------------------------------------------------------------- containers and the nodes' outboxes

def test_a_container_lives_through_its_lifecycle_table_and_an_invalid_event_is_a_bug():
    rm = make_rm()
    add_nodes(rm, ("core-1", "CORE"))
    attempt, am = start_am(rm, submit(rm))
    assert rm.containers[am.id].state is RMContainerState.ALLOCATED  # until its NodeManager reports it
    allocate(rm, attempt, 0, [ContainerRequest(Resource(256), allocation_request_id=1)], [], [], 0, 0)
    heartbeat(rm, "core-1")
    (container,) = allocate(rm, attempt, 1, [], [], [], 0, 0)[1].allocated
    known = rm.containers[container.id]
    assert known.state is RMContainerState.ACQUIRED
    heartbeat(rm, "core-1", [ContainerStatus(container.id, ContainerState.RUNNING)])
    assert known.state is RMContainerState.RUNNING
    with pytest.raises(InvalidTransition, match="EXPIRE in state RUNNING"):
        known.handle(RMContainerEvent.EXPIRE)
    heartbeat(rm, "core-1", [complete(container.id)])
    assert known.state is RMContainerState.COMPLETED and container.id not in rm.containers


def test_commands_wait_in_a_bounded_outbox_for_their_nodes_heartbeat():
    outboxes = NodeOutboxes(commands_max=3)
    outboxes.add([CleanupContainer("core-1", f"container_{index}") for index in range(5)])
    outboxes.add([CleanupApplication("core-2", "application_1_0001")])
    assert outboxes.waiting("core-1") == 3  # the oldest two were dropped
    answer = outboxes.answer("core-1", HeartbeatResult(NORMAL, [CleanupContainer("core-1", "container_9")]))
    assert answer.cleanup_containers == ["container_3", "container_4", "container_9"]
    assert outboxes.waiting("core-1") == 0 and outboxes.waiting("core-2") == 1
    outboxes.registered("core-2", [])  # a node that registers again starts with nothing waiting
    assert outboxes.waiting("core-2") == 0
    assert outboxes.answer("core-3", HeartbeatResult(RESYNC, [CleanupContainer("core-3", "c")])).cleanup_containers == []

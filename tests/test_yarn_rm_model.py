"""A hypothesis state machine drives the whole ResourceManager state through random histories.

Nodes register, heartbeat (reporting containers running or done), fall silent
and are lost, are decommissioned; applications are submitted, their AMs
register, ask for containers, release them, finish or are killed; the exclude
list changes. Every step is an event given to `handle`. After every
step the RM's books must agree (`validate_state`): no node over-committed,
every container on a live node of a live application, AMs only on CORE nodes,
finished applications holding nothing.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from yarn.errors import InvalidResourceRequest
from yarn.records import (
    ApplicationSubmissionContext,
    ContainerLaunchContext,
    ContainerRequest,
    ContainerState,
    ContainerStatus,
    Resource,
)
from yarn.resourcemanager.config import FAIR, FIFO, ResourceManagerConfig
from yarn.resourcemanager.containers import HeartbeatResult, NodeOutboxes
from yarn.resourcemanager.events import (
    AllocateReply,
    AMAllocate,
    AMFinished,
    AMRegistered,
    ApplicationKilled,
    ApplicationSubmitted,
    CleanupApplication,
    LaunchContainer,
    NewApplicationReply,
    NewApplicationRequested,
    NodeHeartbeat,
    NodeHeartbeatReply,
    NodeRegistered,
    NodesDecommissioned,
    NodesRefreshed,
    Tick,
    node_commands,
    reply,
)
from yarn.resourcemanager.state import RESYNC, ResourceManagerState

NODES = [("core-1", "CORE"), ("core-2", "CORE"), ("task-1", "TASK")]
EXPIRY_S = 5.0


class ResourceManagerMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.rm: ResourceManagerState
        self.now_s = 0.0
        self.request_ids = iter(range(1, 1 << 30))
        self.response_ids: dict[str, int] = {}
        self.outboxes = NodeOutboxes()  # as the shell keeps them

    @initialize(policy=st.sampled_from([FIFO, FAIR]), memories=st.lists(st.sampled_from([512, 1024, 2048]),
                                                                       min_size=3, max_size=3))
    def start(self, policy, memories):
        self.rm = ResourceManagerState(ResourceManagerConfig(scheduler=policy, node_expiry_s=EXPIRY_S, am_attempts_max=2), 1)
        for index, memory_mb in enumerate(memories):
            self.register(index, memory_mb)

    @rule(index=st.integers(0, 2), memory_mb=st.sampled_from([512, 1024, 2048]))
    def register(self, index, memory_mb):
        node_id, label = NODES[index]
        commands = node_commands(self.rm.handle(NodeRegistered(node_id, f"127.0.0.1:{index}", label,
                                                               Resource(memory_mb, 4)), self.now_s))
        self.check(commands)
        self.outboxes.registered(node_id, commands)

    @rule(index=st.integers(0, 2), finish=st.booleans(), exit_status=st.sampled_from([0, 1]))
    def heartbeat(self, index, finish, exit_status):
        node_id = NODES[index][0]
        statuses = [ContainerStatus(cid, ContainerState.COMPLETE if finish else ContainerState.RUNNING, exit_status)
                    for cid, known in sorted(self.rm.containers.items()) if known.container.node_id == node_id]
        commands = self.rm.handle(NodeHeartbeat(node_id, tuple(statuses), True, ""), self.now_s)
        self.check(node_commands(commands))
        answer = reply(commands, NodeHeartbeatReply)
        result = self.outboxes.answer(node_id, HeartbeatResult(answer.action, node_commands(commands)))
        for launch in result.launches:
            assert launch.container.node_id == node_id and NODES[index][1] == "CORE"
        if result.action == RESYNC:  # as a NodeManager does: its containers are gone, it registers again
            self.register(index, 1024)

    @rule(memory_mb=st.sampled_from([128, 256, 700]))
    def submit(self, memory_mb):
        app_id = reply(self.rm.handle(NewApplicationRequested(), self.now_s), NewApplicationReply).application_id
        try:
            self.rm.handle(ApplicationSubmitted(ApplicationSubmissionContext(
                app_id, "model", ContainerLaunchContext(["true"]), Resource(memory_mb, 1)), "alice"), self.now_s)
        except InvalidResourceRequest:
            assert app_id not in self.rm.applications

    @rule(data=st.data(), asks=st.lists(st.sampled_from([128, 512, 1024]), max_size=3), release=st.booleans())
    def application_master(self, data, asks, release):
        running = [app for app in self.rm.applications.values() if not app.state.is_final
                   and app.current_attempt.am_container is not None]
        if not running:
            return
        app = data.draw(st.sampled_from(running))
        attempt = app.current_attempt.attempt_id
        self.rm.handle(AMRegistered(attempt, "host", 1, ""), self.now_s)
        releases = sorted(cid for cid in app.containers if not self.rm.containers[cid].is_am) if release else []
        requests = [ContainerRequest(Resource(size), allocation_request_id=next(self.request_ids)) for size in asks]
        try:
            commands = self.rm.handle(AMAllocate(attempt, self.response_ids.get(attempt, 0), tuple(requests), (),
                                                 tuple(releases), 0.5), self.now_s)
            self.response_ids[attempt] = reply(commands, AllocateReply).response_id
            self.deliver(commands)
        except InvalidResourceRequest:
            pass

    @rule(data=st.data(), kill=st.booleans())
    def end_application(self, data, kill):
        candidates = [app for app in self.rm.applications.values() if not app.state.is_final]
        if not candidates:
            return
        app = data.draw(st.sampled_from(candidates))
        if kill:
            self.deliver(self.rm.handle(ApplicationKilled(app.application_id), self.now_s))
        elif app.current_attempt.registered:
            self.deliver(self.rm.handle(AMFinished(app.current_attempt.attempt_id, "SUCCEEDED", "", ""), self.now_s))

    @rule(seconds=st.sampled_from([0.5, 0.5, 2.0, EXPIRY_S + 1]))
    def time_passes(self, seconds):
        self.now_s += seconds
        self.deliver(self.rm.handle(Tick(), self.now_s))

    @rule(index=st.integers(0, 2), graceful=st.booleans())
    def decommission(self, index, graceful):
        if NODES[index][0] in self.rm.nodes:
            self.deliver(self.rm.handle(NodesDecommissioned((NODES[index][0],), graceful, 3.0), self.now_s))

    @rule(excluded=st.sets(st.integers(0, 2), max_size=2), graceful=st.booleans())
    def refresh_nodes(self, excluded, graceful):
        """A new exclude list: its nodes leave, the nodes no longer in it are recommissioned."""
        self.deliver(self.rm.handle(NodesRefreshed(frozenset(NODES[index][0] for index in excluded), graceful, 3.0),
                                    self.now_s))

    def deliver(self, commands) -> None:
        """What the shell does with an event's commands: the node commands wait in the outboxes."""
        self.check(node_commands(commands))
        self.outboxes.add(node_commands(commands))

    def check(self, commands) -> None:
        """Every command is for a node the RM knows; an AM launch only on a CORE node; cleanups of ended apps."""
        for command in commands:
            assert command.node_id in self.rm.nodes
            if isinstance(command, LaunchContainer):
                assert self.rm.nodes[command.node_id].label == "CORE"
            if isinstance(command, CleanupApplication) and command.application_id in self.rm.applications:
                assert self.rm.applications[command.application_id].state.is_final

    @invariant()
    def books_agree(self):
        self.rm.validate_state()
        for known in self.rm.containers.values():
            node = self.rm.nodes[known.container.node_id]
            assert node.live
            if known.is_am:
                assert node.label == "CORE"


TestResourceManagerModel = ResourceManagerMachine.TestCase
TestResourceManagerModel.settings = settings(max_examples=100, stateful_step_count=50, deadline=None)

"""The ResourceManager's state: a small facade over the pieces Hadoop splits it into.

A pure state machine in the sans-I/O style. Everything that changes the
state is an event (`events.py`: what a NodeManager, an ApplicationMaster, a
client or an administrator asked, the start's recovery, the monitor's tick)
given to `handle(event, now_s) -> list[Command]`, which returns what the I/O
shell must do: NodeManager commands (`events.py`: launch an AM, clean up
a container or an application), which the shell keeps in a bounded outbox
per node until that node's heartbeat carries them, and the RPC's reply.
Queries only read: `application`, `application_report(s)`, `node_reports`,
`maximum_resource`, `normalize`. Nothing here talks to the network, reads a
clock or sleeps, so a test drives a whole cluster's worth of heartbeats by
calling `handle` with the times it chooses.

Nothing here touches the disk. Each event also returns a StoreApplication
for every application whose durable part it changed (and a
RemoveStoredApplication for every one it forgot); with
`yarn.resourcemanager.recovery.enabled` the shell writes them to the state
store (`statestore.py`) before it answers, and a restarted RM hands what the
store held to `StateRecovered` (`recovery.py`); NodeManagers re-register with
their containers either way. Without recovery a restart forgets every
application.
"""

from __future__ import annotations

from collections.abc import Iterable

from yarn.records import ApplicationReport, ApplicationState, NodeAction, NodeReport, NodeState, Resource
from yarn.resourcemanager.amservice import ApplicationMasterService
from yarn.resourcemanager.applications import RMApp
from yarn.resourcemanager.appmanager import ApplicationManager
from yarn.resourcemanager.config import ResourceManagerConfig
from yarn.resourcemanager.containers import HeartbeatResult, RMContainer
from yarn.resourcemanager.events import (
    AllocateReply,
    AMAllocate,
    AMFinished,
    AMFinishReply,
    AMRegistered,
    AMRegisterReply,
    ApplicationKilled,
    ApplicationSubmitted,
    Command,
    DecommissionReply,
    Event,
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
    RemoveStoredApplication,
    StateRecovered,
    StoreApplication,
    SubmitReply,
    Tick,
)
from yarn.resourcemanager.nodes import RMNode
from yarn.resourcemanager.nodetracker import NodeTracker
from yarn.resourcemanager.recovery import recover_applications
from yarn.resourcemanager.scheduler import Scheduler

NORMAL, RESYNC, SHUTDOWN = NodeAction.NORMAL, NodeAction.RESYNC, NodeAction.SHUTDOWN

__all__ = ["NORMAL", "RESYNC", "SHUTDOWN", "HeartbeatResult", "ResourceManagerState"]


class ResourceManagerState:
    def __init__(self, config: ResourceManagerConfig, cluster_timestamp_ms: int, excluded: Iterable[str] = ()):
        self.config = config
        self.cluster_timestamp_ms = cluster_timestamp_ms
        self.nodes: dict[str, RMNode] = {}
        self.scheduler = Scheduler(config)
        self.apps = ApplicationManager(config, cluster_timestamp_ms, self.nodes, self.scheduler)
        self.node_tracker = NodeTracker(config, self.nodes, self.scheduler, self.apps, excluded)
        self.apps.node_tracker = self.node_tracker
        self.am_service = ApplicationMasterService(config, self.scheduler, self.apps, self.node_tracker)
        self.handlers = {  # every class of events.Event, each with its handler (a test checks none is missing)
            NodeRegistered: self._node_registered, NodeHeartbeat: self._node_heartbeat,
            AMRegistered: self._am_registered, AMAllocate: self._am_allocate, AMFinished: self._am_finished,
            NewApplicationRequested: self._new_application, ApplicationSubmitted: self._application_submitted,
            ApplicationKilled: self._application_killed, NodesDecommissioned: self._nodes_decommissioned,
            NodesRefreshed: self._nodes_refreshed, StateRecovered: self._state_recovered, Tick: self._tick}

    def handle(self, event: Event, now_s: float) -> list[Command]:
        """Change the state by one event: the NodeManager commands it causes, and (for an RPC) its reply.

        An operating error (an unknown application, a request too large, ...) is raised as its EmrlabError
        before the event changed anything durable. The state store's writes come last."""
        handler = self.handlers.get(type(event))
        if handler is None:
            raise AssertionError(f"unknown event {event!r}")
        commands = handler(event, now_s)
        changed, removed = self.apps.take_changes()
        return [*commands, *(StoreApplication(app) for app in changed),
                *(RemoveStoredApplication(application_id) for application_id in removed)]

    # ------------------------------------------------------------ NodeManagers

    def _node_registered(self, event: NodeRegistered, now_s: float) -> list[Command]:
        action, diagnostics, commands = self.node_tracker.register_node(
            event.node_id, event.address, event.label, event.capability, now_s, event.reports)
        return [*commands, NodeRegisterReply(event.node_id, action, diagnostics)]

    def _node_heartbeat(self, event: NodeHeartbeat, now_s: float) -> list[Command]:
        result = self.node_tracker.node_heartbeat(event.node_id, list(event.statuses), event.healthy,
                                                  event.health_report, now_s)
        return [*result.commands, NodeHeartbeatReply(event.node_id, result.action, result.diagnostics)]

    # ------------------------------------------------------------ ApplicationMasters

    def _am_registered(self, event: AMRegistered, now_s: float) -> list[Command]:
        maximum, queue = self.am_service.register_application_master(event.attempt, event.host, event.rpc_port,
                                                                     event.tracking_url, now_s)
        return [AMRegisterReply(maximum, queue)]

    def _am_allocate(self, event: AMAllocate, now_s: float) -> list[Command]:
        response_id, response, commands = self.am_service.allocate(
            event.attempt, event.response_id, list(event.asks), list(event.cancelled), list(event.releases),
            event.progress, now_s)
        return [*commands, AllocateReply(response_id, response)]

    def _am_finished(self, event: AMFinished, now_s: float) -> list[Command]:
        commands = self.am_service.finish_application_master(event.attempt, event.final_status, event.diagnostics,
                                                             event.tracking_url, now_s)
        return [*commands, AMFinishReply(event.attempt)]

    # ------------------------------------------------------------ clients and administrators

    def _new_application(self, event: NewApplicationRequested, now_s: float) -> list[Command]:
        return [NewApplicationReply(self.apps.new_application(), self.apps.maximum_resource())]

    def _application_submitted(self, event: ApplicationSubmitted, now_s: float) -> list[Command]:
        self.apps.submit_application(event.context, event.user, now_s)
        return [SubmitReply(event.context.application_id)]

    def _application_killed(self, event: ApplicationKilled, now_s: float) -> list[Command]:
        already_finished, commands = self.apps.kill_application(event.application_id, event.diagnostics, now_s)
        return [*commands, KillReply(event.application_id, already_finished)]

    def _nodes_decommissioned(self, event: NodesDecommissioned, now_s: float) -> list[Command]:
        reports, commands = self.node_tracker.decommission(event.node_ids, event.graceful, event.timeout_s, now_s)
        return [*commands, DecommissionReply(tuple(reports))]

    def _nodes_refreshed(self, event: NodesRefreshed, now_s: float) -> list[Command]:
        changes, commands = self.node_tracker.refresh_nodes(set(event.excluded), event.graceful, event.timeout_s,
                                                            now_s)
        return [*commands, RefreshNodesReply(**{kind: tuple(node_ids) for kind, node_ids in changes.items()})]

    # ------------------------------------------------------------ the process: recovery and the monitor

    def _state_recovered(self, event: StateRecovered, now_s: float) -> list[Command]:
        return list(recover_applications(self.apps, event.applications, event.epoch, self.config.work_preserving,
                                         now_s))

    def _tick(self, event: Tick, now_s: float) -> list[Command]:
        return self.node_tracker.expire(now_s) + self.am_service.expire(now_s)

    # ------------------------------------------------------------ queries: they only read

    @property
    def applications(self) -> dict[str, RMApp]:
        return self.apps.applications

    @property
    def containers(self) -> dict[str, RMContainer]:
        return self.apps.containers

    @property
    def excluded(self) -> set[str]:
        return self.node_tracker.excluded

    def application(self, application: str) -> RMApp:
        return self.apps.application(application)

    def application_report(self, application: str) -> ApplicationReport:
        return self.apps.application_report(application)

    def application_reports(self, states: Iterable[ApplicationState] = ()) -> list[ApplicationReport]:
        return self.apps.application_reports(states)

    def node_reports(self, states: Iterable[NodeState] = (), now_s: float = 0.0) -> list[NodeReport]:
        return self.node_tracker.node_reports(states, now_s)

    def maximum_resource(self) -> Resource:
        return self.apps.maximum_resource()

    def normalize(self, resource: Resource, label: str = "") -> Resource:
        return self.apps.normalize(resource, label)

    def validate_state(self) -> None:
        """Invariants for tests: containers, nodes, applications and the scheduler agree."""
        self.scheduler.validate_state()
        self.apps.validate_state()
        for node in self.nodes.values():
            if node.live:
                used = sum((self.containers[cid].container.resource for cid in node.containers), Resource(0, 0))
                assert used == self.scheduler.used_on(node.node_id), (node.node_id, used)
            else:
                assert not node.containers

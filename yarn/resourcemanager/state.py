"""The ResourceManager's state: a small facade over the pieces Hadoop splits it into.

A pure state machine in the sans-I/O style: `handle(event, now_s) ->
list[Command]` takes what a NodeManager or an ApplicationMaster said (the
events of `events.py`), changes the state, and returns what the I/O shell
must send: NodeManager commands and the RPC's reply (the per-event methods
below it remain, and clients' and administrators' calls are only methods,
each taking the time and returning commands). Nothing here talks to the
network, reads a clock or sleeps, so a test drives a whole cluster's worth
of heartbeats by calling `handle` or the methods. Commands for
NodeManagers (`containers.py`: launch an AM, clean up a container or an
application) are returned, and the shell keeps them in a bounded outbox per
node until that node's heartbeat carries them.

Nothing here touches the disk. With `yarn.resourcemanager.recovery.enabled`
the shell writes the applications `take_changes` names to the state store
(`statestore.py`) before it answers, and a restarted RM hands what the store
held to `recover` (`recovery.py`); NodeManagers re-register with their
containers either way. Without recovery a restart forgets every application.
"""

from __future__ import annotations

from collections.abc import Iterable

from yarn.records import (
    AllocateResponse,
    ApplicationReport,
    ApplicationState,
    ApplicationSubmissionContext,
    ContainerRequest,
    ContainerStatus,
    NodeAction,
    NodeReport,
    NodeState,
    Resource,
)
from yarn.resourcemanager.amservice import ApplicationMasterService
from yarn.resourcemanager.applications import RMApp
from yarn.resourcemanager.appmanager import ApplicationManager
from yarn.resourcemanager.config import ResourceManagerConfig
from yarn.resourcemanager.containers import HeartbeatResult, NodeCommand, RMContainer
from yarn.resourcemanager.events import (
    AllocateReply,
    AMAllocate,
    AMFinished,
    AMRegistered,
    AMRegisterReply,
    Command,
    Event,
    NodeHeartbeat,
    NodeHeartbeatReply,
    NodeRegistered,
    NodeRegisterReply,
)
from yarn.resourcemanager.nodes import RMNode
from yarn.resourcemanager.nodetracker import NodeTracker
from yarn.resourcemanager.recovery import ContainerReport, recover_applications
from yarn.resourcemanager.scheduler import Scheduler

NORMAL, RESYNC, SHUTDOWN = NodeAction.NORMAL, NodeAction.RESYNC, NodeAction.SHUTDOWN

__all__ = ["ResourceManagerState", "HeartbeatResult", "NORMAL", "RESYNC", "SHUTDOWN"]


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
        self._handlers = {NodeRegistered: self._node_registered, NodeHeartbeat: self._node_heartbeat,
                          AMRegistered: self._am_registered, AMAllocate: self._am_allocate,
                          AMFinished: self._am_finished}

    def handle(self, event: Event, now_s: float) -> list[Command]:
        """A NodeManager's or an ApplicationMaster's RPC: the NodeManager commands it causes, and its reply."""
        handler = self._handlers.get(type(event))
        if handler is None:
            raise AssertionError(f"unknown event {event!r}")
        return handler(event, now_s)

    def _node_registered(self, event: NodeRegistered, now_s: float) -> list[Command]:
        action, diagnostics, commands = self.register_node(event.node_id, event.address, event.label,
                                                           event.capability, now_s, event.reports)
        return [*commands, NodeRegisterReply(event.node_id, action, diagnostics)]

    def _node_heartbeat(self, event: NodeHeartbeat, now_s: float) -> list[Command]:
        result = self.node_heartbeat(event.node_id, list(event.statuses), event.healthy, event.health_report, now_s)
        return [*result.commands, NodeHeartbeatReply(event.node_id, result.action, result.diagnostics)]

    def _am_registered(self, event: AMRegistered, now_s: float) -> list[Command]:
        maximum, queue = self.register_application_master(event.attempt, event.host, event.rpc_port,
                                                          event.tracking_url, now_s)
        return [AMRegisterReply(maximum, queue)]

    def _am_allocate(self, event: AMAllocate, now_s: float) -> list[Command]:
        response_id, response, commands = self.allocate(event.attempt, event.response_id, list(event.asks),
                                                        list(event.cancelled), list(event.releases), event.progress,
                                                        now_s)
        return [*commands, AllocateReply(response_id, response)]

    def _am_finished(self, event: AMFinished, now_s: float) -> list[Command]:
        return list(self.finish_application_master(event.attempt, event.final_status, event.diagnostics,
                                                   event.tracking_url, now_s))

    @property
    def applications(self) -> dict[str, RMApp]:
        return self.apps.applications

    @property
    def containers(self) -> dict[str, RMContainer]:
        return self.apps.containers

    @property
    def excluded(self) -> set[str]:
        return self.node_tracker.excluded

    # ------------------------------------------------------------ NodeManagers

    def register_node(self, node_id: str, address: str, label: str, capability: Resource, now_s: float,
                      reports: Iterable[ContainerReport] = ()) -> tuple[NodeAction, str, list[NodeCommand]]:
        return self.node_tracker.register_node(node_id, address, label, capability, now_s, reports)

    def node_heartbeat(self, node_id: str, statuses: list[ContainerStatus], healthy: bool, health_report: str,
                       now_s: float) -> HeartbeatResult:
        return self.node_tracker.node_heartbeat(node_id, statuses, healthy, health_report, now_s)

    def node_reports(self, states: Iterable[NodeState] = (), now_s: float = 0.0) -> list[NodeReport]:
        return self.node_tracker.node_reports(states, now_s)

    def decommission(self, node_ids: Iterable[str], graceful: bool, timeout_s: float,
                     now_s: float) -> tuple[list[NodeReport], list[NodeCommand]]:
        return self.node_tracker.decommission(node_ids, graceful, timeout_s, now_s)

    def refresh_nodes(self, excluded: set[str], graceful: bool, timeout_s: float,
                      now_s: float) -> tuple[dict[str, list[str]], list[NodeCommand]]:
        return self.node_tracker.refresh_nodes(excluded, graceful, timeout_s, now_s)

    # ------------------------------------------------------------ clients

    def new_application(self) -> str:
        return self.apps.new_application()

    def submit_application(self, context: ApplicationSubmissionContext, user: str, now_s: float) -> None:
        self.apps.submit_application(context, user, now_s)

    def application(self, application: str) -> RMApp:
        return self.apps.application(application)

    def application_report(self, application: str) -> ApplicationReport:
        return self.apps.application_report(application)

    def application_reports(self, states: Iterable[ApplicationState] = ()) -> list[ApplicationReport]:
        return self.apps.application_reports(states)

    def kill_application(self, application: str, diagnostics: str, now_s: float) -> tuple[bool, list[NodeCommand]]:
        return self.apps.kill_application(application, diagnostics, now_s)

    def maximum_resource(self) -> Resource:
        return self.apps.maximum_resource()

    def normalize(self, resource: Resource, label: str = "") -> Resource:
        return self.apps.normalize(resource, label)

    # ------------------------------------------------------------ ApplicationMasters

    def register_application_master(self, attempt: str, host: str, rpc_port: int, tracking_url: str,
                                    now_s: float) -> tuple[Resource, str]:
        return self.am_service.register_application_master(attempt, host, rpc_port, tracking_url, now_s)

    def allocate(self, attempt: str, response_id: int, asks: list[ContainerRequest], cancelled: list[int],
                 releases: list[str], progress: float,
                 now_s: float) -> tuple[int, AllocateResponse, list[NodeCommand]]:
        return self.am_service.allocate(attempt, response_id, asks, cancelled, releases, progress, now_s)

    def finish_application_master(self, attempt: str, final_status: str, diagnostics: str, tracking_url: str,
                                  now_s: float) -> list[NodeCommand]:
        return self.am_service.finish_application_master(attempt, final_status, diagnostics, tracking_url, now_s)

    # ------------------------------------------------------------ recovery

    def recover(self, applications: Iterable[RMApp], epoch: int, now_s: float) -> list[NodeCommand]:
        """At start, before any call: the applications the state store held (see recovery.py)."""
        return recover_applications(self.apps, applications, epoch, self.config.work_preserving, now_s)

    def take_changes(self) -> tuple[list[RMApp], list[str]]:
        """Applications to write to the state store, and ids to remove from it, since the last call."""
        return self.apps.take_changes()

    # ------------------------------------------------------------ the monitor

    def tick(self, now_s: float) -> list[NodeCommand]:
        """Liveness: expire silent nodes, unused containers and silent AMs; finish timed-out decommissions."""
        return self.node_tracker.expire(now_s) + self.am_service.expire(now_s)

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

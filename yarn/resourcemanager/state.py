"""The ResourceManager's state: nodes, applications, containers and the scheduler, tied together.

A pure state machine in the sans-I/O style: every method takes the event and
the time (`now_s`), changes the state, and returns what the I/O shell must
send. Nothing here talks to the network, reads a clock or sleeps, so a test
drives a whole cluster's worth of heartbeats by calling methods.

Nothing here is durable. NodeManagers re-register after an RM restart, and
applications are gone (Hadoop's RM recovery from a state store is out of scope).

Containers flow like this: the scheduler gives room on a node during that
node's heartbeat; the container goes to its application's current attempt,
which hears about it on its next allocate call (an AM container instead rides
to the node on the heartbeat response, to be launched there). The NodeManager
reports it RUNNING and then COMPLETE with an exit status; the completion goes
back to the ApplicationMaster on its next allocate call.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from yarn.errors import (
    ApplicationAttemptNotFound,
    ApplicationNotFound,
    InvalidApplicationMasterRequest,
    InvalidResourceRequest,
    NodeNotFound,
)
from yarn.records import (
    AllocateResponse,
    ApplicationReport,
    ApplicationState,
    ApplicationSubmissionContext,
    Container,
    ContainerExitStatus,
    ContainerLaunchContext,
    ContainerRequest,
    ContainerState,
    ContainerStatus,
    FinalApplicationStatus,
    NodeAction,
    NodeReport,
    NodeState,
    Resource,
    application_id,
    application_of_attempt,
    check_application_id,
    container_id,
)
from yarn.resourcemanager.applications import ApplicationEvent, RMApp, RMAppAttempt
from yarn.resourcemanager.config import ResourceManagerConfig
from yarn.resourcemanager.nodes import NodeEvent, RMNode
from yarn.resourcemanager.scheduler import AM_REQUEST_ID, Assignment, Scheduler

logger = logging.getLogger(__name__)

NORMAL, RESYNC, SHUTDOWN = NodeAction.NORMAL, NodeAction.RESYNC, NodeAction.SHUTDOWN
UNCOUNTED_ATTEMPTS_MAX = 10  # attempts lost with their node do not count, but even those are bounded


@dataclass(frozen=True)
class LaunchCommand:
    container: Container
    launch_context: ContainerLaunchContext
    user: str


@dataclass(frozen=True)
class HeartbeatResult:
    action: NodeAction
    launches: list[LaunchCommand] = field(default_factory=list)
    cleanup_containers: list[str] = field(default_factory=list)
    cleanup_applications: list[str] = field(default_factory=list)
    diagnostics: str = ""


@dataclass(eq=False)
class RMContainer:
    container: Container
    application_id: str
    attempt_id: str
    is_am: bool
    state: str = "ALLOCATED"  # ALLOCATED -> ACQUIRED (the AM has it) -> RUNNING
    acquired_s: float = 0.0


@dataclass(eq=False)
class NodeOutbox:
    launches: list[LaunchCommand] = field(default_factory=list)
    cleanup_containers: list[str] = field(default_factory=list)
    cleanup_applications: list[str] = field(default_factory=list)


class ResourceManagerState:
    def __init__(self, config: ResourceManagerConfig, cluster_timestamp_ms: int, excluded: Iterable[str] = ()):
        self.config = config
        self.cluster_timestamp_ms = cluster_timestamp_ms
        self.nodes: dict[str, RMNode] = {}
        self.applications: dict[str, RMApp] = {}
        self.containers: dict[str, RMContainer] = {}
        self.scheduler = Scheduler(config)
        self.excluded: set[str] = set(excluded)
        self._outboxes: dict[str, NodeOutbox] = {}
        self._application_sequence = itertools.count(1)

    # ================================================================ NodeManagers

    def register_node(self, node_id: str, address: str, label: str, capability: Resource, now_s: float) -> tuple[NodeAction, str]:
        """A NodeManager (re)starts; returns (action, diagnostics)."""
        if node_id in self.excluded:
            return SHUTDOWN, f"node {node_id} is in the exclude list (decommissioned)"
        node = self.nodes.get(node_id)
        if node is not None and node.live:
            # Restarted: whatever it ran is gone.
            self._lose_containers(node, "Container released on a node that restarted", now_s)
            self.scheduler.remove_node(node_id)
        elif node is not None:
            node.handle(NodeEvent.RECONNECTED, "registered again")
        else:
            node = self.nodes[node_id] = RMNode(node_id, address, label, capability)
            node.handle(NodeEvent.STARTED, f"registered with {capability}, label {label}")
        node.address, node.label, node.capability = address, label, capability
        node.last_heartbeat_s = now_s
        self._outboxes[node_id] = NodeOutbox()
        self.scheduler.add_node(node_id, label, capability)
        self.scheduler.set_schedulable(node_id, node.schedulable)
        self._node_changed(node)
        return NORMAL, ""

    def node_heartbeat(self, node_id: str, statuses: list[ContainerStatus], healthy: bool, health_report: str,
                       now_s: float) -> HeartbeatResult:
        node = self.nodes.get(node_id)
        if node is None or not node.live:
            if node is not None and node.state is NodeState.DECOMMISSIONED:
                return HeartbeatResult(SHUTDOWN, diagnostics=f"node {node_id} is decommissioned")
            return HeartbeatResult(RESYNC, diagnostics=f"node {node_id} is not registered (or was lost)")
        node.last_heartbeat_s = now_s
        self._update_health(node, healthy, health_report)
        cleanup = []
        for status in statuses:
            known = self.containers.get(status.container_id)
            if known is None or known.container.node_id != node_id:
                if status.state is not ContainerState.COMPLETE:
                    cleanup.append(status.container_id)  # of a finished application, or from before a restart
            elif status.state is ContainerState.COMPLETE:
                self._complete_container(known, status, now_s)
            else:
                known.state = "RUNNING"  # on its node (NEW there means localizing): no longer unused
        for assignment in self.scheduler.node_update(node_id):
            self._allocated(assignment, now_s)
        self._check_decommissioning(node, now_s)
        if node.state is NodeState.DECOMMISSIONED:
            return HeartbeatResult(SHUTDOWN, diagnostics=f"node {node_id} is decommissioned")
        outbox = self._outboxes.pop(node_id, NodeOutbox())
        self._outboxes[node_id] = NodeOutbox()
        return HeartbeatResult(NORMAL, outbox.launches, outbox.cleanup_containers + cleanup,
                               outbox.cleanup_applications)

    def _update_health(self, node: RMNode, healthy: bool, health_report: str) -> None:
        node.health_report = health_report
        if not healthy and node.can(NodeEvent.UNHEALTHY):
            node.handle(NodeEvent.UNHEALTHY, health_report)
            self.scheduler.set_schedulable(node.node_id, False)
            self._node_changed(node)
        elif healthy and node.state is NodeState.UNHEALTHY:
            node.handle(NodeEvent.HEALTHY)
            self.scheduler.set_schedulable(node.node_id, True)
            self._node_changed(node)

    # ================================================================ clients

    def new_application(self) -> str:
        return application_id(self.cluster_timestamp_ms, next(self._application_sequence))

    def submit_application(self, context: ApplicationSubmissionContext, user: str, now_s: float) -> None:
        """Idempotent: submitting a known application id again does nothing."""
        check_application_id(context.application_id)
        if context.application_id in self.applications:
            return
        resource = self.normalize(context.resource, label=self.config.am_node_label)
        context = ApplicationSubmissionContext(
            context.application_id, context.name or "N/A", context.am_container, resource, context.queue,
            context.application_type, context.max_app_attempts)
        attempts_max = min(context.max_app_attempts or self.config.am_attempts_max, self.config.am_attempts_max)
        app = RMApp(context, user, context.queue, int(now_s * 1000), max(1, attempts_max))
        self.applications[app.application_id] = app
        app.handle(ApplicationEvent.START, f"submitted by {user} to queue {context.queue}")
        app.queue = self.scheduler.add_application(app.application_id, context.queue, user)
        app.handle(ApplicationEvent.ACCEPTED, f"queue {app.queue}")
        self._start_attempt(app, now_s)

    def application(self, application: str) -> RMApp:
        app = self.applications.get(application)
        if app is None:
            check_application_id(application)
            raise ApplicationNotFound(f"Application with id '{application}' doesn't exist in RM.")
        return app

    def application_report(self, application: str) -> ApplicationReport:
        app = self.application(application)
        used = sum((self.containers[cid].container.resource for cid in app.containers), Resource(0, 0))
        return app.report(used, len(app.containers), len(self.scheduler.pending(app.application_id)))

    def application_reports(self, states: Iterable[ApplicationState] = ()) -> list[ApplicationReport]:
        wanted = set(states)
        return [self.application_report(app_id) for app_id, app in self.applications.items()
                if not wanted or app.state in wanted]

    def kill_application(self, application: str, diagnostics: str, now_s: float) -> bool:
        """Kill an application and all its containers; returns True if it had already finished."""
        app = self.application(application)
        if app.state.is_final:
            return True
        self._finish_application(app, ApplicationEvent.KILL, FinalApplicationStatus.KILLED,
                                 diagnostics or "Application killed by user.", now_s)
        return False

    def node_reports(self, states: Iterable[NodeState] = (), now_s: float = 0.0) -> list[NodeReport]:
        wanted = set(states)
        return [self._node_report(node, now_s) for node in self.nodes.values() if not wanted or node.state in wanted]

    def _node_report(self, node: RMNode, now_s: float) -> NodeReport:
        return node.report(self.scheduler.used_on(node.node_id) if node.live else Resource(0, 0), now_s)

    def maximum_resource(self) -> Resource:
        largest = self.scheduler.largest_node()
        memory_mb, vcores = self.config.maximum_allocation_mb, self.config.maximum_allocation_vcores
        if largest is not None:
            memory_mb, vcores = min(memory_mb, largest.memory_mb), min(vcores, largest.vcores)
        return Resource(memory_mb, vcores)

    def normalize(self, resource: Resource, label: str = "") -> Resource:
        """Round a request up to the allocation step; refuse one no node could ever hold."""
        if resource.memory_mb < 0 or resource.vcores < 0:
            raise InvalidResourceRequest(f"invalid resource request {resource}: negative")
        step = self.config.minimum_allocation_mb
        memory_mb = max(step, -(-resource.memory_mb // step) * step)
        normalized = Resource(memory_mb, max(self.config.minimum_allocation_vcores, resource.vcores))
        if resource.memory_mb > self.config.maximum_allocation_mb or resource.vcores > self.config.maximum_allocation_vcores:
            raise InvalidResourceRequest(
                f"invalid resource request {resource}: larger than the maximum allocation "
                f"<memory:{self.config.maximum_allocation_mb}, vCores:{self.config.maximum_allocation_vcores}> "
                "(yarn.scheduler.maximum-allocation-mb / -vcores)")
        candidates = [node.capability for node in self.nodes.values() if node.live and (not label or node.label == label)]
        if candidates and not any(normalized.fits_in(capability) for capability in candidates):
            largest = max(candidates)
            where = f"{label} node" if label else "node"
            raise InvalidResourceRequest(f"invalid resource request {resource}: larger than any {where} "
                                         f"in the cluster (largest {largest})")
        return normalized

    # ================================================================ administration

    def decommission(self, node_ids: Iterable[str], graceful: bool, timeout_s: float, now_s: float) -> list[NodeReport]:
        nodes = []
        for node_id in node_ids:
            node = self.nodes.get(node_id)
            if node is None:
                raise NodeNotFound(f"no node {node_id!r} (see `emrlab node -list -all`)")
            nodes.append(node)
        for node in nodes:
            self.excluded.add(node.node_id)
            self._decommission(node, graceful, timeout_s, now_s)
        return [self._node_report(node, now_s) for node in nodes]

    def refresh_nodes(self, excluded: set[str], graceful: bool, timeout_s: float, now_s: float) -> dict[str, list[str]]:
        """Apply a new exclude list: decommission the listed nodes, recommission the others."""
        changes: dict[str, list[str]] = {"decommissioning": [], "decommissioned": [], "recommissioned": []}
        for node_id in sorted(self.excluded - excluded):
            node = self.nodes.get(node_id)
            if node is not None and node.state is NodeState.DECOMMISSIONING:
                node.handle(NodeEvent.RECOMMISSION, "no longer excluded")
                self.scheduler.set_schedulable(node_id, True)
                self._node_changed(node)
                changes["recommissioned"].append(node_id)
        self.excluded = set(excluded)
        for node_id in sorted(excluded):
            node = self.nodes.get(node_id)
            if node is not None and node.live and node.state is not NodeState.DECOMMISSIONING:
                self._decommission(node, graceful, timeout_s, now_s)
                changes["decommissioning" if node.state is NodeState.DECOMMISSIONING else "decommissioned"].append(node_id)
        return changes

    def _decommission(self, node: RMNode, graceful: bool, timeout_s: float, now_s: float) -> None:
        if not node.live:
            return
        if graceful and node.can(NodeEvent.GRACEFUL_DECOMMISSION):
            node.handle(NodeEvent.GRACEFUL_DECOMMISSION, f"timeout {timeout_s or self.config.decommission_timeout_s:.0f}s")
            node.decommission_deadline_s = now_s + (timeout_s or self.config.decommission_timeout_s)
            self.scheduler.set_schedulable(node.node_id, False)
            self._node_changed(node)
            self._check_decommissioning(node, now_s)
        elif not graceful:
            self._node_gone(node, NodeEvent.DECOMMISSION, "decommissioned", now_s)

    def _check_decommissioning(self, node: RMNode, now_s: float) -> None:
        if node.state is not NodeState.DECOMMISSIONING:
            return
        drained = not node.containers and not (self.config.decommission_waits_for_applications and node.applications)
        timed_out = node.decommission_deadline_s is not None and now_s >= node.decommission_deadline_s
        if drained or timed_out:
            self._node_gone(node, NodeEvent.DECOMMISSION, "decommissioned", now_s)

    # ================================================================ ApplicationMasters

    def register_application_master(self, attempt: str, host: str, rpc_port: int, tracking_url: str,
                                    now_s: float) -> tuple[Resource, str]:
        app, current = self._current(attempt)
        if not current.registered:
            current.registered = True
            current.host, current.rpc_port, current.tracking_url = host, rpc_port, tracking_url
            app.handle(ApplicationEvent.ATTEMPT_REGISTERED, f"{attempt} at {host}:{rpc_port}")
        current.last_contact_s = now_s
        return self.maximum_resource(), app.queue

    def allocate(self, attempt: str, response_id: int, asks: list[ContainerRequest], cancelled: list[int],
                 releases: list[str], progress: float, now_s: float) -> tuple[int, AllocateResponse]:
        app, current = self._current(attempt)
        if not current.registered:
            raise InvalidApplicationMasterRequest(f"{attempt} called allocate before registering")
        current.last_contact_s = now_s
        if response_id == current.response_id - 1 and current.last_response is not None:
            return current.response_id, current.last_response  # the AM missed our last answer
        normalized = []
        for ask in asks:
            if ask.allocation_request_id == AM_REQUEST_ID:
                raise InvalidResourceRequest("allocation_request_id 0 is reserved for the ApplicationMaster")
            normalized.append(ContainerRequest(self.normalize(ask.resource), tuple(ask.nodes), ask.relax_locality,
                                               ask.priority, ask.allocation_request_id))
        self.scheduler.add_requests(app.application_id, normalized)
        self.scheduler.cancel_requests(app.application_id, [item for item in cancelled if item != AM_REQUEST_ID])
        for released in releases:
            known = self.containers.get(released)
            if (known is not None and known.application_id == app.application_id and not known.is_am
                    and known.container not in current.allocated):  # an AM cannot release what it never had
                self._outbox(known.container.node_id).cleanup_containers.append(released)
                self._complete_container(known, ContainerStatus(released, ContainerState.COMPLETE,
                                                                ContainerExitStatus.ABORTED,
                                                                "Container released by application"), now_s)
        current.progress = max(0.0, min(1.0, progress))
        for container in current.allocated:
            acquired = self.containers[container.id]
            acquired.state, acquired.acquired_s = "ACQUIRED", now_s
        response = AllocateResponse(
            current.allocated, current.completed,
            [self._node_report(self.nodes[node_id], now_s) for node_id in sorted(current.updated_nodes)],
            self.scheduler.headroom(app.application_id),
            sum(1 for node in self.nodes.values() if node.schedulable))
        current.allocated, current.completed, current.updated_nodes = [], [], set()
        current.response_id += 1
        current.last_response = response
        return current.response_id, response

    def finish_application_master(self, attempt: str, final_status: str, diagnostics: str, tracking_url: str,
                                  now_s: float) -> None:
        app = self.application(application_of_attempt(attempt))
        if app.state.is_final:
            return
        app, current = self._current(attempt)
        if not current.registered:
            raise InvalidApplicationMasterRequest(f"{attempt} called finish before registering")
        try:
            status = FinalApplicationStatus(final_status)
        except ValueError:
            raise InvalidApplicationMasterRequest(f"invalid final status {final_status!r} (SUCCEEDED, FAILED or KILLED)") from None
        if status is FinalApplicationStatus.UNDEFINED:
            raise InvalidApplicationMasterRequest("final status must be SUCCEEDED, FAILED or KILLED")
        current.unregistered = True
        current.tracking_url = tracking_url or current.tracking_url
        self._finish_application(app, ApplicationEvent.ATTEMPT_UNREGISTERED, status, diagnostics, now_s)

    def _current(self, attempt: str) -> tuple[RMApp, RMAppAttempt]:
        app = self.applications.get(application_of_attempt(attempt))
        current = app.current_attempt if app else None
        if app is None or current is None or current.attempt_id != attempt or app.state.is_final:
            raise ApplicationAttemptNotFound(f"{attempt} is not the current attempt of a running application")
        return app, current

    # ================================================================ the monitor

    def tick(self, now_s: float) -> None:
        """Liveness: expire silent nodes, ApplicationMasters and unused containers; finish timed-out decommissions."""
        for node in list(self.nodes.values()):
            if node.live and now_s - node.last_heartbeat_s > self.config.node_expiry_s:
                self._node_gone(node, NodeEvent.EXPIRE, "lost", now_s)
            self._check_decommissioning(node, now_s)
        for known in [known for known in self.containers.values()
                      if known.state == "ACQUIRED" and now_s - known.acquired_s > self.config.container_expiry_s]:
            self._outbox(known.container.node_id).cleanup_containers.append(known.container.id)
            self._complete_container(known, ContainerStatus(known.container.id, ContainerState.COMPLETE,
                                                            ContainerExitStatus.ABORTED,
                                                            "Container expired since it was unused"), now_s)
        for app in list(self.applications.values()):
            current = app.current_attempt
            if (not app.state.is_final and current is not None and current.registered
                    and now_s - current.last_contact_s > self.config.am_expiry_s):
                self._attempt_failed(app, f"ApplicationMaster for attempt {current.attempt_id} timed out", now_s)

    # ================================================================ internals

    def _outbox(self, node_id: str) -> NodeOutbox:
        return self._outboxes.setdefault(node_id, NodeOutbox())

    def _start_attempt(self, app: RMApp, now_s: float) -> None:
        attempt = app.new_attempt()
        attempt.last_contact_s = now_s
        logger.info("%s starting attempt %s", app.application_id, attempt.attempt_id)
        self.scheduler.add_requests(app.application_id, [ContainerRequest(app.context.resource, priority=0)],
                                    label=self.config.am_node_label, is_am=True)

    def _allocated(self, assignment: Assignment, now_s: float) -> None:
        app = self.applications[assignment.application_id]
        attempt = app.current_attempt
        node = self.nodes[assignment.node_id]
        container = Container(container_id(app.application_id, attempt.number, app.next_container_sequence),
                              node.node_id, node.address, assignment.resource, assignment.priority,
                              assignment.allocation_request_id)
        app.next_container_sequence += 1
        self.containers[container.id] = RMContainer(container, app.application_id, attempt.attempt_id, assignment.is_am)
        node.containers.add(container.id)
        node.applications.add(app.application_id)
        app.containers.add(container.id)
        app.nodes.add(node.node_id)
        logger.info("allocated %s on %s %s for %s%s", container.id, node.node_id, container.resource,
                    app.application_id, " (ApplicationMaster)" if assignment.is_am else "")
        if assignment.is_am:
            attempt.am_container = container
            self._outbox(node.node_id).launches.append(LaunchCommand(container, app.context.am_container, app.user))
        else:
            attempt.allocated.append(container)

    def _remove_container(self, known: RMContainer) -> bool:
        """Forget a container and free its room; True if its AM had not yet been handed it."""
        self.containers.pop(known.container.id, None)
        self.scheduler.release(known.application_id, known.container.node_id, known.container.resource, known.is_am)
        node = self.nodes.get(known.container.node_id)
        if node is not None:
            node.containers.discard(known.container.id)
        app = self.applications.get(known.application_id)
        if app is None:
            return False
        app.containers.discard(known.container.id)
        attempt = app.current_attempt
        if known.container in attempt.allocated:
            attempt.allocated.remove(known.container)
            return True
        return False

    def _complete_container(self, known: RMContainer, status: ContainerStatus, now_s: float) -> None:
        unseen = self._remove_container(known)
        logger.info("%s completed with exit status %d%s", known.container.id, status.exit_status,
                    f": {status.diagnostics}" if status.diagnostics else "")
        app = self.applications.get(known.application_id)
        if app is None or app.state.is_final:
            return
        current = app.current_attempt
        if known.is_am:
            if current.attempt_id == known.attempt_id and not current.unregistered:
                current.counts_toward_max = not ContainerExitStatus.is_lost(status.exit_status)
                self._attempt_failed(app, f"AM Container for {known.attempt_id} exited with exitCode: "
                                          f"{status.exit_status}. {status.diagnostics}".strip(), now_s)
        elif unseen:
            # Lost before its AM heard of it: ask again on the AM's behalf (Hadoop's recoverResourceRequest).
            container = known.container
            self.scheduler.add_requests(app.application_id, [ContainerRequest(
                container.resource, priority=container.priority, allocation_request_id=container.allocation_request_id)])
        elif current.attempt_id == known.attempt_id:
            current.completed.append(status)

    def _attempt_failed(self, app: RMApp, diagnostics: str, now_s: float) -> None:
        for known in [self.containers[cid] for cid in app.containers]:
            self._outbox(known.container.node_id).cleanup_containers.append(known.container.id)
            self._remove_container(known)
        self.scheduler.cancel_requests(app.application_id, [request.allocation_request_id
                                                            for request in self.scheduler.pending(app.application_id)])
        if app.counted_attempts() < app.attempts_max and len(app.attempts) < app.attempts_max + UNCOUNTED_ATTEMPTS_MAX:
            app.diagnostics = diagnostics
            app.handle(ApplicationEvent.ATTEMPT_RETRY, diagnostics)
            self._start_attempt(app, now_s)
        else:
            self._finish_application(app, ApplicationEvent.ATTEMPT_FAILED, FinalApplicationStatus.FAILED,
                                     f"Application {app.application_id} failed {len(app.attempts)} times "
                                     f"due to {diagnostics}. Failing the application.", now_s)

    def _finish_application(self, app: RMApp, event: ApplicationEvent, final_status: FinalApplicationStatus,
                            diagnostics: str, now_s: float) -> None:
        app.handle(event, diagnostics)
        app.final_status = final_status
        app.diagnostics = diagnostics
        app.finish_time_ms = int(now_s * 1000)
        for known in [self.containers[cid] for cid in app.containers]:
            self._remove_container(known)
        self.scheduler.remove_application(app.application_id)
        for node_id in app.nodes:
            self._outbox(node_id).cleanup_applications.append(app.application_id)
            node = self.nodes.get(node_id)
            if node is not None:
                node.applications.discard(app.application_id)
                self._check_decommissioning(node, now_s)
        self._forget_old_applications()

    def _forget_old_applications(self) -> None:
        finished = [app_id for app_id, app in self.applications.items() if app.state.is_final]
        for app_id in finished[: max(0, len(finished) - self.config.completed_applications_max)]:
            del self.applications[app_id]

    def _lose_containers(self, node: RMNode, diagnostics: str, now_s: float) -> None:
        for cid in sorted(node.containers):
            known = self.containers.get(cid)
            if known is not None:
                self._complete_container(known, ContainerStatus(cid, ContainerState.COMPLETE,
                                                                ContainerExitStatus.ABORTED, diagnostics), now_s)

    def _node_gone(self, node: RMNode, event: NodeEvent, kind: str, now_s: float) -> None:
        """A node is LOST or DECOMMISSIONED: its containers end as ABORTED, reported to their applications."""
        node.handle(event, f"{len(node.containers)} container(s) released")
        self._lose_containers(node, f"Container released on a *{kind}* node", now_s)
        self.scheduler.remove_node(node.node_id)
        self._outboxes.pop(node.node_id, None)
        self._node_changed(node)

    def _node_changed(self, node: RMNode) -> None:
        """Running ApplicationMasters hear about node changes on their next allocate."""
        for app in self.applications.values():
            current = app.current_attempt
            if not app.state.is_final and current is not None and current.registered:
                current.updated_nodes.add(node.node_id)

    def validate_state(self) -> None:
        """Invariants for tests: containers, nodes, applications and the scheduler agree."""
        self.scheduler.validate_state()
        for cid, known in self.containers.items():
            assert cid in self.nodes[known.container.node_id].containers
            assert cid in self.applications[known.application_id].containers
        for node in self.nodes.values():
            if node.live:
                used = sum((self.containers[cid].container.resource for cid in node.containers), Resource(0, 0))
                assert used == self.scheduler.used_on(node.node_id), (node.node_id, used)
            else:
                assert not node.containers
        for app in self.applications.values():
            if app.state.is_final:
                assert not app.containers and app.application_id not in self.scheduler.applications

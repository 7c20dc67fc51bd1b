"""Applications, their attempts and their containers (Hadoop's RMAppManager with the container books).

Pure like the rest of the ResourceManager's state: methods take the time and
return the commands for NodeManagers (`events.py`). Containers flow like
this: the scheduler gives room on a node during that node's heartbeat
(`allocated`); the container goes to its application's current attempt,
which hears about it on its next allocate call (an AM container instead rides
to the node on the heartbeat response, to be launched there). The
NodeManager reports it RUNNING and then COMPLETE with an exit status; the
completion goes back to the ApplicationMaster on its next allocate call.
An application whose durable part changed (submitted, a new attempt, its AM
container given, its AM registered, ended) is in `changed` until the event
that changed it ends (`take_changes`: `ResourceManagerState.handle` returns
them as the state store's writes); one forgotten is in `removed`.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from yarn.errors import ApplicationNotFound, InvalidResourceRequest
from yarn.records import (
    ApplicationReport,
    ApplicationState,
    ApplicationSubmissionContext,
    Container,
    ContainerExitStatus,
    ContainerRequest,
    ContainerState,
    ContainerStatus,
    FinalApplicationStatus,
    Resource,
    application_id,
    check_application_id,
    container_id,
)
from yarn.resourcemanager.applications import ApplicationEvent, RMApp
from yarn.resourcemanager.config import ResourceManagerConfig
from yarn.resourcemanager.containers import RMContainer, RMContainerEvent, RMContainerState
from yarn.resourcemanager.events import CleanupApplication, CleanupContainer, LaunchContainer, NodeCommand
from yarn.resourcemanager.nodes import RMNode
from yarn.resourcemanager.scheduler import Assignment, Scheduler

if TYPE_CHECKING:
    from yarn.resourcemanager.nodetracker import NodeTracker

logger = logging.getLogger(__name__)

UNCOUNTED_ATTEMPTS_MAX = 10  # attempts lost with their node do not count, but even those are bounded


class ApplicationManager:
    def __init__(self, config: ResourceManagerConfig, cluster_timestamp_ms: int, nodes: dict[str, RMNode],
                 scheduler: Scheduler):
        self.config = config
        self.cluster_timestamp_ms = cluster_timestamp_ms
        self.nodes = nodes  # shared with the node tracker, which owns them
        self.scheduler = scheduler
        self.applications: dict[str, RMApp] = {}
        self.containers: dict[str, RMContainer] = {}
        self.node_tracker: NodeTracker | None = None  # set by the facade: an application's end may end a decommission
        self._application_sequence = itertools.count(1)
        self.changed: set[str] = set()  # applications to write to the state store
        self.removed: set[str] = set()  # applications to remove from it

    # ------------------------------------------------------------ clients

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
        self.start_attempt(app, now_s)

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

    def kill_application(self, application: str, diagnostics: str, now_s: float) -> tuple[bool, list[NodeCommand]]:
        """Kill an application and all its containers; (True if it had already finished, commands)."""
        app = self.application(application)
        if app.state.is_final:
            return True, []
        return False, self.finish_application(app, ApplicationEvent.KILL, FinalApplicationStatus.KILLED,
                                              diagnostics or "Application killed by user.", now_s)

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

    # ------------------------------------------------------------ attempts

    def take_changes(self) -> tuple[list[RMApp], list[str]]:
        """(applications to store, application ids to remove), and forget them: the event's store commands."""
        changed = [self.applications[app_id] for app_id in sorted(self.changed) if app_id in self.applications]
        removed = sorted(self.removed)
        self.changed, self.removed = set(), set()
        return changed, removed

    def start_attempt(self, app: RMApp, now_s: float) -> None:
        self.changed.add(app.application_id)
        attempt = app.new_attempt()
        attempt.last_contact_s = now_s
        logger.info("%s starting attempt %s", app.application_id, attempt.attempt_id)
        self.scheduler.add_requests(app.application_id, [ContainerRequest(app.context.resource, priority=0)],
                                    label=self.config.am_node_label, is_am=True)

    def attempt_failed(self, app: RMApp, diagnostics: str, now_s: float) -> list[NodeCommand]:
        commands: list[NodeCommand] = []
        for known in [self.containers[cid] for cid in app.containers]:
            commands.append(CleanupContainer(known.container.node_id, known.container.id))
            self._remove_container(known, RMContainerEvent.KILL, "its attempt failed")
        self.scheduler.cancel_requests(app.application_id, [request.allocation_request_id
                                                            for request in self.scheduler.pending(app.application_id)])
        if app.counted_attempts() < app.attempts_max and len(app.attempts) < app.attempts_max + UNCOUNTED_ATTEMPTS_MAX:
            app.diagnostics = diagnostics
            app.handle(ApplicationEvent.ATTEMPT_RETRY, diagnostics)
            self.start_attempt(app, now_s)
            return commands
        return commands + self.finish_application(
            app, ApplicationEvent.ATTEMPT_FAILED, FinalApplicationStatus.FAILED,
            f"Application {app.application_id} failed {len(app.attempts)} times due to {diagnostics}. "
            "Failing the application.", now_s)

    def finish_application(self, app: RMApp, event: ApplicationEvent, final_status: FinalApplicationStatus,
                           diagnostics: str, now_s: float) -> list[NodeCommand]:
        app.handle(event, diagnostics)
        self.changed.add(app.application_id)
        app.final_status = final_status
        app.diagnostics = diagnostics
        app.finish_time_ms = int(now_s * 1000)
        for known in [self.containers[cid] for cid in app.containers]:
            self._remove_container(known, RMContainerEvent.KILL, f"{app.application_id} ended")
        self.scheduler.remove_application(app.application_id)
        commands: list[NodeCommand] = []
        for node_id in app.nodes:
            commands.append(CleanupApplication(node_id, app.application_id))
            node = self.nodes.get(node_id)
            if node is not None:
                node.applications.discard(app.application_id)
                commands += self.node_tracker.check_decommissioning(node, now_s)
        self._forget_old_applications()
        return commands

    def _forget_old_applications(self) -> None:
        finished = [app_id for app_id, app in self.applications.items() if app.state.is_final]
        for app_id in finished[: max(0, len(finished) - self.config.completed_applications_max)]:
            del self.applications[app_id]
            self.changed.discard(app_id)
            self.removed.add(app_id)

    def node_changed(self, node: RMNode) -> None:
        """Running ApplicationMasters hear about node changes on their next allocate."""
        for app in self.applications.values():
            current = app.current_attempt
            if not app.state.is_final and current is not None and current.registered:
                current.updated_nodes.add(node.node_id)

    # ------------------------------------------------------------ containers

    def allocated(self, assignment: Assignment, now_s: float) -> list[NodeCommand]:
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
            self.changed.add(app.application_id)
            return [LaunchContainer(node.node_id, container, app.context.am_container, app.user)]
        attempt.allocated.append(container)
        return []

    def container_reported(self, known: RMContainer, status: ContainerStatus, now_s: float) -> list[NodeCommand]:
        """Its NodeManager reports it: running (NEW there means localizing: no longer unused), or done."""
        if status.state is ContainerState.COMPLETE:
            return self.complete_container(known, status, now_s)
        if known.state is not RMContainerState.RUNNING:
            known.handle(RMContainerEvent.LAUNCHED, f"on {known.container.node_id}")
        return []

    def release(self, known: RMContainer, diagnostics: str, event: RMContainerEvent, now_s: float) -> list[NodeCommand]:
        """The AM gave it back, or it went unused too long: stop it on its node, report it ABORTED."""
        return [CleanupContainer(known.container.node_id, known.container.id)] + self.complete_container(
            known, ContainerStatus(known.container.id, ContainerState.COMPLETE, ContainerExitStatus.ABORTED,
                                   diagnostics), now_s, event)

    def complete_container(self, known: RMContainer, status: ContainerStatus, now_s: float,
                           event: RMContainerEvent = RMContainerEvent.FINISHED) -> list[NodeCommand]:
        unseen = self._remove_container(known, event, f"exit status {status.exit_status}")
        logger.info("%s completed with exit status %d%s", known.container.id, status.exit_status,
                    f": {status.diagnostics}" if status.diagnostics else "")
        app = self.applications.get(known.application_id)
        if app is None or app.state.is_final:
            return []
        current = app.current_attempt
        if known.is_am:
            if current.attempt_id == known.attempt_id and not current.unregistered:
                current.counts_toward_max = not ContainerExitStatus.is_lost(status.exit_status)
                return self.attempt_failed(app, f"AM Container for {known.attempt_id} exited with exitCode: "
                                                f"{status.exit_status}. {status.diagnostics}".strip(), now_s)
        elif unseen:
            # Lost before its AM heard of it: ask again on the AM's behalf (Hadoop's recoverResourceRequest).
            container = known.container
            self.scheduler.add_requests(app.application_id, [ContainerRequest(
                container.resource, priority=container.priority, allocation_request_id=container.allocation_request_id)])
        elif current.attempt_id == known.attempt_id:
            current.completed.append(status)
        return []

    def lose_containers(self, node: RMNode, diagnostics: str, now_s: float) -> list[NodeCommand]:
        commands: list[NodeCommand] = []
        for cid in sorted(node.containers):
            known = self.containers.get(cid)
            if known is not None:
                commands += self.complete_container(known, ContainerStatus(
                    cid, ContainerState.COMPLETE, ContainerExitStatus.ABORTED, diagnostics), now_s,
                    RMContainerEvent.KILL)
        return commands

    def _remove_container(self, known: RMContainer, event: RMContainerEvent, cause: str) -> bool:
        """Forget a container and free its room; True if its AM had not yet been handed it."""
        known.handle(event, cause)
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

    def validate_state(self) -> None:
        for cid, known in self.containers.items():
            assert cid in self.nodes[known.container.node_id].containers
            assert cid in self.applications[known.application_id].containers
            assert known.state in (RMContainerState.ALLOCATED, RMContainerState.ACQUIRED, RMContainerState.RUNNING), cid
        for app in self.applications.values():
            if app.state.is_final:
                assert not app.containers and app.application_id not in self.scheduler.applications

"""ApplicationMasters registering, allocating and finishing (Hadoop's ApplicationMasterService).

`allocate` is the AM's heartbeat: it carries the AM's asks, cancellations and
releases, and brings back what the AM has not heard yet (containers given,
containers completed, nodes changed). It is idempotent through its response
id: an AM that missed an answer gets the same answer again. An AM silent for
`yarn.am.liveness-monitor.expiry-interval-ms` has failed its attempt. After
an RM restart with recovery, a running AM's calls get
ApplicationMasterNotRegistered until it registers again (its AMRMClient
then re-sends every request still pending, from response id 0).
"""

from __future__ import annotations

from yarn.errors import (
    ApplicationAttemptNotFound,
    ApplicationMasterNotRegistered,
    InvalidApplicationMasterRequest,
    InvalidResourceRequest,
)
from yarn.records import (
    AllocateResponse,
    ContainerRequest,
    FinalApplicationStatus,
    Resource,
    application_of_attempt,
)
from yarn.resourcemanager.applications import ApplicationEvent, RMApp, RMAppAttempt
from yarn.resourcemanager.appmanager import ApplicationManager
from yarn.resourcemanager.config import ResourceManagerConfig
from yarn.resourcemanager.containers import RMContainerEvent, RMContainerState
from yarn.resourcemanager.events import NodeCommand
from yarn.resourcemanager.nodetracker import NodeTracker
from yarn.resourcemanager.scheduler import AM_REQUEST_ID, Scheduler


class ApplicationMasterService:
    def __init__(self, config: ResourceManagerConfig, scheduler: Scheduler, apps: ApplicationManager,
                 node_tracker: NodeTracker):
        self.config = config
        self.scheduler = scheduler
        self.apps = apps
        self.node_tracker = node_tracker

    def register_application_master(self, attempt: str, host: str, rpc_port: int, tracking_url: str,
                                    now_s: float) -> tuple[Resource, str]:
        app, current = self._current(attempt)
        if current.recovering:  # its AM again, after an RM restart (it may have registered before)
            current.recovering = False
            current.response_id, current.last_response = 0, None
        if not current.registered:
            current.registered = True
            current.host, current.rpc_port, current.tracking_url = host, rpc_port, tracking_url
            app.handle(ApplicationEvent.ATTEMPT_REGISTERED, f"{attempt} at {host}:{rpc_port}")
            self.apps.changed.add(app.application_id)
        current.last_contact_s = now_s
        return self.apps.maximum_resource(), app.queue

    def allocate(self, attempt: str, response_id: int, asks: list[ContainerRequest], cancelled: list[int],
                 releases: list[str], progress: float,
                 now_s: float) -> tuple[int, AllocateResponse, list[NodeCommand]]:
        app, current = self._current(attempt)
        self._check_registered(current, "allocate")
        current.last_contact_s = now_s
        if response_id == current.response_id - 1 and current.last_response is not None:
            return current.response_id, current.last_response, []  # the AM missed our last answer
        normalized = []
        for ask in asks:
            if ask.allocation_request_id == AM_REQUEST_ID:
                raise InvalidResourceRequest("allocation_request_id 0 is reserved for the ApplicationMaster")
            normalized.append(ContainerRequest(self.apps.normalize(ask.resource), tuple(ask.nodes),
                                               ask.relax_locality, ask.priority, ask.allocation_request_id))
        self.scheduler.add_requests(app.application_id, normalized)
        self.scheduler.cancel_requests(app.application_id, [item for item in cancelled if item != AM_REQUEST_ID])
        commands: list[NodeCommand] = []
        for released in releases:
            known = self.apps.containers.get(released)
            if (known is not None and known.application_id == app.application_id and not known.is_am
                    and known.container not in current.allocated):  # an AM cannot release what it never had
                commands += self.apps.release(known, "Container released by application", RMContainerEvent.RELEASE,
                                              now_s)
        current.progress = max(0.0, min(1.0, progress))
        if normalized and self.config.place_on_allocate:
            for assignment in self.scheduler.place_arrivals():
                commands += self.apps.allocated(assignment, now_s)
        for container in current.allocated:
            acquired = self.apps.containers[container.id]
            acquired.handle(RMContainerEvent.ACQUIRE, f"by {attempt}")
            acquired.acquired_s = now_s
        nodes = self.node_tracker.nodes
        response = AllocateResponse(
            current.allocated, current.completed,
            [self.node_tracker.node_report(nodes[node_id], now_s) for node_id in sorted(current.updated_nodes)],
            self.scheduler.headroom(app.application_id),
            sum(1 for node in nodes.values() if node.schedulable))
        current.allocated, current.completed, current.updated_nodes = [], [], set()
        current.response_id += 1
        current.last_response = response
        return current.response_id, response, commands

    def finish_application_master(self, attempt: str, final_status: str, diagnostics: str, tracking_url: str,
                                  now_s: float) -> list[NodeCommand]:
        app = self.apps.application(application_of_attempt(attempt))
        if app.state.is_final:
            return []
        app, current = self._current(attempt)
        self._check_registered(current, "finish")
        try:
            status = FinalApplicationStatus(final_status)
        except ValueError:
            raise InvalidApplicationMasterRequest(
                f"invalid final status {final_status!r} (SUCCEEDED, FAILED or KILLED)") from None
        if status is FinalApplicationStatus.UNDEFINED:
            raise InvalidApplicationMasterRequest("final status must be SUCCEEDED, FAILED or KILLED")
        current.unregistered = True
        current.tracking_url = tracking_url or current.tracking_url
        return self.apps.finish_application(app, ApplicationEvent.ATTEMPT_UNREGISTERED, status, diagnostics, now_s)

    def expire(self, now_s: float) -> list[NodeCommand]:
        """Containers handed out and never started, and silent ApplicationMasters."""
        commands: list[NodeCommand] = []
        for known in [known for known in self.apps.containers.values() if known.state is RMContainerState.ACQUIRED
                      and now_s - known.acquired_s > self.config.container_expiry_s]:
            commands += self.apps.release(known, "Container expired since it was unused", RMContainerEvent.EXPIRE,
                                          now_s)
        for app in list(self.apps.applications.values()):
            current = app.current_attempt
            if (not app.state.is_final and current is not None and (current.registered or current.recovering)
                    and now_s - current.last_contact_s > self.config.am_expiry_s):
                commands += self.apps.attempt_failed(
                    app, f"ApplicationMaster for attempt {current.attempt_id} timed out", now_s)
        return commands

    @staticmethod
    def _check_registered(current: RMAppAttempt, call: str) -> None:
        if current.recovering:
            raise ApplicationMasterNotRegistered(
                f"{current.attempt_id} is not registered with this ResourceManager (it restarted): register again")
        if not current.registered:
            raise InvalidApplicationMasterRequest(f"{current.attempt_id} called {call} before registering")

    def _current(self, attempt: str) -> tuple[RMApp, RMAppAttempt]:
        app = self.apps.applications.get(application_of_attempt(attempt))
        current = app.current_attempt if app else None
        if app is None or current is None or current.attempt_id != attempt or app.state.is_final:
            raise ApplicationAttemptNotFound(f"{attempt} is not the current attempt of a running application")
        return app, current

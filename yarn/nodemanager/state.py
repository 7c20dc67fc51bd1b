"""The NodeManager's containers, applications and conversation with the ResourceManager as a pure state machine.

Events in, commands out (both declared in `records.py`, with the lifecycle
tables): `NodeManagerState.handle(event, now_s)` changes the state and
returns what the shell must do (localize, launch, signal, clean up); the
executor (`executor.py`) does it and sends what happened back as events.
Nothing here starts a process, touches a file, reads a clock or takes a
lock, so a test drives a container's whole life by calling `handle`.

Nothing is durable: a restarted NodeManager starts with no containers
(Hadoop's NM recovery is out of scope).

An application on this node is RUNNING until the ResourceManager says it
finished; then it waits for its containers to be DONE, its aux services hear
it stopped, its local dir is deleted (after
`yarn.nodemanager.delete.debug-delay-sec`), and it is forgotten.

The conversation with the ResourceManager (Hadoop's NodeStatusUpdater) is
decided here too, from `HeartbeatTick` and the RM's answers: register
(reporting every container held), run the health check every
`yarn.nodemanager.health-checker.interval-ms`, heartbeat every interval
with the statuses the RM has not heard (and at once when a container
completes, out of band), pass on its orders (launch an AM
container, kill containers, clean up applications), register again at once
on RESYNC, shut down on SHUTDOWN. A failed call changes nothing: what was
due stays due. Only the actor's events return those commands.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from emrlab_common.lifecycle import next_state
from yarn.nodemanager.monitor import over_limit_diagnostics
from yarn.nodemanager.records import (
    APPLICATION_TRANSITIONS,
    COMPLETE,
    CONTAINER_TRANSITIONS,
    REGISTRATION_TRANSITIONS,
    ApplicationEvent,
    ApplicationFinished,
    ApplicationLifecycle,
    CleanUpContainer,
    Command,
    ContainerCleanedUp,
    ContainerEvent,
    ContainerLifecycle,
    ContainerPaths,
    DeleteApplicationDir,
    Event,
    HealthChecked,
    HeartbeatAnswered,
    HeartbeatTick,
    InitializeAuxApplication,
    KillProcessGroup,
    LaunchFailed,
    LaunchProcess,
    LocalizeResources,
    MemoryMeasured,
    ProcessExited,
    ProcessLaunched,
    Register,
    Registered,
    Registration,
    RegistrationEvent,
    ResourceManagerCommand,
    ResourcesFailed,
    ResourcesLocalized,
    RunHealthCheck,
    SendHeartbeat,
    Shutdown,
    StartContainer,
    StopAllContainers,
    StopAuxApplication,
    StopContainer,
    Tick,
)
from yarn.records import (
    Container,
    ContainerExitStatus,
    ContainerLaunchContext,
    ContainerState,
    ContainerStatus,
    NodeAction,
    application_of_container,
)

logger = logging.getLogger(__name__)

# Containers one NodeManager keeps (running, or done and not yet forgotten). The RM never gives a node this
# many; more would be an ApplicationMaster starting containers it was not given.
CONTAINERS_MAX = 1024


@dataclass(eq=False)
class NMContainer:
    container: Container
    context: ContainerLaunchContext
    user: str
    paths: ContainerPaths
    state: ContainerLifecycle = ContainerLifecycle.NEW
    pid: int = 0
    exit_status: int = ContainerExitStatus.INVALID
    diagnostics: str = ""
    kill_reason: tuple[int, str] | None = None  # (exit status, diagnostics) once KILL arrived

    @property
    def container_id(self) -> str:
        return self.container.id

    @property
    def application_id(self) -> str:
        return application_of_container(self.container.id)

    def handle(self, event: ContainerEvent, cause: str = "") -> ContainerLifecycle:
        self.state = next_state(CONTAINER_TRANSITIONS, self.state, event, self.container.id, cause)
        return self.state

    def status(self) -> ContainerStatus:
        reported = self.state.reported
        if reported is ContainerState.COMPLETE:
            return ContainerStatus(self.container.id, reported, self.exit_status, self.diagnostics)
        return ContainerStatus(self.container.id, reported, ContainerExitStatus.INVALID, "")


@dataclass(eq=False)
class NMApplication:
    application_id: str
    user: str
    directory: Path
    service_data_given: dict[str, bytes] = field(default_factory=dict)
    state: ApplicationLifecycle = ApplicationLifecycle.RUNNING

    def handle(self, event: ApplicationEvent, cause: str = "") -> ApplicationLifecycle:
        self.state = next_state(APPLICATION_TRANSITIONS, self.state, event, self.application_id, cause)
        return self.state


@dataclass(frozen=True)
class NodeManagerLayout:
    """Where things go on this node (Hadoop's), and the settings the state decides with."""

    local_dir: Path
    log_dir: Path
    sigkill_delay_s: float
    pmem_check_enabled: bool
    delete_delay_s: float
    heartbeat_interval_s: float = 1.0
    health_interval_s: float = 600.0

    def application_dir(self, user: str, application_id: str) -> Path:
        return self.local_dir / "usercache" / user / "appcache" / application_id

    def container_paths(self, container_id: str, user: str) -> ContainerPaths:
        application_id = application_of_container(container_id)
        return ContainerPaths(self.application_dir(user, application_id) / container_id,
                              self.log_dir / application_id / container_id,
                              self.local_dir / "pids" / f"{container_id}.pid")


class NodeManagerState:
    def __init__(self, layout: NodeManagerLayout, aux_service_names: tuple[str, ...] = ()):
        self.layout = layout
        self.aux_service_names = aux_service_names
        self.containers: dict[str, NMContainer] = {}
        self.applications: dict[str, NMApplication] = {}
        self.reported: set[str] = set()  # completed containers the ResourceManager has heard about
        self.deletions_due: list[tuple[float, DeleteApplicationDir]] = []  # (due at, command), for the debug delay
        self.registration = Registration.UNREGISTERED
        self.next_heartbeat_s = self.next_health_check_s = 0.0
        # A container completed since the last heartbeat went out: the next goes at once, out of band (Hadoop's
        # NodeStatusUpdater.sendOutofBandHeartBeat), so that the RM frees its resources and gives them to a
        # waiting request now, not an interval later.
        self.out_of_band = False
        self.health: tuple[bool, str] = (True, "")  # (healthy, report), as last checked

    def handle(self, event: Event, now_s: float) -> list[Command | ResourceManagerCommand]:
        match event:
            case StartContainer():
                return self._start(event, now_s)
            case StopContainer(container_id, exit_status, diagnostics):
                known = self.containers.get(container_id)  # gone already: stopping is idempotent
                return self._kill(known, exit_status, diagnostics) if known is not None else []
            case StopAllContainers(exit_status, diagnostics):
                return [command for known in list(self.containers.values())
                        for command in self._kill(known, exit_status, diagnostics)]
            case ResourcesLocalized(container_id):
                return self._localized(self.containers[container_id])
            case ResourcesFailed(container_id, diagnostics):
                return self._ended(self.containers[container_id], ContainerEvent.RESOURCES_FAILED,
                                   ContainerExitStatus.INVALID, diagnostics)
            case ProcessLaunched(container_id, pid):
                return self._launched(self.containers[container_id], pid)
            case LaunchFailed(container_id, diagnostics):
                return self._ended(self.containers[container_id], ContainerEvent.LAUNCH_FAILED,
                                   ContainerExitStatus.INVALID, f"cannot launch container: {diagnostics}")
            case ProcessExited(container_id, exit_code):
                return self._exited(self.containers[container_id], exit_code)
            case ContainerCleanedUp(container_id):
                known = self.containers[container_id]
                known.handle(ContainerEvent.CLEANED_UP, f"exit status {known.exit_status}")
                return self._finish_applications(now_s)
            case ApplicationFinished(application_id):
                return self._application_finished(application_id, now_s)
            case MemoryMeasured(usage):
                return self._check_memory(usage)
            case Tick():
                return self._due_deletions(now_s)
            case HeartbeatTick():
                return self._due_for_the_resource_manager(now_s)
            case Registered(reported, action, diagnostics):
                return self._registered(reported, action, diagnostics, now_s)
            case HeartbeatAnswered():
                return self._heartbeat_answered(event, now_s)
            case HealthChecked(healthy, report):
                if (healthy, report) != self.health:
                    logger.info("node health: %s", "healthy" if healthy else report)
                self.health = (healthy, report)
                self.next_health_check_s = now_s + self.layout.health_interval_s
                return self._due_for_the_resource_manager(now_s)
        raise AssertionError(f"unknown event {event!r}")

    # ------------------------------------------------------------ queries

    def status(self, container_id: str) -> ContainerStatus | None:
        known = self.containers.get(container_id)
        return known.status() if known is not None else None

    def statuses_for_heartbeat(self) -> list[ContainerStatus]:
        """Every container's status; completed ones until the ResourceManager has heard them once."""
        return [status for status in (known.status() for known in self.containers.values())
                if status.state is not ContainerState.COMPLETE or status.container_id not in self.reported]

    def container_reports(self) -> list[tuple[Container, ContainerStatus]]:
        """Every container held, with its status: what registering with the ResourceManager reports."""
        return [(known.container, known.status()) for known in self.containers.values()]

    def has_room(self) -> bool:
        return len(self.containers) < CONTAINERS_MAX

    def any_running(self) -> bool:
        return any(known.state is ContainerLifecycle.RUNNING for known in self.containers.values())

    def all_done(self) -> bool:
        return all(known.state is ContainerLifecycle.DONE for known in self.containers.values())

    # ------------------------------------------------------------ the ResourceManager

    def _due_for_the_resource_manager(self, now_s: float) -> list[ResourceManagerCommand]:
        match self.registration:
            case Registration.SHUT_DOWN:
                return []
            case Registration.UNREGISTERED:
                return [Register(tuple(self.container_reports()))]
        if now_s >= self.next_health_check_s:
            return [RunHealthCheck()]  # its result (HealthChecked) brings the heartbeat
        if now_s >= self.next_heartbeat_s or self.out_of_band:
            self.out_of_band = False
            return [SendHeartbeat(tuple(self.statuses_for_heartbeat()), *self.health)]
        return []

    def heartbeat_wait_s(self, now_s: float) -> float:
        """How long the actor may sleep before its next `HeartbeatTick`."""
        if self.registration is not Registration.REGISTERED:
            return 0.0 if self.registration is Registration.UNREGISTERED else self.layout.heartbeat_interval_s
        if self.out_of_band:
            return 0.0
        return max(0.0, min(self.next_heartbeat_s, self.next_health_check_s) - now_s)

    def _registered(self, reported: tuple[ContainerStatus, ...], action: NodeAction, diagnostics: str,
                    now_s: float) -> list[ResourceManagerCommand]:
        self._heard(reported)
        if action is NodeAction.SHUTDOWN:
            self._registration_event(RegistrationEvent.REFUSED, f"the ResourceManager refuses this node: {diagnostics}")
            return [Shutdown(diagnostics)]
        self._registration_event(RegistrationEvent.ACCEPTED, f"reporting {len(reported)} container(s)")
        self.next_heartbeat_s = now_s
        return self._due_for_the_resource_manager(now_s)

    def _heartbeat_answered(self, answer: HeartbeatAnswered, now_s: float) -> list[ResourceManagerCommand]:
        assert self.registration is Registration.REGISTERED, self.registration
        self._heard(answer.reported)
        self.next_heartbeat_s = now_s + self.layout.heartbeat_interval_s
        match answer.action:
            case NodeAction.RESYNC:  # a new ResourceManager hears every container again, finished ones too
                self._registration_event(RegistrationEvent.RESYNC, answer.diagnostics)
                self.reported.clear()
                return self._due_for_the_resource_manager(now_s)
            case NodeAction.SHUTDOWN:
                self._registration_event(RegistrationEvent.SHUTDOWN, answer.diagnostics)
                return [Shutdown(answer.diagnostics)]
        return list(answer.commands)

    def _heard(self, statuses: tuple[ContainerStatus, ...]) -> None:
        """The ResourceManager heard these statuses; completed ones are not reported again."""
        self.reported.update(status.container_id for status in statuses
                             if status.state is ContainerState.COMPLETE and status.container_id in self.containers)

    def _registration_event(self, event: RegistrationEvent, cause: str) -> None:
        self.registration = next_state(REGISTRATION_TRANSITIONS, self.registration, event, "registration", cause)

    # ------------------------------------------------------------ containers

    def _start(self, event: StartContainer, now_s: float) -> list[Command]:
        container = event.container
        if container.id in self.containers:
            return []
        application_id = application_of_container(container.id)
        known = self.containers[container.id] = NMContainer(
            container, event.context, event.user, self.layout.container_paths(container.id, event.user))
        app = self.applications.get(application_id)
        if app is not None and app.state is not ApplicationLifecycle.RUNNING:
            return self._kill(known, ContainerExitStatus.KILLED_AFTER_APP_COMPLETION,
                              "Container Killed after application completion") + self._finish_applications(now_s)
        commands: list[Command] = []
        first = app is None
        if first:
            app = self.applications[application_id] = NMApplication(
                application_id, event.user, self.layout.application_dir(event.user, application_id))
        if event.refusal:  # not as this user: it ends before anything is made for it (aux services included)
            known.handle(ContainerEvent.INIT, f"for {event.user}, refused")
            return self._ended(known, ContainerEvent.RESOURCES_FAILED, ContainerExitStatus.INVALID, event.refusal)
        for name in self.aux_service_names:
            data = event.context.service_data.get(name, b"")
            if first or (data and app.service_data_given.get(name) != data):
                app.service_data_given[name] = data
                commands.append(InitializeAuxApplication(name, application_id, event.user, data))
        known.handle(ContainerEvent.INIT, f"for {event.user} with {container.resource}")
        commands.append(LocalizeResources(container.id, dict(event.context.local_resources), event.user, known.paths))
        return commands

    def _localized(self, known: NMContainer) -> list[Command]:
        if known.state is ContainerLifecycle.KILLING:
            return self._ended(known, ContainerEvent.LOCALIZED, ContainerExitStatus.INVALID, "")
        known.handle(ContainerEvent.LOCALIZED)
        return [LaunchProcess(known.container, known.context, known.user, known.paths)]

    def _launched(self, known: NMContainer, pid: int) -> list[Command]:
        known.pid = pid
        known.handle(ContainerEvent.LAUNCHED, f"pid {pid}")
        if known.state is ContainerLifecycle.KILLING:  # killed while its launch was under way
            return [KillProcessGroup(known.container_id, pid, self.layout.sigkill_delay_s)]
        return []

    def _exited(self, known: NMContainer, exit_code: int) -> list[Command]:
        if exit_code == 0:
            return self._ended(known, ContainerEvent.EXITED_WITH_SUCCESS, ContainerExitStatus.SUCCESS, "")
        exit_status = exit_code if exit_code >= 0 else 128 - exit_code
        return self._ended(known, ContainerEvent.EXITED_WITH_FAILURE, exit_status,
                           f"Exception from container-launch. Exit code: {exit_status}")

    def _ended(self, known: NMContainer, event: ContainerEvent, exit_status: int, diagnostics: str) -> list[Command]:
        """The container is over; a killed one ends with the kill's exit status, whatever it did itself."""
        if known.state is ContainerLifecycle.KILLING:
            exit_status, diagnostics = known.kill_reason
        known.exit_status, known.diagnostics = exit_status, diagnostics
        known.handle(event, f"exit status {exit_status}{f': {diagnostics}' if diagnostics else ''}")
        self.out_of_band = True
        return [CleanUpContainer(known.container_id, known.paths.pid_file)]

    def _kill(self, known: NMContainer, exit_status: int, diagnostics: str) -> list[Command]:
        """Stopping is idempotent: a container being killed or already ended stays as it is."""
        if known.state in COMPLETE or known.state is ContainerLifecycle.KILLING:
            return []
        known.kill_reason = (exit_status, diagnostics)
        if known.state is ContainerLifecycle.NEW:
            known.exit_status, known.diagnostics = exit_status, diagnostics
            known.handle(ContainerEvent.KILL, diagnostics)
            self.out_of_band = True
            return []
        was_running = known.state is ContainerLifecycle.RUNNING
        known.handle(ContainerEvent.KILL, diagnostics)
        # Localizing or launching: the container ends when that work reports back.
        return [KillProcessGroup(known.container_id, known.pid, self.layout.sigkill_delay_s)] if was_running else []

    def _check_memory(self, usage: dict[int, int]) -> list[Command]:
        """YARN's pmem check: a running container over its memory is killed with Hadoop's diagnostic."""
        if not self.layout.pmem_check_enabled:
            return []
        commands: list[Command] = []
        for known in list(self.containers.values()):
            if known.state is not ContainerLifecycle.RUNNING:
                continue
            diagnostics = over_limit_diagnostics(known.container_id, known.pid, usage.get(known.pid, 0),
                                                 known.container.resource.memory_mb << 20)
            if diagnostics:
                commands += self._kill(known, ContainerExitStatus.KILLED_EXCEEDED_PMEM, diagnostics)
        return commands

    # ------------------------------------------------------------ applications

    def _application_finished(self, application_id: str, now_s: float) -> list[Command]:
        app = self.applications.get(application_id)
        if app is None or app.state is not ApplicationLifecycle.RUNNING:
            return []  # never ran here, or already finishing: cleanup is idempotent
        app.handle(ApplicationEvent.FINISH, "the ResourceManager says it ended")
        commands: list[Command] = []
        for known in list(self.containers.values()):
            if known.application_id == application_id:
                commands += self._kill(known, ContainerExitStatus.KILLED_AFTER_APP_COMPLETION,
                                       "Container Killed after application completion")
        return commands + self._finish_applications(now_s)

    def _finish_applications(self, now_s: float) -> list[Command]:
        """Applications whose containers are all DONE: aux services hear it, files go, the app is forgotten."""
        commands: list[Command] = []
        for app in list(self.applications.values()):
            if app.state is not ApplicationLifecycle.FINISHING_CONTAINERS_WAIT:
                continue
            mine = [cid for cid, known in self.containers.items() if known.application_id == app.application_id]
            if any(self.containers[cid].state is not ContainerLifecycle.DONE for cid in mine):
                continue
            app.handle(ApplicationEvent.CONTAINERS_DONE, f"{len(mine)} container(s)")
            commands += [StopAuxApplication(name, app.application_id) for name in self.aux_service_names]
            for cid in mine:
                del self.containers[cid]
                self.reported.discard(cid)
            del self.applications[app.application_id]
            deletion = DeleteApplicationDir(app.application_id, app.directory)
            if self.layout.delete_delay_s > 0:
                self.deletions_due.append((now_s + self.layout.delete_delay_s, deletion))
            else:
                commands.append(deletion)
        return commands

    def _due_deletions(self, now_s: float) -> list[Command]:
        due = [command for due_s, command in self.deletions_due if due_s <= now_s]
        self.deletions_due = [(due_s, command) for due_s, command in self.deletions_due if due_s > now_s]
        return due

    def validate_state(self) -> None:
        """Invariants for tests."""
        for cid, known in self.containers.items():
            assert known.container_id == cid
            assert known.application_id in self.applications, cid
            if known.state is ContainerLifecycle.RUNNING:
                assert known.pid > 0, cid
            if known.state is ContainerLifecycle.KILLING:
                assert known.kill_reason is not None, cid
        for application_id, app in self.applications.items():
            assert app.state is not ApplicationLifecycle.FINISHED, application_id
        assert self.reported <= set(self.containers), self.reported - set(self.containers)
        assert self.health[0] or self.health[1], "an unhealthy node says why"

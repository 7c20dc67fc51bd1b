"""The NodeManager's vocabulary: lifecycles with their transition tables, events in, commands out.

`state.py` takes the events below and returns the commands below;
`executor.py` carries the commands out and reports back with events.

A container's lifecycle is Hadoop's ContainerImpl, trimmed
(`CONTAINER_TRANSITIONS`):

    NEW         --INIT-->                 LOCALIZING           localize its resources
    NEW         --KILL-->                 DONE                 it never ran
    LOCALIZING  --LOCALIZED-->            SCHEDULED            launch its process
    SCHEDULED   --LAUNCHED-->             RUNNING
    RUNNING     --EXITED_WITH_SUCCESS-->  EXITED_WITH_SUCCESS
    RUNNING     --EXITED_WITH_FAILURE-->  EXITED_WITH_FAILURE
    LOCALIZING  --RESOURCES_FAILED-->     EXITED_WITH_FAILURE
    SCHEDULED   --LAUNCH_FAILED-->        EXITED_WITH_FAILURE
    LOCALIZING, SCHEDULED, RUNNING --KILL--> KILLING           SIGTERM its group (once it has one), SIGKILL later
    KILLING     --LAUNCHED-->             KILLING              a launch that was under way: stop it at once
    KILLING     --whatever ends it-->     EXITED_WITH_FAILURE  with the kill's exit status
    EXITED_WITH_SUCCESS, EXITED_WITH_FAILURE --CLEANED_UP--> DONE  its pid file removed

A container reports NEW until it runs, RUNNING while it runs or is being
killed, and COMPLETE (with its exit status) from EXITED_* on.

An application on this node (Hadoop's ApplicationImpl, trimmed):

    RUNNING                    --FINISH-->           FINISHING_CONTAINERS_WAIT  stop its containers
    FINISHING_CONTAINERS_WAIT  --CONTAINERS_DONE-->  FINISHED                   aux services told, local dir deleted

The node's registration with the ResourceManager (Hadoop's NodeStatusUpdater):

    UNREGISTERED  --ACCEPTED-->  REGISTERED     heartbeat every interval, with a health check when due
    UNREGISTERED  --REFUSED-->   SHUT_DOWN      the RM excludes this node: the NodeManager stops
    REGISTERED    --RESYNC-->    UNREGISTERED   the RM restarted or lost us: register again at once, with every container
    REGISTERED    --SHUTDOWN-->  SHUT_DOWN      decommissioned

The events and commands of that conversation are the last of each list
below: the actor (`actor.py`) carries those commands out.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from yarn.records import Container, ContainerLaunchContext, ContainerState, ContainerStatus, NodeAction


class ContainerLifecycle(enum.Enum):
    NEW = "NEW"
    LOCALIZING = "LOCALIZING"
    SCHEDULED = "SCHEDULED"
    RUNNING = "RUNNING"
    EXITED_WITH_SUCCESS = "EXITED_WITH_SUCCESS"
    EXITED_WITH_FAILURE = "EXITED_WITH_FAILURE"
    KILLING = "KILLING"
    DONE = "DONE"

    @property
    def reported(self) -> ContainerState:
        """What the ResourceManager and ApplicationMasters see (Hadoop's ContainerImpl.getCurrentState)."""
        if self in COMPLETE:
            return ContainerState.COMPLETE
        if self in (ContainerLifecycle.RUNNING, ContainerLifecycle.KILLING):
            return ContainerState.RUNNING
        return ContainerState.NEW


class ContainerEvent(enum.Enum):
    INIT = "INIT"
    KILL = "KILL"
    LOCALIZED = "LOCALIZED"
    RESOURCES_FAILED = "RESOURCES_FAILED"
    LAUNCHED = "LAUNCHED"
    LAUNCH_FAILED = "LAUNCH_FAILED"
    EXITED_WITH_SUCCESS = "EXITED_WITH_SUCCESS"
    EXITED_WITH_FAILURE = "EXITED_WITH_FAILURE"
    CLEANED_UP = "CLEANED_UP"


class ApplicationLifecycle(enum.Enum):
    RUNNING = "RUNNING"
    FINISHING_CONTAINERS_WAIT = "FINISHING_CONTAINERS_WAIT"
    FINISHED = "FINISHED"


class ApplicationEvent(enum.Enum):
    FINISH = "FINISH"  # the ResourceManager says the application ended
    CONTAINERS_DONE = "CONTAINERS_DONE"


_C, _E = ContainerLifecycle, ContainerEvent
COMPLETE = frozenset({_C.EXITED_WITH_SUCCESS, _C.EXITED_WITH_FAILURE, _C.DONE})

CONTAINER_TRANSITIONS: dict[tuple[ContainerLifecycle, ContainerEvent], ContainerLifecycle] = {
    (_C.NEW, _E.INIT): _C.LOCALIZING,
    (_C.NEW, _E.KILL): _C.DONE,
    (_C.LOCALIZING, _E.LOCALIZED): _C.SCHEDULED,
    (_C.LOCALIZING, _E.RESOURCES_FAILED): _C.EXITED_WITH_FAILURE,
    (_C.SCHEDULED, _E.LAUNCHED): _C.RUNNING,
    (_C.SCHEDULED, _E.LAUNCH_FAILED): _C.EXITED_WITH_FAILURE,
    (_C.RUNNING, _E.EXITED_WITH_SUCCESS): _C.EXITED_WITH_SUCCESS,
    (_C.RUNNING, _E.EXITED_WITH_FAILURE): _C.EXITED_WITH_FAILURE,
    **{(state, _E.KILL): _C.KILLING for state in (_C.LOCALIZING, _C.SCHEDULED, _C.RUNNING)},
    (_C.KILLING, _E.LAUNCHED): _C.KILLING,
    **{(_C.KILLING, event): _C.EXITED_WITH_FAILURE
       for event in (_E.LOCALIZED, _E.RESOURCES_FAILED, _E.LAUNCH_FAILED, _E.EXITED_WITH_SUCCESS,
                     _E.EXITED_WITH_FAILURE)},
    (_C.EXITED_WITH_SUCCESS, _E.CLEANED_UP): _C.DONE,
    (_C.EXITED_WITH_FAILURE, _E.CLEANED_UP): _C.DONE,
}

_A, _AE = ApplicationLifecycle, ApplicationEvent
APPLICATION_TRANSITIONS: dict[tuple[ApplicationLifecycle, ApplicationEvent], ApplicationLifecycle] = {
    (_A.RUNNING, _AE.FINISH): _A.FINISHING_CONTAINERS_WAIT,
    (_A.FINISHING_CONTAINERS_WAIT, _AE.CONTAINERS_DONE): _A.FINISHED,
}


class Registration(enum.Enum):
    UNREGISTERED = "UNREGISTERED"
    REGISTERED = "REGISTERED"
    SHUT_DOWN = "SHUT_DOWN"


class RegistrationEvent(enum.Enum):
    ACCEPTED = "ACCEPTED"
    REFUSED = "REFUSED"
    RESYNC = "RESYNC"
    SHUTDOWN = "SHUTDOWN"


_R, _RE = Registration, RegistrationEvent
REGISTRATION_TRANSITIONS: dict[tuple[Registration, RegistrationEvent], Registration] = {
    (_R.UNREGISTERED, _RE.ACCEPTED): _R.REGISTERED,
    (_R.UNREGISTERED, _RE.REFUSED): _R.SHUT_DOWN,
    (_R.REGISTERED, _RE.RESYNC): _R.UNREGISTERED,
    (_R.REGISTERED, _RE.SHUTDOWN): _R.SHUT_DOWN,
}


@dataclass(frozen=True)
class ContainerPaths:
    work_dir: Path
    log_dir: Path
    pid_file: Path


# ---------------------------------------------------------------- events

@dataclass(frozen=True)
class StartContainer:
    """An ApplicationMaster (or the RM, for an AM container) asks for a container. Idempotent per id."""

    container: Container
    context: ContainerLaunchContext
    user: str
    refusal: str = ""  # why it may not run as its user (`linuxexecutor.ContainerUsers`): it ends at once with it


@dataclass(frozen=True)
class StopContainer:
    """Kill a container, giving it this exit status. Idempotent."""

    container_id: str
    exit_status: int
    diagnostics: str


@dataclass(frozen=True)
class StopAllContainers:
    """A resync from the ResourceManager, or this NodeManager stopping."""

    exit_status: int
    diagnostics: str


@dataclass(frozen=True)
class ResourcesLocalized:
    container_id: str


@dataclass(frozen=True)
class ResourcesFailed:
    container_id: str
    diagnostics: str


@dataclass(frozen=True)
class ProcessLaunched:
    container_id: str
    pid: int


@dataclass(frozen=True)
class LaunchFailed:
    container_id: str
    diagnostics: str


@dataclass(frozen=True)
class ProcessExited:
    container_id: str
    exit_code: int  # as `Popen.returncode`: negative = killed by that signal


@dataclass(frozen=True)
class ContainerCleanedUp:
    container_id: str


@dataclass(frozen=True)
class ApplicationFinished:
    application_id: str


@dataclass(frozen=True)
class MemoryMeasured:
    """The containers monitor read /proc: resident bytes per session id (a container's pid)."""

    resident_bytes_by_session: dict[int, int]


@dataclass(frozen=True)
class Tick:
    """Time passed: delete application dirs whose debug delay is over."""


@dataclass(frozen=True)
class HeartbeatTick:
    """The actor's clock: registering, a health check or a heartbeat may be due."""


@dataclass(frozen=True)
class Registered:
    """RegisterNodeManager answered; the RM heard `reported` (the statuses the registration carried)."""

    reported: tuple[ContainerStatus, ...]
    action: NodeAction
    diagnostics: str


@dataclass(frozen=True)
class HeartbeatAnswered:
    """NodeHeartbeat answered; the RM heard `reported`, and sends its orders for this node."""

    reported: tuple[ContainerStatus, ...]
    action: NodeAction
    diagnostics: str
    commands: tuple[LaunchContainer | KillContainer | CleanUpApplication, ...] = ()


@dataclass(frozen=True)
class HealthChecked:
    """The disks were probed and the health script run (if any)."""

    healthy: bool
    report: str


Event = (StartContainer | StopContainer | StopAllContainers | ResourcesLocalized | ResourcesFailed
         | ProcessLaunched | LaunchFailed | ProcessExited | ContainerCleanedUp | ApplicationFinished | MemoryMeasured
         | Tick | HeartbeatTick | Registered | HeartbeatAnswered | HealthChecked)


# ---------------------------------------------------------------- commands

@dataclass(frozen=True)
class InitializeAuxApplication:
    service_name: str
    application_id: str
    user: str
    service_data: bytes


@dataclass(frozen=True)
class StopAuxApplication:
    service_name: str
    application_id: str


@dataclass(frozen=True)
class LocalizeResources:
    container_id: str
    local_resources: dict[str, str]
    user: str
    paths: ContainerPaths


@dataclass(frozen=True)
class LaunchProcess:
    container: Container
    context: ContainerLaunchContext
    user: str
    paths: ContainerPaths


@dataclass(frozen=True)
class KillProcessGroup:
    """SIGTERM the container's process group, SIGKILL after `sigkill_delay_s` if it is still there."""

    container_id: str
    pid: int
    sigkill_delay_s: float


@dataclass(frozen=True)
class CleanUpContainer:
    container_id: str
    pid_file: Path


@dataclass(frozen=True)
class DeleteApplicationDir:
    application_id: str
    directory: Path


@dataclass(frozen=True)
class Register:
    """RegisterNodeManager, reporting every container held (finished ones too)."""

    reports: tuple[tuple[Container, ContainerStatus], ...]


@dataclass(frozen=True)
class SendHeartbeat:
    statuses: tuple[ContainerStatus, ...]
    healthy: bool
    health_report: str


@dataclass(frozen=True)
class RunHealthCheck:
    pass


@dataclass(frozen=True)
class Shutdown:
    """The ResourceManager refused or decommissioned this node: stop the NodeManager."""

    diagnostics: str


@dataclass(frozen=True)
class LaunchContainer:
    """An ApplicationMaster's container the RM asks this node to start (StartContainer after its user is resolved)."""

    container: Container
    context: ContainerLaunchContext
    user: str


@dataclass(frozen=True)
class KillContainer:
    container_id: str


@dataclass(frozen=True)
class CleanUpApplication:
    application_id: str


Command = (InitializeAuxApplication | StopAuxApplication | LocalizeResources | LaunchProcess | KillProcessGroup
           | CleanUpContainer | DeleteApplicationDir)
ResourceManagerCommand = (Register | SendHeartbeat | RunHealthCheck | Shutdown | LaunchContainer | KillContainer
                          | CleanUpApplication)  # the actor's to carry out

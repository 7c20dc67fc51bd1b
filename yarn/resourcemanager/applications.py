"""Applications and their ApplicationMaster attempts, as explicit lifecycles.

With `yarn.resourcemanager.recovery.enabled` an application and its attempts
are kept in the state store (`statestore.py`) and recovered by a restarted
ResourceManager (`recovery.py`); without it a restart forgets them. The
table is Hadoop's RMAppImpl, trimmed of its saving states:

    NEW       --START-->              SUBMITTED
    SUBMITTED --ACCEPTED-->           ACCEPTED   (the scheduler took it)
    SUBMITTED --REJECTED-->           FAILED
    ACCEPTED  --ATTEMPT_REGISTERED--> RUNNING    (its AM called register)
    RUNNING   --ATTEMPT_UNREGISTERED->FINISHED   (its AM called finish; final status is the AM's)
    ACCEPTED, RUNNING --ATTEMPT_RETRY--> ACCEPTED (the AM died, attempts are left)
    ACCEPTED, RUNNING --ATTEMPT_FAILED--> FAILED  (the AM died, no attempts left)
    NEW, SUBMITTED, ACCEPTED, RUNNING --KILL--> KILLED

An attempt is one run of the ApplicationMaster: its container, whether it has
registered, and what it has not yet heard (allocated and completed
containers, node changes), handed over on its next allocate call. A
recovered attempt is `recovering` until its AM registers again with the
restarted RM (its AMRMClient hears ApplicationMasterNotRegistered and does).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from yarn.records import (
    AllocateResponse,
    ApplicationReport,
    ApplicationState,
    ApplicationSubmissionContext,
    Container,
    ContainerStatus,
    FinalApplicationStatus,
    Resource,
    attempt_id,
)
from emrlab_common.lifecycle import next_state


class ApplicationEvent(enum.Enum):
    START = "START"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    ATTEMPT_REGISTERED = "ATTEMPT_REGISTERED"
    ATTEMPT_UNREGISTERED = "ATTEMPT_UNREGISTERED"
    ATTEMPT_RETRY = "ATTEMPT_RETRY"
    ATTEMPT_FAILED = "ATTEMPT_FAILED"
    KILL = "KILL"


_S = ApplicationState
_E = ApplicationEvent
TRANSITIONS: dict[tuple[ApplicationState, ApplicationEvent], ApplicationState] = {
    (_S.NEW, _E.START): _S.SUBMITTED,
    (_S.SUBMITTED, _E.ACCEPTED): _S.ACCEPTED,
    (_S.SUBMITTED, _E.REJECTED): _S.FAILED,
    (_S.ACCEPTED, _E.ATTEMPT_REGISTERED): _S.RUNNING,
    (_S.RUNNING, _E.ATTEMPT_UNREGISTERED): _S.FINISHED,
    (_S.ACCEPTED, _E.ATTEMPT_RETRY): _S.ACCEPTED,
    (_S.RUNNING, _E.ATTEMPT_RETRY): _S.ACCEPTED,
    (_S.ACCEPTED, _E.ATTEMPT_FAILED): _S.FAILED,
    (_S.RUNNING, _E.ATTEMPT_FAILED): _S.FAILED,
    **{(state, _E.KILL): _S.KILLED for state in (_S.NEW, _S.SUBMITTED, _S.ACCEPTED, _S.RUNNING)},
}


@dataclass(eq=False)
class RMAppAttempt:
    attempt_id: str
    number: int
    am_container: Container | None = None
    registered: bool = False
    unregistered: bool = False
    host: str = ""
    rpc_port: int = 0
    tracking_url: str = ""
    progress: float = 0.0
    last_contact_s: float = 0.0
    counts_toward_max: bool = True
    recovering: bool = False  # recovered from the state store; its AM has not registered with this RM yet
    allocated: list[Container] = field(default_factory=list)  # not yet handed to the AM
    completed: list[ContainerStatus] = field(default_factory=list)
    updated_nodes: set[str] = field(default_factory=set)
    response_id: int = 0
    last_response: AllocateResponse | None = None


@dataclass(eq=False)
class RMApp:
    context: ApplicationSubmissionContext
    user: str
    queue: str
    submit_time_ms: int
    attempts_max: int
    state: ApplicationState = ApplicationState.NEW
    final_status: FinalApplicationStatus = FinalApplicationStatus.UNDEFINED
    diagnostics: str = ""
    finish_time_ms: int = 0
    attempts: list[RMAppAttempt] = field(default_factory=list)
    containers: set[str] = field(default_factory=set)  # live containers, the AM's included
    nodes: set[str] = field(default_factory=set)  # nodes that ran any of its containers
    next_container_sequence: int = 1

    @property
    def application_id(self) -> str:
        return self.context.application_id

    @property
    def current_attempt(self) -> RMAppAttempt | None:
        return self.attempts[-1] if self.attempts else None

    def handle(self, event: ApplicationEvent, cause: str = "") -> ApplicationState:
        self.state = next_state(TRANSITIONS, self.state, event, self.application_id, cause)
        return self.state

    def can(self, event: ApplicationEvent) -> bool:
        return (self.state, event) in TRANSITIONS

    def new_attempt(self) -> RMAppAttempt:
        attempt = RMAppAttempt(attempt_id(self.application_id, len(self.attempts) + 1), len(self.attempts) + 1)
        self.attempts.append(attempt)
        return attempt

    def counted_attempts(self) -> int:
        return sum(1 for attempt in self.attempts if attempt.counts_toward_max)

    def report(self, used: Resource, running_containers: int, pending_containers: int = 0) -> ApplicationReport:
        attempt = self.current_attempt
        am = attempt.am_container if attempt else None
        progress = 1.0 if self.state is ApplicationState.FINISHED else (attempt.progress if attempt else 0.0)
        return ApplicationReport(
            self.application_id, self.context.name, self.user, self.queue, self.context.application_type,
            self.state, self.final_status, self.diagnostics, progress,
            attempt.host if attempt else "", attempt.rpc_port if attempt else 0,
            attempt.tracking_url if attempt else "", self.submit_time_ms, self.finish_time_ms,
            attempt.attempt_id if attempt else "", am.id if am else "", am.node_id if am else "",
            len(self.attempts), used, running_containers, pending_containers)

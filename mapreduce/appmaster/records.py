"""The ApplicationMaster's vocabulary: ids, lifecycles, events in, commands out.

The job state machine (`job.py`) takes the events below and returns the
commands below; the AM process (`__main__.py`) turns RPCs, allocate responses
and its clock into events, and carries out the commands with YARN, HDFS and
the output committer. Lifecycles follow Hadoop's JobImpl, TaskImpl and
TaskAttemptImpl: each is an enum of states, an enum of the events that move
it, and a (state, event) -> state table (`emrlab_common.lifecycle`, as the
ResourceManager and NodeManager have theirs), so that a student can check
every state change against them and a move the table lacks fails loudly.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

MAP, REDUCE = "map", "reduce"

# Hadoop's RMContainerAllocator priorities (YARN: lower number = served first).
FAST_FAIL_MAP_PRIORITY = 5
REDUCE_PRIORITY = 10
MAP_PRIORITY = 20


class JobState(enum.Enum):
    NEW = "NEW"
    INITED = "INITED"          # the current step's tasks are planned (splits computed)
    RUNNING = "RUNNING"
    COMMITTING = "COMMITTING"  # every task of the step succeeded; output being promoted
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    KILLED = "KILLED"


class TaskState(enum.Enum):
    NEW = "NEW"
    SCHEDULED = "SCHEDULED"    # an attempt waits for a container or runs
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"          # attempts ran out: the job fails
    KILLED = "KILLED"          # the job was killed


class AttemptState(enum.Enum):
    NEW = "NEW"
    UNASSIGNED = "UNASSIGNED"          # a container is requested
    ASSIGNED = "ASSIGNED"              # a container is allocated and being launched
    RUNNING = "RUNNING"                # the task pulled its attempt and reports
    COMMIT_PENDING = "COMMIT_PENDING"  # told it may commit; committing
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"                  # counts towards mapreduce.*.maxattempts
    KILLED = "KILLED"                  # not the task's fault: lost node, preempted, job killed

    @property
    def final(self) -> bool:
        return self in (AttemptState.SUCCEEDED, AttemptState.FAILED, AttemptState.KILLED)


class EndCause(enum.Enum):
    """Why an attempt ended other than by succeeding, as the history shows it."""

    TASK_FAILED = "TASK_FAILED"                    # the task reported an error, or its container exited non-zero
    TIMED_OUT = "TIMED_OUT"                        # silent for mapreduce.task.timeout
    NODE_DECOMMISSIONING = "NODE_DECOMMISSIONING"  # its node got notice (graceful decommission): moved at once
    NODE_LOST = "NODE_LOST"                        # node lost or decommissioned, container aborted or preempted
    REDUCER_PREEMPTED = "REDUCER_PREEMPTED"        # the AM killed a reducer to make room for maps that wait
    FETCH_FAILURES = "FETCH_FAILURES"              # reducers could not read its map output
    NODE_UNREACHABLE = "NODE_UNREACHABLE"          # reducers could not reach its node at all
    ANOTHER_ATTEMPT_COMMITTED = "ANOTHER_ATTEMPT_COMMITTED"
    JOB_ENDED = "JOB_ENDED"                        # the job failed or was killed

    @property
    def preemption(self) -> bool:
        """The node went away under the attempt: never the task's fault, never counted against it."""
        return self in (EndCause.NODE_DECOMMISSIONING, EndCause.NODE_LOST, EndCause.REDUCER_PREEMPTED)


class AttemptEventType(enum.Enum):
    """What moves an attempt (Hadoop's TaskAttemptEventType, trimmed)."""

    SCHEDULE = "SCHEDULE"          # its task needs it: ask for a container
    RECOVER = "RECOVER"            # the previous AM attempt finished it
    ASSIGN = "ASSIGN"              # a container was allocated to it
    START = "START"                # the task pulled its attempt, or first reported
    COMMIT_PENDING = "COMMIT_PENDING"
    DONE = "DONE"
    FAIL = "FAIL"                  # it reported an error, its container exited non-zero, or it timed out
    KILL = "KILL"                  # not its fault; for a succeeded map: its output is gone with its node
    TOO_MANY_FETCH_FAILURES = "TOO_MANY_FETCH_FAILURES"  # a succeeded map whose output reducers cannot read


class TaskEventType(enum.Enum):
    """What moves a task (Hadoop's TaskEventType, trimmed)."""

    SCHEDULE = "SCHEDULE"
    RECOVER = "RECOVER"
    ATTEMPT_SUCCEEDED = "ATTEMPT_SUCCEEDED"
    OUTPUT_LOST = "OUTPUT_LOST"    # a succeeded map's output is gone: it runs again
    FAIL = "FAIL"                  # out of attempts
    KILL = "KILL"                  # the job ended


class JobEventType(enum.Enum):
    """What moves the job (Hadoop's JobEventType, trimmed)."""

    INIT = "INIT"                  # a step was planned
    START = "START"                # its tasks are scheduled
    TASKS_DONE = "TASKS_DONE"      # every task of the step succeeded
    COMMITTED = "COMMITTED"        # the last step's output is committed
    RECOVER_COMMITTED = "RECOVER_COMMITTED"  # the previous AM attempt committed every step
    FAIL = "FAIL"
    KILL = "KILL"


_A, _AE = AttemptState, AttemptEventType
_A_RUNS = (_A.ASSIGNED, _A.RUNNING, _A.COMMIT_PENDING)  # holding a container
ATTEMPT_TRANSITIONS: dict[tuple[AttemptState, AttemptEventType], AttemptState] = {
    (_A.NEW, _AE.SCHEDULE): _A.UNASSIGNED,
    (_A.NEW, _AE.RECOVER): _A.SUCCEEDED,  # as the previous AM attempt recorded it (it does not run again)
    (_A.UNASSIGNED, _AE.ASSIGN): _A.ASSIGNED,
    (_A.ASSIGNED, _AE.START): _A.RUNNING,
    (_A.RUNNING, _AE.COMMIT_PENDING): _A.COMMIT_PENDING,
    **{(state, _AE.DONE): _A.SUCCEEDED for state in _A_RUNS},
    **{(state, _AE.FAIL): _A.FAILED for state in _A_RUNS},
    **{(state, _AE.KILL): _A.KILLED for state in (_A.NEW, _A.UNASSIGNED, *_A_RUNS)},
    # A succeeded map whose output is lost (node gone, or reducers cannot fetch it) ends after all,
    # and its task runs again.
    (_A.SUCCEEDED, _AE.KILL): _A.KILLED,
    (_A.SUCCEEDED, _AE.TOO_MANY_FETCH_FAILURES): _A.FAILED,
}

_T, _TE = TaskState, TaskEventType
TASK_TRANSITIONS: dict[tuple[TaskState, TaskEventType], TaskState] = {
    (_T.NEW, _TE.SCHEDULE): _T.SCHEDULED,
    (_T.NEW, _TE.RECOVER): _T.SUCCEEDED,  # finished by the last AM attempt
    (_T.SCHEDULED, _TE.ATTEMPT_SUCCEEDED): _T.SUCCEEDED,
    (_T.SUCCEEDED, _TE.OUTPUT_LOST): _T.SCHEDULED,  # a map re-runs when its output is lost
    (_T.SCHEDULED, _TE.FAIL): _T.FAILED,
    (_T.NEW, _TE.KILL): _T.KILLED,
    (_T.SCHEDULED, _TE.KILL): _T.KILLED,
}

_J, _JE = JobState, JobEventType
_J_LIVE = (_J.NEW, _J.INITED, _J.RUNNING, _J.COMMITTING)
JOB_TRANSITIONS: dict[tuple[JobState, JobEventType], JobState] = {
    (_J.NEW, _JE.INIT): _J.INITED,
    (_J.COMMITTING, _JE.INIT): _J.INITED,  # the next step
    (_J.INITED, _JE.START): _J.RUNNING,
    (_J.RUNNING, _JE.TASKS_DONE): _J.COMMITTING,
    (_J.COMMITTING, _JE.COMMITTED): _J.SUCCEEDED,
    # The previous AM attempt committed every step and died before it unregistered.
    (_J.NEW, _JE.RECOVER_COMMITTED): _J.SUCCEEDED,
    **{(state, _JE.FAIL): _J.FAILED for state in _J_LIVE},
    **{(state, _JE.KILL): _J.KILLED for state in _J_LIVE},
}


# ---------------------------------------------------------------- ids

_JOB_ID = re.compile(r"^job_(\d+)_(\d+)(?:_step\d+)?$")
ATTEMPT_ID_PATTERN = re.compile(r"^attempt_\d+_\d+(?:_step\d+)?_[mr]_\d{6}_\d+$")


def job_id_for(application_id: str) -> str:
    """application_1700000000000_0001 -> job_1700000000000_0001, as in Hadoop."""
    return "job_" + application_id.removeprefix("application_")


def application_id_for(job_id: str) -> str:
    return "application_" + job_id.removeprefix("job_").split("_step", 1)[0]


def step_job_id(job_id: str, step_index: int) -> str:
    """The job id a step's tasks see (the engine's `TaskAttempt.job_id` is one per step)."""
    return job_id + (f"_step{step_index}" if step_index else "")


def is_job_id(text: str) -> bool:
    return bool(_JOB_ID.match(text))


@dataclass(frozen=True, order=True)
class TaskKey:
    step_index: int
    kind: str
    task_index: int


def task_id_text(job_id: str, key: TaskKey) -> str:
    """task_<ts>_<seq>_m_000003; steps after the first add `_stepN` (one AM runs every step)."""
    return f"task_{step_job_id(job_id, key.step_index).removeprefix('job_')}_{key.kind[0]}_{key.task_index:06d}"


def attempt_id_text(job_id: str, key: TaskKey, attempt_index: int) -> str:
    return task_id_text(job_id, key).replace("task_", "attempt_", 1) + f"_{attempt_index}"


# AM attempt N numbers its task attempts from (N - 1) * 1000, as Hadoop's TaskImpl does, so that an
# attempt of the new AM never shares an id (its _temporary dir, its map output) with one of the old.
ATTEMPT_INDEX_STRIDE = 1000


@dataclass(frozen=True)
class RecoveredAttempt:
    """A task's succeeded attempt as an AM attempt recorded it for the next one (recovery.py)."""

    attempt_id: str
    step_index: int
    kind: str
    task_index: int
    attempt_index: int
    node_id: str = ""
    node_address: str = ""  # where its map output is served
    counters: dict = field(default_factory=dict)
    start_time_s: float = 0.0
    finish_time_s: float = 0.0

    @property
    def key(self) -> TaskKey:
        return TaskKey(self.step_index, self.kind, self.task_index)


# ---------------------------------------------------------------- events

@dataclass(frozen=True)
class StartJob:
    recovery_error: str = ""  # the previous AM attempt left the job unrecoverable (died mid-commit): fail
    killed: bool = False      # ... or had killed it: end KILLED


@dataclass(frozen=True)
class StepPlanned:
    """The shell computed a step's splits: one map per split, preferring the split's hosts."""

    step_index: int
    map_hosts: tuple[tuple[str, ...], ...]
    reduce_count: int
    recovered: tuple[RecoveredAttempt, ...] = ()  # tasks the previous AM attempt finished: not run again


@dataclass(frozen=True)
class ContainerAllocated:
    container_id: str
    node_id: str
    node_address: str  # the NodeManager: where the container runs and its map output is served
    priority: int
    allocation_request_id: int = 0  # the request YARN satisfied with it (0: none known)


@dataclass(frozen=True)
class ContainerCompleted:
    container_id: str
    exit_status: int
    diagnostics: str = ""
    lost: bool = False  # node lost or container preempted: the attempt is KILLED, not FAILED


@dataclass(frozen=True)
class NodesLost:
    """LOST, DECOMMISSIONED or UNHEALTHY in the allocate response's updated nodes: the node is gone."""

    node_ids: tuple[str, ...]


@dataclass(frozen=True)
class NodesDecommissioning:
    """DECOMMISSIONING (graceful decommission, a spot notice): the node will go soon."""

    node_ids: tuple[str, ...]


@dataclass(frozen=True)
class NodesRecommissioned:
    """RUNNING again after DECOMMISSIONING: its map output stays."""

    node_ids: tuple[str, ...]


@dataclass(frozen=True)
class AttemptStarted:
    """The task in the attempt's container pulled its attempt (GetTask)."""

    attempt_id: str


@dataclass(frozen=True)
class AttemptStatus:
    attempt_id: str
    progress: float
    status: str
    counters: dict = field(default_factory=dict)
    progressed: bool = True  # False: a ping, which does not reset the task timeout


@dataclass(frozen=True)
class CommitRequested:
    attempt_id: str


@dataclass(frozen=True)
class AttemptSucceeded:
    attempt_id: str
    counters: dict = field(default_factory=dict)


@dataclass(frozen=True)
class AttemptFailed:
    attempt_id: str
    diagnostics: str
    counters: dict = field(default_factory=dict)


@dataclass(frozen=True)
class FetchFailed:
    reduce_attempt_id: str
    map_attempt_id: str
    node_unreachable: bool = False  # the reducer could not reach the map's node at all (it may be gone)


@dataclass(frozen=True)
class StepCommitted:
    step_index: int


@dataclass(frozen=True)
class Tick:
    """Time passed: check task timeouts, and whether reducers must make room for maps.

    `headroom_maps`: how many more map containers YARN's headroom (the allocate response's `available`)
    fits; -1 when the shell does not know (no allocate answer yet)."""

    headroom_maps: int = -1


@dataclass(frozen=True)
class KillJob:
    diagnostics: str = "Kill job received from client"


@dataclass(frozen=True)
class JobError:
    """The shell could not plan or commit a step (missing input, HDFS error)."""

    diagnostics: str


Event = (StartJob | StepPlanned | ContainerAllocated | ContainerCompleted | NodesLost | NodesDecommissioning
         | NodesRecommissioned | AttemptStarted | AttemptStatus | CommitRequested | AttemptSucceeded | AttemptFailed | FetchFailed | StepCommitted
         | Tick | KillJob | JobError)


# ---------------------------------------------------------------- commands

@dataclass(frozen=True)
class PlanStep:
    step_index: int


@dataclass(frozen=True)
class RequestContainer:
    """Ask YARN for one container, under an allocation request id the machine chose."""

    attempt_id: str
    kind: str
    hosts: tuple[str, ...]
    priority: int
    request_id: int = 0


@dataclass(frozen=True)
class CancelRequest:
    """Nobody needs this request any more (its attempt got a container, or was killed)."""

    attempt_id: str
    request_id: int = 0


@dataclass(frozen=True)
class LaunchAttempt:
    attempt_id: str
    container_id: str


@dataclass(frozen=True)
class ReleaseContainer:
    """An allocated container nobody needs any more."""

    container_id: str


@dataclass(frozen=True)
class StopContainer:
    """Kill the container of an attempt the AM gave up on."""

    container_id: str
    attempt_id: str


@dataclass(frozen=True)
class CommitStep:
    step_index: int
    last: bool


@dataclass(frozen=True)
class RecordTask:
    """Write a succeeded task's attempt to the recovery log, for the next AM attempt."""

    attempt: RecoveredAttempt


@dataclass(frozen=True)
class FinishJob:
    state: JobState
    diagnostics: str = ""


Command = (PlanStep | RequestContainer | CancelRequest | LaunchAttempt | ReleaseContainer | StopContainer
           | CommitStep | RecordTask | FinishJob)

"""Tasks and their attempts as the job state machine keeps them (job.py decides what happens to them).

A task is one split's map or one partition's reduce; each try at it is an
attempt with its own container. Attempts remember why they were started
(`cause`) and why they ended (`end_cause`, `end_phase`), which is what the
job history shows for a preempted attempt or a re-run map. `TaskBook` holds
them all, answers questions about them, and moves them along their
lifecycles: every move is an event looked up in records.py's (state, event)
-> state tables, so a move the table lacks raises InvalidTransition.
"""

from __future__ import annotations

import enum
import logging
from collections import defaultdict
from dataclasses import dataclass, field

from emrlab_common.lifecycle import next_state
from mapreduce.appmaster.records import (
    ATTEMPT_TRANSITIONS,
    MAP,
    MAP_PRIORITY,
    TASK_TRANSITIONS,
    AttemptEventType,
    AttemptState,
    EndCause,
    TaskEventType,
    TaskKey,
    TaskState,
    task_id_text,
)
from mapreduce.task.umbilical import MapCompletionStatus

logger = logging.getLogger(__name__)

JOB_COUNTER_GROUP = "org.apache.hadoop.mapreduce.JobCounter"  # mapreduce.api.counters.JOB_COUNTER

# A reduce attempt's progress runs to 1/3 while it copies map output, then sorts (merges) to 2/3,
# then reduces (Hadoop's three phases; mapreduce.task.yarnchild reports 0.33 when the copy is done).
REDUCE_COPY_PHASE_END = 0.33
REDUCE_SORT_PHASE_END = 0.66

# An attempt in these states holds a container (and its task runs in it).
HOLDING_CONTAINER = (AttemptState.ASSIGNED, AttemptState.RUNNING, AttemptState.COMMIT_PENDING)


@dataclass(frozen=True)
class MapCompletionEvent:
    """What reducers poll for: where a map's output is, or that it is gone (OBSOLETE)."""

    event_index: int
    map_index: int
    attempt_id: str
    status: MapCompletionStatus
    shuffle_address: str


class Locality(enum.Enum):
    """Where a map ran, against its split's hosts (Hadoop's names; the counters are DATA_LOCAL_MAPS, ...)."""

    DATA_LOCAL = "DATA_LOCAL"  # on a node that holds its split's block
    RACK_LOCAL = "RACK_LOCAL"  # in its rack (not assigned: there is one rack)
    OFF_SWITCH = "OFF_SWITCH"  # anywhere else


class AttemptPhase(enum.Enum):
    """What an attempt was doing (when it ended, for the history); the values are the words shown."""

    STARTING = "starting"      # waiting for or in its container, not yet reading input
    MAP = "map"
    MAP_OUTPUT = "map output"  # a succeeded map whose output reducers still read
    SHUFFLE = "shuffle"        # a reducer copying map output
    SORT = "sort"              # ... merging it
    REDUCE = "reduce"


@dataclass(eq=False)
class Attempt:
    attempt_id: str
    key: TaskKey
    attempt_index: int
    state: AttemptState = AttemptState.NEW
    priority: int = MAP_PRIORITY
    container_id: str = ""
    node_id: str = ""
    node_address: str = ""
    locality: Locality | None = None  # maps only
    progress: float = 0.0
    status: str = ""
    counters: dict = field(default_factory=dict)
    diagnostics: str = ""
    start_time_s: float = 0.0
    finish_time_s: float = 0.0
    last_progress_s: float = 0.0
    requested_s: float = 0.0  # when it started waiting for a container (UNASSIGNED)
    waiting_since_s: float = 0.0  # a map: requested_s, or when a reducer was last preempted for it
    held: bool = False  # a reducer UNASSIGNED without a request: held back while maps cannot get containers
    fetch_failures: int = 0
    unreachable_fetch_failures: int = 0
    cause: str = ""  # why this attempt runs: empty for a task's first, else what happened to the one before
    end_cause: EndCause | None = None
    end_phase: AttemptPhase | None = None  # what it was doing when it ended
    output_lost: bool = False  # a succeeded map whose output went with its node; run again when needed
    recovered: bool = False  # finished by the previous AM attempt, taken from its recovery log

    @property
    def active(self) -> bool:
        """Holds or waits for a container."""
        return not self.state.final and self.state is not AttemptState.NEW

    @property
    def has_map_output(self) -> bool:
        """A reduce attempt past its copy phase needs no map output any more."""
        return self.key.kind != MAP and self.active and self.progress >= REDUCE_COPY_PHASE_END

    def phase(self) -> AttemptPhase:
        if self.key.kind == MAP:
            if self.state is AttemptState.SUCCEEDED:
                return AttemptPhase.MAP_OUTPUT
            running = self.state in (AttemptState.RUNNING, AttemptState.COMMIT_PENDING)
            return AttemptPhase.MAP if running else AttemptPhase.STARTING
        if self.state in (AttemptState.NEW, AttemptState.UNASSIGNED, AttemptState.ASSIGNED):
            return AttemptPhase.STARTING
        if self.progress < REDUCE_COPY_PHASE_END:
            return AttemptPhase.SHUFFLE
        return AttemptPhase.SORT if self.progress < REDUCE_SORT_PHASE_END else AttemptPhase.REDUCE


@dataclass(eq=False)
class Task:
    key: TaskKey
    hosts: tuple[str, ...] = ()
    state: TaskState = TaskState.NEW
    attempts: list[Attempt] = field(default_factory=list)
    commit_attempt_id: str | None = None
    failed_attempts: int = 0
    killed_attempts: int = 0  # not counting preemptions (lost or decommissioned nodes)

    @property
    def progress(self) -> float:
        if self.state is TaskState.SUCCEEDED:
            return 1.0
        running = [attempt.progress for attempt in self.attempts if attempt.active]
        return max(running, default=0.0)

    def succeeded_attempt(self) -> Attempt | None:
        succeeded = [attempt for attempt in self.attempts if attempt.state is AttemptState.SUCCEEDED]
        assert len(succeeded) <= 1, f"{self.key} has {len(succeeded)} succeeded attempts"
        return succeeded[0] if succeeded else None

    def has_map_output(self) -> bool:
        """A reduce task done, or with a live attempt that copied all it needs."""
        return self.state is TaskState.SUCCEEDED or any(attempt.has_map_output for attempt in self.attempts)


class TaskBook:
    """Every task and attempt of a job, by key, attempt id and container id; the job's own counters."""

    def __init__(self, job_id: str):
        self.job_id = job_id
        self.step_index = 0
        self.tasks: dict[TaskKey, Task] = {}
        self.attempts: dict[str, Attempt] = {}
        self.attempts_by_container: dict[str, Attempt] = {}
        self.completion_events: dict[int, list[MapCompletionEvent]] = defaultdict(list)
        self.job_counters: dict[str, int] = defaultdict(int)

    def step_tasks(self, kind: str, step_index: int | None = None) -> list[Task]:
        step_index = self.step_index if step_index is None else step_index
        return sorted((task for task in self.tasks.values() if task.key.step_index == step_index and task.key.kind == kind),
                      key=lambda task: task.key)

    def attempt_should_stop(self, attempt_id: str) -> bool:
        """True when the task running `attempt_id` should exit: the AM gave up on it."""
        attempt = self.attempts.get(attempt_id)
        return attempt is None or attempt.state in (AttemptState.FAILED, AttemptState.KILLED)

    def commit_granted(self, attempt_id: str) -> bool:
        attempt = self.attempts.get(attempt_id)
        return attempt is not None and self.tasks[attempt.key].commit_attempt_id == attempt_id

    def attempt_for_container(self, container_id: str) -> Attempt | None:
        return self.attempts_by_container.get(container_id)

    def map_completion_events(self, step_index: int, from_index: int, count_max: int) -> list[MapCompletionEvent]:
        return self.completion_events[step_index][from_index:from_index + count_max]

    def map_count(self, step_index: int) -> int:
        return len(self.step_tasks(MAP, step_index))

    def counters(self) -> dict[str, dict[str, int]]:
        """Every task's succeeded attempt's counters, summed, plus the job counters."""
        total: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for task in self.tasks.values():
            attempt = task.succeeded_attempt()
            if attempt is None:
                continue
            for group, names in attempt.counters.items():
                for name, value in names.items():
                    total[group][name] += value
        for name, value in self.job_counters.items():
            total[JOB_COUNTER_GROUP][name] += value
        return {group: dict(names) for group, names in total.items()}

    # ------------------------------------------------------------ changes

    def _count_time(self, attempt: Attempt) -> None:
        """Hadoop's MILLIS_MAPS / MILLIS_REDUCES: time in containers, over every attempt that ran."""
        if attempt.start_time_s:
            name = "MILLIS_MAPS" if attempt.key.kind == MAP else "MILLIS_REDUCES"
            self.job_counters[name] += int((attempt.finish_time_s - attempt.start_time_s) * 1000)

    def _add_completion_event(self, attempt: Attempt, status: MapCompletionStatus) -> None:
        events = self.completion_events[attempt.key.step_index]
        events.append(MapCompletionEvent(len(events), attempt.key.task_index, attempt.attempt_id, status,
                                         attempt.node_address))

    def _move_task(self, task: Task, event: TaskEventType, cause: str = "") -> None:
        task.state = next_state(TASK_TRANSITIONS, task.state, event, task_id_text(self.job_id, task.key), cause)

    def _move_attempt(self, attempt: Attempt, event: AttemptEventType, cause: str) -> None:
        attempt.state = next_state(ATTEMPT_TRANSITIONS, attempt.state, event, attempt.attempt_id, cause)

    def validate_tasks(self) -> None:
        """At most one live attempt and one succeeded attempt per task; commit rights held rightly."""
        for task in self.tasks.values():
            live = [attempt for attempt in task.attempts if attempt.active]
            assert len(live) <= 1, f"{task.key}: {len(live)} live attempts"
            succeeded = task.succeeded_attempt()
            assert (succeeded is not None) == (task.state is TaskState.SUCCEEDED), task.key
            if task.commit_attempt_id is not None:
                holder = self.attempts[task.commit_attempt_id]
                assert holder.state in (AttemptState.COMMIT_PENDING, AttemptState.SUCCEEDED), task.key

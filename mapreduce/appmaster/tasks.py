"""Tasks and their attempts as the job state machine keeps them (job.py changes them).

A task is one split's map or one partition's reduce; each try at it is an
attempt with its own container. Attempts remember why they were started
(`cause`) and why they ended (`end_cause`, `end_phase`), which is what the
job history shows for a preempted attempt or a re-run map.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mapreduce.appmaster.records import MAP, MAP_PRIORITY, AttemptState, EndCause, TaskKey, TaskState

# A reduce attempt's progress runs to 1/3 while it copies map output, then sorts (merges) to 2/3,
# then reduces (Hadoop's three phases; mapreduce.yarnchild reports 0.33 when the copy is done).
REDUCE_COPY_PHASE_END = 0.33
REDUCE_SORT_PHASE_END = 0.66


@dataclass(frozen=True)
class MapCompletionEvent:
    """What reducers poll for: where a map's output is, or that it is gone (OBSOLETE)."""

    event_index: int
    map_index: int
    attempt_id: str
    status: str  # SUCCEEDED, OBSOLETE, FAILED, KILLED
    shuffle_address: str


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
    locality: str = ""
    progress: float = 0.0
    status: str = ""
    counters: dict = field(default_factory=dict)
    diagnostics: str = ""
    start_time_s: float = 0.0
    finish_time_s: float = 0.0
    last_progress_s: float = 0.0
    fetch_failures: int = 0
    unreachable_fetch_failures: int = 0
    cause: str = ""  # why this attempt runs: empty for a task's first, else what happened to the one before
    end_cause: EndCause | None = None
    end_phase: str = ""  # what it was doing when it ended (map, map output, shuffle, sort, reduce)
    output_lost: bool = False  # a succeeded map whose output went with its node; run again when needed

    @property
    def active(self) -> bool:
        """Holds or waits for a container."""
        return not self.state.final and self.state is not AttemptState.NEW

    @property
    def has_map_output(self) -> bool:
        """A reduce attempt past its copy phase needs no map output any more."""
        return self.key.kind != MAP and self.active and self.progress >= REDUCE_COPY_PHASE_END

    def phase(self) -> str:
        if self.key.kind == MAP:
            if self.state is AttemptState.SUCCEEDED:
                return "map output"
            return "map" if self.state in (AttemptState.RUNNING, AttemptState.COMMIT_PENDING) else "starting"
        if self.state in (AttemptState.NEW, AttemptState.UNASSIGNED, AttemptState.ASSIGNED):
            return "starting"
        if self.progress < REDUCE_COPY_PHASE_END:
            return "shuffle"
        return "sort" if self.progress < REDUCE_SORT_PHASE_END else "reduce"


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

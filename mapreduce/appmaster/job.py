"""The MapReduce job as its ApplicationMaster sees it: a pure state machine.

    machine = JobStateMachine(job_id, step_count, config)
    commands = machine.handle(StartJob(), now_s)        # -> [PlanStep(0)]
    commands = machine.handle(StepPlanned(0, hosts, 2), now_s)
    ...

No gRPC, no threads, no clock, no files: events and the time go in, commands
come out (records.py), so a test drives a whole job, faults and all, by hand.
Nothing here is durable: the shell writes what the next AM attempt needs
(`RecordTask`, the recovery log) and hands a new attempt's machine what the
previous one finished (`StartJob`, `StepPlanned.recovered`); those tasks are
SUCCEEDED at once and never run again (Hadoop's MRAppMaster recovery).

What it decides, as Hadoop's MRAppMaster does:
- one map task per split, asking for a container on the split's hosts;
  reducers only once `slowstart` of the step's maps are done;
- an attempt that fails is retried until `maxattempts` failed attempts; an
  attempt killed through no fault of its own (lost node, preemption) is
  retried without counting;
- a node going DECOMMISSIONING (graceful decommission, a spot notice): its
  running maps move elsewhere at once; its finished maps' output is about to
  vanish, so a fetch failure there re-runs the map at once;
- an attempt silent for `mapreduce.task.timeout` fails;
- a finished map whose node is lost, or whose output reducers keep failing to
  fetch, runs again while a reducer of its step still needs it (one not yet
  past its copy phase; a later reduce attempt re-runs what it needs);
- reducers holding the containers that waiting maps need are killed
  (REDUCER_PREEMPTED, not counted) and held back until every map has a
  container (Hadoop's reducer preemption);
- the commit protocol: one attempt per task may commit its output;
- counters are the sum over each task's one succeeded attempt.

The machine is one class assembled from parts, each a file a student reads
in one sitting; every part works on the same tasks, attempts and job state:
    tasks.py       `TaskBook`: the tasks and attempts, their queries, and their
                   moves along the lifecycle tables of records.py
    retries.py     `RetryPolicy`: what attempts report, and what happens when
                   one fails or is killed (maxattempts, timeouts)
    assignment.py  `Assignment`: container requests, which attempt gets a
                   container (locality, priorities), slow start
    preemption.py  `NodeLossHandling`: lost and decommissioning nodes;
                   `ReducerPreemption`: reducers making room for maps
    job.py         `JobStateMachine` (this file): the job itself: the events it
                   takes, its steps, its commit and its end
"""

from __future__ import annotations

from emrlab_common.lifecycle import next_state
from mapreduce.appmaster.assignment import Assignment
from mapreduce.appmaster.config import AppMasterConfig
from mapreduce.appmaster.preemption import NodeLossHandling, ReducerPreemption
from mapreduce.appmaster.records import (
    JOB_TRANSITIONS,
    MAP,
    MAP_PRIORITY,
    REDUCE,
    AttemptEventType,
    AttemptFailed,
    AttemptStarted,
    AttemptState,
    AttemptStatus,
    AttemptSucceeded,
    Command,
    CommitRequested,
    CommitStep,
    ContainerAllocated,
    ContainerCompleted,
    EndCause,
    Event,
    FetchFailed,
    FinishJob,
    JobError,
    JobEventType,
    JobState,
    KillJob,
    NodesDecommissioning,
    NodesLost,
    NodesRecommissioned,
    PlanStep,
    RecoveredAttempt,
    StartJob,
    StepCommitted,
    StepPlanned,
    TaskEventType,
    TaskKey,
    TaskState,
    Tick,
)
from mapreduce.appmaster.requests import RequestBook
from mapreduce.appmaster.retries import RetryPolicy
from mapreduce.appmaster.tasks import HOLDING_CONTAINER, JOB_COUNTER_GROUP, Attempt, MapCompletionEvent, Task, TaskBook
from mapreduce.task.umbilical import MapCompletionStatus

__all__ = ["JOB_COUNTER_GROUP", "Attempt", "JobStateMachine", "MapCompletionEvent", "Task"]



class JobStateMachine(NodeLossHandling, ReducerPreemption, RetryPolicy, Assignment, TaskBook):
    """A job's tasks, attempts and state; `handle` is the one way in (see the module docstring)."""

    def __init__(self, job_id: str, step_count: int, config: AppMasterConfig, *, am_attempt: int = 1,
                 first_step_index: int = 0, committed_attempts: tuple[RecoveredAttempt, ...] = ()):
        """`am_attempt`: which YARN attempt of the AM this is (its task attempts are numbered from
        (am_attempt - 1) * 1000); `first_step_index`: steps before it were committed by an earlier attempt,
        whose recorded attempts are `committed_attempts` (for the history and the counters)."""
        assert step_count >= 1 and am_attempt >= 1 and 0 <= first_step_index <= step_count
        super().__init__(job_id)
        self.step_count = step_count
        self.config = config
        self.state = JobState.NEW
        self.diagnostics = ""
        self.requests = RequestBook()
        self.decommissioning_nodes: set[str] = set()
        self.start_time_s = 0.0
        self.finish_time_s = 0.0
        self._reduces_requested = False
        self.holding_reduces = False  # reducers make room for maps: new reduce attempts wait, unrequested
        self.am_attempt = am_attempt
        self.first_step_index = first_step_index
        for recovered in committed_attempts:
            if recovered.step_index < first_step_index:
                self.tasks[recovered.key] = Task(recovered.key)
                self._recover(recovered, commit=recovered.kind == REDUCE)

    # ------------------------------------------------------------ queries

    def progress(self, kind: str) -> float:
        tasks = self.step_tasks(kind)
        if not tasks:
            return 1.0 if self.state in (JobState.COMMITTING, JobState.SUCCEEDED) else 0.0
        return sum(task.progress for task in tasks) / len(tasks)

    # ------------------------------------------------------------ events

    def handle(self, event: Event, now_s: float) -> list[Command]:
        commands: list[Command] = []
        match event:
            case StartJob():
                self.start_time_s = now_s
                if event.recovery_error:
                    self._end_job(JobState.KILLED if event.killed else JobState.FAILED, event.recovery_error, now_s,
                                  commands)
                elif self.first_step_index == self.step_count:
                    self.step_index = self.step_count - 1
                    self._move_job(JobEventType.RECOVER_COMMITTED, "every step was committed by the previous AM attempt")
                    self.finish_time_s = now_s
                    commands.append(FinishJob(JobState.SUCCEEDED))
                else:
                    commands.append(PlanStep(self.first_step_index))
            case StepPlanned():
                self._on_step_planned(event, now_s, commands)
            case ContainerAllocated():
                self._on_container_allocated(event, now_s, commands)
            case ContainerCompleted():
                self._on_container_completed(event, now_s, commands)
            case NodesLost():
                self._on_nodes_lost(event, now_s, commands)
            case NodesDecommissioning():
                self._on_nodes_decommissioning(event, now_s, commands)
            case NodesRecommissioned():
                self.decommissioning_nodes -= set(event.node_ids)
            case AttemptStarted():
                self._on_attempt_started(event, now_s)
            case AttemptStatus():
                self._on_attempt_status(event, now_s)
            case CommitRequested():
                self._on_commit_requested(event)
            case AttemptSucceeded():
                self._on_attempt_succeeded(event, now_s, commands)
            case AttemptFailed():
                self._on_attempt_failed(event, now_s, commands)
            case FetchFailed():
                self._on_fetch_failed(event, now_s, commands)
            case StepCommitted():
                self._on_step_committed(event, now_s, commands)
            case Tick():
                self._check_timeouts(now_s, commands)
                self._preempt_reducers_if_needed(event.headroom_maps, now_s, commands)
            case KillJob():
                self._end_job(JobState.KILLED, event.diagnostics, now_s, commands)
            case JobError():
                self._end_job(JobState.FAILED, event.diagnostics, now_s, commands)
            case _:
                raise AssertionError(f"unknown event {event!r}")
        return commands


    # ------------------------------------------------------------ steps

    def _on_step_planned(self, event: StepPlanned, now_s: float, commands: list[Command]) -> None:
        if self.state not in (JobState.NEW, JobState.COMMITTING) or event.step_index != self._next_step_index():
            return
        self.step_index = event.step_index
        self._move_job(JobEventType.INIT, f"step {event.step_index}: {len(event.map_hosts)} maps, "
                                        f"{event.reduce_count} reduces")
        for index, hosts in enumerate(event.map_hosts):
            self.tasks[TaskKey(event.step_index, MAP, index)] = Task(TaskKey(event.step_index, MAP, index), tuple(hosts))
        for index in range(event.reduce_count):
            self.tasks[TaskKey(event.step_index, REDUCE, index)] = Task(TaskKey(event.step_index, REDUCE, index))
        for recovered in event.recovered:
            self._recover(recovered, commit=recovered.kind == REDUCE or event.reduce_count == 0)
        self._reduces_requested = self.holding_reduces = False
        self._move_job(JobEventType.START, "tasks scheduled")
        for task in self.step_tasks(MAP):
            if task.state is TaskState.NEW:
                self._schedule_attempt(task, MAP_PRIORITY, now_s, commands)
        self._maybe_schedule_reduces(now_s, commands)
        self._maybe_step_done(commands)

    def _recover(self, recovered: RecoveredAttempt, commit: bool) -> None:
        """A task the previous AM attempt finished: SUCCEEDED with its recorded attempt, not run again."""
        task = self.tasks.get(recovered.key)
        if task is None or task.state is not TaskState.NEW:
            return
        attempt = Attempt(recovered.attempt_id, recovered.key, recovered.attempt_index, node_id=recovered.node_id,
                          node_address=recovered.node_address, progress=1.0, counters=dict(recovered.counters),
                          start_time_s=recovered.start_time_s, finish_time_s=recovered.finish_time_s,
                          recovered=True)
        task.attempts.append(attempt)
        self.attempts[attempt.attempt_id] = attempt
        if commit:
            task.commit_attempt_id = attempt.attempt_id
        self._move_attempt(attempt, AttemptEventType.RECOVER, f"recovered from AM attempt {self.am_attempt - 1}")
        self._move_task(task, TaskEventType.RECOVER)
        if recovered.kind == MAP:
            self._add_completion_event(attempt, MapCompletionStatus.SUCCEEDED)

    def _next_step_index(self) -> int:
        return self.first_step_index if self.state is JobState.NEW else self.step_index + 1

    def _maybe_step_done(self, commands: list[Command]) -> None:
        if self.state is not JobState.RUNNING:
            return
        step = [task for task in self.tasks.values() if task.key.step_index == self.step_index]
        if all(task.state is TaskState.SUCCEEDED for task in step):
            self._move_job(JobEventType.TASKS_DONE, f"every task of step {self.step_index} succeeded")
            commands.append(CommitStep(self.step_index, last=self.step_index == self.step_count - 1))

    def _on_step_committed(self, event: StepCommitted, now_s: float, commands: list[Command]) -> None:
        if self.state is not JobState.COMMITTING or event.step_index != self.step_index:
            return
        if event.step_index == self.step_count - 1:
            self._move_job(JobEventType.COMMITTED, "output committed")
            self.finish_time_s = now_s
            commands.append(FinishJob(JobState.SUCCEEDED))
        else:
            commands.append(PlanStep(event.step_index + 1))


    # ------------------------------------------------------------ the end

    def _task_failed(self, task: Task, diagnostics: str, now_s: float, commands: list[Command]) -> None:
        self._move_task(task, TaskEventType.FAIL, diagnostics)
        self._end_job(JobState.FAILED, diagnostics, now_s, commands)

    def _end_job(self, state: JobState, diagnostics: str, now_s: float, commands: list[Command]) -> None:
        if self.state in (JobState.SUCCEEDED, JobState.FAILED, JobState.KILLED):
            return
        for attempt in list(self.attempts.values()):
            if attempt.active:
                if attempt.state in HOLDING_CONTAINER:  # it was launched: Hadoop counts it as killed
                    self.job_counters["NUM_KILLED_MAPS" if attempt.key.kind == MAP else "NUM_KILLED_REDUCES"] += 1
                self._finish_attempt(attempt, AttemptState.KILLED, EndCause.JOB_ENDED, f"job {state.value.lower()}",
                                     now_s, commands)
        for task in self.tasks.values():
            if task.state in (TaskState.NEW, TaskState.SCHEDULED):
                self._move_task(task, TaskEventType.KILL, f"job {state.value.lower()}")
        self.diagnostics = diagnostics
        self.finish_time_s = now_s
        self._move_job(JobEventType.KILL if state is JobState.KILLED else JobEventType.FAIL, diagnostics)
        commands.append(FinishJob(state, diagnostics))

    # ------------------------------------------------------------ bookkeeping

    def _move_job(self, event: JobEventType, cause: str) -> None:
        self.state = next_state(JOB_TRANSITIONS, self.state, event, self.job_id, cause)

    def validate_state(self) -> None:
        """Invariants, for tests: at most one live attempt and one succeeded attempt per task, exactly the
        attempts waiting for a container hold a request, and a job that ended holds neither."""
        self.requests.validate_state()
        if self.state in (JobState.SUCCEEDED, JobState.FAILED, JobState.KILLED):
            live = [attempt.attempt_id for attempt in self.attempts.values() if attempt.active]
            assert not live, f"{self.job_id} is {self.state.value} with live attempts {live}"
        waiting = {attempt.attempt_id for attempt in self.attempts.values()
                   if attempt.state is AttemptState.UNASSIGNED and not attempt.held}
        assert all(attempt.state is AttemptState.UNASSIGNED and attempt.key.kind == REDUCE
                   for attempt in self.attempts.values() if attempt.held)
        assert self.requests.attempts() == waiting, (self.requests.attempts(), waiting)
        self.validate_tasks()

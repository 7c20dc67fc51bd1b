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

The machine is three pieces: `TaskBook` (tasks.py) holds the tasks and
attempts and moves them along their lifecycles; this class decides steps,
assignment and retries; `NodeLossHandling` (preemption.py) decides what lost
and decommissioning nodes mean for attempts and map output, and
`ReducerPreemption` (preemption.py) when reducers make room for maps.
"""

from __future__ import annotations

import logging

from emrlab_common.lifecycle import next_state
from mapreduce.appmaster.config import AppMasterConfig
from mapreduce.appmaster.preemption import NodeLossHandling, ReducerPreemption
from mapreduce.appmaster.records import (
    ATTEMPT_INDEX_STRIDE,
    FAST_FAIL_MAP_PRIORITY,
    JOB_TRANSITIONS,
    MAP,
    MAP_PRIORITY,
    REDUCE,
    REDUCE_PRIORITY,
    AttemptEventType,
    AttemptFailed,
    AttemptStarted,
    AttemptState,
    AttemptStatus,
    AttemptSucceeded,
    CancelRequest,
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
    LaunchAttempt,
    NodesDecommissioning,
    NodesLost,
    NodesRecommissioned,
    PlanStep,
    RecordTask,
    RecoveredAttempt,
    ReleaseContainer,
    RequestContainer,
    StartJob,
    StepCommitted,
    StepPlanned,
    StopContainer,
    TaskEventType,
    TaskKey,
    TaskState,
    Tick,
    attempt_id_text,
    task_id_text,
)
from mapreduce.appmaster.requests import RequestBook
from mapreduce.appmaster.tasks import JOB_COUNTER_GROUP, Attempt, MapCompletionEvent, Task, TaskBook

__all__ = ["JOB_COUNTER_GROUP", "Attempt", "JobStateMachine", "MapCompletionEvent", "Task"]

logger = logging.getLogger(__name__)

DATA_LOCAL, OFF_SWITCH = "DATA_LOCAL", "OFF_SWITCH"


class JobStateMachine(NodeLossHandling, ReducerPreemption, TaskBook):
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
                attempt = self.attempts.get(event.attempt_id)
                if attempt is not None and attempt.state is AttemptState.ASSIGNED:
                    self._move_attempt(attempt, AttemptEventType.START, "pulled its attempt")
                    attempt.last_progress_s = now_s
            case AttemptStatus():
                attempt = self.attempts.get(event.attempt_id)
                if attempt is not None and attempt.active:
                    if attempt.state is AttemptState.ASSIGNED:
                        self._move_attempt(attempt, AttemptEventType.START, "first status report")
                    attempt.progress = min(max(event.progress, 0.0), 1.0)
                    attempt.status = event.status
                    attempt.counters = event.counters or attempt.counters
                    if event.progressed:
                        attempt.last_progress_s = now_s
            case CommitRequested():
                self._on_commit_requested(event)
            case AttemptSucceeded():
                self._on_attempt_succeeded(event, now_s, commands)
            case AttemptFailed():
                attempt = self.attempts.get(event.attempt_id)
                if attempt is not None and attempt.state in (AttemptState.ASSIGNED, AttemptState.RUNNING,
                                                             AttemptState.COMMIT_PENDING):
                    attempt.counters = event.counters or attempt.counters
                    self._attempt_failed(attempt, EndCause.TASK_FAILED, event.diagnostics, now_s, commands)
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
            self._add_completion_event(attempt, "SUCCEEDED")

    def _next_step_index(self) -> int:
        return self.first_step_index if self.state is JobState.NEW else self.step_index + 1

    def _maybe_schedule_reduces(self, now_s: float, commands: list[Command]) -> None:
        if self._reduces_requested:
            return
        maps = self.step_tasks(MAP)
        done = sum(1 for task in maps if task.state is TaskState.SUCCEEDED)
        if maps and done < self.config.reduce_slowstart_completed_maps * len(maps):
            return
        self._reduces_requested = True
        for task in self.step_tasks(REDUCE):
            if task.state is TaskState.NEW:
                self._schedule_attempt(task, REDUCE_PRIORITY, now_s, commands)

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

    # ------------------------------------------------------------ containers

    def _schedule_attempt(self, task: Task, priority: int, now_s: float, commands: list[Command],
                          cause: str = "") -> None:
        if task.state is not TaskState.SCHEDULED:
            self._move_task(task, TaskEventType.SCHEDULE)
        key = task.key
        index = (self.am_attempt - 1) * ATTEMPT_INDEX_STRIDE + sum(not a.recovered for a in task.attempts)
        attempt = Attempt(attempt_id_text(self.job_id, key, index), key, index, priority=priority, cause=cause,
                          requested_s=now_s, waiting_since_s=now_s)
        task.attempts.append(attempt)
        self.attempts[attempt.attempt_id] = attempt
        attempt.held = key.kind == REDUCE and self.holding_reduces
        self._move_attempt(attempt, AttemptEventType.SCHEDULE, cause or (
            "held back while maps wait for containers" if attempt.held else "container requested"))
        if not attempt.held:
            self._request_container(attempt, commands)
        if key.kind == REDUCE and len(task.attempts) > 1:
            self._rerun_lost_map_outputs(now_s, commands)  # a new reduce attempt copies every map's output again

    def _request_container(self, attempt: Attempt, commands: list[Command]) -> None:
        commands.append(RequestContainer(attempt.attempt_id, attempt.key.kind, self.tasks[attempt.key].hosts,
                                         attempt.priority, self.requests.open(attempt.attempt_id)))

    def _on_container_allocated(self, event: ContainerAllocated, now_s: float, commands: list[Command]) -> None:
        owner = self.attempts.get(self.requests.satisfied(event.allocation_request_id) or "")
        waiting = [attempt for attempt in self.attempts.values()
                   if attempt.state is AttemptState.UNASSIGNED and not attempt.held and attempt.priority == event.priority]
        if self.state is not JobState.RUNNING or not waiting:
            commands.append(ReleaseContainer(event.container_id))  # (an owner still waiting would be in `waiting`)
            return
        # Hadoop's assignment order: a map whose split is on this node, else the oldest request.
        local = [attempt for attempt in waiting if event.node_id in self.tasks[attempt.key].hosts]
        attempt = (local or waiting)[0]
        if attempt is not owner:
            request_id = self.requests.close(attempt.attempt_id)
            if owner is not None and owner.state is AttemptState.UNASSIGNED:
                self.requests.hand_over(request_id, owner.attempt_id)  # YARN used the owner's request
            elif request_id is not None:
                commands.append(CancelRequest(attempt.attempt_id, request_id))
        if attempt.key.kind == MAP:
            attempt.locality = DATA_LOCAL if local else OFF_SWITCH
            self.job_counters["DATA_LOCAL_MAPS" if local else "OTHER_LOCAL_MAPS"] += 1
        self.job_counters["TOTAL_LAUNCHED_MAPS" if attempt.key.kind == MAP else "TOTAL_LAUNCHED_REDUCES"] += 1
        attempt.container_id = event.container_id
        attempt.node_id = event.node_id
        attempt.node_address = event.node_address
        attempt.start_time_s = attempt.last_progress_s = now_s
        self.attempts_by_container[event.container_id] = attempt
        self._move_attempt(attempt, AttemptEventType.ASSIGN, f"container {event.container_id} on {event.node_id}")
        commands.append(LaunchAttempt(attempt.attempt_id, event.container_id))

    def _on_container_completed(self, event: ContainerCompleted, now_s: float, commands: list[Command]) -> None:
        attempt = self.attempts_by_container.get(event.container_id)
        if attempt is None or attempt.state not in (AttemptState.ASSIGNED, AttemptState.RUNNING,
                                                    AttemptState.COMMIT_PENDING):
            return
        diagnostics = f"Container {event.container_id} exited with status {event.exit_status}" + (
            f": {event.diagnostics}" if event.diagnostics else "")
        if event.lost:
            self._attempt_killed(attempt, EndCause.NODE_LOST, diagnostics, now_s, commands)
        else:
            self._attempt_failed(attempt, EndCause.TASK_FAILED, diagnostics, now_s, commands)

    # ------------------------------------------------------------ attempts

    def _on_commit_requested(self, event: CommitRequested) -> None:
        attempt = self.attempts.get(event.attempt_id)
        if attempt is None or attempt.state is not AttemptState.RUNNING:
            return
        task = self.tasks[attempt.key]
        if task.commit_attempt_id is None:
            task.commit_attempt_id = attempt.attempt_id
            self._move_attempt(attempt, AttemptEventType.COMMIT_PENDING, "may commit")

    def _on_attempt_succeeded(self, event: AttemptSucceeded, now_s: float, commands: list[Command]) -> None:
        attempt = self.attempts.get(event.attempt_id)
        if attempt is None or attempt.state not in (AttemptState.ASSIGNED, AttemptState.RUNNING,
                                                    AttemptState.COMMIT_PENDING):
            return
        task = self.tasks[attempt.key]
        if task.commit_attempt_id not in (None, attempt.attempt_id):
            # Output belongs to another attempt; this one must not count.
            self._attempt_killed(attempt, EndCause.ANOTHER_ATTEMPT_COMMITTED, "another attempt committed", now_s,
                                 commands)
            return
        attempt.counters = event.counters or attempt.counters
        attempt.progress = 1.0
        attempt.finish_time_s = now_s
        self._count_time(attempt)
        self._move_attempt(attempt, AttemptEventType.DONE, "done")
        self._move_task(task, TaskEventType.ATTEMPT_SUCCEEDED)
        if attempt.key.kind == MAP:
            self._add_completion_event(attempt, "SUCCEEDED")
        key = attempt.key
        commands.append(RecordTask(RecoveredAttempt(
            attempt.attempt_id, key.step_index, key.kind, key.task_index, attempt.attempt_index, attempt.node_id,
            attempt.node_address, dict(attempt.counters), attempt.start_time_s, attempt.finish_time_s)))
        self._maybe_schedule_reduces(now_s, commands)
        self._maybe_step_done(commands)

    def _attempt_failed(self, attempt: Attempt, cause: EndCause, diagnostics: str, now_s: float,
                        commands: list[Command]) -> None:
        task = self.tasks[attempt.key]
        self._finish_attempt(attempt, AttemptState.FAILED, cause, diagnostics, now_s, commands)
        task.failed_attempts += 1
        self.job_counters["NUM_FAILED_MAPS" if attempt.key.kind == MAP else "NUM_FAILED_REDUCES"] += 1
        attempts_max = self.config.map_attempts_max if attempt.key.kind == MAP else self.config.reduce_attempts_max
        if task.failed_attempts >= attempts_max:
            self._task_failed(task, f"Task {task_id_text(self.job_id, task.key)} failed {task.failed_attempts} "
                                    f"times; last attempt {attempt.attempt_id}: {diagnostics}", now_s, commands)
        else:
            priority = FAST_FAIL_MAP_PRIORITY if attempt.key.kind == MAP else REDUCE_PRIORITY
            self._schedule_attempt(task, priority, now_s, commands, f"after {attempt.attempt_id} failed")

    def _attempt_killed(self, attempt: Attempt, cause: EndCause, diagnostics: str, now_s: float,
                        commands: list[Command]) -> None:
        task = self.tasks[attempt.key]
        self._finish_attempt(attempt, AttemptState.KILLED, cause, diagnostics, now_s, commands)
        self.job_counters["NUM_KILLED_MAPS" if attempt.key.kind == MAP else "NUM_KILLED_REDUCES"] += 1
        if self._count_kill(task, cause, now_s, commands):
            self._schedule_attempt(task, attempt.priority, now_s, commands,
                                   f"after {attempt.attempt_id} was killed ({cause.value} on {attempt.node_id}, "
                                   f"in {attempt.end_phase})")

    def _count_kill(self, task: Task, cause: EndCause, now_s: float, commands: list[Command]) -> bool:
        """Count a killed attempt; False if the task gave up. Preemptions never count (any number of them)."""
        if cause.preemption:
            self.job_counters["NUM_PREEMPTED_ATTEMPTS"] += 1
            return True
        task.killed_attempts += 1
        if task.killed_attempts > self.config.killed_attempts_max:
            self._task_failed(task, f"Task {task_id_text(self.job_id, task.key)} was killed "
                                    f"{task.killed_attempts} times", now_s, commands)
            return False
        return True

    def _finish_attempt(self, attempt: Attempt, state: AttemptState, cause: EndCause, diagnostics: str,
                        now_s: float, commands: list[Command]) -> None:
        """Move an unfinished attempt to FAILED or KILLED and free what it holds."""
        previous = attempt.state
        attempt.end_cause, attempt.end_phase = cause, attempt.phase()
        attempt.diagnostics = diagnostics
        attempt.finish_time_s = now_s
        self._count_time(attempt)
        self._move_attempt(attempt, AttemptEventType.FAIL if state is AttemptState.FAILED else AttemptEventType.KILL,
                           diagnostics)
        task = self.tasks[attempt.key]
        if task.commit_attempt_id == attempt.attempt_id:
            task.commit_attempt_id = None
        if previous is AttemptState.UNASSIGNED:
            request_id = self.requests.close(attempt.attempt_id)
            if request_id is not None:
                commands.append(CancelRequest(attempt.attempt_id, request_id))
        elif attempt.container_id:
            commands.append(StopContainer(attempt.container_id, attempt.attempt_id))

    def _check_timeouts(self, now_s: float, commands: list[Command]) -> None:
        timeout_s = self.config.task_timeout_s
        if timeout_s <= 0 or self.state is not JobState.RUNNING:
            return
        for attempt in list(self.attempts.values()):
            if (attempt.state in (AttemptState.ASSIGNED, AttemptState.RUNNING, AttemptState.COMMIT_PENDING)
                    and now_s - attempt.last_progress_s > timeout_s):
                self._attempt_failed(attempt, EndCause.TIMED_OUT, f"Task attempt {attempt.attempt_id} timed out "
                                                                   f"after {timeout_s:.0f} secs", now_s, commands)

    # ------------------------------------------------------------ the end

    def _task_failed(self, task: Task, diagnostics: str, now_s: float, commands: list[Command]) -> None:
        self._move_task(task, TaskEventType.FAIL, diagnostics)
        self._end_job(JobState.FAILED, diagnostics, now_s, commands)

    def _end_job(self, state: JobState, diagnostics: str, now_s: float, commands: list[Command]) -> None:
        if self.state in (JobState.SUCCEEDED, JobState.FAILED, JobState.KILLED):
            return
        for attempt in list(self.attempts.values()):
            if attempt.active:
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

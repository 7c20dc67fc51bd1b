"""The local runners' ApplicationMaster: one step's JobStateMachine, driven on this machine.

The `inline` and `local` runners decide nothing themselves: each step is
run by the same `JobStateMachine` (mapreduce/appmaster/job.py) as on a
cluster, with the same settings (`AppMasterConfig`: mapreduce.map.maxattempts,
mapreduce.task.timeout, ...) and the same counters (TOTAL_LAUNCHED_MAPS,
NUM_FAILED_MAPS, NUM_KILLED_MAPS, MILLIS_MAPS, ...). What YARN, the
NodeManagers and the task umbilical do on a cluster, an `AttemptExecutor`
does here, and this driver carries the machine's commands out with it:

    machine                        driver / executor
    RequestContainer, CancelRequest  a slot is asked for, or no longer
    LaunchAttempt                  the executor runs the attempt (a child process, or in this one)
    StopContainer                  the executor kills the attempt
    CommitStep                     the step's output is committed
    FinishJob                      the step is over

and turns what happens back into the machine's events: ContainerAllocated
(a slot is free), AttemptStarted, AttemptStatus (progress, which resets the
task timeout), AttemptSucceeded or AttemptFailed when an attempt's process
ends, then ContainerCompleted; a Tick on every turn of the loop, from which
the machine itself decides timeouts. An attempt the machine gives up on for
reasons not its own (the job failed or was interrupted) ends KILLED, not
FAILED, as on a cluster.

Differences from a cluster, all of them here: reducers start only once every
map of the step is done (`mapreduce.job.reduce.slowstart.completedmaps` is 1:
a reducer reads the map output files in place, so it must know them all when
it starts), and nothing is durable (no recovery log: there is no AM attempt
to recover).
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from mapreduce.api import counters as names
from mapreduce.api.counters import Counters
from mapreduce.api.errors import JobFailed
from mapreduce.appmaster.config import AppMasterConfig
from mapreduce.appmaster.job import JobStateMachine
from mapreduce.appmaster.plan import StepPlan
from mapreduce.appmaster.records import (
    MAP,
    REDUCE,
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    CancelRequest,
    CommitRequested,
    CommitStep,
    ContainerAllocated,
    ContainerCompleted,
    EndCause,
    FinishJob,
    JobState,
    KillJob,
    LaunchAttempt,
    PlanStep,
    RecordTask,
    ReleaseContainer,
    RequestContainer,
    StartJob,
    StepCommitted,
    StepPlanned,
    StopContainer,
    TaskState,
    Tick,
)
from mapreduce.task.attempt import AttemptResult, TaskAttempt
from mapreduce.task.output import FileOutputCommitter
from mapreduce.task.segments import Segment, read_index

POLL_INTERVAL_S = 0.2  # how long the loop waits for an attempt to end before its next Tick
LOCAL_NODE = "localhost"  # the one "node"; local files' splits are on it (mapreduce.api.fs)
EVENTS_QUEUED_MAX = 100_000  # events waiting for the machine; more means a loop between machine and driver


@dataclass(frozen=True)
class LocalMapOutputs:
    """The shuffle for runners on one machine: map outputs are files the reducer reads in place."""

    map_output_paths: tuple[str, ...]

    def fetch(self, partition: int, counters: Counters) -> list[Segment]:
        segments = []
        for path in self.map_output_paths:
            entry = read_index(path + ".index")[partition]
            segments.append(Segment.from_file(path, entry.offset, entry.length, entry.records))
            counters.increment(names.TASK_COUNTER, names.SHUFFLED_MAPS)
            counters.increment(names.TASK_COUNTER, names.REDUCE_SHUFFLE_BYTES, entry.length)
        return segments


class LocalJobFailed(JobFailed):
    """A step failed; `counters` are its counters, as Hadoop's client has them for a failed job."""

    def __init__(self, message: str, counters: Counters):
        super().__init__(message)
        self.counters = counters


@dataclass(frozen=True)
class AttemptExited:
    """An attempt's process ended (its "container" completed): its result if it succeeded."""

    attempt_id: str
    container_id: str
    result: AttemptResult | None
    exit_code: int = 0
    diagnostics: str = ""


class AttemptExecutor:
    """Slots for attempts, and what runs in them; subclasses run attempts (`launch`, `stop`, `poll`).

    A request waits until a slot of its kind is free (`slots[kind]` at once), lowest priority first, as
    YARN serves them; `poll` reports slots granted (ContainerAllocated), progress (AttemptStatus) and
    attempts that ended (AttemptExited)."""

    def __init__(self, slots: dict[str, int]):
        self.slots = slots
        self._requests: dict[int, RequestContainer] = {}
        self._containers: dict[str, str] = {}  # container id -> kind, from grant to exit or release
        self._container_count = 0

    def request(self, command: RequestContainer) -> None:
        self._requests[command.request_id] = command

    def cancel(self, request_id: int) -> None:
        self._requests.pop(request_id, None)

    def release(self, container_id: str) -> None:
        self._containers.pop(container_id, None)

    def busy(self) -> bool:
        return bool(self._requests or self._containers)

    def _grant(self) -> list[ContainerAllocated]:
        granted = []
        for request in sorted(self._requests.values(), key=lambda request: (request.priority, request.request_id)):
            in_use = sum(1 for kind in self._containers.values() if kind == request.kind)
            if in_use >= self.slots[request.kind]:
                continue
            del self._requests[request.request_id]
            self._container_count += 1
            container_id = f"container_local_{self._container_count:06d}"
            self._containers[container_id] = request.kind
            granted.append(ContainerAllocated(container_id, LOCAL_NODE, LOCAL_NODE, request.priority,
                                              request.request_id))
        return granted

    def _exited(self, container_id: str) -> None:
        self._containers.pop(container_id, None)

    def launch(self, container_id: str, attempt: TaskAttempt, fs, source) -> None:
        raise NotImplementedError

    def stop(self, container_id: str) -> None:
        raise NotImplementedError

    def poll(self, timeout_s: float) -> list:
        raise NotImplementedError

    def failure(self, attempt: TaskAttempt, failed_attempts: int, timed_out: bool) -> JobFailed:
        """The error that says the job failed because `attempt`, its task's last, failed."""
        raise NotImplementedError

    def close(self) -> None:
        """Kill whatever still runs."""


class LocalJobDriver:
    """One step: the machine's events in, its commands carried out with the executor, until it finishes."""

    def __init__(self, job_id: str, plan: StepPlan, splits: list, attempt_for: Callable[[str, int, int], TaskAttempt],
                 input_fs, fs, committer: FileOutputCommitter, executor: AttemptExecutor, config: AppMasterConfig,
                 progress: Callable[[float, float], None], clock: Callable[[], float] = time.monotonic):
        """`attempt_for(kind, task_index, attempt_index)` builds an attempt for the executor;
        `progress(map_fraction, reduce_fraction)` hears the step's progress."""
        self.plan, self.splits, self.attempt_for = plan, splits, attempt_for
        self.input_fs, self.fs, self.committer, self.executor = input_fs, fs, committer, executor
        self.progress, self.clock = progress, clock
        self.wall_offset_s = time.time() - clock()  # the clock's times plus this are the wall clock's
        self.machine = JobStateMachine(job_id, 1, dataclasses.replace(config, reduce_slowstart_completed_maps=1.0))
        self.launched: dict[str, TaskAttempt] = {}
        self.results: dict[str, AttemptResult] = {}
        self.finished: FinishJob | None = None
        self._events: deque = deque()

    def run(self) -> Counters:
        """Run the step to its end; its counters, or LocalJobFailed."""
        self._events.append(StartJob())
        try:
            while True:
                self._drain()
                if self.finished is not None:
                    break
                reports = self.executor.poll(POLL_INTERVAL_S)
                if not reports and not self.executor.busy():
                    raise AssertionError(f"{self.machine.job_id} is {self.machine.state.value}, "
                                         f"yet nothing runs and nothing waits to run")
                for report in reports:
                    self._report(report)
                self._events.append(Tick())
                self.progress(self.machine.progress(MAP), self.machine.progress(REDUCE))
        except KeyboardInterrupt:
            self._events.append(KillJob("interrupted"))
            self._drain()
            raise
        finally:
            self.executor.close()
        counters = Counters(self.machine.counters())
        if self.finished.state is not JobState.SUCCEEDED:
            failure = self._failure()
            raise LocalJobFailed(failure.message, counters) from failure.__cause__
        self.progress(1.0, 1.0)
        return counters

    # ------------------------------------------------------------ events in, commands out

    def _drain(self) -> None:
        while self._events:
            assert len(self._events) <= EVENTS_QUEUED_MAX, f"{len(self._events)} events queued"
            for command in self.machine.handle(self._events.popleft(), self.clock()):
                self._execute(command)

    def _handle_now(self, event) -> None:
        """An event whose answer is needed before the next (the commit protocol)."""
        self._events.append(event)
        self._drain()

    def _execute(self, command) -> None:
        match command:
            case PlanStep():
                self._events.append(StepPlanned(command.step_index, tuple(tuple(split.hosts) for split in self.splits),
                                                self.plan.num_reduces))
            case RequestContainer():
                self.executor.request(command)
            case CancelRequest():
                self.executor.cancel(command.request_id)
            case ReleaseContainer():
                self.executor.release(command.container_id)
            case LaunchAttempt():
                self._launch(command)
            case StopContainer():
                self.executor.stop(command.container_id)
            case CommitStep():
                self.committer.commit_job()
                self._events.append(StepCommitted(command.step_index))
            case RecordTask():
                pass  # nothing is durable here: no later AM attempt recovers from it
            case FinishJob():
                self.finished = command
            case _:
                raise AssertionError(f"unknown command {command!r}")

    def _launch(self, command: LaunchAttempt) -> None:
        attempt = self.machine.attempts[command.attempt_id]
        key = attempt.key
        task_attempt = self.attempt_for(key.kind, key.task_index, attempt.attempt_index)
        assert task_attempt.attempt_id == attempt.attempt_id, (task_attempt.attempt_id, attempt.attempt_id)
        self.launched[attempt.attempt_id] = task_attempt
        if key.kind == MAP:
            self.executor.launch(command.container_id, task_attempt, self.input_fs, None)
        else:
            self.executor.launch(command.container_id, task_attempt, self.fs, self._map_outputs())
        # Next, before any Tick: its task timeout counts from now, however long the launch took.
        self._events.appendleft(AttemptStarted(attempt.attempt_id))

    def _map_outputs(self) -> LocalMapOutputs:
        paths = []
        for task in self.machine.step_tasks(MAP):
            succeeded = task.succeeded_attempt()
            assert succeeded is not None, f"a reducer started before {task.key} finished"
            paths.append(self.results[succeeded.attempt_id].map_output_path)
        return LocalMapOutputs(tuple(paths))

    def _report(self, report) -> None:
        if not isinstance(report, AttemptExited):
            self._events.append(report)  # ContainerAllocated, AttemptStatus
            return
        self._drain()
        attempt = self.machine.attempts[report.attempt_id]
        if attempt.active and report.result is not None:
            self._succeeded(report)
        elif attempt.active:
            self._events.append(AttemptFailed(report.attempt_id, report.diagnostics))
        self._events.append(ContainerCompleted(report.container_id, report.exit_code, report.diagnostics))

    def _succeeded(self, report: AttemptExited) -> None:
        """Hadoop's commit protocol: an attempt with output to commit asks first, and commits if it may."""
        attempt_id = report.attempt_id
        if self.machine.attempts[attempt_id].key.kind == REDUCE or self.plan.map_only:
            self._handle_now(CommitRequested(attempt_id))
            if not self.machine.commit_granted(attempt_id):
                return
            self.committer.commit_task(self.launched[attempt_id])
        self.results[attempt_id] = report.result
        self._events.append(AttemptSucceeded(attempt_id, report.result.counters.as_dict()))

    def _failure(self) -> JobFailed:
        failed = [task for task in self.machine.tasks.values() if task.state is TaskState.FAILED]
        if not failed:
            return JobFailed(self.machine.diagnostics)
        task = failed[0]
        last = task.attempts[-1]
        return self.executor.failure(self.launched[last.attempt_id], task.failed_attempts,
                                     timed_out=last.end_cause is EndCause.TIMED_OUT)

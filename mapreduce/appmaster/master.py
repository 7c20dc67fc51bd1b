"""MRAppMaster: the I/O shell around the job state machine.

Three kinds of threads meet here, and one lock keeps them apart:
- gRPC threads answer tasks (TaskUmbilical) and clients (MRClientProtocol):
  they turn requests into events, and read answers back from the machine;
- the main thread heartbeats the ResourceManager (`allocate`), turns its
  answer (new containers, finished containers, lost nodes) and the clock into
  events, and carries out the commands the machine returned: container
  requests, launches and stops, planning and committing steps, finishing.

Commands queue under the lock and run on the main thread without it, so a
slow NodeManager or NameNode never blocks a task's heartbeat. The queue has a
bound (`COMMANDS_QUEUED_MAX`): while it is full, tasks and clients are told
to retry (ResourceExhausted) instead of adding more; the main thread's own
events always go in, since it is the one that empties the queue.

The YARN side (allocate answers into events; container requests, launches,
stops and the containers held) is `YarnContainers` (containers.py); the
rest of this class plans and commits steps, keeps the recovery log and
finishes the job.

What is durable: the output, the job history written at the end, and the
recovery log (recovery.py) written as tasks succeed and steps commit. A
later attempt of the AM (YARN restarts it, `mapreduce.am.max-attempts`)
reads that log and hands the machine the tasks it need not run again.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import deque

import msgpack

from emrlab_common.config import load
from emrlab_common.errors import EmrlabError, NotFound, ResourceExhausted
from emrlab_common.protos import mapreduce_pb2
from mapreduce.api.spec import JobSpec
from mapreduce.appmaster.config import FOLLOW_UP_DELAYS_S, AppMasterConfig
from mapreduce.appmaster.containers import YarnContainers
from mapreduce.appmaster.description import JobDescription
from mapreduce.appmaster.history import job_summary, report_from_summary, write_history
from mapreduce.appmaster.job import JobStateMachine
from mapreduce.appmaster.plan import RUNNER_DEFAULTS, StepPlan, client_job, plan_step
from mapreduce.appmaster.records import (
    MAP,
    CancelRequest,
    CommitStep,
    ContainerCompleted,
    FinishJob,
    JobError,
    JobState,
    LaunchAttempt,
    PlanStep,
    RecordTask,
    ReleaseContainer,
    RequestContainer,
    StartJob,
    StepCommitted,
    StepPlanned,
    StopContainer,
    Tick,
    step_job_id,
)
from mapreduce.appmaster.recovery import RecoveredJob, RecoveryLog, StepMark
from mapreduce.task.attempt import TaskAttempt
from mapreduce.task.config import TaskConfig
from mapreduce.task.output import FileOutputCommitter, task_id_of
from mapreduce.task.splits import InputSplit, compute_splits

logger = logging.getLogger(__name__)

SHUFFLE_SERVICE = "mapreduce_shuffle"
# After the job ends the AM stays a moment so that a polling client sees the final report.
LINGER_S = 1.5
# Commands waiting for the main thread; tasks and clients are refused beyond it (they retry).
COMMANDS_QUEUED_MAX = 10_000


class MRAppMaster:
    def __init__(self, description: JobDescription, config: AppMasterConfig, *, amrm, nm, fs, hdfs_client,
                 task_launch_context, properties: dict | None = None, clock=time.time, sleep=time.sleep,
                 am_attempt: int = 1):
        """`task_launch_context(attempt_id) -> ContainerLaunchContext` builds a task container's command;
        `am_attempt`: YARN's attempt number of this AM (from 2 on, it recovers what the last one finished);
        `properties` are the cluster's with the job's on top (what tasks see, as mapred-site.xml + -D);
        `clock() -> seconds` is the time the job's records carry and `sleep(seconds)` the linger after the
        job ends (a test passes its own); the main loop paces its heartbeats on the monotonic clock."""
        self.description = description
        self.properties = dict(properties if properties is not None else description.properties)
        self.job_id = description.job_id
        self.config = config
        self.fs = fs
        self.hdfs_client = hdfs_client
        self.clock = clock
        self.sleep = sleep
        self.job = client_job(self._spec())
        self.recovery_log = RecoveryLog(fs, description.staging_dir, am_attempt)
        self._unrecorded: list = []  # succeeded attempts for the recovery log's next batch
        self.recovered = self.recovery_log.load() if am_attempt > 1 else RecoveredJob()
        if not config.recovery_enabled:  # run every task again; still clean up what the last attempt set up
            self.recovered = RecoveredJob(set_up=self.recovered.set_up)
        # A commit that wrote _SUCCESS ended, whether or not its attempt lived to record so.
        finished = {step for step in self.recovered.commit_started - self.recovered.committed
                    if step in self.recovered.set_up
                    and FileOutputCommitter(fs, self.recovered.set_up[step]).succeeded()}
        self.recovered = dataclasses.replace(self.recovered, committed=self.recovered.committed | finished)
        committed_steps = self.recovered.committed_steps()
        self.machine = JobStateMachine(
            self.job_id, len(self.job.steps()), config, am_attempt=am_attempt, first_step_index=committed_steps,
            committed_attempts=tuple(attempt for attempt in self.recovered.tasks.values()
                                     if attempt.step_index < committed_steps))
        if am_attempt > 1:
            logger.info("%s: AM attempt %d recovers %d task(s) and %d committed step(s)", self.job_id, am_attempt,
                        len(self.recovered.tasks), self.recovered.committed_steps())
        self.final_state: JobState | None = None
        self._lock = threading.Lock()
        self._pending: deque = deque()
        self._woken = threading.Event()  # a task's or a client's event queued commands for the main thread
        self._follow_ups: list[float] = []  # monotonic times of early heartbeats still due (FOLLOW_UP_DELAYS_S)
        self._plans: dict[int, StepPlan] = {}
        self._splits: dict[int, list[InputSplit]] = {}
        self.yarn = YarnContainers(config, amrm, nm, task_launch_context)  # requests, launches, held containers

    def _spec(self) -> JobSpec:
        description = self.description
        return JobSpec(description.job_reference, description.input_paths, description.output_dir,
                       description.job_arguments, dict(self.properties), job_name=description.name)

    # ------------------------------------------------------------ for the servicers (any thread)

    def handle(self, event) -> None:
        """An event from a task or a client (a gRPC thread): refused while the command queue is full."""
        with self._lock:
            if len(self._pending) >= COMMANDS_QUEUED_MAX:
                raise ResourceExhausted(f"the ApplicationMaster is busy ({len(self._pending)} commands queued); "
                                        f"try again")
            commands = self.machine.handle(event, self.clock())
            self._pending.extend(commands)
        if commands:
            self._woken.set()

    def _handle_own(self, event) -> None:
        """An event of the main thread's (YARN's answers, the clock): always taken, it drains the queue."""
        with self._lock:
            self._pending.extend(self.machine.handle(event, self.clock()))

    def attempt_should_stop(self, attempt_id: str) -> bool:
        with self._lock:
            return self.machine.attempt_should_stop(attempt_id)

    def commit_granted(self, attempt_id: str) -> bool:
        with self._lock:
            return self.machine.commit_granted(attempt_id)

    def map_completion_events(self, attempt_id: str, from_index: int, count_max: int):
        with self._lock:
            attempt = self.machine.attempts.get(attempt_id)
            if attempt is None:
                return [], True
            events = self.machine.map_completion_events(attempt.key.step_index, from_index, count_max)
            return events, self.machine.attempt_should_stop(attempt_id)

    def task_for_container(self, container_id: str) -> tuple[str, bytes, int]:
        """(attempt id, the engine's TaskAttempt as bytes, maps of its step) for a container."""
        with self._lock:
            attempt = self.machine.attempt_for_container(container_id)
            if attempt is None:
                raise NotFound(f"no attempt for container {container_id}")
            key = attempt.key
            plan, splits = self._plans[key.step_index], self._splits[key.step_index]
        task_attempt = TaskAttempt(
            job_id=step_job_id(self.job_id, key.step_index), step_index=key.step_index, kind=key.kind,
            task_index=key.task_index, attempt_index=attempt.attempt_index,
            job_reference=self.description.job_reference, job_arguments=self.description.job_arguments,
            properties=plan.properties, split=splits[key.task_index] if key.kind == MAP else None,
            num_reduces=plan.num_reduces, num_maps=len(splits), output_dir=plan.output_dir)
        assert task_attempt.attempt_id == attempt.attempt_id, (task_attempt.attempt_id, attempt.attempt_id)
        return attempt.attempt_id, task_attempt.to_wire(), len(splits)

    def job_report(self, include_attempts: bool) -> mapreduce_pb2.GetJobReportResponse:
        with self._lock:
            summary = job_summary(self.machine, self.description.name, self.description.user)
        return report_from_summary(summary, include_attempts)

    @staticmethod
    def decode_counters(data: bytes) -> dict:
        return msgpack.unpackb(data) if data else {}

    # ------------------------------------------------------------ the main thread

    def start(self) -> None:
        """The job starts (or, in a later AM attempt, resumes: fails if the last attempt died mid-commit)."""
        interrupted = self.recovered.commit_interrupted()
        if self.recovered.ended is not None:  # it died while cleaning up after a failure or a kill
            state, diagnostics = self.recovered.ended
            self._handle_own(StartJob(diagnostics or f"the job was {state.value.lower()}",
                                      killed=state is JobState.KILLED))
            return
        self._handle_own(StartJob(
            "" if interrupted is None else f"the previous ApplicationMaster attempt died while committing step "
                                           f"{interrupted}; its output cannot be recovered"))

    def run(self) -> JobState:
        """Drive the job to its end; returns the final state.

        The AM heartbeats every `yarn.app.mapreduce.am.scheduler.heartbeat.interval-ms`, as Hadoop's
        RMContainerAllocator does, and also at once when it has something new to ask: a task's event that
        needs more (the reducers, once enough maps are done) or needs less (a release) wakes it, so that a
        step's reducers or its commit do not wait for the interval to end.

        YARN grants a request at a NodeManager's heartbeat, not at the AM's: after new asks, or after a task
        of its own ended (its container is about to be free), an AM with asks outstanding calls again a few
        times soon after (`emrlab.am.scheduler.follow-up-heartbeats`), where Hadoop's waits for the interval:
        up to a second per wave of maps."""
        self.start()
        interval_s = self.config.scheduler_heartbeat_interval_s
        next_heartbeat_s = 0.0
        while self.final_state is None:
            self._execute_pending()
            if self.final_state is not None:
                break
            now_s = time.monotonic()
            follow_up_due = bool(self._follow_ups) and now_s >= self._follow_ups[0]
            if now_s >= next_heartbeat_s or self.yarn.has_news or follow_up_due:
                asking = self.yarn.has_news
                self._heartbeat()
                next_heartbeat_s = now_s + interval_s
                self._follow_ups = [at for at in self._follow_ups if at > now_s]
                if asking:
                    self._expect_room(now_s)
            self._handle_own(Tick(self.yarn.headroom_maps))
            self._execute_pending()
            if not self.yarn.asked:
                self._follow_ups.clear()  # nothing is waiting for a container
            if self.final_state is None and not self.yarn.has_news:
                wake_s = min([next_heartbeat_s, *self._follow_ups[:1]])
                self._woken.wait(max(0.0, wake_s - time.monotonic()))
            self._woken.clear()
        return self.final_state

    def _expect_room(self, now_s: float) -> None:
        """A container may be granted soon: heartbeat again at the follow-up delays from now."""
        delays = FOLLOW_UP_DELAYS_S[:self.config.follow_up_heartbeats]
        self._follow_ups = sorted({*self._follow_ups, *(now_s + delay for delay in delays)})

    def _progress(self) -> float:
        with self._lock:
            return (self.machine.progress(MAP) + self.machine.progress("reduce")) / 2

    def _heartbeat(self) -> None:
        for event in self.yarn.heartbeat(self._progress()):
            self._handle_own(event)

    def _execute_pending(self) -> None:
        while True:
            with self._lock:
                if not self._pending:
                    break
                command = self._pending.popleft()
            try:
                self._execute(command)
            except EmrlabError as error:
                logger.error("%s failed: %s", command, error.message)
                if isinstance(command, (PlanStep, CommitStep)):
                    self._handle_own(JobError(f"{type(command).__name__} failed: {error.message}"))
                elif isinstance(command, LaunchAttempt):
                    self._handle_own(ContainerCompleted(command.container_id, -1, f"launch failed: {error.message}"))
        self.yarn.forget_completed()
        self._record_tasks()

    def _record_tasks(self) -> None:
        """Write the attempts that succeeded since the last batch to the recovery log (one file)."""
        if not self._unrecorded or self.final_state is not None:
            return
        batch, self._unrecorded = self._unrecorded, []
        try:
            self.recovery_log.record_tasks(batch)
        except EmrlabError as error:  # a later AM attempt runs these tasks again
            logger.warning("could not write %d task(s) to the recovery log: %s", len(batch), error.message)

    def _execute(self, command) -> None:
        match command:
            case PlanStep():
                self._plan(command.step_index)
            case RequestContainer() | CancelRequest() | LaunchAttempt() | ReleaseContainer() | StopContainer():
                self.yarn.execute(command)
                if isinstance(command, StopContainer):  # an attempt failed or was killed: its container ends
                    self._expect_room(time.monotonic())
            case CommitStep():
                self._record_tasks()
                self.recovery_log.record_step(command.step_index, StepMark.COMMIT_STARTED)
                FileOutputCommitter(self.fs, self._plans[command.step_index].output_dir).commit_job()
                self.recovery_log.record_step(command.step_index, StepMark.COMMITTED)
                self._handle_own(StepCommitted(command.step_index))
            case RecordTask():
                self._unrecorded.append(command.attempt)
                self._expect_room(time.monotonic())  # the attempt succeeded: its container is ending
            case FinishJob():
                self._finish(command)
            case _:
                raise AssertionError(f"unknown command {command!r}")

    def _plan(self, step_index: int) -> None:
        plan = plan_step(self.job, self._spec(), step_index, self.fs, self.description.staging_dir,
                         RUNNER_DEFAULTS["cluster"])
        splits = compute_splits(self.fs, list(plan.input_paths), load(TaskConfig, plan.properties),
                                splittable=step_index == 0)
        committer = FileOutputCommitter(self.fs, plan.output_dir)
        recovering = step_index in self.recovered.set_up
        if not recovering:  # first, so that a later attempt knows the directory is this job's
            self.recovery_log.record_step(step_index, StepMark.SETUP, plan.output_dir)
        committer.setup_job(recovering=recovering)
        recovered = self._recoverable(step_index, plan, committer)
        with self._lock:
            self._plans[step_index], self._splits[step_index] = plan, splits
        logger.info("%s step %d: %d maps, %d reduces, output %s%s", self.job_id, step_index, len(splits),
                    plan.num_reduces, plan.output_dir, f"; {len(recovered)} task(s) recovered" if recovering else "")
        self._handle_own(StepPlanned(step_index, tuple(tuple(split.hosts) for split in splits), plan.num_reduces,
                                     recovered))

    def _recoverable(self, step_index: int, plan: StepPlan, committer: FileOutputCommitter) -> tuple:
        """The recorded tasks of a step whose output is still there; committed output nobody recorded
        (the AM died between a task's commit and its report) is dropped, and that task runs again."""
        committed = committer.committed_task_ids()
        kept = []
        for attempt in self.recovered.step_attempts(step_index):
            commits = attempt.kind != MAP or plan.num_reduces == 0
            if not commits or task_id_of(attempt.attempt_id) in committed:
                kept.append(attempt)
        for task_id in committed - {task_id_of(attempt.attempt_id) for attempt in kept}:
            logger.info("%s: dropping %s's unrecorded committed output; it runs again", self.job_id, task_id)
            committer.discard_committed_task(task_id)
        return tuple(kept)

    def abort_outputs(self) -> None:
        """Hadoop's abortJob for every output this job (in any AM attempt) set up: none is left behind."""
        output_dirs = {plan.output_dir for plan in self._plans.values()} | set(self.recovered.set_up.values())
        for output_dir in sorted(output_dirs):
            try:
                FileOutputCommitter(self.fs, output_dir).abort_job()
            except EmrlabError as error:
                logger.warning("could not clean up %s: %s", output_dir, error.message)

    def delete_staging_dir(self) -> None:
        """The job's staged files, its recovery log and its steps' intermediate output."""
        try:
            self.fs.delete(self.description.staging_dir, recursive=True)
        except EmrlabError as error:
            logger.warning("could not delete the staging dir: %s", error.message)

    def _finish(self, command: FinishJob) -> None:
        if command.state is not JobState.SUCCEEDED:
            try:  # first: a later attempt (this one dies while cleaning up) must not run the job again
                self.recovery_log.record_end(command.state, command.diagnostics)
            except EmrlabError as error:
                logger.warning("could not record the job's end: %s", error.message)
            self.abort_outputs()
        with self._lock:
            summary = job_summary(self.machine, self.description.name, self.description.user)
        try:
            logger.info("history written to %s", write_history(self.hdfs_client, summary))
        except EmrlabError as error:
            logger.error("could not write the job history: %s", error.message)
        self.sleep(LINGER_S)
        self.delete_staging_dir()
        self.final_state = command.state

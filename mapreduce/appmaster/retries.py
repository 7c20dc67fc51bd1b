"""What tasks report about their attempts, and the retry policy when one ends (part of JobStateMachine).

An attempt reports as Hadoop's TaskAttemptImpl hears it: started (the task
pulled its attempt), status (progress, counters), commit requested (one
attempt per task may commit), succeeded or failed; its container's end
comes from YARN. What happens when an attempt ends other than by succeeding:
- FAILED (it reported an error, its container exited non-zero, or it was
  silent for `mapreduce.task.timeout`): counts towards
  `mapreduce.map.maxattempts` / `mapreduce.reduce.maxattempts`; the task tries
  again (a map ahead of first attempts) until it has failed that often, then
  the job fails;
- KILLED (not its fault: a lost node, preemption, another attempt committed):
  never counts towards maxattempts; a preemption (`EndCause.preemption`)
  counts nowhere, other kills towards `emrlab.task.killed-attempts.max`;
- either way its container is stopped, or its request cancelled.
"""

from __future__ import annotations

from mapreduce.appmaster.records import (
    FAST_FAIL_MAP_PRIORITY,
    MAP,
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
    ContainerCompleted,
    EndCause,
    JobState,
    RecordTask,
    RecoveredAttempt,
    StopContainer,
    TaskEventType,
    task_id_text,
)
from mapreduce.appmaster.tasks import HOLDING_CONTAINER, Attempt, Task
from mapreduce.task.umbilical import MapCompletionStatus


class RetryPolicy:
    """The attempt part of JobStateMachine: attempts' reports, their ends, and whether their task tries again."""

    def _on_attempt_started(self, event: AttemptStarted, now_s: float) -> None:
        attempt = self.attempts.get(event.attempt_id)
        if attempt is not None and attempt.state is AttemptState.ASSIGNED:
            self._move_attempt(attempt, AttemptEventType.START, "pulled its attempt")
            attempt.last_progress_s = now_s

    def _on_attempt_status(self, event: AttemptStatus, now_s: float) -> None:
        attempt = self.attempts.get(event.attempt_id)
        if attempt is not None and attempt.active:
            if attempt.state is AttemptState.ASSIGNED:
                self._move_attempt(attempt, AttemptEventType.START, "first status report")
            attempt.progress = min(max(event.progress, 0.0), 1.0)
            attempt.status = event.status
            attempt.counters = event.counters or attempt.counters
            if event.progressed:
                attempt.last_progress_s = now_s

    def _on_attempt_failed(self, event: AttemptFailed, now_s: float, commands: list[Command]) -> None:
        attempt = self.attempts.get(event.attempt_id)
        if attempt is not None and attempt.state in HOLDING_CONTAINER:
            attempt.counters = event.counters or attempt.counters
            self._attempt_failed(attempt, EndCause.TASK_FAILED, event.diagnostics, now_s, commands)

    def _on_container_completed(self, event: ContainerCompleted, now_s: float, commands: list[Command]) -> None:
        attempt = self.attempts_by_container.get(event.container_id)
        if attempt is None or attempt.state not in HOLDING_CONTAINER:
            return
        diagnostics = f"Container {event.container_id} exited with status {event.exit_status}" + (
            f": {event.diagnostics}" if event.diagnostics else "")
        if event.lost:
            self._attempt_killed(attempt, EndCause.NODE_LOST, diagnostics, now_s, commands)
        else:
            self._attempt_failed(attempt, EndCause.TASK_FAILED, diagnostics, now_s, commands)

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
        if attempt is None or attempt.state not in HOLDING_CONTAINER:
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
            self._add_completion_event(attempt, MapCompletionStatus.SUCCEEDED)
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
                                   f"in {attempt.end_phase.value})")

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
            if attempt.state in HOLDING_CONTAINER and now_s - attempt.last_progress_s > timeout_s:
                self._attempt_failed(attempt, EndCause.TIMED_OUT, f"Task attempt {attempt.attempt_id} timed out "
                                                                   f"after {timeout_s:.0f} secs", now_s, commands)

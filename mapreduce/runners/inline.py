"""The inline runner: every attempt in this process, one after another.

For debugging (a breakpoint in a mapper just works) and for students' unit
tests. It still splits the input in two or more maps and uses two reducers by
default, so that a job that silently depends on one map or one reducer fails
here first. The job state machine (driver.py) decides as for the local
runner, but with one attempt per task and no timeout (an attempt in this
process cannot be interrupted): a failed attempt fails the job at once, with
the user's traceback.
"""

from __future__ import annotations

import dataclasses
from collections import deque

from mapreduce.api.errors import JobFailed, user_traceback
from mapreduce.appmaster.config import AppMasterConfig
from mapreduce.appmaster.records import MAP, REDUCE
from mapreduce.runners.driver import AttemptExecutor, AttemptExited
from mapreduce.runners.engine import LocalEngine
from mapreduce.task.attempt import NullReporter, TaskAttempt, run_map_attempt, run_reduce_attempt


class InlineExecutor(AttemptExecutor):
    """Runs each attempt to its end as it is launched, in this process; one at a time."""

    def __init__(self):
        super().__init__({MAP: 1, REDUCE: 1})
        self._reports: deque = deque()
        self._errors: dict[str, Exception] = {}

    def launch(self, container_id: str, attempt: TaskAttempt, fs, source) -> None:
        try:
            if attempt.is_map:
                result = run_map_attempt(attempt, fs, NullReporter())
            else:
                result = run_reduce_attempt(attempt, fs, source, NullReporter())
        except Exception as error:
            self._errors[attempt.attempt_id] = error
            self._reports.append(AttemptExited(attempt.attempt_id, container_id, None, 1, user_traceback(error)))
        else:
            self._reports.append(AttemptExited(attempt.attempt_id, container_id, result))

    def stop(self, container_id: str) -> None:
        pass  # nothing runs between two calls

    def poll(self, timeout_s: float) -> list:
        reports = list(self._reports)
        self._reports.clear()
        for report in reports:
            self._exited(report.container_id)
        return reports + self._grant()

    def failure(self, attempt: TaskAttempt, failed_attempts: int, timed_out: bool) -> JobFailed:
        error = self._errors[attempt.attempt_id]
        failure = JobFailed(f"Task failed {attempt.task_id}: {attempt.attempt_id} failed: {user_traceback(error)}")
        failure.__cause__ = error
        return failure


class InlineRunner(LocalEngine):
    name = "inline"

    def executor(self, properties: dict) -> InlineExecutor:
        return InlineExecutor()

    def config(self, properties: dict) -> AppMasterConfig:
        return dataclasses.replace(super().config(properties), map_attempts_max=1, reduce_attempts_max=1,
                                   task_timeout_s=0)

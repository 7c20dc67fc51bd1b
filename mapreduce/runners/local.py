"""The local runner: attempts in parallel child processes on this machine, with retries.

Each attempt is its own process, as each is its own container on a cluster:
a mapper that crashes the interpreter, calls `sys.exit(1)` or leaks memory
takes down only its attempt. Up to `mapreduce.local.map.tasks.maximum` maps
(and `mapreduce.local.reduce.tasks.maximum` reduces) run at once, by default
one per CPU. An attempt that reports no progress for `mapreduce.task.timeout`
(600 s) is killed. A failed attempt is retried, up to `mapreduce.map.maxattempts`
(or `mapreduce.reduce.maxattempts`, default 4) attempts per task; a task out
of attempts fails the job with the last attempt's stderr tail.

Children come from a fork server (multiprocessing's "forkserver"): a clean
process that has already imported the engine, so an attempt starts in
milliseconds and never inherits this process's threads or sockets.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import time
from collections import deque
from dataclasses import dataclass

from emrlab_common.config import parse_int, parse_milliseconds
from mapreduce.api import counters as names
from mapreduce.api.errors import JobFailed
from mapreduce.runners import worker
from mapreduce.runners.engine import LocalEngine
from mapreduce.task.attempt import AttemptResult, TaskAttempt

DEFAULT_MAX_ATTEMPTS = 4
DEFAULT_TIMEOUT_MS = 600_000
STDERR_TAIL_LINES = 20
POLL_INTERVAL_S = 0.2


def _context():
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["mapreduce.runners.worker"])
    return context


@dataclass
class _Running:
    attempt: TaskAttempt
    process: multiprocessing.Process
    progress: object  # a shared double the child updates
    last_progress: float = -1.0
    last_change_s: float = 0.0
    timed_out: bool = False

    def check_timeout(self, now_s: float, timeout_s: float) -> None:
        """Kill an attempt that has reported no progress for `timeout_s` (mapreduce.task.timeout)."""
        if self.progress.value != self.last_progress:
            self.last_progress, self.last_change_s = self.progress.value, now_s
        elif timeout_s > 0 and now_s - self.last_change_s > timeout_s and self.process.is_alive():
            self.timed_out = True
            self.process.kill()


class LocalRunner(LocalEngine):
    name = "local"

    def run_attempts(self, kind, count, attempt_for, fs, source, progress, job_counters, commit):
        properties = attempt_for(0, 0).properties if count else {}
        is_map = kind == "map"
        parallel = max(1, parse_int(properties.get(
            f"mapreduce.local.{kind}.tasks.maximum", str(os.cpu_count() or 1))))
        attempts_max = max(1, parse_int(properties.get(f"mapreduce.{kind}.maxattempts", str(DEFAULT_MAX_ATTEMPTS))))
        timeout_s = parse_milliseconds(properties.get("mapreduce.task.timeout", str(DEFAULT_TIMEOUT_MS)))
        context = _context()
        pending = deque((task_index, 0) for task_index in range(count))
        running: dict[int, _Running] = {}
        results: dict[int, AttemptResult] = {}
        try:
            while pending or running:
                while pending and len(running) < parallel:
                    task_index, attempt_index = pending.popleft()
                    attempt = attempt_for(task_index, attempt_index)
                    running[task_index] = self._start(context, attempt, source)
                    job_counters.increment(names.JOB_COUNTER,
                                           names.TOTAL_LAUNCHED_MAPS if is_map else names.TOTAL_LAUNCHED_REDUCES)
                multiprocessing.connection.wait([entry.process.sentinel for entry in running.values()],
                                                timeout=POLL_INTERVAL_S)
                now_s = time.monotonic()
                for task_index, entry in list(running.items()):
                    entry.check_timeout(now_s, timeout_s)
                    if entry.process.is_alive():
                        continue
                    entry.process.join()
                    del running[task_index]
                    result = worker.read_result(entry.attempt) if entry.process.exitcode == 0 else None
                    if result is not None:
                        if commit is not None:
                            commit(entry.attempt)
                        results[task_index] = result
                        continue
                    job_counters.increment(names.JOB_COUNTER, names.NUM_FAILED_MAPS if is_map else names.NUM_FAILED_REDUCES)
                    if entry.attempt.attempt_index + 1 >= attempts_max:
                        raise JobFailed(_failure_message(entry, attempts_max))
                    pending.append((task_index, entry.attempt.attempt_index + 1))
                done = len(results) + sum(entry.progress.value for entry in running.values())
                progress(done / count if count else 1.0)
        finally:
            for entry in running.values():
                entry.process.kill()
                entry.process.join()
        return [results[task_index] for task_index in range(count)]

    def _start(self, context, attempt: TaskAttempt, source) -> _Running:
        os.makedirs(attempt.local_dir, exist_ok=True)
        shared_progress = context.Value("d", 0.0, lock=False)
        process = context.Process(target=worker.attempt_main, name=attempt.attempt_id,
                                  args=(attempt.to_wire(), source, shared_progress))
        process.start()
        return _Running(attempt, process, shared_progress, last_change_s=time.monotonic())


def _failure_message(entry: _Running, attempts_max: int) -> str:
    attempt = entry.attempt
    tail = worker.stderr_tail(attempt, STDERR_TAIL_LINES)
    code = entry.process.exitcode
    how = f"exit code {code}" if code is not None and code >= 0 else f"signal {-code}"
    if entry.timed_out:
        how = "a timeout (no progress for mapreduce.task.timeout)"
    return (f"Task failed {attempt.task_id} after {attempts_max} attempts; "
            f"{attempt.attempt_id} ended with {how}. Last lines of its stderr:\n{tail}")

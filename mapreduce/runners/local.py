"""The local runner: attempts in parallel child processes on this machine, with retries.

Each attempt is its own process, as each is its own container on a cluster:
a mapper that crashes the interpreter, calls `sys.exit(1)` or leaks memory
takes down only its attempt. Up to `mapreduce.local.map.tasks.maximum` maps
(and `mapreduce.local.reduce.tasks.maximum` reduces) run at once, by default
one per CPU.

What runs, what is retried and what times out is decided by the cluster's
job state machine (driver.py), with the cluster's settings and defaults: a
failed attempt (its process exits non-zero, or reports no progress for
`mapreduce.task.timeout`, 600 s) is retried up to `mapreduce.map.maxattempts`
(`mapreduce.reduce.maxattempts`, 4) attempts per task; a task out of attempts
fails the job with its last attempt's stderr tail, and attempts still running
then are KILLED (NUM_KILLED_MAPS), not failed. `ProcessPool` only carries out
the machine's commands: run an attempt, kill an attempt.

Children come from a fork server (multiprocessing's "forkserver"): a clean
process that has already imported the engine, so an attempt starts in
milliseconds and never inherits this process's threads or sockets.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import multiprocessing.forkserver
import os
from dataclasses import dataclass

from emrlab_common.config import load, parse_int, setting
from mapreduce.api.errors import JobFailed
from mapreduce.appmaster.records import MAP, REDUCE, AttemptStatus
from mapreduce.runners import worker
from mapreduce.runners.driver import AttemptExecutor, AttemptExited
from mapreduce.runners.engine import LocalEngine
from mapreduce.task.attempt import TaskAttempt

STDERR_TAIL_LINES = 20


@dataclass(frozen=True)
class LocalRunnerConfig:
    map_tasks_max: int = setting(
        "mapreduce.local.map.tasks.maximum", 0, parse_int, "Maps the local runner runs at once (0: one per CPU).")
    reduce_tasks_max: int = setting(
        "mapreduce.local.reduce.tasks.maximum", 0, parse_int,
        "Reduces the local runner runs at once (0: one per CPU).")


def _context():
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["mapreduce.runners.worker"])
    multiprocessing.forkserver.ensure_running()  # now, not in the first attempt's launch (its timeout runs)
    return context


@dataclass
class _Child:
    attempt: TaskAttempt
    container_id: str
    process: multiprocessing.Process
    progress: object  # a shared double the child updates
    reported_progress: float = 0.0


class ProcessPool(AttemptExecutor):
    """Attempts in child processes, a bounded number of each kind at once."""

    def __init__(self, map_slots: int, reduce_slots: int):
        super().__init__({MAP: map_slots, REDUCE: reduce_slots})
        self._context = _context()
        self._children: dict[str, _Child] = {}  # container id -> its running child
        self._endings: dict[str, str] = {}  # attempt id -> how its process ended ("exit code 1", "signal 9")

    def launch(self, container_id: str, attempt: TaskAttempt, fs, source) -> None:
        os.makedirs(attempt.local_dir, exist_ok=True)
        shared_progress = self._context.Value("d", 0.0, lock=False)
        process = self._context.Process(target=worker.attempt_main, name=attempt.attempt_id,
                                        args=(attempt.to_wire(), source, shared_progress))
        process.start()
        self._children[container_id] = _Child(attempt, container_id, process, shared_progress)

    def stop(self, container_id: str) -> None:
        child = self._children.get(container_id)
        if child is not None and child.process.is_alive():
            child.process.kill()

    def poll(self, timeout_s: float) -> list:
        granted = self._grant()
        if granted or not self._children:
            return granted
        multiprocessing.connection.wait([child.process.sentinel for child in self._children.values()],
                                        timeout=timeout_s)
        reports = []
        for container_id, child in list(self._children.items()):
            if child.progress.value != child.reported_progress:
                child.reported_progress = child.progress.value
                reports.append(AttemptStatus(child.attempt.attempt_id, child.reported_progress, ""))
            if child.process.is_alive():
                continue
            child.process.join()
            del self._children[container_id]
            self._exited(container_id)
            reports.append(self._ending(child))
        return reports

    def _ending(self, child: _Child) -> AttemptExited:
        attempt, code = child.attempt, child.process.exitcode
        result = worker.read_result(attempt) if code == 0 else None
        how = f"exit code {code}" if code >= 0 else f"signal {-code}"
        self._endings[attempt.attempt_id] = how
        return AttemptExited(attempt.attempt_id, child.container_id, result, code,
                             "" if result is not None else f"ended with {how}")

    def failure(self, attempt: TaskAttempt, failed_attempts: int, timed_out: bool) -> JobFailed:
        how = ("a timeout (no progress for mapreduce.task.timeout)" if timed_out
               else self._endings.get(attempt.attempt_id, "no result"))
        tail = worker.stderr_tail(attempt, STDERR_TAIL_LINES)
        return JobFailed(f"Task failed {attempt.task_id} after {failed_attempts} attempts; "
                         f"{attempt.attempt_id} ended with {how}. Last lines of its stderr:\n{tail}")

    def close(self) -> None:
        for child in self._children.values():
            child.process.kill()
            child.process.join()
        self._children.clear()


class LocalRunner(LocalEngine):
    name = "local"

    def executor(self, properties: dict) -> ProcessPool:
        config = load(LocalRunnerConfig, properties)
        cpus = os.cpu_count() or 1
        return ProcessPool(max(1, config.map_tasks_max or cpus), max(1, config.reduce_tasks_max or cpus))

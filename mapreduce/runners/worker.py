"""The body of one attempt's child process under the local runner.

The child writes its stdout and stderr to files in the attempt's local
directory (the cluster keeps them as the container's logs), runs the attempt,
and leaves its result (counters, map output path) in `result` for the parent
to read. A non-zero exit, or no result file, is a failed attempt.
"""

from __future__ import annotations

import os
import sys

import msgpack

from mapreduce.api.counters import Counters
from mapreduce.api.errors import user_traceback
from mapreduce.api.fs import filesystem_for
from mapreduce.task.attempt import CLUSTER_DIR_KEY, AttemptResult, TaskAttempt, run_map_attempt, run_reduce_attempt

RESULT_FILE = "result"
STDOUT_FILE = "stdout"
STDERR_FILE = "stderr"


class SharedProgressReporter:
    """Reports progress through a shared double the parent polls."""

    def __init__(self, shared_progress):
        self.shared_progress = shared_progress

    def report(self, progress: float, status: str, counters: Counters) -> None:
        self.shared_progress.value = progress


def _redirect(fd: int, path: str) -> None:
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(target, fd)
    os.close(target)


def attempt_main(wire: bytes, source, shared_progress) -> None:
    attempt = TaskAttempt.from_wire(wire)
    sys.stdout.flush()
    sys.stderr.flush()
    _redirect(1, os.path.join(attempt.local_dir, STDOUT_FILE))
    _redirect(2, os.path.join(attempt.local_dir, STDERR_FILE))
    try:
        path = attempt.split.path if attempt.is_map else attempt.output_dir
        fs = filesystem_for(path, attempt.properties.get(CLUSTER_DIR_KEY))
        reporter = SharedProgressReporter(shared_progress)
        try:
            if attempt.is_map:
                result = run_map_attempt(attempt, fs, reporter)
            else:
                result = run_reduce_attempt(attempt, fs, source, reporter)
        finally:
            fs.close()  # an HDFS client's lease renewer and channels end before the process does
    except Exception as error:
        print(user_traceback(error), file=sys.stderr, flush=True)
        os._exit(1)
    write_result(attempt, result)
    sys.stdout.flush()
    sys.stderr.flush()


def write_result(attempt: TaskAttempt, result: AttemptResult) -> None:
    path = os.path.join(attempt.local_dir, RESULT_FILE)
    with open(path + ".tmp", "wb") as file:
        file.write(msgpack.packb([result.counters.to_wire(), result.map_output_path]))
    os.replace(path + ".tmp", path)


def read_result(attempt: TaskAttempt) -> AttemptResult | None:
    try:
        with open(os.path.join(attempt.local_dir, RESULT_FILE), "rb") as file:
            counters, map_output_path = msgpack.unpackb(file.read())
    except FileNotFoundError:
        return None
    return AttemptResult(Counters.from_wire(counters), map_output_path)


def stderr_tail(attempt: TaskAttempt, lines: int) -> str:
    try:
        with open(os.path.join(attempt.local_dir, STDERR_FILE), encoding="utf-8", errors="replace") as file:
            return "".join(file.readlines()[-lines:]).rstrip() or "(empty)"
    except FileNotFoundError:
        return "(no stderr)"

"""The task container's entry point (Hadoop's YarnChild): `python -m mapreduce.task.yarnchild`.

The AM launches one container per task attempt with this command. The task

1. pulls its attempt from the AM (the container id is in its environment);
2. runs it with the engine (`run_map_attempt` / `run_reduce_attempt`) on HDFS,
   with reads short-circuited when a block is on this node; a reducer's input
   comes through the shuffle (`ShuffleFetcher`);
3. reports progress, status and counters about once a second from a
   heartbeat thread; when the AM answers "stop", it exits at once. A report
   that fails for an operating reason (the AM slow or restarting, a socket
   error) is logged and the next one tried; any other error in that thread is
   a bug, and fails the attempt at once, as an error in the task itself does;
4. commits its output only if the AM says it may (the commit protocol), then
   reports done; on any error it reports failed with the traceback and the
   tail of its stderr, and exits non-zero.

With `-D mapreduce.task.profile=true`, the attempts of the tasks it names run under
cProfile and leave profile.out in the container's logs (`profiling.py`).

A map's output stays on this node in the application's local dir, where the
NodeManager's shuffle service serves it after this process has exited.
"""

from __future__ import annotations

import cProfile
import logging
import os
import pstats
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import grpc

from emrlab_common.config import load
from emrlab_common.errors import EmrlabError
from mapreduce.api.counters import Counters
from mapreduce.api.errors import user_traceback
from mapreduce.task.attempt import TaskAttempt, run_map_attempt, run_reduce_attempt
from mapreduce.task.output import FileOutputCommitter
from mapreduce.task.profiling import ProfileConfig, write_profile
from mapreduce.task.reduce.fetcher import ShuffleConfig, ShuffleFetcher
from mapreduce.task.segments import map_output_dir
from mapreduce.task.umbilical import AM_ADDRESS_VARIABLE, Umbilical

logger = logging.getLogger(__name__)

EXIT_FAILED = 1
EXIT_STOPPED = 143  # as if killed by SIGTERM: the AM already counts the attempt as failed or killed
STDERR_TAIL_LINES = 40
STDERR_TAIL_BYTES_MAX = 16 << 10
COMMIT_WAIT_S = 300.0
COPY_PHASE_END = 0.33  # a reduce attempt's progress: copy to 1/3, then merge, then reduce (as Hadoop)
# What a status update may meet in normal operation; the next heartbeat tries again.
OPERATING_ERRORS = (EmrlabError, grpc.RpcError, OSError)


class HeartbeatReporter:
    """The engine's TaskReporter: keeps the latest report; a thread sends it to the AM."""

    def __init__(self, umbilical: Umbilical, attempt_id: str, interval_s: float, exit_process=os._exit):
        self.umbilical = umbilical
        self.exit_process = exit_process  # os._exit: the process ends at once, whatever the main thread does
        self.attempt_id = attempt_id
        self.interval_s = interval_s
        self.progress = 0.0
        self.status = ""
        self.counters = Counters()
        self.progress_source = None  # a ShuffleFetcher during a reducer's copy phase
        self._last_sent: tuple[float, str] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def report(self, progress: float, status: str, counters: Counters) -> None:
        self.progress, self.status, self.counters = progress, status, counters

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()

    def send(self) -> bool:
        """One status update; True when the AM says this attempt must stop."""
        progress, status = self.progress, self.status
        copying = self.progress_source is not None and progress < COPY_PHASE_END
        if copying:
            # Waiting for maps is progress, as Hadoop's shuffle reports it while it waits.
            fetcher = self.progress_source
            progress = COPY_PHASE_END * fetcher.progress
            status = f"reduce > copy ({fetcher.copied} of {fetcher.map_count} maps)"
        progressed = copying or (progress, status) != self._last_sent
        self._last_sent = (progress, status)
        return self.umbilical.status_update(self.attempt_id, progress, status, self.counters.to_wire(), progressed)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                stop = self.send()
            except OPERATING_ERRORS as error:
                logger.warning("status update failed: %s", getattr(error, "message", None) or repr(error))
                continue
            except Exception as error:  # a bug: the attempt fails with its traceback rather than run on unreported
                logger.exception("%s: the heartbeat failed; failing the attempt", self.attempt_id)
                try:
                    report_failure(self.umbilical, self.attempt_id, error, self.counters)
                finally:  # the AM not told (unreachable) still sees the container exit non-zero
                    self.exit_process(EXIT_FAILED)
                return
            if stop:
                logger.warning("%s: the ApplicationMaster says stop; exiting", self.attempt_id)
                self.exit_process(EXIT_STOPPED)
                return


def report_failure(umbilical: Umbilical, attempt_id: str, error: BaseException, counters: Counters) -> None:
    """Tell the AM this attempt failed: an operating error's message or the traceback, and the stderr tail."""
    diagnostics = error.message if isinstance(error, EmrlabError) else user_traceback(error)
    print(diagnostics, file=sys.stderr)
    umbilical.failed(attempt_id, diagnostics, stderr_tail(), counters.to_wire())


def stderr_tail() -> str:
    """The last lines this container wrote to stderr (the NM sends it to <log dir>/stderr)."""
    sys.stderr.flush()
    for log_dir in os.environ.get("LOG_DIRS", "").split(","):
        path = Path(log_dir) / "stderr"
        if log_dir and path.is_file():
            with open(path, "rb") as file:
                file.seek(max(0, path.stat().st_size - STDERR_TAIL_BYTES_MAX))
                lines = file.read().decode("utf-8", "replace").splitlines()
            return "\n".join(lines[-STDERR_TAIL_LINES:])
    return ""


def container_log_dir() -> str:
    """Where this container's syslog (and a profile) go: the first of the NodeManager's log dirs, or ""."""
    return os.environ.get("LOG_DIRS", "").split(",")[0]


def application_dir() -> Path:
    """This application's local dir on this node, kept until the application ends
    (the NodeManager's layout: <local dir>/usercache/<user>/appcache/<application id>)."""
    local_dir = Path(os.environ["LOCAL_DIRS"].split(",")[0])
    return local_dir / "usercache" / os.environ["USER"] / "appcache" / os.environ["APPLICATION_ID"]


def run(umbilical: Umbilical, container_id: str) -> int:
    response = umbilical.get_task(container_id)
    attempt = TaskAttempt.from_wire(response.attempt)
    attempt = replace(attempt, local_dir=str(map_output_dir(application_dir(), attempt.attempt_id)))
    log_dir = container_log_dir()
    if not (log_dir and load(ProfileConfig, attempt.properties).profiles(attempt.is_map, attempt.task_index)):
        return run_attempt(umbilical, attempt, response)
    startup_cpu_s = time.process_time()
    profile = cProfile.Profile()  # the main thread's calls (profiling.py)
    profile.enable()
    try:
        return run_attempt(umbilical, attempt, response)
    finally:
        profile.disable()
        try:
            write_profile(pstats.Stats(profile), Path(log_dir), attempt.attempt_id, startup_cpu_s)
        except OSError as error:
            logger.warning("%s: the profile was not written: %s", attempt.attempt_id, error)


def run_attempt(umbilical: Umbilical, attempt: TaskAttempt, response) -> int:
    from hdfs import Client
    from mapreduce.api.fs import HdfsFileSystem

    reporter = HeartbeatReporter(umbilical, attempt.attempt_id, response.report_interval_s or 1.0)
    logger.info("running %s on %s", attempt.attempt_id, os.environ.get("EMRLAB_NODE_ID", "?"))
    client = Client.for_cluster(os.environ.get("EMRLAB_CLUSTER"), user=os.environ.get("USER"))
    fs = HdfsFileSystem(client)
    reporter.start()
    try:
        if attempt.is_map:
            result = run_map_attempt(attempt, fs, reporter)
        else:
            fetcher = ShuffleFetcher(umbilical, attempt.attempt_id, attempt.job_id, response.map_count,
                                     Path(attempt.local_dir) / "shuffle", load(ShuffleConfig, attempt.properties))
            reporter.progress_source = fetcher
            result = run_reduce_attempt(attempt, fs, fetcher, reporter)
        reporter.report(1.0, "committing", result.counters)
        if not attempt.is_map or attempt.num_reduces == 0:
            wait_for_commit(umbilical, reporter, attempt.attempt_id)
            FileOutputCommitter(fs, attempt.output_dir).commit_task(attempt)
        reporter.close()
        umbilical.done(attempt.attempt_id, result.counters.to_wire(), result.map_output_path or "")
        return 0
    except BaseException as error:
        reporter.close()
        report_failure(umbilical, attempt.attempt_id, error, reporter.counters)
        return EXIT_FAILED
    finally:
        client.close()


def wait_for_commit(umbilical: Umbilical, reporter: HeartbeatReporter, attempt_id: str) -> None:
    """Ask until the AM lets this attempt commit; exit if it says stop instead."""
    deadline = time.monotonic() + COMMIT_WAIT_S
    while not umbilical.can_commit(attempt_id):
        if reporter.send() or time.monotonic() > deadline:
            logger.warning("%s may not commit; exiting", attempt_id)
            os._exit(EXIT_STOPPED)
        time.sleep(reporter.interval_s)


def configure_logging() -> None:
    """Logs go to <log dir>/syslog, as Hadoop's containers do; stderr keeps the user's own output."""
    log_dir = container_log_dir()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        filename=os.path.join(log_dir, "syslog") if log_dir else None)


def main() -> int:
    configure_logging()
    umbilical = Umbilical(os.environ[AM_ADDRESS_VARIABLE])
    try:
        return run(umbilical, os.environ["CONTAINER_ID"])
    finally:
        umbilical.close()


if __name__ == "__main__":
    sys.exit(main())

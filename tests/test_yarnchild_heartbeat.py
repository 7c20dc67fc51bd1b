"""The task's heartbeat thread (issue 14): operating errors are logged and the next report is tried; a bug in
the thread fails the attempt with its traceback, reported to the AM, and exits non-zero, as Hadoop's YarnChild
reports a child's fatal error. The umbilical here is a recording stand-in with the Umbilical's two calls the
reporter makes; the exit is injected so that the test process survives it."""

from __future__ import annotations

import grpc
from conftest import wait_until

from emrlab_common.errors import Unavailable
from mapreduce.task.yarnchild import EXIT_FAILED, HeartbeatReporter

INTERVAL_S = 0.01


class RecordingUmbilical:
    """Raises each of `errors` from one status update in turn, then answers "carry on"."""

    def __init__(self, errors: list[BaseException]):
        self.errors = list(errors)
        self.updates = 0
        self.failures: list[tuple[str, str]] = []

    def status_update(self, attempt_id, progress, status, counters, progressed) -> bool:
        self.updates += 1
        if self.errors:
            raise self.errors.pop(0)
        return False

    def failed(self, attempt_id, diagnostics, stderr_tail, counters) -> None:
        self.failures.append((attempt_id, diagnostics))


def start_reporter(umbilical: RecordingUmbilical) -> tuple[HeartbeatReporter, list[int]]:
    exits: list[int] = []
    reporter = HeartbeatReporter(umbilical, "attempt_1_0001_m_000000_0", INTERVAL_S, exit_process=exits.append)
    reporter.start()
    return reporter, exits


def test_operating_errors_leave_the_heartbeat_running():
    umbilical = RecordingUmbilical([Unavailable("the ApplicationMaster at 127.0.0.1:1 is unreachable"),
                                    grpc.RpcError(), ConnectionResetError("reset by peer")])
    reporter, exits = start_reporter(umbilical)
    try:
        wait_until(lambda: umbilical.updates >= 5, what="heartbeats after three failed ones")
        assert exits == [] and umbilical.failures == []
        assert reporter._thread.is_alive()
    finally:
        reporter.close()
    reporter._thread.join(timeout=10)
    assert not reporter._thread.is_alive()


def test_a_bug_in_the_heartbeat_fails_the_attempt_with_its_traceback():
    umbilical = RecordingUmbilical([])
    exits: list[int] = []
    reporter = HeartbeatReporter(umbilical, "attempt_1_0001_m_000000_0", INTERVAL_S, exit_process=exits.append)
    reporter.progress_source = object()  # a programmer error: a reducer's copy phase reads its .progress
    reporter.start()
    reporter._thread.join(timeout=30)
    assert not reporter._thread.is_alive(), "the heartbeat thread should end after a bug"
    assert exits == [EXIT_FAILED]
    [(attempt_id, diagnostics)] = umbilical.failures
    assert attempt_id == "attempt_1_0001_m_000000_0"
    assert diagnostics.startswith("Traceback (most recent call last):")
    assert "AttributeError: 'object' object has no attribute 'progress'" in diagnostics

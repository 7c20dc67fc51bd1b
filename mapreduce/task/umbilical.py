"""The task side of the TaskUmbilical: how a task container talks to its job's AM.

Every call has a deadline; the idempotent ones retry a few times, so a busy AM
does not fail a healthy task. The AM's address comes to the container in its
environment (`EMRLAB_AM_ADDRESS`). In token mode so does the job token (`EMRLAB_JOB_TOKEN`, Hadoop's
job token), which every call carries: the AM answers no one else, so no other user's process can report
a task of this job done, failed or committed.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import os

from emrlab_common import rpc
from emrlab_common.protos import mapreduce_pb2, mapreduce_pb2_grpc

AM_ADDRESS_VARIABLE = "EMRLAB_AM_ADDRESS"
JOB_TOKEN_VARIABLE = "EMRLAB_JOB_TOKEN"
JOB_TOKEN_METADATA_KEY = "emrlab-job-token"
CALL_TIMEOUT_S = 20.0
CALL_ATTEMPTS_MAX = 5
EVENTS_PER_CALL_MAX = 1000


class MapCompletionStatus(enum.Enum):
    """A map completion event's status (Hadoop's TaskCompletionEvent.Status; a proto enum on the wire)."""

    FAILED = "FAILED"
    KILLED = "KILLED"
    SUCCEEDED = "SUCCEEDED"  # the output is at the event's shuffle address
    OBSOLETE = "OBSOLETE"    # the output is lost (node lost, or the map ran again): fetch it from the next run
    TIPFAILED = "TIPFAILED"  # the task itself failed (no attempts left)

    def to_proto(self) -> int:
        return mapreduce_pb2.MapCompletionEvent.Status.Value(self.value)

    @classmethod
    def from_proto(cls, value: int) -> MapCompletionStatus:
        return cls(mapreduce_pb2.MapCompletionEvent.Status.Name(value))


def job_token(application_key: bytes) -> str:
    """The secret an AM gives its tasks, derived from its application's key (the RM gave it that)."""
    return hmac.new(application_key, b"umbilical", hashlib.sha256).hexdigest()


def job_token_metadata() -> tuple[tuple[str, str], ...]:
    token = os.environ.get(JOB_TOKEN_VARIABLE, "")
    return ((JOB_TOKEN_METADATA_KEY, token),) if token else ()


class Umbilical:
    def __init__(self, address: str):
        self.address = address
        self._channel = rpc.connect(address)
        self._stub = mapreduce_pb2_grpc.TaskUmbilicalStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def _call(self, method, request, idempotent: bool = True):
        return rpc.call(method, request, timeout_s=CALL_TIMEOUT_S, peer=f"the ApplicationMaster at {self.address}",
                        attempts_max=CALL_ATTEMPTS_MAX if idempotent else 1, metadata=job_token_metadata())

    def get_task(self, container_id: str) -> mapreduce_pb2.GetTaskResponse:
        return self._call(self._stub.GetTask, mapreduce_pb2.GetTaskRequest(container_id=container_id))

    def status_update(self, attempt_id: str, progress: float, status: str, counters: bytes,
                      progressed: bool = True) -> bool:
        """Report; True when the AM says stop."""
        request = mapreduce_pb2.StatusUpdateRequest(attempt_id=attempt_id, progress=progress, status=status,
                                                    counters=counters, progressed=progressed)
        return self._call(self._stub.StatusUpdate, request).stop

    def can_commit(self, attempt_id: str) -> bool:
        return self._call(self._stub.CanCommit, mapreduce_pb2.CanCommitRequest(attempt_id=attempt_id)).can_commit

    def done(self, attempt_id: str, counters: bytes, map_output_path: str = "") -> None:
        self._call(self._stub.Done, mapreduce_pb2.DoneRequest(attempt_id=attempt_id, counters=counters,
                                                              map_output_path=map_output_path))

    def failed(self, attempt_id: str, diagnostics: str, stderr_tail: str, counters: bytes) -> None:
        self._call(self._stub.Failed, mapreduce_pb2.FailedRequest(
            attempt_id=attempt_id, diagnostics=diagnostics, stderr_tail=stderr_tail, counters=counters))

    def map_completion_events(self, attempt_id: str, from_index: int) -> mapreduce_pb2.GetMapCompletionEventsResponse:
        return self._call(self._stub.GetMapCompletionEvents, mapreduce_pb2.GetMapCompletionEventsRequest(
            attempt_id=attempt_id, from_event_index=from_index, events_max=EVENTS_PER_CALL_MAX))

    def report_fetch_failure(self, reduce_attempt_id: str, map_attempt_id: str, diagnostics: str, *,
                             node_unreachable: bool = False) -> None:
        self._call(self._stub.ReportFetchFailure, mapreduce_pb2.ReportFetchFailureRequest(
            reduce_attempt_id=reduce_attempt_id, map_attempt_id=map_attempt_id, diagnostics=diagnostics,
            node_unreachable=node_unreachable), idempotent=False)

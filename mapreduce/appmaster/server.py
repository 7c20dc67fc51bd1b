"""The AM's gRPC servicers: TaskUmbilical (tasks) and MRClientProtocol (clients).

Thin translators: a request becomes an event for the job state machine (run
under the AM's lock by `MRAppMaster.handle`), and the answer is read back from
the machine. Nothing here decides anything, except who may ask (token mode): a client must show the
client-to-AM token the ResourceManager gave it with the application's report (only to a user who may view
the application), signed with the key the RM gave this AM in $EMRLAB_CLIENT_TO_AM_KEY; killing also
needs the job's owner or a user in `mapreduce.job.acl-modify-job` (an admin kills through the RM); and
a task must show the job token this AM gave its containers (`mapreduce.task.umbilical`).
"""

from __future__ import annotations

import hmac
import os

from emrlab_common.errors import NotFound, PermissionDenied
from emrlab_common.protos import mapreduce_pb2, mapreduce_pb2_grpc
from emrlab_common.rpc import servicer_method
from hdfs.namenode.server import os_groups
from mapreduce.appmaster.config import job_acls
from mapreduce.appmaster.records import (
    AttemptFailed,
    AttemptStarted,
    AttemptStatus,
    AttemptSucceeded,
    CommitRequested,
    FetchFailed,
    KillJob,
    application_id_for,
)
from mapreduce.task.umbilical import JOB_TOKEN_METADATA_KEY, job_token
from yarn.resourcemanager.acls import (
    CLIENT_TO_AM_KEY_ENVIRONMENT_VARIABLE,
    MODIFY_APP,
    ApplicationAccess,
    client_to_am_caller,
)


def application_key() -> bytes | None:
    """The key the RM gave this AM in token mode; None in simple mode."""
    key_hex = os.environ.get(CLIENT_TO_AM_KEY_ENVIRONMENT_VARIABLE, "")
    return bytes.fromhex(key_hex) if key_hex else None


class TaskUmbilicalServicer(mapreduce_pb2_grpc.TaskUmbilicalServicer):
    def __init__(self, master, key: bytes | None = None):
        self.master = master  # mapreduce.appmaster.master.MRAppMaster
        key = key if key is not None else application_key()
        self.job_token = job_token(key) if key is not None else ""  # "": simple mode, believed

    def _authenticate(self, context) -> None:
        if self.job_token:
            shown = next((value for name, value in context.invocation_metadata() if name == JOB_TOKEN_METADATA_KEY), "")
            if not hmac.compare_digest(shown.encode(), self.job_token.encode()):
                raise PermissionDenied("secure mode: a task's call must carry its job's token ($EMRLAB_JOB_TOKEN)")

    @servicer_method
    def GetTask(self, request, context):
        self._authenticate(context)
        attempt_id, attempt_bytes, map_count = self.master.task_for_container(request.container_id)
        self.master.handle(AttemptStarted(attempt_id))
        return mapreduce_pb2.GetTaskResponse(attempt=attempt_bytes, attempt_id=attempt_id, map_count=map_count,
                                             report_interval_s=self.master.config.task_report_interval_s)

    @servicer_method
    def StatusUpdate(self, request, context):
        self._authenticate(context)
        self.master.handle(AttemptStatus(request.attempt_id, request.progress, request.status,
                                         self.master.decode_counters(request.counters), request.progressed))
        return mapreduce_pb2.StatusUpdateResponse(stop=self.master.attempt_should_stop(request.attempt_id))

    @servicer_method
    def CanCommit(self, request, context):
        self._authenticate(context)
        self.master.handle(CommitRequested(request.attempt_id))
        return mapreduce_pb2.CanCommitResponse(can_commit=self.master.commit_granted(request.attempt_id))

    @servicer_method
    def Done(self, request, context):
        self._authenticate(context)
        self.master.handle(AttemptSucceeded(request.attempt_id, self.master.decode_counters(request.counters)))
        return mapreduce_pb2.DoneResponse()

    @servicer_method
    def Failed(self, request, context):
        self._authenticate(context)
        diagnostics, tail = request.diagnostics.strip(), request.stderr_tail.rstrip()
        if tail.endswith(diagnostics):
            diagnostics = tail  # the task printed its error last: its stderr tail tells it once, in context
        elif tail:
            diagnostics += f"\n--- last lines of stderr ---\n{tail}"
        self.master.handle(AttemptFailed(request.attempt_id, diagnostics, self.master.decode_counters(request.counters)))
        return mapreduce_pb2.FailedResponse()

    @servicer_method
    def GetMapCompletionEvents(self, request, context):
        self._authenticate(context)
        events, stop = self.master.map_completion_events(request.attempt_id, request.from_event_index,
                                                         request.events_max or 1000)
        return mapreduce_pb2.GetMapCompletionEventsResponse(stop=stop, events=[
            mapreduce_pb2.MapCompletionEvent(event_index=event.event_index, map_index=event.map_index,
                                             attempt_id=event.attempt_id, status=event.status.to_proto(),
                                             shuffle_address=event.shuffle_address)
            for event in events])

    @servicer_method
    def ReportFetchFailure(self, request, context):
        self._authenticate(context)
        self.master.handle(FetchFailed(request.reduce_attempt_id, request.map_attempt_id, request.node_unreachable))
        return mapreduce_pb2.ReportFetchFailureResponse()


class MRClientServicer(mapreduce_pb2_grpc.MRClientProtocolServicer):
    def __init__(self, master, key: bytes | None = None):
        self.master = master
        self.key = key if key is not None else application_key()  # None: simple mode
        self.access = ApplicationAccess(True, "", os_groups)  # admins: the RM knows them

    def _caller(self, context) -> str | None:
        return client_to_am_caller(self.key, context.invocation_metadata()) if self.key is not None else None

    def _check(self, job_id: str) -> None:
        if job_id and job_id != self.master.job_id:
            raise NotFound(f"this ApplicationMaster runs {self.master.job_id}, not {job_id}")

    @servicer_method
    def GetJobReport(self, request, context):
        self._caller(context)
        self._check(request.job_id)
        return self.master.job_report(include_attempts=request.include_attempts)

    @servicer_method
    def KillJob(self, request, context):
        user = self._caller(context)
        self._check(request.job_id)
        if user is not None:
            self.access.require(user, MODIFY_APP, self.master.description.user, job_acls(self.master.properties),
                                application_id_for(self.master.job_id))
        self.master.handle(KillJob())
        return mapreduce_pb2.KillJobResponse()

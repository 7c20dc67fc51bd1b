"""The ResourceManager's gRPC face: thin servicers that translate, and the lock they share.

`ResourceManager` is the process's state holder: the pure
`ResourceManagerState`, one lock around it, the clock, the exclude file, the
state store (with recovery), and the outboxes where the commands the state
returns for each NodeManager wait for its next heartbeat. Servicers convert
a request into one event (`events.py`), hand it to the state's `handle` under
the lock (`locked()`), put the node commands it returns in the outboxes and
convert its reply into the response; reads call the state's queries. Before
the lock is let go, the event's state store writes (every application it
changed) are done, so what a caller was told survives an RM crash.

Who is calling: in simple mode the user the call metadata names (believed, as Hadoop's simple
authentication); in token mode (`hadoop.security.authentication=token`) a client or admin call must carry a
delegation token or a user statement signed with the cluster key (`emrlab_common.credentials`), and its
user is that credential's. With ACLs on (`acls.py`) that user must own, or be allowed, what it touches.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from pathlib import Path

from emrlab_common.credentials import caller_identity, check_mode, verify
from emrlab_common.errors import PermissionDenied, Unavailable
from emrlab_common.hostsfile import read_hosts_file
from emrlab_common.protos import yarn_pb2, yarn_pb2_grpc
from emrlab_common.rpc import caller_user, current_user, servicer_method
from hdfs.namenode.server import os_groups
from yarn.records import (
    APPLICATION_STATE_WIRE,
    FINAL_APPLICATION_STATUS_WIRE,
    NODE_STATE_WIRE,
    ApplicationReport,
    ApplicationSubmissionContext,
    Container,
    ContainerRequest,
    ContainerStatus,
    Resource,
    application_of_attempt,
)
from yarn.resourcemanager.acls import (
    CLIENT_TO_AM_KEY_ENVIRONMENT_VARIABLE,
    MODIFY_APP,
    VIEW_APP,
    ApplicationAccess,
    client_to_am_key,
    client_to_am_token,
    verify_amrm,
)
from yarn.resourcemanager.applications import RMApp
from yarn.resourcemanager.config import ResourceManagerConfig
from yarn.resourcemanager.containers import HeartbeatResult, NodeOutboxes
from yarn.resourcemanager.events import (
    AllocateReply,
    AMAllocate,
    AMFinished,
    AMRegistered,
    AMRegisterReply,
    ApplicationKilled,
    ApplicationSubmitted,
    Command,
    ContainerReport,
    DecommissionReply,
    Event,
    KillReply,
    NewApplicationReply,
    NewApplicationRequested,
    NodeHeartbeat,
    NodeHeartbeatReply,
    NodeRegistered,
    NodeRegisterReply,
    NodesDecommissioned,
    NodesRefreshed,
    RefreshNodesReply,
    StateRecovered,
    StoreApplication,
    Tick,
    node_commands,
    reply,
    store_commands,
)
from yarn.resourcemanager.state import ResourceManagerState
from yarn.resourcemanager.statestore import FileSystemRMStateStore

MONITOR_INTERVAL_S = 0.1

logger = logging.getLogger(__name__)


class ResourceManager:
    def __init__(self, config: ResourceManagerConfig, exclude_path: Path, clock=time.time,
                 store: FileSystemRMStateStore | None = None, cluster_key: bytes | None = None):
        self.config = config
        self.clock = clock
        self.token_mode = check_mode(config.authentication) == "token"
        self.cluster_key = cluster_key  # token mode: what callers' credentials are signed with
        assert not self.token_mode or cluster_key is not None
        self.access = ApplicationAccess(self.token_mode if config.acl_enable is None else config.acl_enable,
                                        config.admin_acl or current_user(), os_groups, config.queue_submit_acls)
        self.exclude_path = exclude_path
        self.lock = threading.Lock()
        self.state = ResourceManagerState(config, int(clock() * 1000), read_hosts_file(exclude_path))
        self.outboxes = NodeOutboxes()  # guarded by `lock` too
        self.store = store  # None: recovery disabled, nothing is stored
        self._unstored: dict[str, RMApp | None] = {}  # the state store's writes still to do (None: a removal)
        if store is not None:
            loaded = store.load()
            with self.locked():  # what recovery changed (a non-work-preserving retry) is stored at once
                self.outboxes.add(node_commands(self.handle(StateRecovered(tuple(loaded.applications), loaded.epoch))))
            logger.info("recovered %d application(s) from %s (epoch %d)%s", len(loaded.applications), store.root,
                        loaded.epoch, f"; skipped damaged {', '.join(loaded.skipped)}" if loaded.skipped else "")

    def caller(self, context) -> str:
        """Who is calling: believed in simple mode, proved in token mode."""
        if not self.token_mode:
            return caller_user(context)
        return caller_identity(self.cluster_key, context.invocation_metadata())

    def visible(self, user: str, report: ApplicationReport) -> ApplicationReport:
        """The report as `user` may see it (`acls.py`)."""
        acls = self.state.application(report.application_id).context.am_container.application_acls
        return self.access.visible(user, report, acls)

    def report_for(self, user: str, application_id: str) -> ApplicationReport:
        """The application's report as `user` may see it; in token mode with a client-to-AM token if it may."""
        app = self.state.application(application_id)
        report = self.visible(user, self.state.application_report(application_id))
        if self.token_mode and self.access.allows(user, VIEW_APP, app.user, app.context.am_container.application_acls):
            report = dataclasses.replace(report, client_to_am_token=client_to_am_token(
                self.cluster_key, application_id, user, self.clock()))
        return report

    def require(self, user: str, operation: str, application_id: str) -> None:
        app = self.state.application(application_id)
        self.access.require(user, operation, app.user, app.context.am_container.application_acls, application_id)

    @contextlib.contextmanager
    def locked(self):
        """The lock around one event or query; what an event changed is in the state store before it is let go."""
        with self.lock:
            try:
                yield self.state
            finally:
                self._store_changes()

    def handle(self, event: Event) -> list[Command]:
        """Hand one event to the state, at the clock's time, under `locked()`; its state store writes wait for
        the lock's release (with recovery), the rest of its commands are the caller's to carry out."""
        assert self.lock.locked()
        commands = self.state.handle(event, self.clock())
        if self.store is not None:
            for command in store_commands(commands):
                if isinstance(command, StoreApplication):
                    self._unstored[command.app.application_id] = command.app
                else:
                    self._unstored[command.application_id] = None
        return commands

    def _store_changes(self) -> None:
        try:
            while self._unstored:
                application_id, app = next(iter(self._unstored.items()))
                if app is None:
                    self.store.remove(application_id)
                else:
                    self.store.store(app)
                del self._unstored[application_id]
        except OSError as error:  # what is left waits for the next call to try again; this caller hears it
            raise Unavailable(f"cannot write the ResourceManager state store {self.store.root}: {error}") from None

    def run_monitor(self, stop: threading.Event) -> None:
        """Liveness checks every MONITOR_INTERVAL_S; a bug here (an InvalidTransition) ends the thread loudly."""
        while not stop.wait(MONITOR_INTERVAL_S):
            try:
                with self.locked():
                    self.outboxes.add(node_commands(self.handle(Tick())))
            except Unavailable as error:
                logger.error("%s", error.message)


# ---------------------------------------------------------------- servicers

class ApplicationClientServicer(yarn_pb2_grpc.ApplicationClientProtocolServicer):
    def __init__(self, rm: ResourceManager):
        self.rm = rm

    @servicer_method
    def GetNewApplication(self, request, context):
        self.rm.caller(context)
        with self.rm.locked():
            answer = reply(self.rm.handle(NewApplicationRequested()), NewApplicationReply)
        return yarn_pb2.GetNewApplicationResponse(application_id=answer.application_id,
                                                  maximum_resource=answer.maximum.to_proto())

    @servicer_method
    def SubmitApplication(self, request, context):
        user = self.rm.caller(context)
        submission = ApplicationSubmissionContext.from_proto(request.context)
        self.rm.access.require_submit(user, submission.queue, submission.application_id)
        if self.rm.token_mode:
            submission = self._with_client_to_am_key(submission, user)
        with self.rm.locked():
            self.rm.handle(ApplicationSubmitted(submission, user))
        return yarn_pb2.SubmitApplicationResponse()

    def _with_client_to_am_key(self, submission: ApplicationSubmissionContext, user: str):
        """Token mode: the AM's token must be the submitter's, and the AM gets its key for clients' tokens."""
        am = submission.am_container
        if am.tokens and verify(self.rm.cluster_key, am.tokens, "delegation") != user:
            raise PermissionDenied(f"User {user} cannot submit {submission.application_id} with another "
                                   f"user's delegation token")
        key = client_to_am_key(self.rm.cluster_key, submission.application_id)
        environment = {**am.environment, CLIENT_TO_AM_KEY_ENVIRONMENT_VARIABLE: key.hex()}
        return dataclasses.replace(submission, am_container=dataclasses.replace(am, environment=environment))

    @servicer_method
    def GetApplicationReport(self, request, context):
        user = self.rm.caller(context)
        with self.rm.locked():
            report = self.rm.report_for(user, request.application_id)
        return yarn_pb2.GetApplicationReportResponse(report=report.to_proto())

    @servicer_method
    def GetApplications(self, request, context):
        user = self.rm.caller(context)
        states = [APPLICATION_STATE_WIRE.from_proto(state, "GetApplicationsRequest.states") for state in request.states]
        with self.rm.locked():
            reports = [self.rm.visible(user, report) for report in self.rm.state.application_reports(states)]
        return yarn_pb2.GetApplicationsResponse(applications=[report.to_proto() for report in reports])

    @servicer_method
    def ForceKillApplication(self, request, context):
        user = self.rm.caller(context)
        with self.rm.locked():
            self.rm.require(user, MODIFY_APP, request.application_id)
            commands = self.rm.handle(ApplicationKilled(
                request.application_id, request.diagnostics or f"Application killed by user {user}."))
            self.rm.outboxes.add(node_commands(commands))
        return yarn_pb2.KillApplicationResponse(already_finished=reply(commands, KillReply).already_finished)

    @servicer_method
    def GetClusterNodes(self, request, context):
        self.rm.caller(context)
        states = [NODE_STATE_WIRE.from_proto(state, "GetClusterNodesRequest.states") for state in request.states]
        with self.rm.locked():
            reports = self.rm.state.node_reports(states, self.rm.clock())
        return yarn_pb2.GetClusterNodesResponse(nodes=[report.to_proto() for report in reports])


class AdministrationServicer(yarn_pb2_grpc.ResourceManagerAdministrationProtocolServicer):
    def __init__(self, rm: ResourceManager):
        self.rm = rm

    @servicer_method
    def RefreshNodes(self, request, context):
        self.rm.access.require_admin(self.rm.caller(context), "refreshNodes")
        excluded = read_hosts_file(self.rm.exclude_path)
        with self.rm.locked():
            commands = self.rm.handle(NodesRefreshed(frozenset(excluded), request.graceful, request.timeout_s))
            self.rm.outboxes.add(node_commands(commands))
        changes = reply(commands, RefreshNodesReply)
        return yarn_pb2.RefreshNodesResponse(decommissioning=changes.decommissioning,
                                             decommissioned=changes.decommissioned,
                                             recommissioned=changes.recommissioned)

    @servicer_method
    def DecommissionNodes(self, request, context):
        self.rm.access.require_admin(self.rm.caller(context), "decommissionNodes")
        with self.rm.locked():
            commands = self.rm.handle(NodesDecommissioned(tuple(request.node_ids), request.graceful, request.timeout_s))
            self.rm.outboxes.add(node_commands(commands))
        reports = reply(commands, DecommissionReply).nodes
        return yarn_pb2.DecommissionNodesResponse(nodes=[report.to_proto() for report in reports])


class ApplicationMasterServicer(yarn_pb2_grpc.ApplicationMasterProtocolServicer):
    """In token mode every call must prove it is from its attempt's AM (`acls.verify_amrm`)."""

    def __init__(self, rm: ResourceManager):
        self.rm = rm

    def _authenticate(self, context, attempt_id: str) -> None:
        if self.rm.token_mode:
            verify_amrm(self.rm.cluster_key, context.invocation_metadata(), attempt_id,
                        application_of_attempt(attempt_id))

    @servicer_method
    def RegisterApplicationMaster(self, request, context):
        self._authenticate(context, request.application_attempt_id)
        with self.rm.locked():
            answer = reply(self.rm.handle(AMRegistered(
                request.application_attempt_id, request.host, request.rpc_port, request.tracking_url)),
                AMRegisterReply)
        return yarn_pb2.RegisterApplicationMasterResponse(maximum_resource=answer.maximum.to_proto(), queue=answer.queue)

    @servicer_method
    def Allocate(self, request, context):
        self._authenticate(context, request.application_attempt_id)
        asks = [ContainerRequest.from_proto(ask) for ask in request.asks]
        with self.rm.locked():
            commands = self.rm.handle(AMAllocate(
                request.application_attempt_id, request.response_id, tuple(asks), tuple(request.cancelled_request_ids),
                tuple(request.releases), request.progress))
            self.rm.outboxes.add(node_commands(commands))
        answer = reply(commands, AllocateReply)
        response_id, response = answer.response_id, answer.response
        return yarn_pb2.AllocateResponse(
            response_id=response_id, allocated=[item.to_proto() for item in response.allocated],
            completed=[item.to_proto() for item in response.completed],
            updated_nodes=[item.to_proto() for item in response.updated_nodes],
            available=response.available.to_proto(), num_cluster_nodes=response.num_cluster_nodes)

    @servicer_method
    def FinishApplicationMaster(self, request, context):
        self._authenticate(context, request.application_attempt_id)
        final_status = FINAL_APPLICATION_STATUS_WIRE.from_proto(request.final_status,
                                                                "FinishApplicationMasterRequest.final_status")
        with self.rm.locked():
            self.rm.outboxes.add(node_commands(self.rm.handle(AMFinished(
                request.application_attempt_id, final_status.value, request.diagnostics, request.tracking_url))))
        return yarn_pb2.FinishApplicationMasterResponse()


class ResourceTrackerServicer(yarn_pb2_grpc.ResourceTrackerServicer):
    def __init__(self, rm: ResourceManager):
        self.rm = rm

    @servicer_method
    def RegisterNodeManager(self, request, context):
        with self.rm.locked():
            commands = self.rm.handle(NodeRegistered(
                request.node_id, request.address, request.label, Resource.from_proto(request.capability),
                tuple(container_reports(request))))
            self.rm.outboxes.registered(request.node_id, node_commands(commands))
        answer = reply(commands, NodeRegisterReply)
        return yarn_pb2.RegisterNodeManagerResponse(action=answer.action.to_proto(), diagnostics=answer.diagnostics,
                                                    cluster_timestamp_ms=self.rm.state.cluster_timestamp_ms)

    @servicer_method
    def NodeHeartbeat(self, request, context):
        statuses = [ContainerStatus.from_proto(status) for status in request.container_statuses]
        with self.rm.locked():
            commands = self.rm.handle(NodeHeartbeat(request.node_id, tuple(statuses), request.healthy,
                                                    request.health_report))
            answer = reply(commands, NodeHeartbeatReply)
            result = self.rm.outboxes.answer(request.node_id, HeartbeatResult(answer.action, node_commands(commands),
                                                                              answer.diagnostics))
        return yarn_pb2.NodeHeartbeatResponse(
            action=result.action.to_proto(), diagnostics=result.diagnostics,
            containers_to_launch=[yarn_pb2.LaunchContainer(container=launch.container.to_proto(),
                                                           launch_context=launch.launch_context.to_proto(),
                                                           user=launch.user) for launch in result.launches],
            containers_to_cleanup=result.cleanup_containers, applications_to_cleanup=result.cleanup_applications)


def container_reports(request: yarn_pb2.RegisterNodeManagerRequest) -> list[ContainerReport]:
    return [(Container.from_proto(item.container), ContainerStatus.from_proto(item.status))
            for item in request.container_statuses]


def register_servicers(rm: ResourceManager):
    def register(server) -> None:
        yarn_pb2_grpc.add_ApplicationClientProtocolServicer_to_server(ApplicationClientServicer(rm), server)
        yarn_pb2_grpc.add_ResourceManagerAdministrationProtocolServicer_to_server(AdministrationServicer(rm), server)
        yarn_pb2_grpc.add_ApplicationMasterProtocolServicer_to_server(ApplicationMasterServicer(rm), server)
        yarn_pb2_grpc.add_ResourceTrackerServicer_to_server(ResourceTrackerServicer(rm), server)

    return register

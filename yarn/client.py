"""The YARN client: submit, watch and kill applications, list nodes (Hadoop's YarnClient).

    from yarn.client import YarnClient
    from yarn.records import ApplicationSubmissionContext, ContainerLaunchContext, Resource

    with YarnClient.for_cluster() as yarn:
        app_id = yarn.new_application()
        yarn.submit_application(ApplicationSubmissionContext(
            app_id, "hello", ContainerLaunchContext(["echo hello"]), Resource(256, 1)))
        report = yarn.wait_for_application(app_id, timeout_s=60)
        print(report.state, report.final_status)

With `connect_wait_s` (Hadoop's `yarn.resourcemanager.connect.max-wait.ms`)
an idempotent call waits that long for a ResourceManager that is down (being
restarted, say) instead of failing at once.

In token mode (`hadoop.security.authentication=token` in the cluster's properties) every call carries
what proves its user, as the HDFS client's do: the delegation token in $HADOOP_TOKEN_FILE_LOCATION, else
a statement signed with the cluster key (readable by the cluster's owner only); `credentials()` is that
metadata, for the ApplicationMaster's endpoints too.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterable

from emrlab_common.clusterdir import ClusterDir
from emrlab_common.credentials import TOKEN_FILE_ENVIRONMENT_VARIABLE
from emrlab_common.errors import DeadlineExceeded, Unavailable
from emrlab_common.protos import yarn_pb2, yarn_pb2_grpc
from emrlab_common.rpc import call, connect, current_user
from hdfs.client.client import call_credentials
from yarn.records import (
    APPLICATION_STATE_WIRE,
    NODE_STATE_WIRE,
    ApplicationReport,
    ApplicationState,
    ApplicationSubmissionContext,
    NodeReport,
    NodeState,
    Resource,
    check_application_id,
    parse_states,
)

RM_DEADLINE_S = 30.0
IDEMPOTENT_ATTEMPTS = 3
WAIT_POLL_S = 0.2
CONNECT_RETRY_S = 0.5  # between tries while the ResourceManager is down (Hadoop's connect.retry-interval.ms)


class YarnClient:
    def __init__(self, rm_address: str, *, user: str | None = None, connect_wait_s: float = 0.0):
        self.rm_address = rm_address
        self.user = user or current_user()
        self.connect_wait_s = connect_wait_s
        self._channel = connect(rm_address)
        self._client = yarn_pb2_grpc.ApplicationClientProtocolStub(self._channel)
        self._admin = yarn_pb2_grpc.ResourceManagerAdministrationProtocolStub(self._channel)
        self.maximum_resource: Resource | None = None
        self.cluster_dir: ClusterDir | None = None  # known: in secure mode, submissions carry a delegation token

    @classmethod
    def for_cluster(cls, cluster_dir: ClusterDir | str | None = None, user: str | None = None) -> YarnClient:
        if not isinstance(cluster_dir, ClusterDir):
            cluster_dir = ClusterDir.resolve(cluster_dir)
        client = cls(cluster_dir.address_of("resourcemanager"), user=user)
        client.cluster_dir = cluster_dir
        client.authentication = cluster_dir.properties().get("hadoop.security.authentication", "simple")
        return client

    authentication = ""  # the cluster's mode when known; unknown: a token file in the environment is sent

    def credentials(self) -> tuple[tuple[str, str], ...]:
        """Call metadata proving this client's user in token mode; () in simple mode."""
        mode = self.authentication or ("token" if os.environ.get(TOKEN_FILE_ENVIRONMENT_VARIABLE) else "simple")
        return call_credentials(mode, self.cluster_dir.root if self.cluster_dir else None, self.user)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> YarnClient:
        return self

    def __exit__(self, *exception) -> None:
        self.close()

    def _call(self, method, request, idempotent: bool = True):
        deadline = time.monotonic() + (self.connect_wait_s if idempotent else 0.0)
        while True:
            try:
                return call(method, request, timeout_s=RM_DEADLINE_S, user=self.user, metadata=self.credentials(),
                            attempts_max=IDEMPOTENT_ATTEMPTS if idempotent else 1, peer="resourcemanager")
            except Unavailable:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(CONNECT_RETRY_S)

    # ------------------------------------------------------------ applications

    def new_application(self) -> str:
        response = self._call(self._client.GetNewApplication, yarn_pb2.GetNewApplicationRequest(), idempotent=False)
        self.maximum_resource = Resource.from_proto(response.maximum_resource)
        return response.application_id

    def submit_application(self, context: ApplicationSubmissionContext) -> None:
        """In token mode the AM's launch context gets a delegation token for this user (Hadoop's job
        submitter obtains one from the NameNode): its containers run as that user, and use it for HDFS."""
        if not context.am_container.tokens and self.cluster_dir is not None:
            tokens = submitter_token(self.cluster_dir, self.user)
            if tokens:
                context = dataclasses.replace(context, am_container=dataclasses.replace(context.am_container,
                                                                                        tokens=tokens))
        self._call(self._client.SubmitApplication, yarn_pb2.SubmitApplicationRequest(context=context.to_proto()))

    def application_report(self, application_id: str) -> ApplicationReport:
        check_application_id(application_id)
        response = self._call(self._client.GetApplicationReport,
                              yarn_pb2.GetApplicationReportRequest(application_id=application_id))
        return ApplicationReport.from_proto(response.report)

    def applications(self, states: Iterable[ApplicationState | str] | None = None) -> list[ApplicationReport]:
        names = [state.value if isinstance(state, ApplicationState) else state for state in states or ()]
        wanted = [APPLICATION_STATE_WIRE.to_proto(state) for state in parse_states(ApplicationState, names)]
        response = self._call(self._client.GetApplications, yarn_pb2.GetApplicationsRequest(states=wanted))
        return [ApplicationReport.from_proto(report) for report in response.applications]

    def kill_application(self, application_id: str, diagnostics: str = "") -> bool:
        """Kill it and its containers; returns True if it had already finished."""
        check_application_id(application_id)
        response = self._call(self._client.ForceKillApplication, yarn_pb2.KillApplicationRequest(
            application_id=application_id, diagnostics=diagnostics))
        return response.already_finished

    def wait_for_application(self, application_id: str, timeout_s: float = 600.0,
                             poll_s: float = WAIT_POLL_S) -> ApplicationReport:
        """Poll until the application is FINISHED, FAILED or KILLED; returns its final report."""
        deadline = time.monotonic() + timeout_s
        while True:
            report = self.application_report(application_id)
            if report.state.is_final:
                return report
            if time.monotonic() >= deadline:
                raise DeadlineExceeded(f"{application_id} still {report.state.value} after {timeout_s:.0f}s")
            time.sleep(poll_s)

    # ------------------------------------------------------------ nodes

    def nodes(self, states: Iterable[NodeState | str] | None = None) -> list[NodeReport]:
        names = [state.value if isinstance(state, NodeState) else state for state in states or ()]
        wanted = [NODE_STATE_WIRE.to_proto(state) for state in parse_states(NodeState, names)]
        response = self._call(self._client.GetClusterNodes, yarn_pb2.GetClusterNodesRequest(states=wanted))
        return [NodeReport.from_proto(node) for node in response.nodes]

    def decommission_nodes(self, node_ids: list[str], *, graceful: bool = True, timeout_s: float = 0.0) -> list[NodeReport]:
        """Decommission named nodes (gracefully: they finish their containers first, up to `timeout_s`)."""
        response = self._call(self._admin.DecommissionNodes, yarn_pb2.DecommissionNodesRequest(
            node_ids=node_ids, graceful=graceful, timeout_s=timeout_s))
        return [NodeReport.from_proto(node) for node in response.nodes]

    def refresh_nodes(self, *, graceful: bool = False, timeout_s: float = 0.0) -> yarn_pb2.RefreshNodesResponse:
        """Make the RM re-read its exclude file (`yarn rmadmin -refreshNodes`)."""
        return self._call(self._admin.RefreshNodes, yarn_pb2.RefreshNodesRequest(graceful=graceful, timeout_s=timeout_s))


def submitter_token(cluster_dir: ClusterDir, user: str) -> str:
    """A delegation token for `user` from the cluster's NameNode in token mode; "" in simple mode."""
    if cluster_dir.properties().get("hadoop.security.authentication", "simple") != "token":
        return ""
    from hdfs import Client

    with Client.for_cluster(cluster_dir, user=user) as hdfs:
        return hdfs.delegation_token()

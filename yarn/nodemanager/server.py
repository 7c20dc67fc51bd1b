"""The NodeManager's gRPC face (ContainerManagementProtocol): thin servicers over `NodeManager`.

In token mode, starting or stopping a container needs its application's AM's proof (Hadoop's NMToken;
`yarn.resourcemanager.acls.verify_am_proof`): no other user starts containers for, or kills, an application.
"""

from __future__ import annotations

from emrlab_common.errors import PermissionDenied, ResourceExhausted
from emrlab_common.protos import yarn_pb2, yarn_pb2_grpc
from emrlab_common.rpc import caller_user, servicer_method
from yarn.containerlogs import read_logs
from yarn.errors import ContainerNotFound
from yarn.nodemanager.node import NodeManager
from yarn.records import (
    Container,
    ContainerExitStatus,
    ContainerLaunchContext,
    ContainerState,
    ContainerStatus,
    application_of_container,
)
from yarn.resourcemanager.acls import NM, verify_am_proof


class ContainerManagementServicer(yarn_pb2_grpc.ContainerManagementProtocolServicer):
    def __init__(self, node: NodeManager):
        self.node = node

    def _authenticate(self, context, container_id: str) -> None:
        key = self.node.users.cluster_key
        if key is not None:
            application_id = application_of_container(container_id)
            verify_am_proof(key, context.invocation_metadata(), NM, application_id, application_id)

    @servicer_method
    def StartContainers(self, request, context):
        succeeded, failed = [], {}
        for launch in request.containers:
            container = Container.from_proto(launch.container)
            if container.node_id != self.node.node_id:
                failed[container.id] = f"container {container.id} is for node {container.node_id}, not {self.node.node_id}"
                continue
            try:
                self._authenticate(context, container.id)
            except PermissionDenied as error:
                failed[container.id] = error.message
                continue
            try:
                self.node.start_container(container, ContainerLaunchContext.from_proto(launch.launch_context),
                                          launch.user or caller_user(context))
            except ResourceExhausted as error:
                failed[container.id] = error.message
                continue
            succeeded.append(container.id)
        return yarn_pb2.StartContainersResponse(succeeded=succeeded, failed=failed)

    @servicer_method
    def StopContainers(self, request, context):
        for container_id in request.container_ids:
            self._authenticate(context, container_id)
            try:
                self.node.stop_container(container_id, ContainerExitStatus.KILLED_BY_APPMASTER,
                                         "Container killed by the ApplicationMaster.")
            except ContainerNotFound:
                continue  # already gone: stopping is idempotent
        return yarn_pb2.StopContainersResponse()

    @servicer_method
    def GetContainerStatuses(self, request, context):
        statuses = []
        for container_id in request.container_ids:
            try:
                statuses.append(self.node.container_status(container_id))
            except ContainerNotFound:
                statuses.append(ContainerStatus(container_id, ContainerState.COMPLETE, ContainerExitStatus.INVALID,
                                                f"Container {container_id} is not known on {self.node.node_id}"))
        return yarn_pb2.GetContainerStatusesResponse(statuses=[status.to_proto() for status in statuses])

    @servicer_method
    def GetContainerLogs(self, request, context):
        files = read_logs(self.node.log_dir, self.node.node_id, request.application_id, request.container_id,
                          request.bytes_max)
        return yarn_pb2.GetContainerLogsResponse(files=[
            yarn_pb2.ContainerLogFile(container_id=item.container_id, name=item.name, content=item.content,
                                      length_bytes=item.length_bytes) for item in files])


def register_servicers(node: NodeManager):
    def register(server) -> None:
        yarn_pb2_grpc.add_ContainerManagementProtocolServicer_to_server(ContainerManagementServicer(node), server)
        for service in node.aux_services.values():
            service.add_servicers(server)

    return register

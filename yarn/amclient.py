"""What an ApplicationMaster uses: AMRMClient to talk to the ResourceManager, NMClient to the NodeManagers.

Inside the AM's container (the NodeManager set up its environment):

    rm = AMRMClient.from_environment()
    rm.register(host, port)
    rm.add_request(ContainerRequest(Resource(256, 1), nodes=("core-2",)))   # one request = one container
    nm = NMClient()
    while work_left:
        response = rm.allocate(progress)           # also the AM's heartbeat: call it every second or so
        for container in response.allocated:
            nm.start_container(container, ContainerLaunchContext(["echo hi"]))
        for status in response.completed:          # exit_status, diagnostics; is_lost(...) = not its fault
            ...
    rm.finish(FinalApplicationStatus.SUCCEEDED)

A satisfied request is gone by itself (the container names it in
`allocation_request_id`); `remove_request` cancels one still pending. An AM
that keeps its own books (the MapReduce AM) chooses the ids itself: a request
that arrives with a non-zero `allocation_request_id` keeps it.
`updated_nodes` in an allocate answer are the nodes whose state changed since
the last one (DECOMMISSIONING: graceful decommission, no new containers
there; LOST, DECOMMISSIONED: gone with their containers).
Asks, cancellations and releases are sent on the next `allocate`, and kept
for the one after if that call fails. If the ResourceManager restarted and
recovered the application, it answers ApplicationMasterNotRegistered: the
client registers again, as it did at first, and re-sends every request still
pending (Hadoop's AMRMClient resync); the AM sees only a slower allocate.
`finish` keeps trying an RM that is down for FINISH_WAIT_S, so that the
application's end is not lost to a restart.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import threading
import time
from pathlib import Path

from emrlab_common.channels import ChannelCache
from emrlab_common.clusterdir import ClusterDir
from emrlab_common.credentials import TOKEN_FILE_ENVIRONMENT_VARIABLE
from emrlab_common.errors import EmrlabError, FailedPrecondition, Unavailable
from emrlab_common.protos import yarn_pb2, yarn_pb2_grpc
from emrlab_common.rpc import call, connect, current_user
from yarn.errors import ApplicationMasterNotRegistered
from yarn.records import (
    FINAL_APPLICATION_STATUS_WIRE,
    AllocateResponse,
    Container,
    ContainerLaunchContext,
    ContainerRequest,
    ContainerStatus,
    FinalApplicationStatus,
    Resource,
    application_of_container,
)
from yarn.resourcemanager.acls import NM, am_proof_metadata, amrm_metadata

__all__ = ["AMRMClient", "NMClient", "ContainerRequest", "AllocateResponse"]

RM_DEADLINE_S = 30.0
NM_DEADLINE_S = 30.0
IDEMPOTENT_ATTEMPTS = 3
NM_CHANNELS_MAX = 256
FINISH_WAIT_S = 60.0  # how long `finish` keeps trying a ResourceManager that is down (restarting)
FINISH_RETRY_S = 0.5


class AMRMClient:
    def __init__(self, rm_address: str, attempt_id: str, *, user: str | None = None):
        self.attempt_id = attempt_id
        self.user = user or current_user()
        self._channel = connect(rm_address)
        self._stub = yarn_pb2_grpc.ApplicationMasterProtocolStub(self._channel)
        self._lock = threading.Lock()
        self._request_ids = itertools.count(1)
        self._asks: dict[int, ContainerRequest] = {}
        self._cancelled: set[int] = set()
        self._releases: set[str] = set()
        self.pending: dict[int, ContainerRequest] = {}  # asked for and not yet allocated
        self._response_id = 0
        self.maximum_resource: Resource | None = None
        self.queue = ""
        self._registration: yarn_pb2.RegisterApplicationMasterRequest | None = None

    @classmethod
    def from_environment(cls, environment: dict[str, str] | None = None) -> AMRMClient:
        """The client for the AM running in this container (APPLICATION_ATTEMPT_ID, EMRLAB_CLUSTER)."""
        environment = os.environ if environment is None else environment
        missing = [name for name in ("APPLICATION_ATTEMPT_ID", "EMRLAB_CLUSTER") if not environment.get(name)]
        if missing:
            raise FailedPrecondition(f"not inside a YARN container: {', '.join(missing)} not set")
        cluster_dir = ClusterDir(environment["EMRLAB_CLUSTER"])
        return cls(cluster_dir.address_of("resourcemanager"), environment["APPLICATION_ATTEMPT_ID"],
                   user=environment.get("HADOOP_USER_NAME") or environment.get("USER"))

    def close(self) -> None:
        self._channel.close()

    def _call(self, method, request):
        return call(method, request, timeout_s=RM_DEADLINE_S, user=self.user, attempts_max=IDEMPOTENT_ATTEMPTS,
                    metadata=amrm_metadata(self.attempt_id), peer="resourcemanager")

    def register(self, host: str, rpc_port: int, tracking_url: str = "") -> None:
        self._registration = yarn_pb2.RegisterApplicationMasterRequest(
            application_attempt_id=self.attempt_id, host=host, rpc_port=rpc_port, tracking_url=tracking_url)
        self._register()

    def _register(self) -> None:
        response = self._call(self._stub.RegisterApplicationMaster, self._registration)
        self.maximum_resource = Resource.from_proto(response.maximum_resource)
        self.queue = response.queue

    def _resync(self) -> None:
        """The ResourceManager restarted and recovered this attempt: register again, re-send what is pending."""
        self._register()
        with self._lock:
            self._asks = {**self.pending, **self._asks}
            self._response_id = 0

    def add_request(self, request: ContainerRequest) -> ContainerRequest:
        """Ask for one container; returns the request with its allocation_request_id filled in
        (the caller's, if it chose one: ids are unique per application, 0 is the AM's own)."""
        with self._lock:
            request_id = request.allocation_request_id or next(self._request_ids)
            if request_id in self.pending:
                raise FailedPrecondition(f"allocation request id {request_id} is already pending")
            request = ContainerRequest(request.resource, tuple(request.nodes), request.relax_locality,
                                       request.priority, request_id)
            self._asks[request.allocation_request_id] = request
            self.pending[request.allocation_request_id] = request
            return request

    def remove_request(self, request: ContainerRequest) -> None:
        with self._lock:
            request_id = request.allocation_request_id
            if self.pending.pop(request_id, None) is None:
                return
            if self._asks.pop(request_id, None) is None:
                self._cancelled.add(request_id)

    def release(self, container_id: str) -> None:
        """Give a container back (unused, or done with); it is stopped if running."""
        with self._lock:
            self._releases.add(container_id)

    @property
    def has_news(self) -> bool:
        """Whether there are asks, cancellations or releases the ResourceManager has not heard yet."""
        with self._lock:
            return bool(self._asks or self._cancelled or self._releases)

    def allocate(self, progress: float) -> AllocateResponse:
        try:
            return self._allocate(progress)
        except ApplicationMasterNotRegistered:
            self._resync()
            return self._allocate(progress)

    def _allocate(self, progress: float) -> AllocateResponse:
        with self._lock:
            asks, cancelled, releases = self._asks, self._cancelled, self._releases
            self._asks, self._cancelled, self._releases = {}, set(), set()
            request = yarn_pb2.AllocateRequest(
                application_attempt_id=self.attempt_id, response_id=self._response_id,
                asks=[ask.to_proto() for ask in asks.values()], cancelled_request_ids=sorted(cancelled),
                releases=sorted(releases), progress=progress)
        try:
            message = self._call(self._stub.Allocate, request)
        except EmrlabError:
            with self._lock:  # keep them for the next call
                self._asks = {**asks, **self._asks}
                self._cancelled |= cancelled
                self._releases |= releases
            raise
        response = AllocateResponse.from_proto(message)
        with self._lock:
            self._response_id = message.response_id
            for container in response.allocated:
                self.pending.pop(container.allocation_request_id, None)
        return response

    def finish(self, final_status: FinalApplicationStatus, diagnostics: str = "", tracking_url: str = "") -> None:
        """Unregister: the application ends with this final status (SUCCEEDED, FAILED or KILLED)."""
        request = yarn_pb2.FinishApplicationMasterRequest(
            application_attempt_id=self.attempt_id, final_status=FINAL_APPLICATION_STATUS_WIRE.to_proto(final_status),
            diagnostics=diagnostics, tracking_url=tracking_url)
        deadline, resynced = time.monotonic() + FINISH_WAIT_S, False
        while True:
            try:
                self._call(self._stub.FinishApplicationMaster, request)
                return
            except ApplicationMasterNotRegistered:
                if resynced:
                    raise
                self._resync()
                resynced = True
            except Unavailable:  # the RM is restarting: the application's end must still reach it
                if time.monotonic() >= deadline:
                    raise
                time.sleep(FINISH_RETRY_S)


class NMClient:
    """Start, stop and ask about containers on the NodeManagers that hold them."""

    def __init__(self, user: str | None = None):
        self.user = user or current_user()
        # One channel per NodeManager, at most NM_CHANNELS_MAX: past it the least recently used idle one is
        # closed, and none while a call is made on it.
        self._channels = ChannelCache(connect, yarn_pb2_grpc.ContainerManagementProtocolStub, limit=NM_CHANNELS_MAX)

    def close(self) -> None:
        """Close the channels: idle ones now, ones a call is on when it ends; no calls after this."""
        self._channels.close()

    def _call(self, container: Container, method, request):
        return call(method, request, timeout_s=NM_DEADLINE_S, user=self.user, attempts_max=IDEMPOTENT_ATTEMPTS,
                    metadata=am_proof_metadata(NM, application_of_container(container.id)),
                    peer=f"nodemanager-{container.node_id}")

    def start_container(self, container: Container, launch_context: ContainerLaunchContext) -> None:
        token_file = os.environ.get(TOKEN_FILE_ENVIRONMENT_VARIABLE)
        if token_file and not launch_context.tokens:  # secure mode: our containers are our user's, as we are
            launch_context = dataclasses.replace(launch_context, tokens=Path(token_file).read_text().strip())
        with self._channels.hold(container.node_address) as stub:
            response = self._call(container, stub.StartContainers, yarn_pb2.StartContainersRequest(containers=[
                yarn_pb2.LaunchContainer(container=container.to_proto(), launch_context=launch_context.to_proto(),
                                         user=self.user)]))
        if container.id in response.failed:
            raise FailedPrecondition(response.failed[container.id])

    def stop_container(self, container: Container) -> None:
        with self._channels.hold(container.node_address) as stub:
            self._call(container, stub.StopContainers, yarn_pb2.StopContainersRequest(container_ids=[container.id]))

    def container_status(self, container: Container) -> ContainerStatus:
        with self._channels.hold(container.node_address) as stub:
            response = self._call(container, stub.GetContainerStatuses,
                                  yarn_pb2.GetContainerStatusesRequest(container_ids=[container.id]))
        return ContainerStatus.from_proto(response.statuses[0])

"""YARN's records: what clients, ApplicationMasters and daemons pass around.

The `.proto` messages are the wire; these frozen dataclasses and enums are
what Python code on every side uses, with Hadoop's names. One place converts
between the two (`to_proto` / `from_proto`); the lifecycle enums travel as
Hadoop's proto enums through the `*_WIRE` pairs below.

Ids have Hadoop's shapes, so a student can read a real cluster's logs:
`application_<cluster ts>_0001`, `appattempt_<cluster ts>_0001_000001`,
`container_<cluster ts>_0001_01_000001`.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from emrlab_common.errors import InvalidArgument
from emrlab_common.protos import yarn_pb2
from emrlab_common.wireenum import WireEnum


class NodeState(enum.Enum):
    NEW = "NEW"
    RUNNING = "RUNNING"
    UNHEALTHY = "UNHEALTHY"
    DECOMMISSIONING = "DECOMMISSIONING"
    DECOMMISSIONED = "DECOMMISSIONED"
    LOST = "LOST"


class ApplicationState(enum.Enum):
    NEW = "NEW"
    SUBMITTED = "SUBMITTED"
    ACCEPTED = "ACCEPTED"
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def is_final(self) -> bool:
        return self in (ApplicationState.FINISHED, ApplicationState.FAILED, ApplicationState.KILLED)


class FinalApplicationStatus(enum.Enum):
    UNDEFINED = "UNDEFINED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    KILLED = "KILLED"


class ContainerState(enum.Enum):
    NEW = "NEW"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"


NODE_STATE_WIRE = WireEnum(NodeState, yarn_pb2.NodeStateProto, "NS_")
APPLICATION_STATE_WIRE = WireEnum(ApplicationState, yarn_pb2.YarnApplicationStateProto)
FINAL_APPLICATION_STATUS_WIRE = WireEnum(FinalApplicationStatus, yarn_pb2.FinalApplicationStatusProto, "APP_")
CONTAINER_STATE_WIRE = WireEnum(ContainerState, yarn_pb2.ContainerStateProto, "C_")


class NodeAction(enum.Enum):
    """What the ResourceManager tells a NodeManager on register and heartbeat (a proto enum on the wire)."""

    NORMAL = "NORMAL"
    RESYNC = "RESYNC"  # the RM does not know the node: register again, reporting every container
    SHUTDOWN = "SHUTDOWN"  # excluded or decommissioned: stop the NodeManager

    def to_proto(self) -> int:
        return yarn_pb2.NodeAction.Value(self.value)

    @classmethod
    def from_proto(cls, value: int) -> NodeAction:
        return cls(yarn_pb2.NodeAction.Name(value))


class ContainerExitStatus:
    """Exit statuses YARN itself gives a container (a process's own exit code is >= 0)."""

    SUCCESS = 0
    INVALID = -1000
    ABORTED = -100  # its node was lost or decommissioned, or it was released
    DISKS_FAILED = -101
    PREEMPTED = -102
    KILLED_EXCEEDED_VMEM = -103
    KILLED_EXCEEDED_PMEM = -104
    KILLED_BY_APPMASTER = -105
    KILLED_BY_RESOURCEMANAGER = -106
    KILLED_AFTER_APP_COMPLETION = -107

    @staticmethod
    def is_lost(exit_status: int) -> bool:
        """Lost, not failed: the container did nothing wrong, so its attempt is KILLED and not counted."""
        return exit_status in (ContainerExitStatus.ABORTED, ContainerExitStatus.PREEMPTED,
                               ContainerExitStatus.DISKS_FAILED, ContainerExitStatus.KILLED_BY_RESOURCEMANAGER)


CORE, TASK = "CORE", "TASK"


def parse_states(enum_class, names) -> list:
    """["running", "LOST"] -> [NodeState.RUNNING, NodeState.LOST], or a clear error naming the known states."""
    try:
        return [enum_class(name.strip().upper()) for name in names]
    except ValueError:
        known = ", ".join(member.value for member in enum_class)
        raise InvalidArgument(f"invalid state in {', '.join(names)} (known: {known})") from None


# ---------------------------------------------------------------- ids

_APPLICATION_ID = re.compile(r"^application_(\d+)_(\d+)$")
_CONTAINER_ID = re.compile(r"^container_(\d+)_(\d+)_(\d+)_(\d+)$")


def application_id(cluster_timestamp_ms: int, sequence: int) -> str:
    return f"application_{cluster_timestamp_ms}_{sequence:04d}"


def attempt_id(application: str, attempt_number: int) -> str:
    return application.replace("application_", "appattempt_", 1) + f"_{attempt_number:06d}"


def container_id(application: str, attempt_number: int, sequence: int) -> str:
    return application.replace("application_", "container_", 1) + f"_{attempt_number:02d}_{sequence:06d}"


def check_application_id(text: str) -> str:
    if not _APPLICATION_ID.match(text or ""):
        raise InvalidArgument(f"invalid application id {text!r} (expected application_<timestamp>_<number>)")
    return text


def application_of_attempt(attempt: str) -> str:
    """appattempt_T_0001_000002 -> application_T_0001."""
    return "application_" + attempt.removeprefix("appattempt_").rsplit("_", 1)[0]


def application_of_container(container: str) -> str:
    """container_T_0001_01_000003 -> application_T_0001."""
    match = _CONTAINER_ID.match(container or "")
    if not match:
        raise InvalidArgument(f"invalid container id {container!r} (expected container_<ts>_<app>_<attempt>_<n>)")
    return f"application_{match.group(1)}_{match.group(2)}"


def attempt_of_container(container: str) -> str:
    match = _CONTAINER_ID.match(container or "")
    if not match:
        raise InvalidArgument(f"invalid container id {container!r}")
    return attempt_id(f"application_{match.group(1)}_{match.group(2)}", int(match.group(3)))


# ---------------------------------------------------------------- records

@dataclass(frozen=True, order=True)
class Resource:
    memory_mb: int
    vcores: int = 1

    def __add__(self, other: Resource) -> Resource:
        return Resource(self.memory_mb + other.memory_mb, self.vcores + other.vcores)

    def __sub__(self, other: Resource) -> Resource:
        return Resource(self.memory_mb - other.memory_mb, self.vcores - other.vcores)

    def fits_in(self, other: Resource) -> bool:
        return self.memory_mb <= other.memory_mb and self.vcores <= other.vcores

    def __str__(self) -> str:
        return f"<memory:{self.memory_mb}, vCores:{self.vcores}>"

    def to_proto(self) -> yarn_pb2.Resource:
        return yarn_pb2.Resource(memory_mb=self.memory_mb, vcores=self.vcores)

    @classmethod
    def from_proto(cls, message: yarn_pb2.Resource) -> Resource:
        return cls(message.memory_mb, message.vcores)


NO_RESOURCE = Resource(0, 0)


@dataclass(frozen=True)
class ContainerLaunchContext:
    """What a container runs. Commands run with `bash -c`, joined by ` && `."""

    commands: list[str]
    environment: dict[str, str] = field(default_factory=dict)
    local_resources: dict[str, str] = field(default_factory=dict)  # name in the working dir -> hdfs:/// or file:///
    service_data: dict[str, bytes] = field(default_factory=dict)  # aux service name -> its data
    tokens: str = ""  # secure mode: the submitter's delegation token; the NodeManager runs the container as its user
    application_acls: dict[str, str] = field(default_factory=dict)  # VIEW_APP/MODIFY_APP -> ACL (yarn/resourcemanager/acls.py)

    def to_proto(self) -> yarn_pb2.ContainerLaunchContext:
        return yarn_pb2.ContainerLaunchContext(commands=list(self.commands), environment=dict(self.environment),
                                               local_resources=dict(self.local_resources),
                                               service_data=dict(self.service_data), tokens=self.tokens,
                                               application_acls=dict(self.application_acls))

    @classmethod
    def from_proto(cls, message: yarn_pb2.ContainerLaunchContext) -> ContainerLaunchContext:
        return cls(list(message.commands), dict(message.environment), dict(message.local_resources),
                   dict(message.service_data), message.tokens, dict(message.application_acls))


@dataclass(frozen=True)
class ApplicationSubmissionContext:
    application_id: str
    name: str
    am_container: ContainerLaunchContext
    resource: Resource
    queue: str = "default"
    application_type: str = "YARN"
    max_app_attempts: int | None = None

    def to_proto(self) -> yarn_pb2.ApplicationSubmissionContext:
        return yarn_pb2.ApplicationSubmissionContext(
            application_id=self.application_id, name=self.name, am_container=self.am_container.to_proto(),
            resource=self.resource.to_proto(), queue=self.queue, application_type=self.application_type,
            max_app_attempts=self.max_app_attempts or 0)

    @classmethod
    def from_proto(cls, message: yarn_pb2.ApplicationSubmissionContext) -> ApplicationSubmissionContext:
        return cls(message.application_id, message.name, ContainerLaunchContext.from_proto(message.am_container),
                   Resource.from_proto(message.resource), message.queue or "default",
                   message.application_type or "YARN", message.max_app_attempts or None)


@dataclass(frozen=True)
class Container:
    id: str
    node_id: str
    node_address: str
    resource: Resource
    priority: int = 0
    allocation_request_id: int = 0

    def to_proto(self) -> yarn_pb2.Container:
        return yarn_pb2.Container(id=self.id, node_id=self.node_id, node_address=self.node_address,
                                  resource=self.resource.to_proto(), priority=self.priority,
                                  allocation_request_id=self.allocation_request_id)

    @classmethod
    def from_proto(cls, message: yarn_pb2.Container) -> Container:
        return cls(message.id, message.node_id, message.node_address, Resource.from_proto(message.resource),
                   message.priority, message.allocation_request_id)


@dataclass(frozen=True)
class ContainerStatus:
    container_id: str
    state: ContainerState
    exit_status: int = ContainerExitStatus.INVALID
    diagnostics: str = ""

    def to_proto(self) -> yarn_pb2.ContainerStatus:
        return yarn_pb2.ContainerStatus(
            container_id=self.container_id, state=CONTAINER_STATE_WIRE.to_proto(self.state),
            exit_status=self.exit_status, diagnostics=self.diagnostics)

    @classmethod
    def from_proto(cls, message: yarn_pb2.ContainerStatus) -> ContainerStatus:
        return cls(message.container_id, CONTAINER_STATE_WIRE.from_proto(message.state, "ContainerStatus.state"),
                   message.exit_status, message.diagnostics)


@dataclass(frozen=True)
class ContainerRequest:
    """One container an ApplicationMaster wants: where (nodes first, then anywhere if relaxed) and how big."""

    resource: Resource
    nodes: tuple[str, ...] = ()
    relax_locality: bool = True
    priority: int = 0
    allocation_request_id: int = 0  # set by AMRMClient.add_request

    def to_proto(self) -> yarn_pb2.ResourceRequest:
        return yarn_pb2.ResourceRequest(allocation_request_id=self.allocation_request_id,
                                        resource=self.resource.to_proto(), nodes=list(self.nodes),
                                        relax_locality=self.relax_locality, priority=self.priority)

    @classmethod
    def from_proto(cls, message: yarn_pb2.ResourceRequest) -> ContainerRequest:
        return cls(Resource.from_proto(message.resource), tuple(message.nodes), message.relax_locality,
                   message.priority, message.allocation_request_id)


@dataclass(frozen=True)
class NodeReport:
    node_id: str
    address: str
    state: NodeState
    label: str
    used: Resource
    capability: Resource
    num_containers: int
    health_report: str = ""
    last_heartbeat_age_s: float = 0.0

    def to_proto(self) -> yarn_pb2.NodeReport:
        return yarn_pb2.NodeReport(
            node_id=self.node_id, address=self.address, state=NODE_STATE_WIRE.to_proto(self.state), label=self.label,
            used=self.used.to_proto(), capability=self.capability.to_proto(), num_containers=self.num_containers,
            health_report=self.health_report, last_heartbeat_age_s=self.last_heartbeat_age_s)

    @classmethod
    def from_proto(cls, message: yarn_pb2.NodeReport) -> NodeReport:
        return cls(message.node_id, message.address, NODE_STATE_WIRE.from_proto(message.state, "NodeReport.state"),
                   message.label,
                   Resource.from_proto(message.used), Resource.from_proto(message.capability),
                   message.num_containers, message.health_report, message.last_heartbeat_age_s)


@dataclass(frozen=True)
class ApplicationReport:
    application_id: str
    name: str
    user: str
    queue: str
    application_type: str
    state: ApplicationState
    final_status: FinalApplicationStatus
    diagnostics: str = ""
    progress: float = 0.0
    host: str = ""
    rpc_port: int = 0
    tracking_url: str = ""
    start_time_ms: int = 0
    finish_time_ms: int = 0
    current_attempt_id: str = ""
    am_container_id: str = ""
    am_node_id: str = ""
    attempts: int = 0
    used: Resource = NO_RESOURCE
    running_containers: int = 0
    pending_containers: int = 0
    client_to_am_token: str = ""  # secure mode: what this caller shows the ApplicationMaster

    @property
    def am_address(self) -> str:
        """host:port of the ApplicationMaster's own RPC server, once it has registered."""
        return f"{self.host}:{self.rpc_port}" if self.host and self.rpc_port else ""

    def to_proto(self) -> yarn_pb2.ApplicationReport:
        return yarn_pb2.ApplicationReport(
            application_id=self.application_id, name=self.name, user=self.user, queue=self.queue,
            application_type=self.application_type, state=APPLICATION_STATE_WIRE.to_proto(self.state),
            final_status=FINAL_APPLICATION_STATUS_WIRE.to_proto(self.final_status),
            diagnostics=self.diagnostics, progress=self.progress, host=self.host, rpc_port=self.rpc_port,
            tracking_url=self.tracking_url, start_time_ms=self.start_time_ms, finish_time_ms=self.finish_time_ms,
            current_attempt_id=self.current_attempt_id, am_container_id=self.am_container_id,
            am_node_id=self.am_node_id, attempts=self.attempts, used=self.used.to_proto(),
            running_containers=self.running_containers, pending_containers=self.pending_containers,
            client_to_am_token=self.client_to_am_token)

    @classmethod
    def from_proto(cls, message: yarn_pb2.ApplicationReport) -> ApplicationReport:
        return cls(
            message.application_id, message.name, message.user, message.queue, message.application_type,
            APPLICATION_STATE_WIRE.from_proto(message.state, "ApplicationReport.state"),
            FINAL_APPLICATION_STATUS_WIRE.from_proto(message.final_status, "ApplicationReport.final_status"),
            message.diagnostics,
            message.progress, message.host, message.rpc_port, message.tracking_url, message.start_time_ms,
            message.finish_time_ms, message.current_attempt_id, message.am_container_id, message.am_node_id,
            message.attempts, Resource.from_proto(message.used), message.running_containers,
            message.pending_containers, message.client_to_am_token)


@dataclass(frozen=True)
class AllocateResponse:
    allocated: list[Container]
    completed: list[ContainerStatus]
    updated_nodes: list[NodeReport]
    available: Resource
    num_cluster_nodes: int

    @classmethod
    def from_proto(cls, message: yarn_pb2.AllocateResponse) -> AllocateResponse:
        return cls([Container.from_proto(item) for item in message.allocated],
                   [ContainerStatus.from_proto(item) for item in message.completed],
                   [NodeReport.from_proto(item) for item in message.updated_nodes],
                   Resource.from_proto(message.available), message.num_cluster_nodes)

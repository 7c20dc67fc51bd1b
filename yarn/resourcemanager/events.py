"""The ResourceManager's events in and commands out, declared in one place (`ResourceManagerState.handle`).

Every call that changes the RM's state is one of the events below, handed to
`handle(event, now_s)`, which returns a list of commands:

- the NodeManager commands below (launch, clean up), which the shell
  (server.py) keeps in the nodes' outboxes (containers.py) until their
  heartbeats;
- for an event that is an RPC, exactly one reply below, which the shell turns
  into the RPC's response (`Tick` and `StateRecovered` are not RPCs: no reply);
- with recovery, the state store writes (`StoreApplication`,
  `RemoveStoredApplication`) for every application whose durable part the
  event changed, which the shell carries out before it answers.

The events come from NodeManagers (NodeRegistered, NodeHeartbeat),
ApplicationMasters (AMRegistered, AMAllocate, AMFinished), clients
(NewApplicationRequested, ApplicationSubmitted, ApplicationKilled),
administrators (NodesDecommissioned, NodesRefreshed), the process at start
(StateRecovered) and the liveness monitor (Tick). Reads (reports, the maximum
resource) are not events: they are the state's query methods.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from yarn.records import (
    AllocateResponse,
    ApplicationSubmissionContext,
    Container,
    ContainerLaunchContext,
    ContainerRequest,
    ContainerStatus,
    NodeAction,
    NodeReport,
    Resource,
)
from yarn.resourcemanager.applications import RMApp

ContainerReport = tuple[Container, ContainerStatus]  # what a re-registering NodeManager says of one container

# ---------------------------------------------------------------- events: NodeManagers


@dataclass(frozen=True)
class NodeRegistered:
    """RegisterNodeManager: a NodeManager (re)starts, or re-registers after a RESYNC, with its containers."""

    node_id: str
    address: str
    label: str
    capability: Resource
    reports: tuple[ContainerReport, ...] = ()


@dataclass(frozen=True)
class NodeHeartbeat:
    node_id: str
    statuses: tuple[ContainerStatus, ...]
    healthy: bool
    health_report: str


# ---------------------------------------------------------------- events: ApplicationMasters


@dataclass(frozen=True)
class AMRegistered:
    """RegisterApplicationMaster."""

    attempt: str
    host: str
    rpc_port: int
    tracking_url: str


@dataclass(frozen=True)
class AMAllocate:
    """Allocate: the AM's heartbeat, with its asks, cancelled asks and released containers."""

    attempt: str
    response_id: int
    asks: tuple[ContainerRequest, ...]
    cancelled: tuple[int, ...]
    releases: tuple[str, ...]
    progress: float


@dataclass(frozen=True)
class AMFinished:
    """FinishApplicationMaster."""

    attempt: str
    final_status: str
    diagnostics: str
    tracking_url: str


# ---------------------------------------------------------------- events: clients and administrators


@dataclass(frozen=True)
class NewApplicationRequested:
    """GetNewApplication: the next application id."""


@dataclass(frozen=True)
class ApplicationSubmitted:
    """SubmitApplication (idempotent: a known application id again changes nothing)."""

    context: ApplicationSubmissionContext
    user: str


@dataclass(frozen=True)
class ApplicationKilled:
    """ForceKillApplication: the application ends KILLED with all its containers (if it had not ended)."""

    application_id: str
    diagnostics: str = ""


@dataclass(frozen=True)
class NodesDecommissioned:
    """DecommissionNodes: these nodes join the exclude list and leave, gracefully (within timeout_s) or at once."""

    node_ids: tuple[str, ...]
    graceful: bool
    timeout_s: float


@dataclass(frozen=True)
class NodesRefreshed:
    """RefreshNodes: a new exclude list; the listed nodes leave, nodes no longer listed are recommissioned."""

    excluded: frozenset[str]
    graceful: bool
    timeout_s: float


# ---------------------------------------------------------------- events: the process itself


@dataclass(frozen=True)
class StateRecovered:
    """At start, before any other event: the applications the state store held, and this start's epoch."""

    applications: tuple[RMApp, ...]
    epoch: int


@dataclass(frozen=True)
class Tick:
    """The liveness monitor: expire silent nodes, unused containers and silent AMs; end timed-out decommissions."""


Event = (NodeRegistered | NodeHeartbeat | AMRegistered | AMAllocate | AMFinished | NewApplicationRequested
         | ApplicationSubmitted | ApplicationKilled | NodesDecommissioned | NodesRefreshed | StateRecovered | Tick)


# ---------------------------------------------------------------- commands to NodeManagers (NodeCommands)


@dataclass(frozen=True)
class LaunchContainer:
    """Launch an ApplicationMaster's container (other containers are started by their AM)."""

    node_id: str
    container: Container
    launch_context: ContainerLaunchContext
    user: str


@dataclass(frozen=True)
class CleanupContainer:
    node_id: str
    container_id: str


@dataclass(frozen=True)
class CleanupApplication:
    node_id: str
    application_id: str


NodeCommand = LaunchContainer | CleanupContainer | CleanupApplication


# ---------------------------------------------------------------- replies


@dataclass(frozen=True)
class NodeRegisterReply:
    """Answer the registering node; the node commands returned with it replace what waited for that node."""

    node_id: str
    action: NodeAction
    diagnostics: str = ""


@dataclass(frozen=True)
class NodeHeartbeatReply:
    """Answer the heartbeat with this action and every command waiting for the node (`NodeOutboxes.answer`)."""

    node_id: str
    action: NodeAction
    diagnostics: str = ""


@dataclass(frozen=True)
class AMRegisterReply:
    maximum: Resource
    queue: str


@dataclass(frozen=True)
class AllocateReply:
    response_id: int
    response: AllocateResponse


@dataclass(frozen=True)
class AMFinishReply:
    attempt: str


@dataclass(frozen=True)
class NewApplicationReply:
    application_id: str
    maximum: Resource


@dataclass(frozen=True)
class SubmitReply:
    application_id: str


@dataclass(frozen=True)
class KillReply:
    application_id: str
    already_finished: bool


@dataclass(frozen=True)
class DecommissionReply:
    nodes: tuple[NodeReport, ...]


@dataclass(frozen=True)
class RefreshNodesReply:
    decommissioning: tuple[str, ...] = ()
    decommissioned: tuple[str, ...] = ()
    recommissioned: tuple[str, ...] = ()


Reply = (NodeRegisterReply | NodeHeartbeatReply | AMRegisterReply | AllocateReply | AMFinishReply
         | NewApplicationReply | SubmitReply | KillReply | DecommissionReply | RefreshNodesReply)


# ---------------------------------------------------------------- the state store's writes


@dataclass(frozen=True)
class StoreApplication:
    """Write the application (its submission, attempts, final state) as it is now (`statestore.store`)."""

    app: RMApp


@dataclass(frozen=True)
class RemoveStoredApplication:
    """The RM forgot the application (yarn.resourcemanager.max-completed-applications): remove its file."""

    application_id: str


StoreCommand = StoreApplication | RemoveStoredApplication
Command = LaunchContainer | CleanupContainer | CleanupApplication | Reply | StoreCommand


def node_commands(commands: Iterable[Command]) -> list[NodeCommand]:
    return [command for command in commands if isinstance(command, (LaunchContainer, CleanupContainer,
                                                                    CleanupApplication))]


def store_commands(commands: Iterable[Command]) -> list[StoreCommand]:
    return [command for command in commands if isinstance(command, (StoreApplication, RemoveStoredApplication))]


def reply(commands: Iterable[Command], kind: type) -> Reply:
    """The one reply of `kind` among `commands` (a programmer error if there is not exactly one)."""
    (found,) = [command for command in commands if isinstance(command, kind)]
    return found


__all__ = ["AMAllocate", "AMFinishReply", "AMFinished", "AMRegisterReply", "AMRegistered", "AllocateReply",
           "ApplicationKilled", "ApplicationSubmitted", "CleanupApplication", "CleanupContainer", "Command",
           "ContainerReport", "DecommissionReply", "Event", "KillReply",
           "LaunchContainer", "NewApplicationReply", "NewApplicationRequested", "NodeCommand", "NodeHeartbeat", "NodeHeartbeatReply",
           "NodeRegisterReply", "NodeRegistered", "NodesDecommissioned", "NodesRefreshed", "RefreshNodesReply",
           "RemoveStoredApplication", "Reply", "StateRecovered", "StoreApplication", "StoreCommand", "SubmitReply",
           "Tick", "node_commands", "reply", "store_commands"]

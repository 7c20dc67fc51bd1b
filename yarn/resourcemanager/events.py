"""The ResourceManager's events in and replies out, declared in one place (`ResourceManagerState.handle`).

The shell (server.py) turns each NodeManager and ApplicationMaster RPC into
one of the events below and hands it to `handle(event, now_s)`, which
returns a list of commands: the NodeManager commands of containers.py
(launch, clean up), which wait in the node outboxes, and one reply below,
which the shell turns into the RPC's response.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from yarn.records import AllocateResponse, ContainerRequest, ContainerStatus, NodeAction, Resource
from yarn.resourcemanager.containers import CleanupApplication, CleanupContainer, LaunchContainer, NodeCommand
from yarn.resourcemanager.recovery import ContainerReport

# ---------------------------------------------------------------- events


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


Event = NodeRegistered | NodeHeartbeat | AMRegistered | AMAllocate | AMFinished


# ---------------------------------------------------------------- replies (beside the NodeCommands)


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


Reply = NodeRegisterReply | NodeHeartbeatReply | AMRegisterReply | AllocateReply
Command = LaunchContainer | CleanupContainer | CleanupApplication | Reply


def node_commands(commands: Iterable[Command]) -> list[NodeCommand]:
    return [command for command in commands if isinstance(command, (LaunchContainer, CleanupContainer,
                                                                    CleanupApplication))]


def reply(commands: Iterable[Command], kind: type) -> Reply:
    """The one reply of `kind` among `commands` (a programmer error if there is not exactly one)."""
    (found,) = [command for command in commands if isinstance(command, kind)]
    return found


__all__ = ["AMAllocate", "AMFinished", "AMRegisterReply", "AMRegistered", "AllocateReply", "Command", "Event",
           "NodeHeartbeat", "NodeHeartbeatReply", "NodeRegisterReply", "NodeRegistered", "Reply", "node_commands",
           "reply"]

"""Containers as the ResourceManager sees them, and the outboxes of the commands it sends NodeManagers.

A container's lifecycle is Hadoop's RMContainerImpl, trimmed (`TRANSITIONS`):

    ALLOCATED --ACQUIRE-->  ACQUIRED   its ApplicationMaster heard of it on allocate
    RUNNING   --ACQUIRE-->  RUNNING    the same, after its NodeManager reported it
    ALLOCATED, ACQUIRED --LAUNCHED--> RUNNING  its NodeManager reports it (an AM container skips ACQUIRED)
    ALLOCATED, ACQUIRED, RUNNING --FINISHED--> COMPLETED  its NodeManager reports it done
    ALLOCATED, ACQUIRED, RUNNING --RELEASE--> RELEASED    its ApplicationMaster gave it back
    ACQUIRED  --EXPIRE-->   EXPIRED    the AM never started it within the expiry interval
    ALLOCATED, ACQUIRED, RUNNING --KILL--> KILLED  its attempt or application ended, or its node is gone

The last four are final: the container is forgotten right after. Nothing is
durable. The RM never calls a NodeManager: its commands (the NodeCommands of
events.py) wait in the shell's per-node outbox (`NodeOutboxes`, bounded by
NODE_COMMANDS_MAX) for that node's next heartbeat, whose response carries
them (`HeartbeatAnswer`).
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from emrlab_common.lifecycle import next_state
from yarn.records import Container, NodeAction
from yarn.resourcemanager.events import CleanupApplication, CleanupContainer, LaunchContainer, NodeCommand

logger = logging.getLogger(__name__)

NODE_COMMANDS_MAX = 10_000  # commands waiting for one node's heartbeat; beyond it the oldest are dropped


class RMContainerState(enum.Enum):
    ALLOCATED = "ALLOCATED"
    ACQUIRED = "ACQUIRED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    RELEASED = "RELEASED"
    EXPIRED = "EXPIRED"
    KILLED = "KILLED"


class RMContainerEvent(enum.Enum):
    ACQUIRE = "ACQUIRE"
    LAUNCHED = "LAUNCHED"
    FINISHED = "FINISHED"
    RELEASE = "RELEASE"
    EXPIRE = "EXPIRE"
    KILL = "KILL"


_S, _E = RMContainerState, RMContainerEvent
_LIVE = (_S.ALLOCATED, _S.ACQUIRED, _S.RUNNING)
TRANSITIONS: dict[tuple[RMContainerState, RMContainerEvent], RMContainerState] = {
    (_S.ALLOCATED, _E.ACQUIRE): _S.ACQUIRED,
    (_S.ALLOCATED, _E.LAUNCHED): _S.RUNNING,
    (_S.ACQUIRED, _E.LAUNCHED): _S.RUNNING,
    (_S.RUNNING, _E.ACQUIRE): _S.RUNNING,  # its node reported it before its AM heard of it
    (_S.ACQUIRED, _E.EXPIRE): _S.EXPIRED,
    **{(state, _E.FINISHED): _S.COMPLETED for state in _LIVE},
    **{(state, _E.RELEASE): _S.RELEASED for state in _LIVE},
    **{(state, _E.KILL): _S.KILLED for state in _LIVE},
}


@dataclass(eq=False)
class RMContainer:
    container: Container
    application_id: str
    attempt_id: str
    is_am: bool
    state: RMContainerState = RMContainerState.ALLOCATED
    acquired_s: float = 0.0

    def handle(self, event: RMContainerEvent, cause: str = "") -> RMContainerState:
        self.state = next_state(TRANSITIONS, self.state, event, self.container.id, cause)
        return self.state


# ---------------------------------------------------------------- what the NodeManagers hear

@dataclass(frozen=True)
class HeartbeatResult:
    """What the state decided on a heartbeat: the node's action, and commands (for it and for other nodes)."""

    action: NodeAction
    commands: list[NodeCommand] = field(default_factory=list)
    diagnostics: str = ""


@dataclass(frozen=True)
class HeartbeatAnswer:
    """The heartbeat response: the action and every command waiting for this node."""

    action: NodeAction
    launches: list[LaunchContainer] = field(default_factory=list)
    cleanup_containers: list[str] = field(default_factory=list)
    cleanup_applications: list[str] = field(default_factory=list)
    diagnostics: str = ""


class NodeOutboxes:
    """Commands for each node until its next heartbeat takes them (the shell keeps this; the state returns them)."""

    def __init__(self, commands_max: int = NODE_COMMANDS_MAX):
        self.commands_max = commands_max
        self._outboxes: dict[str, deque[NodeCommand]] = {}

    def add(self, commands: Iterable[NodeCommand]) -> None:
        for command in commands:
            outbox = self._outboxes.setdefault(command.node_id, deque(maxlen=self.commands_max))
            if len(outbox) == self.commands_max:
                logger.warning("%s has %d commands waiting; dropping the oldest", command.node_id, len(outbox))
            outbox.append(command)

    def registered(self, node_id: str, commands: Iterable[NodeCommand]) -> None:
        """The node (re)registered: what waited for it is moot."""
        self._outboxes.pop(node_id, None)
        self.add(commands)

    def answer(self, node_id: str, result: HeartbeatResult) -> HeartbeatAnswer:
        self.add(result.commands)
        waiting = list(self._outboxes.pop(node_id, ()))
        if result.action is not NodeAction.NORMAL:
            return HeartbeatAnswer(result.action, diagnostics=result.diagnostics)
        return HeartbeatAnswer(
            result.action, [command for command in waiting if isinstance(command, LaunchContainer)],
            [command.container_id for command in waiting if isinstance(command, CleanupContainer)],
            [command.application_id for command in waiting if isinstance(command, CleanupApplication)],
            result.diagnostics)

    def waiting(self, node_id: str) -> int:
        return len(self._outboxes.get(node_id, ()))

"""NodeManagers as the ResourceManager sees them: an explicit lifecycle and their resources.

Rebuilt at start, never stored: NodeManagers register and heartbeat; one silent
for `yarn.nm.liveness-monitor.expiry-interval-ms` is LOST. Every state change
goes through `TRANSITIONS` (Hadoop's RMNodeImpl state machine, trimmed):

    NEW             --STARTED-->              RUNNING
    RUNNING         --UNHEALTHY-->            UNHEALTHY
    UNHEALTHY       --HEALTHY-->              RUNNING
    RUNNING, UNHEALTHY --GRACEFUL_DECOMMISSION--> DECOMMISSIONING
    DECOMMISSIONING --RECOMMISSION-->         RUNNING
    any live state  --DECOMMISSION-->         DECOMMISSIONED  (drained, timed out, or forced)
    any live state  --EXPIRE-->               LOST
    LOST, DECOMMISSIONED --RECONNECTED-->     RUNNING (a node registering again)

Only RUNNING nodes get new containers. A DECOMMISSIONING node keeps running
what it has and is DECOMMISSIONED when that is done (and, by default, the
applications that used it have finished: their map output may live there), or
when its timeout passes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from yarn.records import NodeReport, NodeState, Resource
from emrlab_common.lifecycle import next_state


class NodeEvent(enum.Enum):
    STARTED = "STARTED"
    HEALTHY = "HEALTHY"
    UNHEALTHY = "UNHEALTHY"
    GRACEFUL_DECOMMISSION = "GRACEFUL_DECOMMISSION"
    RECOMMISSION = "RECOMMISSION"
    DECOMMISSION = "DECOMMISSION"
    EXPIRE = "EXPIRE"
    RECONNECTED = "RECONNECTED"


_LIVE = (NodeState.RUNNING, NodeState.UNHEALTHY, NodeState.DECOMMISSIONING)

TRANSITIONS: dict[tuple[NodeState, NodeEvent], NodeState] = {
    (NodeState.NEW, NodeEvent.STARTED): NodeState.RUNNING,
    (NodeState.NEW, NodeEvent.DECOMMISSION): NodeState.DECOMMISSIONED,
    (NodeState.RUNNING, NodeEvent.UNHEALTHY): NodeState.UNHEALTHY,
    (NodeState.UNHEALTHY, NodeEvent.HEALTHY): NodeState.RUNNING,
    (NodeState.RUNNING, NodeEvent.GRACEFUL_DECOMMISSION): NodeState.DECOMMISSIONING,
    (NodeState.UNHEALTHY, NodeEvent.GRACEFUL_DECOMMISSION): NodeState.DECOMMISSIONING,
    (NodeState.DECOMMISSIONING, NodeEvent.RECOMMISSION): NodeState.RUNNING,
    **{(state, NodeEvent.DECOMMISSION): NodeState.DECOMMISSIONED for state in _LIVE},
    **{(state, NodeEvent.EXPIRE): NodeState.LOST for state in _LIVE},
    (NodeState.LOST, NodeEvent.RECONNECTED): NodeState.RUNNING,
    (NodeState.DECOMMISSIONED, NodeEvent.RECONNECTED): NodeState.RUNNING,
}


@dataclass(eq=False)
class RMNode:
    node_id: str
    address: str
    label: str
    capability: Resource
    state: NodeState = NodeState.NEW
    containers: set[str] = field(default_factory=set)
    applications: set[str] = field(default_factory=set)  # that ran a container here, until cleaned up
    last_heartbeat_s: float = 0.0
    health_report: str = ""
    decommission_deadline_s: float | None = None

    @property
    def schedulable(self) -> bool:
        return self.state is NodeState.RUNNING

    @property
    def live(self) -> bool:
        return self.state in _LIVE

    def handle(self, event: NodeEvent, cause: str = "") -> NodeState:
        """Move along the transition table; an event the state does not take is a bug."""
        self.state = target = next_state(TRANSITIONS, self.state, event, f"node {self.node_id}", cause)
        if target is not NodeState.DECOMMISSIONING:
            self.decommission_deadline_s = None
        return target

    def can(self, event: NodeEvent) -> bool:
        return (self.state, event) in TRANSITIONS

    def report(self, used: Resource, now_s: float) -> NodeReport:
        """What `node -list` shows; `used` comes from the scheduler, which keeps the books."""
        return NodeReport(self.node_id, self.address, self.state, self.label, used, self.capability,
                          len(self.containers), self.health_report, max(0.0, now_s - self.last_heartbeat_s))

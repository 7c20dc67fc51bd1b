"""NodeManagers registering and heartbeating, their health, and decommission (Hadoop's ResourceTrackerService
with its NodesListManager).

Rebuilt at start, never stored: NodeManagers register again after a
ResourceManager restart, each with every container it still holds; with
recovery the RM adopts those of its recovered applications
(`recovery.recover_node_containers`), and stops the others. Each heartbeat is one scheduling opportunity on its
node: the scheduler places what fits there. The node lifecycle is in
`nodes.py`; what a node must do rides back on its heartbeat response, as the
commands these methods return.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from yarn.errors import NodeNotFound
from yarn.records import ContainerState, ContainerStatus, NodeAction, NodeReport, NodeState, Resource
from yarn.resourcemanager.appmanager import ApplicationManager
from yarn.resourcemanager.config import ResourceManagerConfig
from yarn.resourcemanager.containers import HeartbeatResult
from yarn.resourcemanager.events import CleanupContainer, ContainerReport, NodeCommand
from yarn.resourcemanager.nodes import NodeEvent, RMNode
from yarn.resourcemanager.recovery import recover_node_containers
from yarn.resourcemanager.scheduler import Scheduler

logger = logging.getLogger(__name__)


class NodeTracker:
    def __init__(self, config: ResourceManagerConfig, nodes: dict[str, RMNode], scheduler: Scheduler,
                 apps: ApplicationManager, excluded: Iterable[str] = ()):
        self.config = config
        self.nodes = nodes
        self.scheduler = scheduler
        self.apps = apps
        self.excluded: set[str] = set(excluded)

    def register_node(self, node_id: str, address: str, label: str, capability: Resource, now_s: float,
                      reports: Iterable[ContainerReport] = ()) -> tuple[NodeAction, str, list[NodeCommand]]:
        """A NodeManager (re)starts, or registers again after a RESYNC with the containers it holds;
        returns (action, diagnostics, commands)."""
        if node_id in self.excluded:
            return NodeAction.SHUTDOWN, f"node {node_id} is in the exclude list (decommissioned)", []
        node = self.nodes.get(node_id)
        commands: list[NodeCommand] = []
        # A node this RM knew (lost, or restarted) comes back with containers the RM has given up on: they stop.
        # Only a node new to this RM (it restarted) brings containers to adopt.
        given_up = node is not None
        if node is not None and node.live:
            # Restarted: whatever it ran is gone.
            commands = self.apps.lose_containers(node, "Container released on a node that restarted", now_s)
            self.scheduler.remove_node(node_id)
        elif node is not None:
            node.handle(NodeEvent.RECONNECTED, "registered again")
        else:
            node = self.nodes[node_id] = RMNode(node_id, address, label, capability)
            node.handle(NodeEvent.STARTED, f"registered with {capability}, label {label}")
        node.address, node.label, node.capability = address, label, capability
        node.last_heartbeat_s = now_s
        self.scheduler.add_node(node_id, label, capability)
        self.scheduler.set_schedulable(node_id, node.schedulable)
        self.apps.node_changed(node)
        # What was meant for the node before it restarted is moot; it starts with what it reports.
        commands = [command for command in commands if command.node_id != node_id]
        if given_up:
            return NodeAction.NORMAL, "", commands + [CleanupContainer(node_id, container.id) for container, status
                                                      in reports if status.state is not ContainerState.COMPLETE]
        return NodeAction.NORMAL, "", commands + recover_node_containers(self.apps, node, reports, now_s)

    def node_heartbeat(self, node_id: str, statuses: list[ContainerStatus], healthy: bool, health_report: str,
                       now_s: float) -> HeartbeatResult:
        node = self.nodes.get(node_id)
        if node is None or not node.live:
            if node is not None and node.state is NodeState.DECOMMISSIONED:
                return HeartbeatResult(NodeAction.SHUTDOWN, diagnostics=f"node {node_id} is decommissioned")
            return HeartbeatResult(NodeAction.RESYNC, diagnostics=f"node {node_id} is not registered (or was lost)")
        node.last_heartbeat_s = now_s
        self._update_health(node, healthy, health_report)
        commands: list[NodeCommand] = []
        unknown: list[NodeCommand] = []
        for status in statuses:
            known = self.apps.containers.get(status.container_id)
            if known is None or known.container.node_id != node_id:
                if status.state is not ContainerState.COMPLETE:  # of a finished application, or from before a restart
                    unknown.append(CleanupContainer(node_id, status.container_id))
            else:
                commands += self.apps.container_reported(known, status, now_s)
        for assignment in self.scheduler.node_update(node_id):
            commands += self.apps.allocated(assignment, now_s)
        commands += self.check_decommissioning(node, now_s)
        if node.state is NodeState.DECOMMISSIONED:
            return HeartbeatResult(NodeAction.SHUTDOWN, commands, f"node {node_id} is decommissioned")
        return HeartbeatResult(NodeAction.NORMAL, commands + unknown)

    def _update_health(self, node: RMNode, healthy: bool, health_report: str) -> None:
        node.health_report = health_report
        if not healthy and node.can(NodeEvent.UNHEALTHY):
            node.handle(NodeEvent.UNHEALTHY, health_report)
            self.scheduler.set_schedulable(node.node_id, False)
            self.apps.node_changed(node)
        elif healthy and node.state is NodeState.UNHEALTHY:
            node.handle(NodeEvent.HEALTHY)
            self.scheduler.set_schedulable(node.node_id, True)
            self.apps.node_changed(node)

    def node_reports(self, states: Iterable[NodeState] = (), now_s: float = 0.0) -> list[NodeReport]:
        wanted = set(states)
        return [self.node_report(node, now_s) for node in self.nodes.values() if not wanted or node.state in wanted]

    def node_report(self, node: RMNode, now_s: float) -> NodeReport:
        return node.report(self.scheduler.used_on(node.node_id) if node.live else Resource(0, 0), now_s)

    # ------------------------------------------------------------ liveness and decommission

    def expire(self, now_s: float) -> list[NodeCommand]:
        """Nodes silent for yarn.nm.liveness-monitor.expiry-interval-ms are LOST; timed-out decommissions end."""
        commands: list[NodeCommand] = []
        for node in list(self.nodes.values()):
            if node.live and now_s - node.last_heartbeat_s > self.config.node_expiry_s:
                commands += self.node_gone(node, NodeEvent.EXPIRE, "lost", now_s)
            commands += self.check_decommissioning(node, now_s)
        return commands

    def decommission(self, node_ids: Iterable[str], graceful: bool, timeout_s: float,
                     now_s: float) -> tuple[list[NodeReport], list[NodeCommand]]:
        nodes = []
        for node_id in node_ids:
            node = self.nodes.get(node_id)
            if node is None:
                raise NodeNotFound(f"no node {node_id!r} (see `emrlab node -list -all`)")
            nodes.append(node)
        commands: list[NodeCommand] = []
        for node in nodes:
            self.excluded.add(node.node_id)
            commands += self._decommission(node, graceful, timeout_s, now_s)
        return [self.node_report(node, now_s) for node in nodes], commands

    def refresh_nodes(self, excluded: set[str], graceful: bool, timeout_s: float,
                      now_s: float) -> tuple[dict[str, list[str]], list[NodeCommand]]:
        """Apply a new exclude list: decommission the listed nodes, recommission the others."""
        changes: dict[str, list[str]] = {"decommissioning": [], "decommissioned": [], "recommissioned": []}
        for node_id in sorted(self.excluded - excluded):
            node = self.nodes.get(node_id)
            if node is not None and node.state is NodeState.DECOMMISSIONING:
                node.handle(NodeEvent.RECOMMISSION, "no longer excluded")
                self.scheduler.set_schedulable(node_id, True)
                self.apps.node_changed(node)
                changes["recommissioned"].append(node_id)
        self.excluded = set(excluded)
        commands: list[NodeCommand] = []
        for node_id in sorted(excluded):
            node = self.nodes.get(node_id)
            if node is not None and node.live and node.state is not NodeState.DECOMMISSIONING:
                commands += self._decommission(node, graceful, timeout_s, now_s)
                changes["decommissioning" if node.state is NodeState.DECOMMISSIONING else "decommissioned"].append(node_id)
        return changes, commands

    def _decommission(self, node: RMNode, graceful: bool, timeout_s: float, now_s: float) -> list[NodeCommand]:
        if not node.live:
            return []
        if graceful and node.can(NodeEvent.GRACEFUL_DECOMMISSION):
            node.handle(NodeEvent.GRACEFUL_DECOMMISSION, f"timeout {timeout_s or self.config.decommission_timeout_s:.0f}s")
            node.decommission_deadline_s = now_s + (timeout_s or self.config.decommission_timeout_s)
            self.scheduler.set_schedulable(node.node_id, False)
            self.apps.node_changed(node)
            return self.check_decommissioning(node, now_s)
        if not graceful:
            return self.node_gone(node, NodeEvent.DECOMMISSION, "decommissioned", now_s)
        return []

    def check_decommissioning(self, node: RMNode, now_s: float) -> list[NodeCommand]:
        if node.state is not NodeState.DECOMMISSIONING:
            return []
        drained = not node.containers and not (self.config.decommission_waits_for_applications and node.applications)
        timed_out = node.decommission_deadline_s is not None and now_s >= node.decommission_deadline_s
        if drained or timed_out:
            return self.node_gone(node, NodeEvent.DECOMMISSION, "decommissioned", now_s)
        return []

    def node_gone(self, node: RMNode, event: NodeEvent, kind: str, now_s: float) -> list[NodeCommand]:
        """A node is LOST or DECOMMISSIONED: its containers end as ABORTED, reported to their applications."""
        node.handle(event, f"{len(node.containers)} container(s) released")
        commands = self.apps.lose_containers(node, f"Container released on a *{kind}* node", now_s)
        self.scheduler.remove_node(node.node_id)
        self.apps.node_changed(node)
        return commands

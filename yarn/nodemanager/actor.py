"""The NodeManager's conversation with the ResourceManager (Hadoop's NodeStatusUpdater).

One thread: register with this node's resources and label, then heartbeat
every `yarn.resourcemanager.nodemanagers.heartbeat-interval-ms` with every
container's status, and carry out what comes back: launch an
ApplicationMaster, kill containers, clean up finished applications, register
again (RESYNC: the RM restarted or had lost us; we report every container we
hold, and the RM keeps those it recovered and has us stop the others, as
Hadoop's NodeManager does when the RM restarts), or shut down
(decommissioned). The RM's address is read from the cluster directory, and
read again after a failed call, so a restarted RM is found.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time

import grpc

from emrlab_common.errors import EmrlabError, ResourceExhausted
from emrlab_common.protos import yarn_pb2, yarn_pb2_grpc
from emrlab_common.rpc import call, connect
from yarn.nodemanager.node import NodeManager
from yarn.records import Container, ContainerExitStatus, ContainerLaunchContext, NodeAction

logger = logging.getLogger(__name__)

RM_CALL_TIMEOUT_S = 10.0
RETRY_PAUSE_S = 0.5


class ResourceManagerActor:
    def __init__(self, node: NodeManager, on_shutdown):
        self.node = node
        self.on_shutdown = on_shutdown
        self.registered = False
        self._channel: grpc.Channel | None = None
        self._stub: yarn_pb2_grpc.ResourceTrackerStub | None = None
        self._health = (True, "")
        self._next_health_check_s = 0.0

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                if not self.registered:
                    self._register()
                if self.registered:
                    self._heartbeat()
                stop.wait(self.node.config.heartbeat_interval_s)
            except EmrlabError as error:
                logger.warning("ResourceManager call failed (%s); retrying", error.message)
                self._disconnect()
                stop.wait(RETRY_PAUSE_S)
        self._disconnect()

    def _rm(self) -> yarn_pb2_grpc.ResourceTrackerStub:
        if self._stub is None:
            address = self.node.cluster_dir.address_of("resourcemanager")
            self._channel = connect(address)
            self._stub = yarn_pb2_grpc.ResourceTrackerStub(self._channel)
        return self._stub

    def _disconnect(self) -> None:
        """Forget the channel (the RM may have moved): the next call reads its address again."""
        if self._channel is not None:
            self._channel.close()
        self._channel, self._stub = None, None

    def _register(self) -> None:
        node = self.node
        reports = node.container_reports()
        response = call(self._rm().RegisterNodeManager, yarn_pb2.RegisterNodeManagerRequest(
            node_id=node.node_id, address=node.address, label=node.label, capability=node.capability.to_proto(),
            container_statuses=[yarn_pb2.NMContainerStatus(container=container.to_proto(), status=status.to_proto())
                                for container, status in reports]),
            timeout_s=RM_CALL_TIMEOUT_S, peer="resourcemanager")
        node.heartbeat_delivered([status for _, status in reports])
        if NodeAction.from_proto(response.action) is NodeAction.SHUTDOWN:
            logger.info("the ResourceManager refuses this node: %s", response.diagnostics)
            self.on_shutdown()
            return
        self.registered = True
        logger.info("registered with the ResourceManager as %s, %s, label %s, %d container(s)", node.node_id,
                    node.capability, node.label, len(reports))

    def _heartbeat(self) -> None:
        statuses = self.node.statuses_for_heartbeat()
        healthy, report = self._check_health()
        response = call(self._rm().NodeHeartbeat, yarn_pb2.NodeHeartbeatRequest(
            node_id=self.node.node_id, container_statuses=[status.to_proto() for status in statuses],
            healthy=healthy, health_report=report), timeout_s=RM_CALL_TIMEOUT_S, peer="resourcemanager")
        self.node.heartbeat_delivered(statuses)
        match NodeAction.from_proto(response.action):
            case NodeAction.RESYNC:
                logger.info("the ResourceManager asks us to register again (%s); reporting our containers",
                            response.diagnostics)
                self.node.forget_all()
                self.registered = False
                return
            case NodeAction.SHUTDOWN:
                logger.info("the ResourceManager says shut down: %s", response.diagnostics)
                self.on_shutdown()
                return
        for launch in response.containers_to_launch:
            try:
                self.node.start_container(Container.from_proto(launch.container),
                                          ContainerLaunchContext.from_proto(launch.launch_context), launch.user)
            except ResourceExhausted as error:  # the RM's AM attempt times out and is retried elsewhere
                logger.warning("cannot launch %s: %s", launch.container.id, error.message)
        for container_id in response.containers_to_cleanup:
            self.node.stop_container(container_id, ContainerExitStatus.KILLED_BY_RESOURCEMANAGER,
                                     "Container killed by the ResourceManager", missing_ok=True)
        for application_id in response.applications_to_cleanup:
            self.node.cleanup_application(application_id)

    def _check_health(self) -> tuple[bool, str]:
        """Disks must be writable; an optional script may say ERROR (Hadoop's NodeHealthScriptRunner)."""
        now = time.monotonic()
        if now < self._next_health_check_s:
            return self._health
        self._next_health_check_s = now + self.node.config.health_interval_s
        healthy, report = True, ""
        for directory in (self.node.local_dir, self.node.log_dir):
            probe = directory / ".health-probe"
            try:
                probe.write_bytes(b"ok")
                probe.unlink()
            except OSError as error:
                healthy, report = False, f"local dir {directory} is not writable: {error}"
        script = self.node.config.health_script
        if healthy and script:
            try:
                result = subprocess.run([script], capture_output=True, text=True,
                                        timeout=self.node.config.health_timeout_s)
                errors = [line for line in result.stdout.splitlines() if line.startswith("ERROR")]
                if errors:
                    healthy, report = False, errors[0]
            except (OSError, subprocess.TimeoutExpired) as error:
                healthy, report = False, f"health script {script} failed: {error}"
        if (healthy, report) != self._health:
            logger.info("node health: %s", "healthy" if healthy else report)
        self._health = (healthy, report)
        return self._health

"""The NodeManager's conversation with the ResourceManager (Hadoop's NodeStatusUpdater): the shell around
the decisions `state.py` makes.

One thread: it ticks the state (`HeartbeatTick`) when a heartbeat is due
(every interval, and at once when a container completes) and carries out the
commands that come back: register with this node's resources and label,
reporting every container held; run the health check; heartbeat with the
containers' statuses; launch an ApplicationMaster, kill containers, clean up
finished applications; shut down. Each call's answer goes back to the state
as an event, which may bring more commands (registered: a heartbeat at
once; RESYNC: register again, the RM keeping the containers it recovered;
SHUTDOWN: stop). The RM's address is read from the cluster directory, and
read again after a failed call, so a restarted RM is found.
"""

from __future__ import annotations

import logging
import subprocess
import threading
from collections import deque

import grpc

from emrlab_common.errors import EmrlabError, ResourceExhausted
from emrlab_common.protos import yarn_pb2, yarn_pb2_grpc
from emrlab_common.rpc import call, connect
from yarn.nodemanager.node import NodeManager
from yarn.nodemanager.records import (
    CleanUpApplication,
    HealthChecked,
    HeartbeatAnswered,
    HeartbeatTick,
    KillContainer,
    LaunchContainer,
    Register,
    Registered,
    ResourceManagerCommand,
    RunHealthCheck,
    SendHeartbeat,
    Shutdown,
)
from yarn.records import Container, ContainerExitStatus, ContainerLaunchContext, NodeAction

logger = logging.getLogger(__name__)

RM_CALL_TIMEOUT_S = 10.0
RETRY_PAUSE_S = 0.5


class ResourceManagerActor:
    def __init__(self, node: NodeManager, on_shutdown):
        self.node = node
        self.on_shutdown = on_shutdown
        self._channel: grpc.Channel | None = None
        self._stub: yarn_pb2_grpc.ResourceTrackerStub | None = None

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self._carry_out(self.node.submit(HeartbeatTick()))
                self.node.wait_for_heartbeat(stop)
            except EmrlabError as error:
                logger.warning("ResourceManager call failed (%s); retrying", error.message)
                self._disconnect()
                stop.wait(RETRY_PAUSE_S)
        self._disconnect()

    def _carry_out(self, commands: list[ResourceManagerCommand]) -> None:
        """Carry out `commands` in order; the ones an answer brings (registered: a heartbeat; RESYNC: register
        again) go first, before the rest. A work list, not recursion: an RM answering RESYNC for ever cannot
        grow the stack."""
        work = deque(commands)
        while work:
            work.extendleft(reversed(self._execute(work.popleft())))

    def _execute(self, command: ResourceManagerCommand) -> list[ResourceManagerCommand]:
        match command:
            case Register(reports):
                return self._register(reports)
            case RunHealthCheck():
                return self.node.submit(HealthChecked(*check_health(self.node)))
            case SendHeartbeat():
                return self._heartbeat(command)
            case LaunchContainer(container, context, user):
                try:
                    self.node.start_container(container, context, user)
                except ResourceExhausted as error:  # the RM's AM attempt times out and is retried elsewhere
                    logger.warning("cannot launch %s: %s", container.id, error.message)
            case KillContainer(container_id):
                self.node.stop_container(container_id, ContainerExitStatus.KILLED_BY_RESOURCEMANAGER,
                                         "Container killed by the ResourceManager", missing_ok=True)
            case CleanUpApplication(application_id):
                self.node.cleanup_application(application_id)
            case Shutdown():
                self.on_shutdown()
            case _:
                raise AssertionError(f"unknown command {command!r}")
        return []

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

    def _register(self, reports) -> list[ResourceManagerCommand]:
        node = self.node
        logger.info("registering with the ResourceManager as %s, %s, label %s, %d container(s)", node.node_id,
                    node.capability, node.label, len(reports))
        response = call(self._rm().RegisterNodeManager, yarn_pb2.RegisterNodeManagerRequest(
            node_id=node.node_id, address=node.address, label=node.label, capability=node.capability.to_proto(),
            container_statuses=[yarn_pb2.NMContainerStatus(container=container.to_proto(), status=status.to_proto())
                                for container, status in reports]),
            timeout_s=RM_CALL_TIMEOUT_S, peer="resourcemanager")
        return node.submit(Registered(tuple(status for _, status in reports), NodeAction.from_proto(response.action),
                                      response.diagnostics))

    def _heartbeat(self, command: SendHeartbeat) -> list[ResourceManagerCommand]:
        response = call(self._rm().NodeHeartbeat, yarn_pb2.NodeHeartbeatRequest(
            node_id=self.node.node_id, container_statuses=[status.to_proto() for status in command.statuses],
            healthy=command.healthy, health_report=command.health_report),
            timeout_s=RM_CALL_TIMEOUT_S, peer="resourcemanager")
        orders = (
            *(LaunchContainer(Container.from_proto(launch.container),
                              ContainerLaunchContext.from_proto(launch.launch_context), launch.user)
              for launch in response.containers_to_launch),
            *(KillContainer(container_id) for container_id in response.containers_to_cleanup),
            *(CleanUpApplication(application_id) for application_id in response.applications_to_cleanup),
        )
        return self.node.submit(HeartbeatAnswered(command.statuses, NodeAction.from_proto(response.action),
                                                  response.diagnostics, orders))


def check_health(node: NodeManager) -> tuple[bool, str]:
    """Disks must be writable; an optional script may say ERROR (Hadoop's NodeHealthScriptRunner)."""
    for directory in (node.local_dir, node.log_dir):
        probe = directory / ".health-probe"
        try:
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as error:
            return False, f"local dir {directory} is not writable: {error}"
    script = node.config.health_script
    if not script:
        return True, ""
    try:
        result = subprocess.run([script], capture_output=True, text=True, timeout=node.config.health_timeout_s,
                                check=False)  # its exit code says nothing: Hadoop reads its ERROR lines
    except (OSError, subprocess.TimeoutExpired) as error:
        return False, f"health script {script} failed: {error}"
    errors = [line for line in result.stdout.splitlines() if line.startswith("ERROR")]
    return (False, errors[0]) if errors else (True, "")

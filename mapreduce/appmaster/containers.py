"""The AM's side of YARN: container requests to the ResourceManager, launches and stops on
NodeManagers, and the containers it holds.

`YarnContainers` is part of MRAppMaster's shell, on its main thread only. It
turns an allocate answer into the machine's events (`heartbeat`), and carries
out the machine's container commands (`execute`). It keeps what it sent to
YARN, by allocation request id, so that it can cancel it; which attempt a
request is for is the machine's business (`JobStateMachine.requests`). A
container is held from its allocation until it is released, stopped or
reported completed, and no more than `CONTAINERS_HELD_MAX` are held at once.
"""

from __future__ import annotations

import logging

from emrlab_common.errors import EmrlabError, InvalidArgument, NotFound
from mapreduce.appmaster.config import AppMasterConfig
from mapreduce.appmaster.records import (
    MAP,
    CancelRequest,
    ContainerAllocated,
    ContainerCompleted,
    JobError,
    LaunchAttempt,
    NodesDecommissioning,
    NodesLost,
    NodesRecommissioned,
    ReleaseContainer,
    RequestContainer,
    StopContainer,
)
from yarn.amclient import ContainerRequest
from yarn.records import ContainerExitStatus, NodeState, Resource

logger = logging.getLogger(__name__)

UNUSABLE_NODE_STATES = (NodeState.LOST, NodeState.DECOMMISSIONED, NodeState.UNHEALTHY)  # Hadoop's "unusable"
# Containers the AM holds at once (allocated, not yet completed, released or stopped): about one per
# attempt that runs, as YARN gives no more than was asked. Past it the AM forgot to forget one.
CONTAINERS_HELD_MAX = 10_000


class NoLongerCurrent(Exception):
    """The ResourceManager says this is not the application's current attempt (it started another,
    or the application ended): this AM must stop at once, and not unregister (Hadoop's AM reboot)."""


class YarnContainers:
    def __init__(self, config: AppMasterConfig, amrm, nm, task_launch_context):
        """`amrm` is an AMRMClient, `nm` an NMClient; `task_launch_context(attempt_id)` builds a task's command."""
        self.config = config
        self.amrm = amrm
        self.nm = nm
        self.task_launch_context = task_launch_context
        self.held: dict[str, object] = {}  # container id -> yarn.records.Container
        self.asked: dict[int, ContainerRequest] = {}  # allocation request id -> what YARN holds
        self.headroom_maps = -1  # map containers the last allocate answer's headroom fits (-1: unknown)
        self.answered = True  # the last allocate call was answered (a failed one waits for the interval)
        self._completed: list[str] = []  # reported completed: forgotten once the commands about them ran

    def heartbeat(self, progress: float) -> list:
        """One allocate call; the events its answer means, in order."""
        try:
            response = self.amrm.allocate(progress)
        except InvalidArgument as error:
            # A request YARN will never grant (larger than the maximum allocation): Hadoop fails the job.
            logger.error("allocate refused: %s", error.message)
            return [JobError(f"the ResourceManager refused a container request: {error.message}")]
        except NotFound as error:  # ApplicationAttemptNotFound: another attempt took over, or the app ended
            raise NoLongerCurrent(error.message) from error
        except EmrlabError as error:
            logger.warning("allocate failed: %s", error.message)
            self.headroom_maps, self.answered = -1, False
            return []
        self.answered = True
        # YARN's headroom: what the reducer preemption asks (can another map start now?)
        self.headroom_maps = min(response.available.memory_mb // max(self.config.map_memory_mb, 1),
                                 response.available.vcores)
        events: list = []
        for container in response.allocated:
            self.held[container.id] = container
            self.asked.pop(container.allocation_request_id, None)  # YARN forgets a satisfied request
            events.append(ContainerAllocated(container.id, container.node_id, container.node_address,
                                             container.priority, container.allocation_request_id))
        for status in response.completed:
            self._completed.append(status.container_id)
            events.append(ContainerCompleted(status.container_id, status.exit_status, status.diagnostics,
                                             lost=ContainerExitStatus.is_lost(status.exit_status)))
        updates = {NodesDecommissioning: [], NodesLost: [], NodesRecommissioned: []}
        for report in response.updated_nodes:
            if report.state is NodeState.DECOMMISSIONING:
                updates[NodesDecommissioning].append(report.node_id)
            elif report.state in UNUSABLE_NODE_STATES:
                updates[NodesLost].append(report.node_id)
            elif report.state is NodeState.RUNNING:
                updates[NodesRecommissioned].append(report.node_id)
        for event_class, node_ids in updates.items():
            if node_ids:
                logger.info("%s: %s", event_class.__name__, ", ".join(node_ids))
                events.append(event_class(tuple(node_ids)))
        assert len(self.held) <= CONTAINERS_HELD_MAX, f"{len(self.held)} containers held"
        return events

    @property
    def has_news(self) -> bool:
        """Asks or releases the ResourceManager should hear before the interval ends (not after a failed call:
        an RM that is down is not called in a loop)."""
        return self.answered and self.amrm.has_news

    def execute(self, command) -> None:
        match command:
            case RequestContainer():
                memory_mb = self.config.map_memory_mb if command.kind == MAP else self.config.reduce_memory_mb
                self.asked[command.request_id] = self.amrm.add_request(ContainerRequest(
                    Resource(memory_mb, 1), nodes=command.hosts, relax_locality=True, priority=command.priority,
                    allocation_request_id=command.request_id))
            case CancelRequest():
                request = self.asked.pop(command.request_id, None)
                if request is not None:
                    self.amrm.remove_request(request)
            case LaunchAttempt():
                container = self.held[command.container_id]
                self.nm.start_container(container, self.task_launch_context(command.attempt_id))
            case ReleaseContainer():
                self.held.pop(command.container_id, None)
                self.amrm.release(command.container_id)
            case StopContainer():  # done with: YARN reports it completed later
                container = self.held.pop(command.container_id, None)
                if container is not None:
                    try:
                        self.nm.stop_container(container)
                    except EmrlabError as error:  # its node may be gone; YARN cleans up then
                        logger.info("could not stop %s: %s", command.container_id, error.message)
            case _:
                raise AssertionError(f"not a container command: {command!r}")

    def forget_completed(self) -> None:
        """Drop the containers YARN reported completed, once the commands about them ran (a stop, a
        release, or a launch that came in the same answer)."""
        for container_id in self._completed:
            self.held.pop(container_id, None)
        self._completed.clear()


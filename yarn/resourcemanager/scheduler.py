"""The scheduler: which pending container request gets room on a node, when that node heartbeats.

A pure state machine (no clock, no I/O). The ResourceManager tells it about
nodes, applications, requests and released containers, and on every node
heartbeat asks `node_update(node_id)` for the containers to place there (and,
with `emrlab.scheduler.place-on-allocate`, `place_arrivals()` when an
ApplicationMaster's allocate brings new requests). Two
policies, chosen by `yarn.resourcemanager.scheduler.class`:

- FIFO: applications in submission order; the first one that has a request
  fitting the node gets it.
- Fair: queues by used memory over weight, and within a queue applications by
  used memory, so the most starved goes first (ties: the one served longest
  ago, so short containers cannot make fair order FIFO). When the most starved
  application's request does not fit a node, the node is *reserved* for it:
  no one else gets room there until it fits, so a large request is never
  starved by a stream of small ones (Hadoop's reservations).

Delay scheduling (both policies): a request for particular nodes counts the
scheduling opportunities (heartbeats of other nodes) it lets pass; after
`locality_delay` of them a request with `relax_locality` may go to any node.
ApplicationMaster requests carry a node label (CORE) and go only to such nodes.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field

from yarn.records import NO_RESOURCE, ContainerRequest, Resource
from yarn.resourcemanager.config import FAIR, ResourceManagerConfig

logger = logging.getLogger(__name__)

AM_REQUEST_ID = 0  # the RM's own request for an ApplicationMaster container
UNLIMITED = 1 << 30


@dataclass(frozen=True)
class Assignment:
    """A container's worth of room given to an application on a node."""

    application_id: str
    allocation_request_id: int
    node_id: str
    resource: Resource
    priority: int
    is_am: bool


@dataclass(eq=False)
class PendingRequest:
    request: ContainerRequest
    label: str = ""  # a node label the node must have; "" = any node
    is_am: bool = False
    sequence: int = 0
    missed_opportunities: int = 0


@dataclass(eq=False)
class SchedulerApplication:
    application_id: str
    queue: str
    user: str
    sequence: int
    requests: dict[int, PendingRequest] = field(default_factory=dict)
    used: Resource = NO_RESOURCE
    am_used: Resource = NO_RESOURCE
    last_served: int = 0  # breaks ties in fair order: the one served longest ago goes first


@dataclass(eq=False)
class SchedulerNode:
    node_id: str
    label: str
    capability: Resource
    used: Resource = NO_RESOURCE
    schedulable: bool = True
    reserved_for: tuple[str, int] | None = None  # (application id, allocation request id)

    @property
    def available(self) -> Resource:
        return self.capability - self.used


class Scheduler:
    def __init__(self, config: ResourceManagerConfig):
        self.config = config
        self.fair = config.scheduler == FAIR
        self.nodes: dict[str, SchedulerNode] = {}
        self.applications: dict[str, SchedulerApplication] = {}
        self.queue_weights = _parse_weights(config.queue_weights)
        self._queue_last_served: dict[str, int] = {}
        self._sequence = itertools.count(1)

    # ------------------------------------------------------------ nodes

    def add_node(self, node_id: str, label: str, capability: Resource) -> None:
        self.nodes[node_id] = SchedulerNode(node_id, label, capability)

    def remove_node(self, node_id: str) -> None:
        self.nodes.pop(node_id, None)

    def set_schedulable(self, node_id: str, schedulable: bool) -> None:
        node = self.nodes.get(node_id)
        if node is not None:
            node.schedulable = schedulable
            if not schedulable:
                node.reserved_for = None

    def cluster_capability(self) -> Resource:
        return sum((node.capability for node in self.nodes.values() if node.schedulable), NO_RESOURCE)

    def largest_node(self) -> Resource | None:
        capabilities = [node.capability for node in self.nodes.values()]
        if not capabilities:
            return None
        return Resource(max(item.memory_mb for item in capabilities), max(item.vcores for item in capabilities))

    # ------------------------------------------------------------ applications and requests

    def add_application(self, application_id: str, queue: str, user: str) -> str:
        """Admit an application; returns the queue it lands in."""
        if self.fair and queue == "default" and self.config.user_as_default_queue:
            queue = user
        sequence = next(self._sequence)
        self.applications[application_id] = SchedulerApplication(application_id, queue, user, sequence, last_served=sequence)
        self._queue_last_served.setdefault(queue, sequence)
        return queue

    def remove_application(self, application_id: str) -> None:
        self.applications.pop(application_id, None)
        for node in self.nodes.values():
            if node.reserved_for and node.reserved_for[0] == application_id:
                node.reserved_for = None

    def add_requests(self, application_id: str, requests: list[ContainerRequest], *, label: str = "",
                     is_am: bool = False) -> None:
        application = self.applications[application_id]
        for request in requests:
            application.requests[request.allocation_request_id] = PendingRequest(request, label, is_am, next(self._sequence))

    def cancel_requests(self, application_id: str, request_ids: list[int]) -> None:
        application = self.applications.get(application_id)
        for request_id in request_ids:
            if application is not None:
                application.requests.pop(request_id, None)

    def pending(self, application_id: str) -> list[ContainerRequest]:
        application = self.applications.get(application_id)
        return [pending.request for pending in application.requests.values()] if application else []

    def release(self, application_id: str, node_id: str, resource: Resource, is_am: bool = False) -> None:
        """A container ended or was given back: its room is free again."""
        node = self.nodes.get(node_id)
        if node is not None:
            node.used = node.used - resource
            assert node.used.memory_mb >= 0 and node.used.vcores >= 0, node
        application = self.applications.get(application_id)
        if application is not None:
            application.used = application.used - resource
            if is_am:
                application.am_used = application.am_used - resource

    def recover_container(self, application_id: str, node_id: str, resource: Resource, is_am: bool = False) -> None:
        """A container from before an RM restart, reported by its node: its room is taken again."""
        node = self.nodes[node_id]
        node.used = node.used + resource
        application = self.applications[application_id]
        application.used = application.used + resource
        if is_am:
            application.am_used = application.am_used + resource

    def headroom(self, application_id: str) -> Resource:
        """What the application could still get right now: the free room of schedulable nodes."""
        return sum((node.available for node in self.nodes.values() if node.schedulable), NO_RESOURCE)

    def used_on(self, node_id: str) -> Resource:
        node = self.nodes.get(node_id)
        return node.used if node else NO_RESOURCE

    # ------------------------------------------------------------ scheduling

    def node_update(self, node_id: str) -> list[Assignment]:
        """One scheduling opportunity: the containers to place on `node_id` now."""
        node = self.nodes.get(node_id)
        if node is None or not node.schedulable:
            return []
        for application in self.applications.values():
            for pending in application.requests.values():
                if pending.request.nodes and node_id not in pending.request.nodes:
                    pending.missed_opportunities += 1
        return self._fill(node)

    def place_arrivals(self) -> list[Assignment]:
        """When an application's allocate brings new requests, between heartbeats: what fits on a node with
        room now and may go there (its own node, any node, or a request whose locality delay is over), on
        every node, without counting a scheduling opportunity. Hadoop's asynchronous scheduling
        (yarn.scheduler.capacity.schedule-asynchronously.enable) also places containers between heartbeats."""
        assignments = []
        for node in self.nodes.values():
            if node.schedulable and node.available.vcores > 0 and node.available.memory_mb > 0:
                assignments += self._fill(node)
        return assignments

    def _fill(self, node: SchedulerNode) -> list[Assignment]:
        limit = (self.config.max_assign if self.config.max_assign > 0 else UNLIMITED) if self.config.assign_multiple else 1
        assignments = []
        while len(assignments) < limit:
            assignment = self._assign_one(node)
            if assignment is None:
                break
            assignments.append(assignment)
        return assignments

    def _assign_one(self, node: SchedulerNode) -> Assignment | None:
        if node.reserved_for is not None:
            application_id, request_id = node.reserved_for
            application = self.applications.get(application_id)
            pending = application.requests.get(request_id) if application else None
            if pending is None or not self._eligible(pending, node):
                node.reserved_for = None
            elif pending.request.resource.fits_in(node.available):
                node.reserved_for = None
                return self._assign(application, pending, node)
            else:
                return None  # held for the starved request
        reserved = {node.reserved_for for node in self.nodes.values() if node.reserved_for}
        for rank, application in enumerate(self._ordered_applications()):
            for pending in sorted(application.requests.values(), key=_request_order):
                if not self._eligible(pending, node) or (pending.is_am and not self._am_share_allows(pending)):
                    continue
                if pending.request.resource.fits_in(node.available):
                    return self._assign(application, pending, node)
                key = (application.application_id, pending.request.allocation_request_id)
                if self.fair and rank == 0 and key not in reserved and pending.request.resource.fits_in(node.capability):
                    node.reserved_for = key
                    logger.info("reserved %s for %s request %d %s", node.node_id, application.application_id,
                                pending.request.allocation_request_id, pending.request.resource)
                    return None
        return None

    def _assign(self, application: SchedulerApplication, pending: PendingRequest, node: SchedulerNode) -> Assignment:
        request = pending.request
        del application.requests[request.allocation_request_id]
        node.used = node.used + request.resource
        application.used = application.used + request.resource
        if pending.is_am:
            application.am_used = application.am_used + request.resource
        application.last_served = self._queue_last_served[application.queue] = next(self._sequence)
        return Assignment(application.application_id, request.allocation_request_id, node.node_id, request.resource,
                          request.priority, pending.is_am)

    def _eligible(self, pending: PendingRequest, node: SchedulerNode) -> bool:
        if not node.schedulable or (pending.label and node.label != pending.label):
            return False
        if not pending.request.resource.fits_in(node.capability):
            return False
        wanted = pending.request.nodes
        if not wanted or node.node_id in wanted:
            return True
        if not pending.request.relax_locality:
            return False
        if not any(self.nodes.get(name) and self.nodes[name].schedulable for name in wanted):
            return True  # none of its nodes can take it: waiting would be forever
        return pending.missed_opportunities > self._locality_delay()

    def _locality_delay(self) -> int:
        if self.config.locality_delay_opportunities >= 0:
            return self.config.locality_delay_opportunities
        return sum(1 for node in self.nodes.values() if node.schedulable)

    def _am_share_allows(self, pending: PendingRequest) -> bool:
        """maxAMShare: AMs may hold only part of the cluster, but one AM may always start."""
        am_used = sum(application.am_used.memory_mb for application in self.applications.values())
        if am_used == 0:
            return True
        limit = self.config.max_am_share * self.cluster_capability().memory_mb
        return am_used + pending.request.resource.memory_mb <= limit

    def _ordered_applications(self) -> list[SchedulerApplication]:
        applications = [application for application in self.applications.values() if application.requests]
        if not self.fair:
            return sorted(applications, key=lambda application: application.sequence)
        queue_used: dict[str, int] = {}
        for application in self.applications.values():
            queue_used[application.queue] = queue_used.get(application.queue, 0) + application.used.memory_mb

        def fair_order(application: SchedulerApplication):
            weight = self.queue_weights.get(application.queue, 1.0)
            return (queue_used[application.queue] / weight, self._queue_last_served[application.queue],
                    application.used.memory_mb, application.last_served)

        return sorted(applications, key=fair_order)

    # ------------------------------------------------------------ checks for tests

    def validate_state(self) -> None:
        """Invariants: no node over-committed, usage adds up."""
        for node in self.nodes.values():
            assert node.used.fits_in(node.capability), f"{node.node_id} over-committed: {node.used} > {node.capability}"
            assert node.used.memory_mb >= 0 and node.used.vcores >= 0


def _request_order(pending: PendingRequest):
    return (not pending.is_am, pending.request.priority, pending.sequence)


def _parse_weights(text: str) -> dict[str, float]:
    from emrlab_common.config import parse_float

    weights = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, weight = item.partition("=")
        weights[name.strip()] = parse_float(weight or "1")
    return weights

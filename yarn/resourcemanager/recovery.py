"""ResourceManager restart: applications from the state store, containers from the NodeManagers.

Hadoop's work-preserving RM restart, in two pure steps:

1. At start (`recover_applications`): every application the store holds comes
   back. A finished one keeps its final state and report. A running one goes
   back to its scheduler queue; if its AM container had not been given yet,
   the AM container is asked for again; otherwise the attempt is
   `recovering`: its AM is still running somewhere and registers again (its
   calls meanwhile get ApplicationMasterNotRegistered). Without work
   preservation (`yarn.resourcemanager.work-preserving-recovery.enabled`
   false) the attempt is over instead, and a new one starts (not counted
   against the application's attempts).
2. As each NodeManager re-registers (`recover_node_containers`) it reports
   every container it still holds. A container of the current attempt of a
   running application is adopted: the books (node, application, scheduler)
   take it back as RUNNING; one that completed while the RM was down is
   completed now, so its AM hears of it. A container of an old attempt is
   stopped; one of an application this RM does not know (or that ended) has
   its application cleaned up on that node. A recovering attempt whose AM
   container its node does not report has lost its AM: a new attempt starts.

Container ids must never repeat across restarts: the store does not keep
every container given, so in the RM's n-th start a recovered application
numbers its new containers from `(n - 1) * EPOCH_CONTAINERS + 1` (Hadoop puts
the epoch into the container id the same way). Applications submitted after
the restart get new ids (a new cluster timestamp) and number from 1.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from yarn.records import (
    Container,
    ContainerRequest,
    ContainerState,
    ContainerStatus,
    application_of_container,
    attempt_of_container,
)
from yarn.resourcemanager.applications import RMApp
from yarn.resourcemanager.appmanager import ApplicationManager
from yarn.resourcemanager.containers import RMContainer, RMContainerEvent
from yarn.resourcemanager.events import CleanupApplication, CleanupContainer, ContainerReport, NodeCommand
from yarn.resourcemanager.nodes import RMNode

logger = logging.getLogger(__name__)

EPOCH_CONTAINERS = 1_000_000  # container sequence numbers one RM start may use


def recover_applications(apps: ApplicationManager, stored: Iterable[RMApp], epoch: int, work_preserving: bool,
                         now_s: float) -> list[NodeCommand]:
    commands: list[NodeCommand] = []
    for app in stored:
        apps.applications[app.application_id] = app
        app.next_container_sequence = (epoch - 1) * EPOCH_CONTAINERS + 1
        if app.state.is_final:
            continue
        app.queue = apps.scheduler.add_application(app.application_id, app.queue, app.user)
        current = app.current_attempt
        current.last_contact_s = now_s
        logger.info("recovered %s (%s, attempt %s)", app.application_id, app.state.value, current.attempt_id)
        if not work_preserving:
            current.counts_toward_max = False
            commands += apps.attempt_failed(app, "the ResourceManager restarted (non-work-preserving)", now_s)
        elif current.am_container is None:
            apps.scheduler.add_requests(app.application_id, [ContainerRequest(app.context.resource, priority=0)],
                                        label=apps.config.am_node_label, is_am=True)
        else:
            current.recovering = True
    return commands


def recover_node_containers(apps: ApplicationManager, node: RMNode, reports: Iterable[ContainerReport],
                            now_s: float) -> list[NodeCommand]:
    commands: list[NodeCommand] = []
    adopted: set[str] = set()
    cleaned: set[str] = set()
    for container, status in reports:
        application_id = application_of_container(container.id)
        app = apps.applications.get(application_id)
        running = status.state is not ContainerState.COMPLETE
        if app is None or app.state.is_final:
            if application_id not in cleaned:
                cleaned.add(application_id)
                commands.append(CleanupApplication(node.node_id, application_id))
            continue
        current = app.current_attempt
        if (attempt_of_container(container.id) != current.attempt_id or container.id in apps.containers
                or container.node_id != node.node_id):
            if running:
                commands.append(CleanupContainer(node.node_id, container.id))
            continue
        commands += _adopt(apps, app, node, container, status, now_s)
        adopted.add(container.id)
    for app in list(apps.applications.values()):
        current = app.current_attempt
        am = current.am_container if current else None
        if (not app.state.is_final and current.recovering and am is not None and am.node_id == node.node_id
                and am.id not in adopted):
            current.counts_toward_max = False
            commands += apps.attempt_failed(app, f"AM container {am.id} was not on {node.node_id} when it "
                                                 "registered again after the ResourceManager restarted", now_s)
    return commands


def _adopt(apps: ApplicationManager, app: RMApp, node: RMNode, container: Container, status: ContainerStatus,
           now_s: float) -> list[NodeCommand]:
    current = app.current_attempt
    is_am = current.am_container is not None and current.am_container.id == container.id
    known = apps.containers[container.id] = RMContainer(container, app.application_id, current.attempt_id, is_am)
    known.handle(RMContainerEvent.LAUNCHED, f"recovered from {node.node_id}'s report")
    node.containers.add(container.id)
    node.applications.add(app.application_id)
    app.containers.add(container.id)
    app.nodes.add(node.node_id)
    apps.scheduler.recover_container(app.application_id, node.node_id, container.resource, is_am)
    logger.info("recovered %s on %s %s for %s%s", container.id, node.node_id, container.resource,
                app.application_id, " (ApplicationMaster)" if is_am else "")
    if status.state is ContainerState.COMPLETE:  # it ended while the RM was down: its AM hears of it now
        return apps.complete_container(known, status, now_s)
    return []

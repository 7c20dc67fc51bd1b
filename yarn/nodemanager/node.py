"""The NodeManager process's shell: the pure state, one lock around it, and the executor that acts for it.

`NodeManager.submit(event)` hands one event to `NodeManagerState` under the
lock and gives the commands that come back to the `ContainerExecutor`,
outside the lock (no process is started and no file touched while it is
held). The executor's results come back through `submit` too. The commands
for the ResourceManager conversation are returned to the caller: only the
actor (`actor.py`) sends the events that make them, and it carries them out
and brings the RM's answers back as events; the servicer (`server.py`) does the same for
ApplicationMasters' calls. Nothing is durable: a restarted NodeManager starts
with no containers (Hadoop's NM recovery is out of scope), and its old
working dirs are removed.

Disk layout under the node's dir (Hadoop's):
    nm-local-dir/usercache/<user>/appcache/<application>/          the application's dir (aux services use it)
    nm-local-dir/usercache/<user>/appcache/<application>/<container>/  a container's working dir
    nm-local-dir/pids/<container>.pid                              running containers, for leftovers
    userlogs/<application>/<container>/stdout|stderr                kept after the application ends
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

from emrlab_common import tls
from emrlab_common.clusterdir import ClusterDir
from emrlab_common.errors import FailedPrecondition, ResourceExhausted
from yarn.errors import ContainerNotFound
from yarn.nodemanager.auxservices import AuxiliaryService
from yarn.nodemanager.config import NodeManagerConfig
from yarn.nodemanager.containers import container_environment
from yarn.nodemanager.executor import ContainerExecutor
from yarn.nodemanager.linuxexecutor import ContainerUsers, reachable_problem
from yarn.nodemanager.localizer import Localizer
from yarn.nodemanager.monitor import resident_bytes_by_session
from yarn.nodemanager.records import (
    ApplicationFinished,
    Event,
    LaunchProcess,
    MemoryMeasured,
    ResourceManagerCommand,
    StartContainer,
    StopAllContainers,
    StopContainer,
    Tick,
)
from yarn.nodemanager.state import CONTAINERS_MAX, NodeManagerLayout, NodeManagerState
from yarn.records import Container, ContainerLaunchContext, ContainerStatus, Resource

STOP_ALL_MARGIN_S = 5.0  # beyond the SIGKILL delay, how long stopping every container may take


class NodeManager:
    def __init__(self, config: NodeManagerConfig, cluster_dir: ClusterDir, node_id: str, label: str,
                 clock=time.monotonic):
        self.config = config
        self.cluster_dir = cluster_dir
        self.node_id = node_id
        self.label = label
        self.clock = clock
        node_dir = cluster_dir.node_dir(node_id)
        self.local_dir = Path(config.local_dirs.split(",")[0]) if config.local_dirs else node_dir / "nm-local-dir"
        self.log_dir = Path(config.log_dirs.split(",")[0]) if config.log_dirs else node_dir / "userlogs"
        self.capability = Resource(config.memory_mb, config.vcores)
        self.address = ""  # set once the server is bound
        self.state = NodeManagerState(NodeManagerLayout(self.local_dir, self.log_dir, config.sigkill_delay_s,
                                                        config.pmem_check_enabled, config.delete_delay_s,
                                                        config.heartbeat_interval_s, config.health_interval_s))
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self.users = ContainerUsers(config, cluster_dir.root)
        shutil.rmtree(self.local_dir / "usercache", ignore_errors=True)
        self.local_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        (self.local_dir / "pids").mkdir(mode=0o700, exist_ok=True)  # the NodeManager's own: no container reads it
        problem = reachable_problem(cluster_dir.root, self.local_dir, self.log_dir) if self.users.isolated else ""
        if problem:
            raise FailedPrecondition(f"LinuxContainerExecutor runs containers as their users' accounts, but {problem}")
        self.executor = ContainerExecutor(self.submit, Localizer(cluster_dir), self._environment_for, self.users)

    @property
    def aux_services(self) -> dict[str, AuxiliaryService]:
        return self.executor.aux_services

    @aux_services.setter
    def aux_services(self, services: dict[str, AuxiliaryService]) -> None:
        with self._lock:
            self.executor.aux_services = services
            self.state.aux_service_names = tuple(services)

    def application_dir(self, user: str, application_id: str) -> Path:
        return self.state.layout.application_dir(user, application_id)

    def submit(self, event: Event) -> list[ResourceManagerCommand]:
        """Hand `event` to the state; carry out the executor's commands, return the actor's."""
        with self._lock:
            commands = self.state.handle(event, self.clock())
            self._changed.notify_all()
        for_the_actor = [command for command in commands if isinstance(command, ResourceManagerCommand)]
        for command in commands:
            if not isinstance(command, ResourceManagerCommand):
                self.executor.execute(command)
        return for_the_actor

    def wait_for_heartbeat(self, stop: threading.Event) -> None:
        """Sleep until something is due for the ResourceManager: the interval is over, or a container
        completed (an out-of-band heartbeat). Every event wakes it to look; `stop` ends it then."""
        with self._changed:
            self._changed.wait_for(lambda: stop.is_set() or self.state.heartbeat_wait_s(self.clock()) == 0.0,
                                   timeout=self.state.heartbeat_wait_s(self.clock()))

    # ------------------------------------------------------------ what the actor and servicer call

    def start_container(self, container: Container, context: ContainerLaunchContext, user: str) -> None:
        """Accept a container; it localizes and launches in the background. Idempotent per container id."""
        with self._lock:
            if container.id not in self.state.containers and not self.state.has_room():
                raise ResourceExhausted(f"{self.node_id} already holds {CONTAINERS_MAX} containers")
        user, refusal = self.users.resolve(context, user)
        self.submit(StartContainer(container, context, user, refusal))

    def stop_container(self, container_id: str, exit_status: int, diagnostics: str, missing_ok: bool = False) -> None:
        with self._lock:
            if container_id not in self.state.containers and not missing_ok:
                raise ContainerNotFound(f"no container {container_id} on {self.node_id}")
        self.submit(StopContainer(container_id, exit_status, diagnostics))

    def container_status(self, container_id: str) -> ContainerStatus:
        with self._lock:
            status = self.state.status(container_id)
        if status is None:
            raise ContainerNotFound(f"no container {container_id} on {self.node_id}")
        return status

    def statuses_for_heartbeat(self) -> list[ContainerStatus]:
        with self._lock:
            return self.state.statuses_for_heartbeat()

    def stop_all(self, exit_status: int, diagnostics: str) -> bool:
        """Stop every container and wait until they are done (a resync, or this NodeManager stopping)."""
        self.submit(StopAllContainers(exit_status, diagnostics))
        with self._changed:
            return self._changed.wait_for(self.state.all_done, self.config.sigkill_delay_s + STOP_ALL_MARGIN_S)

    def cleanup_application(self, application_id: str) -> None:
        """The application ended: its containers are stopped, then its aux services told and its files deleted."""
        self.submit(ApplicationFinished(application_id))

    def check_memory(self) -> None:
        """One pass of the containers monitor: the pmem check, and application dirs whose delay is over."""
        with self._lock:
            measure = self.config.pmem_check_enabled and self.state.any_running()
        if measure:
            self.submit(MemoryMeasured(resident_bytes_by_session()))
        self.submit(Tick())

    def close(self) -> None:
        self.executor.close()

    def _environment_for(self, command: LaunchProcess) -> dict[str, str]:
        environment = container_environment(command.container, command.context, command.user,
                                            node_address=self.address, cluster_dir=str(self.cluster_dir.root),
                                            local_dirs=[str(self.local_dir)], paths=command.paths,
                                            isolated=self.users.isolated)
        # Secure mode: the container's own TLS certificate, as Hadoop hands a container its tokens file.
        environment.update(tls.for_container(self.cluster_dir.root, command.container.id, command.user,
                                             command.paths.work_dir))
        return environment

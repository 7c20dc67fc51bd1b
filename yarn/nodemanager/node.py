"""The NodeManager process's state, shared by its threads.

`NodeManager` owns this node's containers and applications: it starts
containers (localize, then launch), stops them, reports their statuses for
the next heartbeat, watches their memory, and cleans up after an application
ends. The actor thread (`actor.py`) carries statuses to the ResourceManager
and brings its orders back; the servicer (`server.py`) takes ApplicationMasters'
calls. Nothing is durable: a restarted NodeManager starts with no containers
(Hadoop's NM recovery is out of scope), and its old working dirs are removed.

Disk layout under the node's dir (Hadoop's):
    nm-local-dir/usercache/<user>/appcache/<application>/          the application's dir (aux services use it)
    nm-local-dir/usercache/<user>/appcache/<application>/<container>/  a container's working dir
    nm-local-dir/pids/<container>.pid                              running containers, for leftovers
    userlogs/<application>/<container>/stdout|stderr                kept after the application ends
"""

from __future__ import annotations

import logging
import shutil
import threading
from pathlib import Path

from emrlab_common.clusterdir import ClusterDir
from yarn.errors import ContainerNotFound
from yarn.nodemanager.auxservices import AuxiliaryService
from yarn.nodemanager.config import NodeManagerConfig
from yarn.nodemanager.containers import ContainerPaths, ContainerPhase, ContainerProcess, container_environment
from yarn.nodemanager.localizer import LocalizationFailed, Localizer
from yarn.nodemanager.monitor import over_limit_diagnostics, resident_bytes_by_session
from yarn.records import (
    Container,
    ContainerExitStatus,
    ContainerLaunchContext,
    ContainerState,
    ContainerStatus,
    Resource,
    application_of_container,
)

logger = logging.getLogger(__name__)


class NodeManager:
    def __init__(self, config: NodeManagerConfig, cluster_dir: ClusterDir, node_id: str, label: str):
        self.config = config
        self.cluster_dir = cluster_dir
        self.node_id = node_id
        self.label = label
        node_dir = cluster_dir.node_dir(node_id)
        self.local_dir = Path(config.local_dirs.split(",")[0]) if config.local_dirs else node_dir / "nm-local-dir"
        self.log_dir = Path(config.log_dirs.split(",")[0]) if config.log_dirs else node_dir / "userlogs"
        self.capability = Resource(config.memory_mb, config.vcores)
        self.address = ""  # set once the server is bound
        self.aux_services: dict[str, AuxiliaryService] = {}
        self.localizer = Localizer(cluster_dir)
        self.lock = threading.Lock()
        self.containers: dict[str, ContainerProcess] = {}
        self._reported: set[str] = set()  # completed containers the RM has heard about
        self._applications: dict[str, tuple[str, dict[str, bytes]]] = {}  # id -> (user, aux data given)
        shutil.rmtree(self.local_dir / "usercache", ignore_errors=True)
        self.local_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)

    def application_dir(self, user: str, application_id: str) -> Path:
        return self.local_dir / "usercache" / user / "appcache" / application_id

    # ------------------------------------------------------------ containers

    def start_container(self, container: Container, context: ContainerLaunchContext, user: str) -> None:
        """Accept a container and launch it in the background. Idempotent per container id."""
        application_id = application_of_container(container.id)
        paths = ContainerPaths(self.application_dir(user, application_id) / container.id,
                               self.log_dir / application_id / container.id,
                               self.local_dir / "pids" / f"{container.id}.pid")
        with self.lock:
            if container.id in self.containers:
                return
            process = ContainerProcess(container, context, user, paths, self.config.sigkill_delay_s)
            self.containers[container.id] = process
            first = application_id not in self._applications
            user_and_data = self._applications.setdefault(application_id, (user, {}))
        for name, service in self.aux_services.items():
            data = context.service_data.get(name, b"")
            given = user_and_data[1]
            if first or (data and given.get(name) != data):
                given[name] = data
                self._aux_call(name, service.initialize_application, application_id, user, data)
        threading.Thread(target=self._localize_and_launch, args=(process,), name=f"launch-{container.id}",
                         daemon=True).start()

    def _localize_and_launch(self, process: ContainerProcess) -> None:
        paths = process.paths
        try:
            paths.work_dir.mkdir(parents=True, exist_ok=True)
            process.begin_localizing()
            self.localizer.localize(process.context.local_resources, process.user, paths.work_dir.parent, paths.work_dir)
            environment = container_environment(
                process.container, process.context, process.user, node_address=self.address,
                cluster_dir=str(self.cluster_dir.root), local_dirs=[str(self.local_dir)], paths=paths)
            process.launch(environment)
        except LocalizationFailed as error:
            logger.warning("%s: %s", process.container.id, error.message)
            process.fail(ContainerExitStatus.INVALID, error.message)
        except OSError as error:
            logger.warning("%s could not start: %s", process.container.id, error)
            process.fail(ContainerExitStatus.INVALID, f"cannot launch container: {error}")

    def stop_container(self, container_id: str, exit_status: int, diagnostics: str) -> None:
        process = self.containers.get(container_id)
        if process is None:
            raise ContainerNotFound(f"no container {container_id} on {self.node_id}")
        threading.Thread(target=process.stop, args=(exit_status, diagnostics), daemon=True,
                         name=f"stop-{container_id}").start()

    def container_status(self, container_id: str) -> ContainerStatus:
        process = self.containers.get(container_id)
        if process is None:
            raise ContainerNotFound(f"no container {container_id} on {self.node_id}")
        return process.status()

    def statuses_for_heartbeat(self) -> list[ContainerStatus]:
        """Every container's status; completed ones until the RM has heard them once."""
        with self.lock:
            processes = list(self.containers.values())
        return [status for status in (process.status() for process in processes)
                if status.state is not ContainerState.COMPLETE or status.container_id not in self._reported]

    def heartbeat_delivered(self, statuses: list[ContainerStatus]) -> None:
        with self.lock:
            self._reported.update(status.container_id for status in statuses if status.state is ContainerState.COMPLETE)

    def stop_all(self, exit_status: int, diagnostics: str) -> None:
        """Stop every container and wait (RESYNC from the RM, or this NodeManager stopping)."""
        with self.lock:
            processes = list(self.containers.values())
        threads = [threading.Thread(target=process.stop, args=(exit_status, diagnostics), daemon=True)
                   for process in processes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def forget_all(self) -> None:
        """After a resync: the RM knows none of our containers any more."""
        with self.lock:
            self.containers = {cid: process for cid, process in self.containers.items()
                               if process.phase is not ContainerPhase.DONE}
            self._reported.clear()

    # ------------------------------------------------------------ applications

    def cleanup_application(self, application_id: str) -> None:
        """The application ended: stop its containers, tell the aux services, delete its local files."""
        with self.lock:
            processes = [process for process in self.containers.values() if process.application_id == application_id]
            user, _ = self._applications.pop(application_id, ("", {}))
        for process in processes:
            process.stop(ContainerExitStatus.KILLED_AFTER_APP_COMPLETION, "Container Killed after application completion")
        for name, service in self.aux_services.items():
            self._aux_call(name, service.stop_application, application_id)
        with self.lock:
            for process in processes:
                self.containers.pop(process.container.id, None)
                self._reported.discard(process.container.id)
        if user:
            directory = self.application_dir(user, application_id)
            if self.config.delete_delay_s > 0:
                timer = threading.Timer(self.config.delete_delay_s, shutil.rmtree, (directory,), {"ignore_errors": True})
                timer.daemon = True
                timer.start()
            else:
                shutil.rmtree(directory, ignore_errors=True)
        logger.info("cleaned up %s (%d container(s))", application_id, len(processes))

    def _aux_call(self, name: str, method, *arguments) -> None:
        try:
            method(*arguments)
        except Exception:  # a broken aux service must not take the NodeManager down
            logger.exception("aux service %s failed in %s", name, method.__name__)

    # ------------------------------------------------------------ memory

    def check_memory(self) -> None:
        """One pass of the pmem check over the running containers."""
        with self.lock:
            running = [process for process in self.containers.values() if process.phase is ContainerPhase.RUNNING]
        if not running or not self.config.pmem_check_enabled:
            return
        usage = resident_bytes_by_session()
        for process in running:
            limit_bytes = process.container.resource.memory_mb << 20
            diagnostics = over_limit_diagnostics(process.container.id, process.pid, usage.get(process.pid, 0), limit_bytes)
            if diagnostics:
                logger.warning(diagnostics)
                threading.Thread(target=process.stop, args=(ContainerExitStatus.KILLED_EXCEEDED_PMEM, diagnostics),
                                 daemon=True).start()

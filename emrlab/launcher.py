"""Starting and stopping a cluster's processes (what `emrlab cluster up/down` does).

A cluster is a primary node and numbered core and task nodes, all on this
machine. Each service lists the daemon modules it runs on the primary node
and on each node group; every daemon is its own OS process, started as
`python -m <module> --dir DIR [--node ID]`, in its own session so that it
outlives the command that started it. `up` returns once every service's
health check passes, so the next command can rely on the cluster.

The cluster spec (`emrlab_common.clusterspec`, `<dir>/cluster.json`) says
which nodes there are; a daemon is told what it needs of it on its command
line (`told_arguments`: a NodeManager's node label, the NameNode's superuser)
whenever it is started, so that a restarted daemon is told the same.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from emrlab_common.clusterdir import ClusterDir, process_alive
from emrlab_common.clusterspec import CORE, TASK, ClusterSpec, NodeSpec
from emrlab_common.daemon import daemon_environment
from emrlab_common.errors import EmrlabError, FailedPrecondition, InvalidArgument, Unavailable
from emrlab_common.rpc import current_user

logger = logging.getLogger(__name__)

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
POLL_S = 0.05
HDFS_REPLICATION_DEFAULT = 3  # dfs.replication's default; a smaller cluster gets one per core node
NODE_LABEL_KEY = "yarn.nodemanager.node-labels.provider.configured-node-partition"
SUPERUSER_KEY = "emrlab.hdfs.superuser"


@dataclass(frozen=True)
class Service:
    name: str
    primary_daemons: tuple[str, ...]
    node_daemons: dict[str, tuple[str, ...]] = field(default_factory=dict)  # node group -> daemon modules
    health: Callable[[ClusterDir, ClusterSpec], str | None] | None = None  # None when healthy, else what we wait for
    first_start: Callable[[ClusterDir, ClusterSpec], None] | None = None
    default_properties: dict[str, str] = field(default_factory=dict)  # under the user's -D, as a *-site.xml


def _hdfs_health(cluster_dir: ClusterDir, spec: ClusterSpec) -> str | None:
    from hdfs import Client

    expected = len(spec.in_group(CORE))
    with Client.for_cluster(cluster_dir, user=spec.superuser) as client:
        report = client.datanode_report()
        live = sum(1 for datanode in report.datanodes if datanode.live)
        if live < expected:
            return f"{live} of {expected} DataNodes live"
        if report.safe_mode:
            return "NameNode in safe mode"
    return None


def _hdfs_first_start(cluster_dir: ClusterDir, spec: ClusterSpec) -> None:
    """Directories every Hadoop cluster has: a home for the superuser, a world-writable /tmp, and MapReduce's
    staging root and history dir, writable by every user and sticky, as Bigtop's init-hdfs.sh makes them (the
    first job would otherwise make them its user's only, 0700, and a second user's job could not stage)."""
    from hdfs import Client
    from mapreduce.appmaster.description import STAGING_ROOT
    from mapreduce.appmaster.history import HISTORY_DONE_DIR

    with Client.for_cluster(cluster_dir, user=spec.superuser) as client:
        client.mkdirs(f"/user/{spec.superuser}")
        for shared in ("/tmp", STAGING_ROOT, HISTORY_DONE_DIR):
            client.mkdirs(shared)
            client.chmod(shared, 0o1777)


def _yarn_health(cluster_dir: ClusterDir, spec: ClusterSpec) -> str | None:
    from yarn.client import YarnClient

    expected = {node.node_id for node in spec.nodes}
    with YarnClient.for_cluster(cluster_dir, user=spec.superuser) as client:
        running = {node.node_id for node in client.nodes(states=("RUNNING",))}
    if not expected <= running:
        return f"{len(expected & running)} of {len(expected)} NodeManagers registered"
    return None


SERVICES: dict[str, Service] = {
    "hdfs": Service("hdfs", ("hdfs.namenode",), {CORE: ("hdfs.datanode",)}, _hdfs_health, _hdfs_first_start,
                    default_properties={
                        # Lab timing: a DataNode silent for 2 * 5 s + 10 * 1 s = 20 s is dead, so that
                        # killing one shows re-replication within a minute. Hadoop's defaults
                        # (3 s heartbeats, a 5 min recheck) take 10.5 min; -D sets them back.
                        "dfs.heartbeat.interval": "1",
                        "dfs.namenode.heartbeat.recheck-interval": "5000",
                        # A decommissioning DataNode is checked every 3 s (Hadoop: 30 s), so a core shrink
                        # or a spot notice on a core node shows DECOMMISSIONED in seconds.
                        "dfs.namenode.decommission.interval": "3",
                    }),
    # With YARN, as on EMR's master node: the JobHistory server, where each MapReduce job's page lives.
    "yarn": Service("yarn", ("yarn.resourcemanager", "mapreduce.jobhistory"),
                    {CORE: ("yarn.nodemanager",), TASK: ("yarn.nodemanager",)},
                    _yarn_health, default_properties={
                        # As EMR's yarn-site.xml: every NodeManager serves map output to reducers.
                        "yarn.nodemanager.aux-services": "mapreduce_shuffle",
                        "yarn.nodemanager.aux-services.mapreduce_shuffle.class": "mapreduce.shuffle:ShuffleHandler",
                        # Lab timing, as for DataNodes: a silent NodeManager is LOST after 20 s (Hadoop: 10 min).
                        "yarn.nm.liveness-monitor.expiry-interval-ms": "20000",
                        # As EMR's yarn-site.xml: a restarted ResourceManager recovers its applications
                        # (work-preserving; Hadoop's default is off).
                        "yarn.resourcemanager.recovery.enabled": "true",
                    }),
}


def default_properties(services=tuple(SERVICES)) -> dict[str, str]:
    """The properties these services write under the user's -D, as a *-site.xml (lab timing among them)."""
    return {key: value for name in services for key, value in SERVICES[name].default_properties.items()}


def daemon_name(module: str, node_id: str = "") -> str:
    return module.rsplit(".", 1)[-1] + (f"-{node_id}" if node_id else "")


def node_spec(core: int, task: int, spot_task: bool = False) -> tuple[NodeSpec, ...]:
    nodes = [NodeSpec(f"core-{index}", CORE) for index in range(1, core + 1)]
    nodes += [NodeSpec(f"task-{index}", TASK, "SPOT" if spot_task else "ON_DEMAND") for index in range(1, task + 1)]
    return tuple(nodes)


def told_arguments(spec: ClusterSpec, module: str, node_id: str) -> tuple[str, ...]:
    """What a daemon is told of the spec on its command line; the cluster's own -D of the same key wins."""
    definitions = {}
    if module == "hdfs.namenode":
        definitions[SUPERUSER_KEY] = spec.superuser
    node = spec.nodes_by_id.get(node_id)
    if module == "yarn.nodemanager" and node is not None:
        definitions[NODE_LABEL_KEY] = node.group  # EMR labels a node by its instance group
    return tuple(item for key, value in definitions.items() if key not in spec.properties
                 for item in ("-D", f"{key}={value}"))


def sized_properties(properties: dict[str, str], core: int) -> dict[str, str]:
    """EMR sizes dfs.replication to the cluster it creates (in its hdfs-site.xml): at most one per core node."""
    if "dfs.replication" in properties or core >= HDFS_REPLICATION_DEFAULT:
        return properties
    return {**properties, "dfs.replication": str(core)}


@dataclass(frozen=True)
class Placement:
    """Where one node's daemons run: a command they start under (the fault harness's `ip netns exec NS`, which
    gives a node its own network) and -D arguments for them (the addresses they bind there)."""

    prefix: tuple[str, ...] = ()
    arguments: tuple[str, ...] = ()


def running_daemons(cluster_dir: ClusterDir):
    return [record for record in cluster_dir.daemons() if process_alive(record.pid)]


# ---------------------------------------------------------------- up

def up(cluster_dir: ClusterDir, *, core: int = 3, task: int = 0, properties: dict[str, str] | None = None,
       services: tuple[str, ...] | None = None, timeout_s: float = START_TIMEOUT_S,
       progress: Callable[[str], None] = lambda line: None,
       placement: Callable[[str], Placement] = lambda node_id: Placement()) -> ClusterSpec:
    """Start a cluster in `cluster_dir` and wait until it is healthy; returns its spec.

    `placement(node_id)` says where each node's daemons run (all on this host's loopback by default)."""
    if core < 1:
        raise InvalidArgument("a cluster needs at least one core node (--core 1)")
    if task < 0:
        raise InvalidArgument("--task cannot be negative")
    if running_daemons(cluster_dir):
        raise FailedPrecondition(f"a cluster is already running in {cluster_dir.root} (run `emrlab cluster down` first)")
    services = tuple(services or SERVICES)
    previous = cluster_dir.read_spec() if cluster_dir.exists() else None
    spec = ClusterSpec(
        nodes=node_spec(core, task),
        properties=sized_properties({**default_properties(services), **(properties or {})}, core),
        superuser=previous.superuser if previous else current_user(),
        services=services,
        created=previous.created if previous else time.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    cluster_dir.root.mkdir(parents=True, exist_ok=True)
    cluster_dir.write_spec(spec)
    first_start = not previous
    try:
        for name in services:
            service = SERVICES[name]
            for module in service.primary_daemons:
                start_daemon(cluster_dir, module, timeout_s=timeout_s)
                progress(f"started {daemon_name(module)}")
            node_daemons = [(module, node.node_id) for node in spec.nodes for module in service.node_daemons.get(node.group, ())]
            for module, node_id in node_daemons:
                spawn(cluster_dir, module, node_id, placement(node_id).arguments, prefix=placement(node_id).prefix)
            for module, node_id in node_daemons:
                wait_published(cluster_dir, daemon_name(module, node_id), timeout_s)
            if node_daemons:
                progress(f"started {len(node_daemons)} {name} node daemon(s)")
            wait_healthy(cluster_dir, spec, service, timeout_s, progress)
            if first_start and service.first_start:
                service.first_start(cluster_dir, spec)
    except BaseException:
        down(cluster_dir)
        raise
    return spec


def wait_healthy(cluster_dir: ClusterDir, spec: ClusterSpec, service: Service, timeout_s: float,
                 progress: Callable[[str], None]) -> None:
    if service.health is None:
        return
    deadline = time.monotonic() + timeout_s
    waiting_for = "first answer"
    while time.monotonic() < deadline:
        try:
            waiting_for = service.health(cluster_dir, spec)
        except EmrlabError as error:
            waiting_for = error.message
        if waiting_for is None:
            progress(f"{service.name} is healthy")
            return
        time.sleep(POLL_S * 4)
    raise Unavailable(f"{service.name} did not become healthy in {timeout_s:.0f}s ({waiting_for}); "
                      f"see the logs in {cluster_dir.logs_dir}")


# ---------------------------------------------------------------- single daemons

def spawn(cluster_dir: ClusterDir, module: str, node_id: str = "", extra_arguments: tuple[str, ...] = (),
          log_dir: Path | None = None, prefix: tuple[str, ...] = ()) -> subprocess.Popen:
    """Start one daemon process in the background (its own session, output to <log dir>/<name>.out).

    `prefix` is a command it runs under, which must exec it (as `ip netns exec NS` does), so its pid is the daemon's.
    It is told what it needs of the cluster spec (`told_arguments`) before `extra_arguments`, which may override."""
    name = daemon_name(module, node_id)
    told = told_arguments(cluster_dir.read_spec(), module, node_id) if cluster_dir.exists() else ()
    log_dir = log_dir or cluster_dir.logs_dir
    log_dir.mkdir(parents=True, exist_ok=True)
    command = [*prefix, sys.executable, "-m", module, "--dir", str(cluster_dir.root),
               *(["--node", node_id] if node_id else []),
               *(["--log-dir", str(log_dir)] if log_dir != cluster_dir.logs_dir else []), *told, *extra_arguments]
    with open(log_dir / f"{name}.out", "ab") as output:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True, env=daemon_environment())
    logger.info("spawned %s (pid %d)", name, process.pid)
    return process


def wait_published(cluster_dir: ClusterDir, name: str, timeout_s: float, process: subprocess.Popen | None = None,
                   log_dir: Path | None = None) -> str:
    """Wait until a daemon has bound its port and written its record; return its address."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        record = cluster_dir.read_daemon(name)
        if record is not None and process_alive(record.pid) and (process is None or record.pid == process.pid):
            return record.address
        if process is not None and process.poll() is not None:
            break
        time.sleep(POLL_S)
    raise Unavailable(f"{name} did not start: {_log_tail(name, log_dir or cluster_dir.logs_dir)}")


def _log_tail(name: str, log_dir: Path) -> str:
    for path in (log_dir / f"{name}.out", log_dir / f"{name}.log"):
        try:
            lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
        except FileNotFoundError:
            continue
        if lines:
            return lines[-1].strip()
    return f"no output (see {log_dir})"


def start_daemon(cluster_dir: ClusterDir, module: str, node_id: str = "", *, timeout_s: float = START_TIMEOUT_S,
                 extra_arguments: tuple[str, ...] = (), prefix: tuple[str, ...] = ()) -> str:
    process = spawn(cluster_dir, module, node_id, extra_arguments, prefix=prefix)
    return wait_published(cluster_dir, daemon_name(module, node_id), timeout_s, process)


def kill_daemon(cluster_dir: ClusterDir, name: str, sig: int = signal.SIGKILL) -> int:
    """Send a signal to one daemon (SIGKILL by default, like `kill -9`); returns its pid."""
    record = cluster_dir.read_daemon(name)
    if record is None or not process_alive(record.pid):
        raise Unavailable(f"{name} is not running in {cluster_dir.root}")
    os.kill(record.pid, sig)
    if sig == signal.SIGKILL:
        wait_gone([record.pid], STOP_TIMEOUT_S)
        cluster_dir.withdraw_daemon(name, record.pid)
    return record.pid


# ---------------------------------------------------------------- down

def down(cluster_dir: ClusterDir, timeout_s: float = STOP_TIMEOUT_S) -> list[str]:
    """Stop every daemon: SIGTERM, then SIGKILL after `timeout_s`. Data stays on disk.

    A managed cluster is stopped through its controller first: `emrlab.controller.launch.down`."""
    records = running_daemons(cluster_dir)
    stop_daemons(cluster_dir, records, timeout_s)
    _kill_leftover_containers(cluster_dir)
    return [record.name for record in records]


def stop_daemons(cluster_dir: ClusterDir, records, timeout_s: float, sig: int = signal.SIGTERM) -> None:
    """Signal these daemons (SIGTERM: stop gracefully), SIGKILL each one's session after `timeout_s`, withdraw them."""
    for record in records:
        try:
            os.kill(record.pid, sig)
        except ProcessLookupError:
            pass
    survivors = wait_gone([record.pid for record in records], timeout_s)
    for pid in survivors:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    wait_gone(survivors, timeout_s)
    for record in records:
        cluster_dir.withdraw_daemon(record.name, record.pid)


def _kill_leftover_containers(cluster_dir: ClusterDir) -> None:
    """Containers outlive a NodeManager killed with -9; their pid files name them."""
    from yarn.nodemanager.containers import kill_leftover_containers

    killed = kill_leftover_containers(cluster_dir.root)
    if killed:
        logger.info("killed %d leftover container(s)", killed)


def wait_gone(pids: list[int], timeout_s: float) -> list[int]:
    deadline = time.monotonic() + timeout_s
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        for pid in list(alive):
            _reap(pid)
            if not process_alive(pid):
                alive.remove(pid)
        time.sleep(POLL_S)
    return alive


def _reap(pid: int) -> None:
    """Collect a child's exit status if it is ours (tests start daemons as children)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass

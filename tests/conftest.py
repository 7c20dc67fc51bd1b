"""Fixtures that start real clusters: daemons as separate OS processes on loopback ports.

Every cluster lives in its own temporary directory with ephemeral ports, small
blocks (1 MiB) and fast heartbeats, and is torn down by a finalizer even when
the test fails.
"""

from __future__ import annotations

import atexit
import contextlib
import getpass
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import emrlab_common  # noqa: F401  first: turns gRPC's fork handlers off in this process before grpc loads

# isort: split
import grpc
import pytest

from emrlab import launcher
from emrlab_common.clusterdir import ClusterDir
from emrlab_common.clusterspec import ClusterSpec
from emrlab_common.errors import EmrlabError

# What the programs the suite starts write to the temporary directory (their TMPDIR) and pytest's own tmp
# paths go into one directory, removed at the end. This process keeps the system's (multiprocessing cleans
# its own files there at exit). The environment carries the directory, as this module is imported twice
# (as `conftest` by pytest and as `tests.conftest` by some test modules).
tempfile.gettempdir()
SCRATCH_DIR = os.environ.get("EMRLAB_TEST_SCRATCH")
if SCRATCH_DIR is None:
    SCRATCH_DIR = tempfile.mkdtemp(prefix="emrlab-tests-")
    # Also when pytest stops before pytest_unconfigure (a usage error, an error collecting).
    atexit.register(shutil.rmtree, SCRATCH_DIR, True)
os.environ.update(EMRLAB_TEST_SCRATCH=SCRATCH_DIR, TMPDIR=SCRATCH_DIR, PYTEST_DEBUG_TEMPROOT=SCRATCH_DIR)


# The JVM (PySpark's tests) makes /tmp/hsperfdata_USER whatever TMPDIR says: removed at the end if this
# run made it and it is empty again (a JVM still running elsewhere keeps its file there, and the directory).
JVM_PERF_DIR = os.path.join("/tmp", f"hsperfdata_{getpass.getuser()}")
JVM_PERF_DIR_EXISTED = os.path.exists(JVM_PERF_DIR)


def pytest_unconfigure(config):
    for pool in list(OPEN_POOLS):  # a fixture whose setup failed after its clusters started never reached close
        with contextlib.suppress(Exception):
            pool.close()
    shutil.rmtree(SCRATCH_DIR, ignore_errors=True)
    if not JVM_PERF_DIR_EXISTED:
        with contextlib.suppress(OSError):
            os.rmdir(JVM_PERF_DIR)


# Liveness here: a DataNode is dead after 2 * 0.3 s + 10 * 0.2 s = 2.6 s of silence.
FAST_PROPERTIES = {
    "dfs.blocksize": "1m",
    "dfs.heartbeat.interval": "0.2",
    "dfs.namenode.heartbeat.recheck-interval": "300",
    "dfs.namenode.redundancy.interval.seconds": "0.3",
    "dfs.namenode.safemode.extension": "0",
    "dfs.namenode.reconstruction.pending.timeout-sec": "5",
    "dfs.namenode.lease-hard-limit-sec": "3",
    "dfs.namenode.lease-recheck-interval-ms": "200",
    "dfs.namenode.decommission.interval": "0.3",
}
WAIT_TIMEOUT_S = 60.0
# YARN here: NodeManagers heartbeat every 0.1 s and are LOST after 3 s of silence; nodes offer 1 GiB.
YARN_FAST_PROPERTIES = {
    "yarn.resourcemanager.nodemanagers.heartbeat-interval-ms": "100",
    "yarn.nm.liveness-monitor.expiry-interval-ms": "3000",
    "yarn.nodemanager.container-monitor.interval-ms": "200",
    "yarn.nodemanager.resource.memory-mb": "1024",
}


# What a predicate may meet while a cluster is mid-change (a daemon restarting, a file not written yet):
# keep polling. Anything else is a bug in the test or the code, raised at once.
EXPECTED_WHILE_WAITING = (EmrlabError, grpc.RpcError, OSError)


def wait_until(predicate, timeout_s: float = WAIT_TIMEOUT_S, what: str = "condition", poll_s: float = 0.1):
    """Poll `predicate` until it returns something truthy; fail with `what` after the timeout."""
    deadline = time.monotonic() + timeout_s
    last_error = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except EXPECTED_WHILE_WAITING as error:
            last_error = error
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what} (last error: {last_error!r})")


@dataclass
class RunningCluster:
    cluster_dir: ClusterDir
    spec: ClusterSpec
    clients: list = field(default_factory=list)

    def client(self, user: str | None = None, node_id: str | None = None):
        from hdfs import Client

        client = Client.for_cluster(self.cluster_dir, user=user)
        if node_id is not None:
            client.node_id = node_id
        self.clients.append(client)
        return client

    def emrlab(self, *arguments: str, input_bytes: bytes | None = None, user: str | None = None,
               check: bool = False) -> subprocess.CompletedProcess:
        """Run the real `emrlab` command against this cluster."""
        environment = dict(os.environ, EMRLAB_CLUSTER=str(self.cluster_dir.root))
        if user:
            environment["HADOOP_USER_NAME"] = user
        result = subprocess.run([sys.executable, "-m", "emrlab", *arguments], input=input_bytes,
                                capture_output=True, env=environment, timeout=WAIT_TIMEOUT_S * 2)
        if check and result.returncode != 0:
            raise AssertionError(f"emrlab {' '.join(arguments)} failed: {result.stderr.decode()}")
        return result

    def yarn(self, user: str | None = None):
        from yarn.client import YarnClient

        client = YarnClient.for_cluster(self.cluster_dir, user=user)
        self.clients.append(client)
        return client

    def kill(self, daemon_name: str) -> None:
        launcher.kill_daemon(self.cluster_dir, daemon_name)

    def start(self, module: str, node_id: str = "") -> str:
        return launcher.start_daemon(self.cluster_dir, module, node_id)

    def jmx(self, daemon_name: str, bean_name: str) -> dict:
        """One bean of a daemon's /jmx (`Hadoop:service=DataNode,name=DataNodeActivity`), read over HTTP."""
        import json
        import urllib.request

        from emrlab_common.web import cluster_urls

        url = f"{cluster_urls(self.cluster_dir, include_nodes=True)[daemon_name]}/jmx?qry={bean_name}"
        with urllib.request.urlopen(url, timeout=WAIT_TIMEOUT_S) as response:
            [bean] = json.loads(response.read())["beans"]
        return bean

    def node_data_dir(self, node_id: str):
        return self.cluster_dir.node_dir(node_id) / "data" / "current"


OPEN_POOLS: list[ClusterPool] = []  # not closed yet: pytest_unconfigure stops what is left


class ClusterPool:
    """Clusters started for one test or module, all stopped by `close` (and at the session's end if a
    fixture failed before it could call it: its setup raised after a cluster had started)."""

    def __init__(self, make_directory):
        self.make_directory = make_directory
        self.started: list[RunningCluster] = []
        OPEN_POOLS.append(self)

    def start(self, core: int = 3, task: int = 0, properties: dict | None = None,
              services: tuple[str, ...] = ("hdfs",)) -> RunningCluster:
        cluster_dir = ClusterDir(self.make_directory())
        spec = launcher.up(cluster_dir, core=core, task=task, properties={**FAST_PROPERTIES, **(properties or {})},
                           services=services)
        cluster = RunningCluster(cluster_dir, spec)
        self.started.append(cluster)
        return cluster

    def close(self) -> None:
        if self in OPEN_POOLS:
            OPEN_POOLS.remove(self)
        started, self.started = self.started, []
        errors = []
        for cluster in started:
            for client in cluster.clients:
                client.close()
            try:
                launcher.down(cluster.cluster_dir, timeout_s=5)
            except Exception as error:  # stop the other clusters all the same, then say what went wrong
                errors.append(error)
        if errors:
            raise errors[0]


@pytest.fixture
def cluster_factory(tmp_path_factory):
    """`cluster_factory(core=N, properties=...)` starts a cluster that is stopped after the test."""
    pool = ClusterPool(lambda: tmp_path_factory.mktemp("cluster"))
    yield pool.start
    pool.close()


@pytest.fixture(scope="module")
def shared_cluster(tmp_path_factory):
    """One four-core-node HDFS cluster shared by the tests of a module that do not break it."""
    pool = ClusterPool(lambda: tmp_path_factory.mktemp("shared"))
    yield pool.start(core=4)
    pool.close()


@pytest.fixture(scope="module")
def yarn_cluster(tmp_path_factory):
    """HDFS and YARN on two core nodes and one task node, shared by a module's tests that do not break it."""
    pool = ClusterPool(lambda: tmp_path_factory.mktemp("yarn"))
    yield pool.start(core=2, task=1, properties=YARN_FAST_PROPERTIES, services=("hdfs", "yarn"))
    pool.close()

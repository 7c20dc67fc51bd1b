"""Creating a managed cluster, following it until it runs, and stopping it: what `cluster up/down`, the demo
and the spot lab share.

    write_definition(cluster_dir, definition, properties)   # cluster.json and controller/definition.json
    launcher.start_daemon(cluster_dir, "emrlab.controller")  # the controller takes it from there
    follow(cluster_dir, timeout_s, print)                    # -> "WAITING"
    down(cluster_dir)                                        # the controller first, then launcher.down
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable

from emrlab import launcher
from emrlab.controller import views
from emrlab.controller.client import (
    CONTROLLER,
    ControllerClient,
    controller_dir,
    controller_running,
)
from emrlab.controller.definition import ClusterDefinition, to_document
from emrlab.controller.steprunner import stop_leftover_steps
from emrlab_common.clusterdir import ClusterDir, write_json_atomically
from emrlab_common.clusterspec import ClusterSpec
from emrlab_common.errors import DeadlineExceeded, EmrlabError, FailedPrecondition, Unavailable
from emrlab_common.rpc import current_user

logger = logging.getLogger(__name__)

POLL_S = 0.25


def write_definition(cluster_dir: ClusterDir, definition: ClusterDefinition, properties: dict[str, str]) -> None:
    """What the controller reads at its first start: the cluster spec and the RunJobFlow-shaped definition."""
    cluster_dir.root.mkdir(parents=True, exist_ok=True)
    cluster_dir.write_spec(ClusterSpec(nodes=(), properties=properties, superuser=current_user(),
                                       services=tuple(launcher.SERVICES), created=time.strftime("%Y-%m-%dT%H:%M:%S")))
    write_json_atomically(controller_dir(cluster_dir) / "definition.json", to_document(definition))


def start(cluster_dir: ClusterDir, definition: ClusterDefinition, properties: dict[str, str], timeout_s: float,
          echo: Callable[[str], None] = lambda line: None) -> str:
    """Create the cluster, start its controller, and return its state once it runs (or ends)."""
    write_definition(cluster_dir, definition, properties)
    launcher.start_daemon(cluster_dir, "emrlab.controller")
    return follow(cluster_dir, timeout_s, echo)


def follow(cluster_dir: ClusterDir, timeout_s: float, echo: Callable[[str], None]) -> str:
    """Print the cluster's and instances' state changes until it runs or ends; return its state."""
    deadline = time.monotonic() + timeout_s
    seen: dict[str, str] = {}
    while True:
        try:
            # A new client each time: a cluster that ends stops its controller, and then its journal answers.
            with ControllerClient(cluster_dir) as client:
                cluster = client.describe_cluster()["Cluster"]
                instances = client.list_instances()["Instances"]
        except Unavailable:
            if controller_running(cluster_dir):
                raise
            continue  # it exited between the look and the call
        # Instances first: they were read after the cluster, so a cluster that is WAITING comes after them.
        for instance in instances:
            instance_state = instance["Status"]["State"]
            if seen.get(instance["Id"]) != instance_state:
                echo(f"    {instance['InstanceGroupType'].lower():<6} {instance['PrivateDnsName']:<8} "
                     f"{instance['Id']} {instance_state}")
                seen[instance["Id"]] = instance_state
        state = cluster["Status"]["State"]
        if seen.get(cluster["Id"]) != state:
            reason = views.reason_text(cluster["Status"])
            echo(f"  {cluster['Id']} {state}" + (f" ({reason})" if reason else ""))
            seen[cluster["Id"]] = state
        if state in ("TERMINATED", "TERMINATED_WITH_ERRORS") or (state in ("RUNNING", "WAITING")
                                                                 and not cluster.get("Down")):
            return state
        if not controller_running(cluster_dir):
            raise FailedPrecondition(f"the cluster controller exited; see {cluster_dir.logs_dir / 'controller.log'}")
        if time.monotonic() > deadline:
            raise DeadlineExceeded(f"the cluster is still {state} after {timeout_s:.0f}s "
                                   f"(it goes on starting; see `emrlab cluster status`)")
        time.sleep(POLL_S)


def down(cluster_dir: ClusterDir, timeout_s: float = launcher.STOP_TIMEOUT_S) -> list[str]:
    """`cluster down`: stop every daemon, a managed cluster's controller first. Data stays on disk."""
    stopped = _stop_controller(cluster_dir, timeout_s)
    stopped += launcher.down(cluster_dir, timeout_s)
    _stop_leftover_steps(cluster_dir, timeout_s)
    return stopped


def _stop_controller(cluster_dir: ClusterDir, timeout_s: float) -> list[str]:
    """A managed cluster's controller goes first, stopping its instances itself, so that it replaces none."""
    record = cluster_dir.read_daemon(CONTROLLER)
    if record is None or not controller_running(cluster_dir):
        return []
    running = [daemon.name for daemon in launcher.running_daemons(cluster_dir)]
    try:
        with ControllerClient(cluster_dir) as client:
            client.stop()
    except EmrlabError as error:
        logger.warning("the controller did not stop the cluster (%s); stopping its daemons directly", error.message)
        os.kill(record.pid, signal.SIGTERM)
    launcher.wait_gone([record.pid], timeout_s * 3)
    return [name for name in running if cluster_dir.read_daemon(name) is None]


def _stop_leftover_steps(cluster_dir: ClusterDir, timeout_s: float) -> None:
    """Steps run in their own sessions: a controller killed with -9 leaves them running, with nobody to stop them."""
    pids = stop_leftover_steps(cluster_dir.root)
    if pids:
        logger.info("stopped %d step(s) a dead controller left running", len(pids))
        launcher.wait_gone(pids, timeout_s)

"""YARN under faults, each on its own cluster: a NodeManager killed -9, a node decommissioned gracefully,
an ApplicationMaster killed; and `cluster down` cleaning up containers a dead NodeManager left behind.
"""

from __future__ import annotations

import os
import signal

import pytest

from emrlab import launcher
from emrlab_common.clusterdir import process_alive
from tests.conftest import YARN_FAST_PROPERTIES, wait_until
from tests.test_yarn_cluster import container_outputs, submit_shell
from yarn.records import ApplicationState, FinalApplicationStatus, NodeState

pytestmark = pytest.mark.cluster


def start_yarn(cluster_factory, core=2, task=1):
    return cluster_factory(core=core, task=task, properties=YARN_FAST_PROPERTIES, services=("hdfs", "yarn"))


def node_states(client) -> dict[str, NodeState]:
    return {node.node_id: node.state for node in client.nodes()}


def container_pid(cluster, node_id: str) -> int | None:
    """The pid of the one container running on the node, None while there is not exactly one."""
    pid_files = list(cluster.cluster_dir.root.glob(f"nodes/{node_id}/nm-local-dir/pids/*.pid"))
    return int(pid_files[0].read_text().split()[0]) if len(pid_files) == 1 else None


def test_a_killed_nodemanager_is_lost_its_container_is_aborted_and_cluster_down_kills_what_it_left(cluster_factory):
    cluster = start_yarn(cluster_factory)
    client = cluster.yarn()
    command = 'if [ "$EMRLAB_NODE_ID" = task-1 ]; then sleep 300; else sleep 2; fi'
    app_id = submit_shell(cluster, command, 3, container_memory_mb=768)  # one container per node
    wait_until(lambda: {node.node_id: node.num_containers for node in client.nodes()}.get("task-1") == 1,
               what="a container running on task-1")
    orphan = wait_until(lambda: container_pid(cluster, "task-1"), what="the task-1 container's pid file")
    cluster.kill("nodemanager-task-1")
    wait_until(lambda: node_states(client)["task-1"] is NodeState.LOST, what="task-1 LOST")
    report = client.wait_for_application(app_id, timeout_s=60)
    assert report.final_status is FinalApplicationStatus.SUCCEEDED, report.diagnostics
    # The AM heard task-1's container end as lost with its node (not failed) and ran it again: its final count.
    assert "3 succeeded, 0 failed, 1 lost and run again" in report.diagnostics
    lost_nodes = cluster.emrlab("node", "-list", "-states", "LOST", check=True).stdout.decode()
    assert "Total Nodes:1" in lost_nodes and "task-1" in lost_nodes
    assert process_alive(orphan)  # a NodeManager killed -9 cannot stop its containers ...
    launcher.down(cluster.cluster_dir, timeout_s=5)
    wait_until(lambda: not process_alive(orphan), what="cluster down to kill the orphaned container")


def test_graceful_decommission_lets_the_running_container_finish_then_the_node_leaves(cluster_factory):
    cluster = start_yarn(cluster_factory)
    client = cluster.yarn()
    app_id = submit_shell(cluster, "sleep 4", 2, container_memory_mb=768)
    wait_until(lambda: client.application_report(app_id).running_containers == 3, what="AM and two containers running")
    am_node = client.application_report(app_id).am_node_id
    target = next(node.node_id for node in client.nodes() if node.num_containers == 1 and node.node_id != am_node)
    result = cluster.emrlab("rmadmin", "-decommission", target, "-g", "60", check=True).stdout.decode()
    assert f"{target}: DECOMMISSIONING (1 running container(s))" in result
    report = client.wait_for_application(app_id, timeout_s=60)
    assert report.final_status is FinalApplicationStatus.SUCCEEDED
    assert "2 succeeded, 0 failed, 0 lost" in report.diagnostics  # its container ran to the end
    wait_until(lambda: node_states(client)[target] is NodeState.DECOMMISSIONED, what=f"{target} DECOMMISSIONED")
    record = cluster.cluster_dir.read_daemon(f"nodemanager-{target}")
    wait_until(lambda: record is None or not process_alive(record.pid), what="the NodeManager to shut down")
    assert target not in cluster.emrlab("node", "-list", check=True).stdout.decode()
    assert "DECOMMISSIONED" in cluster.emrlab("node", "-list", "-all", check=True).stdout.decode()
    later = submit_shell(cluster, "echo $EMRLAB_NODE_ID", 3)
    assert client.wait_for_application(later, timeout_s=60).final_status is FinalApplicationStatus.SUCCEEDED
    assert not any(target in text for text in container_outputs(cluster, later).values())


def test_a_killed_application_master_is_restarted_as_a_second_attempt(yarn_cluster_with_retries):
    cluster = yarn_cluster_with_retries
    client = cluster.yarn()
    app_id = submit_shell(cluster, "sleep 1", 1)
    wait_until(lambda: client.application_report(app_id).state is ApplicationState.RUNNING, what="the AM running")
    am_container = client.application_report(app_id).am_container_id
    pid_file = next(cluster.cluster_dir.root.glob(f"nodes/*/nm-local-dir/pids/{am_container}.pid"))
    os.killpg(int(pid_file.read_text().split()[0]), signal.SIGKILL)
    report = client.wait_for_application(app_id, timeout_s=60)
    assert report.final_status is FinalApplicationStatus.SUCCEEDED and report.attempts == 2
    assert report.current_attempt_id.endswith("_000002")


@pytest.fixture
def yarn_cluster_with_retries(cluster_factory):
    return start_yarn(cluster_factory, core=1, task=0)


def test_after_a_resourcemanager_restart_the_nodemanagers_register_again_and_applications_run(cluster_factory):
    cluster = start_yarn(cluster_factory, core=1, task=0)
    cluster.kill("resourcemanager")
    cluster.start("yarn.resourcemanager")
    client = cluster.yarn()  # the new RM, on a new port
    wait_until(lambda: node_states(client) == {"core-1": NodeState.RUNNING}, what="core-1 registered again")
    app_id = submit_shell(cluster, "true", 1)
    assert client.wait_for_application(app_id, timeout_s=60).final_status is FinalApplicationStatus.SUCCEEDED

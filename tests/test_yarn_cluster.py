"""YARN with real processes: a ResourceManager and NodeManagers on loopback, running real applications.

The application is the distributed shell (its ApplicationMaster is
`yarn.distributedshell.appmaster`): the smallest AM that registers, asks for
containers, starts them on NodeManagers, counts their exits and finishes.
"""

from __future__ import annotations

import os

import pytest

from emrlab_common.clusterdir import process_alive
from tests.conftest import wait_until
from yarn.records import (
    ApplicationState,
    ApplicationSubmissionContext,
    ContainerLaunchContext,
    FinalApplicationStatus,
    Resource,
    application_of_container,
)

pytestmark = pytest.mark.cluster


def submit_shell(cluster, command: str, num_containers: int, container_memory_mb: int = 128) -> str:
    """Submit a distributed shell application directly through the client API; returns its id."""
    client = cluster.yarn()
    app_id = client.new_application()
    am_command = (f"$EMRLAB_PYTHON -m yarn.distributedshell.appmaster --num-containers {num_containers} "
                  f"--container-memory {container_memory_mb} --heartbeat-ms 100")
    client.submit_application(ApplicationSubmissionContext(
        app_id, "shell", ContainerLaunchContext([am_command], {"DISTRIBUTEDSHELL_COMMAND": command}), Resource(128, 1)))
    return app_id


def container_outputs(cluster, app_id: str) -> dict[str, str]:
    """Container id -> its stdout, from every node's log dir."""
    return {path.parent.name: path.read_text()
            for path in cluster.cluster_dir.root.glob(f"nodes/*/userlogs/{app_id}/container_*/stdout")}


def container_pids(cluster, app_id: str) -> list[int]:
    return [int(path.read_text().split()[0]) for path in cluster.cluster_dir.root.glob("nodes/*/nm-local-dir/pids/*.pid")
            if application_of_container(path.stem) == app_id]


def test_distributed_shell_runs_one_container_on_each_node_with_its_am_on_a_core_node(yarn_cluster):
    # 1 GiB nodes and 768 MB containers: one container per node, so all three nodes take part.
    app_id = submit_shell(yarn_cluster, "echo hello from $EMRLAB_NODE_ID in $CONTAINER_ID", 3, container_memory_mb=768)
    report = yarn_cluster.yarn().wait_for_application(app_id, timeout_s=60)
    assert (report.state, report.final_status) == (ApplicationState.FINISHED, FinalApplicationStatus.SUCCEEDED), report
    assert report.am_node_id.startswith("core-")
    outputs = container_outputs(yarn_cluster, app_id)
    am_container = report.am_container_id
    worker_outputs = sorted(text.split(" in ")[0] for container, text in outputs.items() if container != am_container)
    assert worker_outputs == ["hello from core-1", "hello from core-2", "hello from task-1"]
    assert all(f" in {container}\n" in text for container, text in outputs.items() if container != am_container)


def test_a_failing_command_fails_the_application_with_its_exit_status(yarn_cluster):
    app_id = submit_shell(yarn_cluster, "exit 3", 1)
    report = yarn_cluster.yarn().wait_for_application(app_id, timeout_s=60)
    assert (report.state, report.final_status) == (ApplicationState.FINISHED, FinalApplicationStatus.FAILED)
    assert "exit status 3" in report.diagnostics


def test_killing_an_application_kills_its_container_processes(yarn_cluster):
    client = yarn_cluster.yarn()
    app_id = submit_shell(yarn_cluster, "sleep 300", 2)
    wait_until(lambda: client.application_report(app_id).running_containers == 3 and len(container_pids(yarn_cluster, app_id)) == 3,
               what="the AM and two containers running")
    pids = container_pids(yarn_cluster, app_id)
    assert all(process_alive(pid) for pid in pids)
    assert client.kill_application(app_id) is False
    report = client.application_report(app_id)
    assert (report.state, report.final_status) == (ApplicationState.KILLED, FinalApplicationStatus.KILLED)
    wait_until(lambda: not any(process_alive(pid) for pid in pids), what="the containers' processes to be gone")
    wait_until(lambda: not container_pids(yarn_cluster, app_id), what="pid files removed")
    assert all(not os.path.exists(f"/proc/{pid}") or not process_alive(pid) for pid in pids)

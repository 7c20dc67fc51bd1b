"""YARN with real processes: a ResourceManager and NodeManagers on loopback, running real applications.

The application is the distributed shell (its ApplicationMaster is
`yarn.distributedshell.appmaster`): the smallest AM that registers, asks for
containers, starts them on NodeManagers, counts their exits and finishes.
"""

from __future__ import annotations

import os

import pytest

from emrlab_common.clusterdir import process_alive
from emrlab_common.errors import InvalidArgument
from emrlab_common.protos import yarn_pb2, yarn_pb2_grpc
from emrlab_common.rpc import call, connect
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


def test_every_application_master_runs_on_a_core_node(yarn_cluster):
    client = yarn_cluster.yarn()
    app_ids = [submit_shell(yarn_cluster, "true", 1) for _ in range(4)]
    reports = [client.wait_for_application(app_id, timeout_s=60) for app_id in app_ids]
    assert all(report.final_status is FinalApplicationStatus.SUCCEEDED for report in reports)
    assert {report.am_node_id for report in reports} <= {"core-1", "core-2"}


def test_a_container_over_its_memory_is_killed_with_the_pmem_diagnostic(yarn_cluster):
    hog = "$EMRLAB_PYTHON -c 'import time; block = b\"x\" * (400 << 20); time.sleep(60)'"
    app_id = submit_shell(yarn_cluster, hog, 1, container_memory_mb=128)
    report = yarn_cluster.yarn().wait_for_application(app_id, timeout_s=60)
    assert report.final_status is FinalApplicationStatus.FAILED
    assert "exit status -104" in report.diagnostics
    assert "is running beyond physical memory limits" in report.diagnostics
    assert "of 128 MB physical memory used. Killing container." in report.diagnostics


def test_commands_list_nodes_and_applications_show_status_and_print_logs(yarn_cluster):
    result = yarn_cluster.emrlab("distributedshell", "--num-containers", "2", "--", "echo shell says $CONTAINER_ID",
                                 check=True)
    output = result.stdout.decode()
    assert "Application completed successfully" in output and output.count("shell says container_") == 2
    app_id = next(word for word in output.split() if word.startswith("application_"))
    nodes = yarn_cluster.emrlab("node", "-list", check=True).stdout.decode().splitlines()
    assert nodes[0] == "Total Nodes:3" and nodes[1].split() == [
        "Node-Id", "Node-State", "Node-Label", "Number-of-Running-Containers",
        "Memory-Used", "Memory-Total", "VCores-Used", "VCores-Total"]
    assert sorted(line.split()[:3] for line in nodes[2:]) == [
        ["core-1", "RUNNING", "CORE"], ["core-2", "RUNNING", "CORE"], ["task-1", "RUNNING", "TASK"]]
    listing = yarn_cluster.emrlab("application", "-list", "-appStates", "FINISHED", check=True).stdout.decode()
    assert app_id in listing and "SUCCEEDED" in listing
    assert app_id not in yarn_cluster.emrlab("application", "-list", check=True).stdout.decode()
    status = yarn_cluster.emrlab("application", "-status", app_id, check=True).stdout.decode()
    assert "\tState : FINISHED" in status and "\tFinal-State : SUCCEEDED" in status
    logs = yarn_cluster.emrlab("logs", "-applicationId", app_id, "-log_files", "stdout", check=True).stdout.decode()
    assert logs.splitlines().count("LogType:stdout") == 3 and logs.count("shell says container_") == 2
    worker = next(line.split()[-1] for line in logs.splitlines() if line.startswith("shell says"))
    one = yarn_cluster.emrlab("logs", "-applicationId", app_id, "-containerId", worker, check=True).stdout.decode()
    assert f"Container: {worker} on " in one and one.count("Container: ") == 1


@pytest.mark.parametrize("arguments, message", [
    (("application", "-status", "application_1_0042"), "Application with id 'application_1_0042' doesn't exist in RM."),
    (("application", "-kill", "app_42"), "invalid application id 'app_42'"),
    (("application", "-list", "-appStates", "DONE"), "invalid state in DONE"),
    (("logs", "-applicationId", "application_1_0042"), "doesn't exist in RM"),
    (("node", "-status", "core-9"), "Could not find the node report for node id : core-9"),
    (("node", "-list", "-states", "ASLEEP"), "invalid state in ASLEEP"),
    (("rmadmin", "-decommission", "core-9", "-g", "10"), "no node 'core-9'"),
    (("distributedshell", "--container-memory", "999999", "--", "true"), "more than any node offers (largest: 1024 MB)"),
    (("distributedshell", "--num-containers", "0", "--", "true"), "must be positive"),
    (("distributedshell", "--num-containers", "2"), "no command: put it after --"),
    (("node", "-list", "--bogus"), "unrecognized arguments: --bogus"),
])
def test_bad_input_is_one_clear_line_and_a_failing_exit(yarn_cluster, arguments, message):
    result = yarn_cluster.emrlab(*arguments)
    stderr = result.stderr.decode()
    assert result.returncode != 0
    assert message in stderr and len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr


@pytest.mark.parametrize("command", ["node", "application", "logs", "rmadmin", "distributedshell"])
def test_every_command_has_help_with_an_example(yarn_cluster, command):
    result = yarn_cluster.emrlab(command, "--help", check=True)
    assert "examples:" in result.stdout.decode() and f"emrlab {command} " in result.stdout.decode()


def test_an_unknown_final_status_on_the_wire_is_one_invalid_argument(yarn_cluster):
    """A state the RM does not know (a newer or broken AM) is refused with one clear status, not a traceback."""
    channel = connect(yarn_cluster.cluster_dir.address_of("resourcemanager"))
    try:
        stub = yarn_pb2_grpc.ApplicationMasterProtocolStub(channel)
        with pytest.raises(InvalidArgument, match=r"^FinishApplicationMasterRequest.final_status: 9 is not a known "
                                                  r"FinalApplicationStatusProto value \(UNDEFINED, SUCCEEDED, "):
            call(stub.FinishApplicationMaster, yarn_pb2.FinishApplicationMasterRequest(
                application_attempt_id="appattempt_1700000000000_0001_000001", final_status=9), attempts_max=1)
    finally:
        channel.close()

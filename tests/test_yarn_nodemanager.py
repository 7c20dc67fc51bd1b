"""The NodeManager's pieces without a cluster: container environment, process groups, the pmem check,
localization, aux service loading."""

from __future__ import annotations

import os
import signal

import pytest

from emrlab_common.clusterdir import ClusterDir, process_alive
from emrlab_common.errors import InvalidArgument
from tests.conftest import wait_until
from yarn.nodemanager.auxservices import AuxiliaryService, load_aux_services
from yarn.nodemanager.config import NodeManagerConfig
from yarn.nodemanager.containers import container_environment, kill_leftover_containers
from yarn.nodemanager.localizer import LocalizationFailed, Localizer
from yarn.nodemanager.monitor import over_limit_diagnostics, resident_bytes_by_session
from yarn.nodemanager.node import NodeManager
from yarn.nodemanager.records import ContainerLifecycle, ContainerPaths
from yarn.records import Container, ContainerExitStatus, ContainerLaunchContext, ContainerState, Resource

CONTAINER = Container("container_1700000000000_0007_02_000003", "core-1", "127.0.0.1:4242", Resource(128, 1))


def make_paths(tmp_path) -> ContainerPaths:
    work_dir = tmp_path / "work"
    work_dir.mkdir()
    return ContainerPaths(work_dir, tmp_path / "logs", tmp_path / "nodes/core-1/nm-local-dir/pids" / f"{CONTAINER.id}.pid")


@pytest.fixture
def node(tmp_path):
    """A NodeManager's shell, state and executor with no servers: containers are real processes."""
    node = NodeManager(NodeManagerConfig(sigkill_delay_s=0.5), ClusterDir(tmp_path), "core-1", "CORE")
    yield node
    node.stop_all(ContainerExitStatus.KILLED_BY_RESOURCEMANAGER, "the test is over")
    node.close()
    node.state.validate_state()


def start(node: NodeManager, command: str):
    """Start one container running `command`; returns its record in the node's state."""
    node.start_container(CONTAINER, ContainerLaunchContext([command]), "alice")
    return node.state.containers[CONTAINER.id]


def wait_done(node: NodeManager, timeout_s: float = 10.0):
    wait_until(lambda: node.state.containers[CONTAINER.id].state is ContainerLifecycle.DONE, timeout_s,
               what="the container to be DONE")
    return node.container_status(CONTAINER.id)


def test_container_environment_names_the_container_its_attempt_and_its_node(tmp_path):
    paths = make_paths(tmp_path)
    environment = container_environment(CONTAINER, ContainerLaunchContext(["true"], {"USER_VARIABLE": "x"}), "alice",
                                        node_address="127.0.0.1:4242", cluster_dir="/c", local_dirs=["/l"], paths=paths)
    assert environment["APPLICATION_ID"] == "application_1700000000000_0007"
    assert environment["APPLICATION_ATTEMPT_ID"] == "appattempt_1700000000000_0007_000002"
    assert (environment["NM_HOST"], environment["NM_PORT"]) == ("127.0.0.1", "4242")
    assert environment["HOME"] == environment["PWD"] == str(paths.work_dir)
    assert environment["HADOOP_USER_NAME"] == "alice" and environment["USER_VARIABLE"] == "x"
    assert environment["EMRLAB_CLUSTER"] == "/c" and os.path.exists(environment["EMRLAB_PYTHON"])


def test_a_container_reports_its_exit_code_and_output_goes_to_its_log_dir(node):
    known = start(node, "echo out; echo err >&2; exit 3")
    status = wait_done(node)
    assert (status.state, status.exit_status) == (ContainerState.COMPLETE, 3)
    assert (known.paths.log_dir / "stdout").read_text() == "out\n" and (known.paths.log_dir / "stderr").read_text() == "err\n"
    assert known.paths.log_dir == node.log_dir / "application_1700000000000_0007" / CONTAINER.id
    assert not known.paths.pid_file.exists()


def test_stopping_a_container_kills_its_whole_process_group(node):
    known = start(node, "sleep 300 & echo $! > child; trap '' TERM; sleep 300")
    child_file = known.paths.work_dir / "child"
    child = wait_until(lambda: child_file.exists() and child_file.read_text().strip() and int(child_file.read_text()),
                       what="the background child")
    node.stop_container(CONTAINER.id, ContainerExitStatus.KILLED_BY_APPMASTER, "stopped by the test")  # needs KILL
    assert wait_done(node).exit_status == ContainerExitStatus.KILLED_BY_APPMASTER
    wait_until(lambda: not process_alive(child), what="the background child to die with its group")


def test_leftover_containers_are_killed_from_their_pid_files(node, tmp_path):
    known = start(node, "sleep 300")
    wait_until(lambda: known.paths.pid_file.exists() and known.pid, what="the pid file")
    pid = known.pid
    os.kill(pid, 0)
    assert kill_leftover_containers(tmp_path) == 1
    assert wait_done(node).exit_status == 128 + signal.SIGKILL
    assert not process_alive(pid)


def test_a_finished_application_stops_its_containers_and_loses_its_local_dir(node):
    known = start(node, "sleep 300")
    wait_until(lambda: known.state is ContainerLifecycle.RUNNING, what="the container running")
    application_dir = known.paths.work_dir.parent
    assert application_dir.is_dir()
    node.cleanup_application("application_1700000000000_0007")
    wait_until(lambda: CONTAINER.id not in node.state.containers, what="the application to be forgotten")
    assert known.exit_status == ContainerExitStatus.KILLED_AFTER_APP_COMPLETION
    assert not application_dir.exists() and (known.paths.log_dir / "stdout").exists()  # logs stay


def test_pmem_diagnostics_are_hadoops():
    assert over_limit_diagnostics("container_1", 42, 100 << 20, 128 << 20) is None
    message = over_limit_diagnostics("container_1", 42, 300 << 20, 128 << 20)
    assert message == ("Container [pid=42,containerID=container_1] is running beyond physical memory limits. "
                       "Current usage: 300 MB of 128 MB physical memory used. Killing container.")


def test_resident_memory_is_summed_per_session(tmp_path):
    page = os.sysconf("SC_PAGE_SIZE")
    for pid, session, pages in ((10, 10, 100), (11, 10, 50), (12, 99, 7)):
        (tmp_path / str(pid)).mkdir()
        fields = ["S", "1", str(session), str(session)] + ["0"] * 17 + [str(pages)] + ["0"] * 20
        (tmp_path / str(pid) / "stat").write_text(f"{pid} (python x) " + " ".join(fields))
    (tmp_path / "self").mkdir()
    assert resident_bytes_by_session(tmp_path) == {10: 150 * page, 99: 7 * page}


def test_a_real_process_tree_is_measured_under_its_session():
    usage = resident_bytes_by_session()
    assert usage[os.getsid(0)] > 0


def test_file_resources_are_linked_and_missing_ones_fail_clearly(tmp_path):
    source = tmp_path / "job.py"
    source.write_text("print('hi')\n")
    work_dir = tmp_path / "work"
    work_dir.mkdir()
    localizer = Localizer(ClusterDir(tmp_path))
    localizer.localize({"job.py": f"file://{source}"}, "alice", tmp_path / "app", work_dir)
    assert (work_dir / "job.py").read_text() == "print('hi')\n"
    with pytest.raises(LocalizationFailed, match="does not exist"):
        localizer.localize({"gone.py": f"file://{tmp_path}/gone.py"}, "alice", tmp_path / "app", work_dir)
    with pytest.raises(LocalizationFailed, match="invalid local resource name"):
        localizer.localize({"../escape": f"file://{source}"}, "alice", tmp_path / "app", work_dir)


def test_a_fetch_leaves_no_lock_behind_however_it_ends(tmp_path):
    work_dir = tmp_path / "work"
    work_dir.mkdir()
    localizer = Localizer(ClusterDir(tmp_path))
    for sequence in range(3):  # no NameNode runs here: each download fails
        with pytest.raises(LocalizationFailed, match="namenode is not running"):
            localizer.localize({"data": f"hdfs:///input/{sequence}"}, "alice", tmp_path / "app", work_dir)
    assert localizer._locks == {}


class RecordingService(AuxiliaryService):
    pass


def test_aux_services_load_by_class_path_and_bad_ones_are_clear_errors():
    properties = {"yarn.nodemanager.aux-services.rec.class": f"{__name__}:RecordingService"}
    services = load_aux_services(properties, "rec", lambda name: name)
    assert isinstance(services["rec"], RecordingService) and services["rec"].context == "rec"
    with pytest.raises(InvalidArgument, match="must be package.module:ClassName"):
        load_aux_services({}, "missing", lambda name: name)
    with pytest.raises(InvalidArgument, match="cannot load aux service bad"):
        load_aux_services({"yarn.nodemanager.aux-services.bad.class": "no.such.module:X"}, "bad", lambda name: name)

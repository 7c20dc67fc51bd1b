"""The managed cluster end to end: `emrlab cluster` and `emrlab step` as a user types them.

The commands under test are the real `emrlab` in subprocesses; what is only a
means (polling, the helper steps, fsck while HDFS heals) goes through the
ControllerClient (it reads the journal when the controller is not running) and
in-process calls, since every new Python costs a second of CPU.
Each cluster lives in its own temporary directory with fast heartbeats and
1 MiB blocks, and a finalizer stops it with `launch.down`, kills whatever is
left (and fails the test if anything was), and removes the directory.

One cluster from a RunJobFlow definition (4 core, 1 task, dfs.replication 2,
termination protected) is shared by the tests that change it one after the
other, in file order: steps under CONTINUE and CANCEL_AND_WAIT, bad input,
resize during a job, a killed and a frozen core node, a killed controller,
down and up, and last its termination. The transient and bootstrap-failure clusters are
small and their own.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FAST_PROPERTIES, WAIT_TIMEOUT_S, wait_until
from emrlab import launcher
from emrlab.controller import launch
from emrlab.controller.client import ControllerClient
from emrlab_common.clusterdir import ClusterDir
from emrlab_common.command import run_command
from emrlab_common.protos import emr_pb2
from test_mapreduce_cluster import MR_FAST_PROPERTIES, corpus, output_of, word_counts

pytestmark = pytest.mark.cluster

SPEED_PROPERTIES = {**FAST_PROPERTIES, **MR_FAST_PROPERTIES}
COMMAND_TIMEOUT_S = 180.0
FINISHED_STEP_STATES = ("COMPLETED", "CANCELLED", "FAILED", "INTERRUPTED")
TERMINATED_STATES = ("TERMINATED", "TERMINATED_WITH_ERRORS")

# A bootstrap action that leaves a marker on its instance's disk, from the environment and instance.json.
MARKER_SCRIPT = """\
#!/bin/bash
set -eu
is_master=$(python3 -c 'import json; print(json.load(open("instance.json"))["isMaster"])')
echo "$EMRLAB_INSTANCE_ROLE $EMRLAB_INSTANCE_ID $EMRLAB_IS_MASTER $is_master $*" > "$EMRLAB_NODE_DIR/bootstrap-marker"
"""
# Fails on every instance but the master: the master's daemons are up when the cluster must end.
FAILING_SCRIPT = """\
#!/bin/bash
[ "$EMRLAB_IS_MASTER" = true ] && exit 0
echo "no disk for $EMRLAB_INSTANCE_ID" >&2
exit 7
"""


# ---------------------------------------------------------------- helpers


def speed_flags(**overrides: str) -> list[str]:
    properties = {**SPEED_PROPERTIES, **overrides}
    return [item for key, value in properties.items() for item in ("-D", f"{key}={value}")]


def processes_in(root: Path) -> dict[int, str]:
    """Processes whose command line names `root` or whose working directory is under it: pid -> command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command_line = (entry / "cmdline").read_bytes()
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if str(root).encode() in command_line or cwd == str(root) or cwd.startswith(f"{root}/"):
            found[int(entry.name)] = command_line.replace(b"\0", b" ").decode(errors="replace").strip()
    return found


def emrlab_all(commands) -> list[subprocess.CompletedProcess]:
    """Run several `emrlab` commands at once (each starts a Python: side by side they take less time)."""
    environment = {key: value for key, value in os.environ.items() if key != "EMRLAB_CLUSTER"}
    processes = [subprocess.Popen([sys.executable, "-m", "emrlab", *arguments], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=environment)
                 for arguments in commands]
    results = []
    for arguments, process in zip(commands, processes):
        try:
            stdout, stderr = process.communicate(timeout=COMMAND_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
        results.append(subprocess.CompletedProcess(arguments, process.returncode, stdout, stderr))
    return results


def one_line_error(result) -> str:
    """The command failed with exactly one clear line on stderr; returns it."""
    command = " ".join(result.args)
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0, f"{command}: exit 0: {result.stdout}{result.stderr}"
    assert len(lines) == 1, f"{command}: {result.stderr}"
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, f"{command}: {result.stderr}"
    return lines[0]


def fsck(managed) -> tuple[int, str]:
    """`emrlab fsck /` run here (polled often: a new Python each time would cost a second of CPU)."""
    from hdfs.cli import fsck as fsck_command

    output = io.StringIO()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        exit_code = run_command(fsck_command.main, ["--dir", str(managed.root), "/"], prog="emrlab fsck")
    return exit_code, output.getvalue()


def hdfs_healthy(managed, replicas: int) -> bool:
    """fsck says HEALTHY, with no block missing or under-replicated and `replicas` replicas on average."""
    exit_code, output = fsck(managed)
    return exit_code == 0 and "is HEALTHY" in output and "Missing blocks:\t\t0" in output \
        and " Under-replicated blocks:\t0 " in output and f"Average block replication:\t{replicas}.0" in output


def timeline(status: dict, name: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(status["Timeline"][name])


class Managed:
    """A managed cluster's directory and the commands a user would run on it."""

    def __init__(self, root: Path):
        self.root = root
        self.cluster_dir = ClusterDir(root)

    def emrlab(self, *arguments: str, check: bool = False) -> subprocess.CompletedProcess:
        result = self.emrlab_all([arguments])[0]
        if check and result.returncode != 0:
            raise AssertionError(f"emrlab {' '.join(arguments)} exited {result.returncode}:\n{result.stdout}"
                                 f"{result.stderr}")
        return result

    def emrlab_all(self, commands) -> list[subprocess.CompletedProcess]:
        return emrlab_all([("--dir", str(self.root), *arguments) for arguments in commands])

    def json(self, *arguments: str) -> dict:
        return json.loads(self.emrlab(*arguments, "--output", "json", check=True).stdout)

    def cluster(self) -> dict:
        with ControllerClient.for_cluster(self.cluster_dir) as client:
            return client.describe_cluster()["Cluster"]

    def instances(self, role: str = "") -> list[dict]:
        with ControllerClient.for_cluster(self.cluster_dir) as client:
            return client.list_instances(role)["Instances"]

    def step(self, step_id: str) -> dict:
        with ControllerClient.for_cluster(self.cluster_dir) as client:
            return client.list_steps([step_id])["Steps"][0]

    def wait_step(self, step_id: str, timeout_s: float = WAIT_TIMEOUT_S * 2) -> str:
        return wait_until(lambda: self.step(step_id)["Status"]["State"] in FINISHED_STEP_STATES
                          and self.step(step_id)["Status"]["State"], timeout_s, f"step {step_id} to finish")

    def add_step(self, name: str, *command: str, action_on_failure: str = "CONTINUE") -> str:
        """What `emrlab step add --name NAME -- COMMAND` does (that command itself is tested on its own)."""
        with ControllerClient.for_cluster(self.cluster_dir) as client:
            [step_id] = client.add_steps([emr_pb2.StepConfig(name=name, action_on_failure=action_on_failure,
                                                             args=command)])
        return step_id

    def running(self, role: str) -> list[dict]:
        return [instance for instance in self.instances(role) if instance["Status"]["State"] == "RUNNING"]

    def group(self, role: str) -> dict:
        return next(group for group in self.cluster()["InstanceGroups"] if group["InstanceGroupType"] == role)

    def hdfs(self):
        from hdfs import Client

        return Client.for_cluster(self.cluster_dir)

    def daemon_pids(self) -> dict[str, int]:
        return {record.name: record.pid for record in self.cluster_dir.daemons() if record.name != "controller"}


def tear_down(root: Path) -> None:
    """Stop everything under `root`, remove it, and fail if anything had to be killed by hand."""
    try:
        launch.down(ClusterDir(root / "cluster"), timeout_s=5)
    finally:
        leftovers = processes_in(root)
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(root, ignore_errors=True)
    assert not leftovers, f"processes left behind after `cluster down`: {leftovers}"


@pytest.fixture
def workspace(tmp_path_factory):
    """A fresh directory whose cluster (in ./cluster) is torn down after the test."""
    root = tmp_path_factory.mktemp("emr")
    yield root
    tear_down(root)


def write_script(path: Path, text: str) -> str:
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


def instance_groups(core: int, task: int = 0) -> list[dict]:
    groups = [{"Name": "Primary", "InstanceRole": "MASTER", "InstanceType": "m5.xlarge", "InstanceCount": 1},
              {"Name": "Workers", "InstanceRole": "CORE", "InstanceType": "m5.xlarge", "InstanceCount": core}]
    if task:
        groups.append({"Name": "Extra", "InstanceRole": "TASK", "InstanceType": "c5.xlarge", "InstanceCount": task,
                       "Market": "ON_DEMAND"})
    return groups


def command_step(name: str, args: list[str], action_on_failure: str = "CONTINUE") -> dict:
    return {"Name": name, "ActionOnFailure": action_on_failure,
            "HadoopJarStep": {"Jar": "command-runner.jar", "Args": args}}


# ---------------------------------------------------------------- the shared cluster


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    try:
        script = write_script(root / "marker.sh", MARKER_SCRIPT)
        definition = {
            "Name": "adversary",
            "Instances": {"InstanceGroups": instance_groups(core=4, task=1), "KeepJobFlowAliveWhenNoSteps": True,
                          "TerminationProtected": True},
            "BootstrapActions": [{"Name": "marker", "ScriptBootstrapAction": {"Path": f"file://{script}",
                                                                               "Args": ["hello", "world"]}}],
            "Configurations": [{"Classification": "hdfs-site", "Properties": {"dfs.replication": "2"}}],
            "Steps": [command_step("first", ["hdfs", "dfs", "-mkdir", "-p", "/steps"]),
                      command_step("second", ["bash", "-c", "echo step two fails >&2; exit 3"]),
                      command_step("third", ["hadoop", "fs", "-touchz", "/steps/third"])],
        }
        (root / "cluster.json").write_text(json.dumps(definition))
        managed = Managed(root / "cluster")
        # Three containers a node (768 MB, 3 vcores): an m5.xlarge scaled to this machine offers one vcore, and
        # after a shrink the AM and the reducers would hold every container while lost maps wait to re-run (the
        # AM does not preempt reducers for maps as Hadoop's RMContainerAllocator does).
        result = managed.emrlab("cluster", "up", "--config", f"file://{root / 'cluster.json'}",
                                *speed_flags(**{"yarn.nodemanager.resource.cpu-vcores": "3"}))
        assert result.returncode == 0, result.stdout + result.stderr
        assert not result.stderr.strip(), result.stderr  # a clean definition: no warnings
        yield managed
    finally:
        tear_down(root)


def test_definition_bootstrap_configurations_and_steps_under_continue(lab):
    steps_by_name = {}
    with ControllerClient.for_cluster(lab.cluster_dir) as client:
        for step in client.list_steps()["Steps"]:
            steps_by_name[step["Name"]] = step
    assert list(steps_by_name) == ["third", "second", "first"]  # newest first, as EMR lists them
    for step in steps_by_name.values():
        lab.wait_step(step["Id"])
    steps = lab.json("step", "list")["Steps"]
    assert [(step["Name"], step["Status"]["State"]) for step in steps] == [
        ("third", "COMPLETED"), ("second", "FAILED"), ("first", "COMPLETED")]
    assert all(step["Id"].startswith("s-") and step["ActionOnFailure"] == "CONTINUE" for step in steps)
    assert steps[1]["Config"] == {"Jar": "command-runner.jar", "Properties": {},
                                  "Args": ["bash", "-c", "echo step two fails >&2; exit 3"]}
    assert "3" in steps[1]["Status"]["StateChangeReason"]["Message"]
    # One at a time, in order: each step starts after the one before it ended.
    first, second, third = reversed(steps)
    assert timeline(first["Status"], "EndDateTime") <= timeline(second["Status"], "StartDateTime")
    assert timeline(second["Status"], "EndDateTime") <= timeline(third["Status"], "StartDateTime")
    described = lab.emrlab("step", "describe", second["Id"], check=True).stdout
    assert "FAILED" in described and "step two fails" in described
    with lab.hdfs() as client:
        assert client.exists("/steps/third")  # CONTINUE: the step after the failure ran

    cluster = lab.json("cluster", "describe")["Cluster"]
    assert cluster["Id"].startswith("j-") and cluster["Name"] == "adversary"
    assert cluster["Status"]["State"] == "WAITING"
    assert cluster["TerminationProtected"] is True and cluster["AutoTerminate"] is False
    groups = {group["InstanceGroupType"]: group for group in cluster["InstanceGroups"]}
    assert {role: (group["Name"], group["InstanceType"], group["Market"], group["RequestedInstanceCount"],
                   group["RunningInstanceCount"], group["Status"]["State"]) for role, group in groups.items()} == {
        "MASTER": ("Primary", "m5.xlarge", "ON_DEMAND", 1, 1, "RUNNING"),
        "CORE": ("Workers", "m5.xlarge", "ON_DEMAND", 4, 4, "RUNNING"),
        "TASK": ("Extra", "c5.xlarge", "ON_DEMAND", 1, 1, "RUNNING")}
    assert all(group["Id"].startswith("ig-") for group in groups.values())

    instances = lab.json("cluster", "list-instances")["Instances"]
    assert len(instances) == 6
    for instance in instances:
        assert instance["Id"].startswith("ci-") and instance["Ec2InstanceId"].startswith("i-")
        assert instance["Status"]["State"] == "RUNNING"
        assert instance["InstanceGroupId"] == groups[instance["InstanceGroupType"]]["Id"]
        assert instance["InstanceType"] == groups[instance["InstanceGroupType"]]["InstanceType"]
        marker = (lab.cluster_dir.node_dir(instance["PrivateDnsName"]) / "bootstrap-marker").read_text().split()
        is_master = "true" if instance["InstanceGroupType"] == "MASTER" else "false"
        assert marker == [instance["InstanceGroupType"], instance["Id"], is_master, is_master.title(),
                          "hello", "world"]
    core_only = lab.instances("CORE")
    assert sorted(item["Id"] for item in core_only) == sorted(item["Id"] for item in instances
                                                              if item["InstanceGroupType"] == "CORE")
    # The hdfs-site Configuration reached the NameNode.
    assert "Default replication factor:\t2" in fsck(lab)[1]


def test_a_failed_step_under_cancel_and_wait_cancels_the_rest_and_the_cluster_waits(lab, tmp_path):
    steps_file = tmp_path / "steps.json"
    steps_file.write_text(json.dumps({"Steps": [
        command_step("put", ["hdfs", "dfs", "-touchz", "/steps/put"], "CANCEL_AND_WAIT"),
        command_step("breaks", ["bash", "-c", "exit 1"], "CANCEL_AND_WAIT"),
        command_step("never", ["hdfs", "dfs", "-touchz", "/steps/never"]),
        command_step("never-either", ["bash", "-c", "exit 0"], "CANCEL_AND_WAIT")]}))
    step_ids = lab.emrlab("step", "add", "--steps", f"file://{steps_file}", check=True).stdout.split()
    assert len(step_ids) == 4
    for step_id in step_ids:
        lab.wait_step(step_id)
    with ControllerClient.for_cluster(lab.cluster_dir) as client:
        steps = {step["Id"]: step for step in client.list_steps()["Steps"]}
    assert [steps[step_id]["Status"]["State"] for step_id in step_ids] == [
        "COMPLETED", "FAILED", "CANCELLED", "CANCELLED"]
    for cancelled in step_ids[2:]:
        assert "StartDateTime" not in steps[cancelled]["Status"]["Timeline"]  # it never ran
        assert "EndDateTime" in steps[cancelled]["Status"]["Timeline"]
    with lab.hdfs() as client:
        assert client.exists("/steps/put") and not client.exists("/steps/never")
    assert lab.cluster()["Status"]["State"] == "WAITING"
    # ... and waits for more: the next step runs, and a running one can be cancelled, process and all.
    added = lab.emrlab("step", "add", "--name", "sleeper", "--", "bash", "-c", f"sleep 60; touch {tmp_path / 'woke'}",
                       check=True)
    sleeper = added.stdout.strip()
    assert sleeper.startswith("s-") and "\n" not in sleeper
    after = lab.add_step("after", "bash", "-c", "exit 0")
    wait_until(lambda: lab.step(sleeper)["Status"]["State"] == "RUNNING", what="the sleeper to run")
    assert "SUBMITTED" in lab.emrlab("step", "cancel", sleeper, check=True).stdout
    assert lab.wait_step(sleeper) == "CANCELLED"
    assert lab.wait_step(after) == "COMPLETED"
    assert lab.cluster()["Status"]["State"] == "WAITING"
    wait_until(lambda: "sleep 60" not in " ".join(processes_in(lab.root).values()), 10,
               "the cancelled step's process to be gone")


def test_bad_requests_to_a_running_cluster_are_one_clear_line(lab):
    requests = [
        (("step", "add", "--name", "nothing"), "step"),
        (("step", "add", "--name", "nothing", "--"), "step"),
        (("step", "add", "--action-on-failure", "EXPLODE", "--", "ls"), "EXPLODE"),
        (("step", "cancel", "s-NOSUCHSTEP0000"), "s-NOSUCHSTEP0000"),
        (("step", "describe", "s-NOSUCHSTEP0000"), "s-NOSUCHSTEP0000"),
        (("cluster", "up", "--core", "1"), "already running"),
        (("cluster", "resize", "--group", "core", "--count", "1"), "dfs.replication is 2"),
        (("cluster", "resize", "--instance-group-id", "ig-NOSUCHGROUP", "--count", "2"), "ig-NOSUCHGROUP"),
        (("cluster", "resize", "--group", "task", "--count", "-1"), "count"),
        (("cluster", "resize", "--group", "task", "--count", "2", "--decommission-timeout", "soon"), "soon"),
        (("cluster", "wait", "step-complete"), "step"),
    ]
    results = lab.emrlab_all([arguments for arguments, _ in requests])
    for (arguments, expected), result in zip(requests, results):
        assert expected in one_line_error(result), (arguments, result.stderr)
    # None of that changed the cluster.
    assert lab.group("CORE")["RequestedInstanceCount"] == 4 and lab.group("TASK")["RequestedInstanceCount"] == 1
    assert lab.cluster()["Status"]["State"] == "WAITING"


def test_resize_task_and_core_groups_during_a_job_keeps_its_output_exact_and_every_block(lab):
    data = corpus(90000, seed=8)  # about 3.3 MiB: four 1 MiB blocks, four maps
    with lab.hdfs() as client:
        client.mkdirs("/data")
        client.write_bytes("/data/resize.txt", data)
    step_id = lab.add_step("wordcount", "examples", "wordcount", "/data/resize.txt", "/out/resize", "--reducers", "2")
    wait_until(lambda: lab.step(step_id)["Status"]["State"] == "RUNNING", what="the word count step to run")

    lab.emrlab("cluster", "resize", "--group", "task", "--count", "3", check=True)
    wait_until(lambda: len(lab.running("TASK")) == 3 and lab.group("TASK")["Status"]["State"] == "RUNNING",
               what="three running task instances")
    lab.emrlab("cluster", "resize", "--group", "task", "--count", "0", "--decommission-timeout", "30s", check=True)
    lab.emrlab("cluster", "resize", "--group", "core", "--count", "3", "--decommission-timeout", "30s", check=True)
    assert lab.step(step_id)["Status"]["State"] == "RUNNING", "the job ended before the resizes: make it longer"

    assert lab.wait_step(step_id) == "COMPLETED", lab.emrlab("step", "describe", step_id).stdout
    with lab.hdfs() as client:
        lines = output_of(client, "/out/resize")
    assert {word: int(count) for word, count in (line.split("\t") for line in lines)} == word_counts(data)
    step_logs = lab.cluster_dir.logs_dir / lab.cluster()["Id"] / "steps" / step_id
    said = (step_logs / "stdout").read_text() + (step_logs / "stderr").read_text()
    assert "Cost of this job: $" in said and "Traceback" not in said, said  # the job's share of the bill

    wait_until(lambda: lab.group("TASK")["RunningInstanceCount"] == 0 and lab.group("CORE")["RunningInstanceCount"] == 3
               and {group["Status"]["State"] for group in lab.cluster()["InstanceGroups"]} == {"RUNNING"},
               what="the groups resized")
    tasks = lab.instances("TASK")
    assert len(tasks) == 3 and {instance["Status"]["State"] for instance in tasks} == {"TERMINATED"}
    cores = lab.instances("CORE")
    gone = [instance for instance in cores if instance["Status"]["State"] == "TERMINATED"]
    assert len(cores) == 4 and len(gone) == 1
    assert "decommission" in gone[0]["Status"]["StateChangeReason"]["Message"]
    # A terminated instance's disk is gone; its logs stay.
    disk = lab.cluster_dir.node_dir(gone[0]["PrivateDnsName"])
    wait_until(lambda: not disk.exists(), 10, f"{disk} removed (it holds {sorted(disk.rglob('*'))[:5]})")
    cluster_id = lab.cluster()["Id"]
    assert (lab.cluster_dir.logs_dir / cluster_id / "node" / gone[0]["Id"]).is_dir()
    wait_until(lambda: hdfs_healthy(lab, 2), what="fsck HEALTHY with 2 replicas per block")
    with lab.hdfs() as client:
        assert client.read_bytes("/data/resize.txt") == data
    assert lab.step(step_id)["Status"]["State"] == "COMPLETED"


def test_a_core_node_killed_with_sigkill_is_replaced_and_hdfs_heals(lab):
    data = os.urandom(3 << 20)
    with lab.hdfs() as client:
        client.write_bytes("/data/heal.bin", data)
    cores = lab.running("CORE")
    assert len(cores) == 3
    victim = cores[0]
    # Both at once, as a node dies: the controller must not see one half gone and stop the other itself.
    pids = [lab.cluster_dir.read_daemon(f"{daemon}-{victim['PrivateDnsName']}").pid
            for daemon in ("datanode", "nodemanager")]
    for pid in pids:
        os.kill(pid, signal.SIGKILL)

    def replaced():
        instances = {instance["Id"]: instance for instance in lab.instances("CORE")}
        running = [instance for instance in instances.values() if instance["Status"]["State"] == "RUNNING"]
        return instances[victim["Id"]]["Status"]["State"] == "TERMINATED" and len(running) == 3 and running

    running = wait_until(replaced, what="a replacement core instance")
    dead = next(instance for instance in lab.instances("CORE") if instance["Id"] == victim["Id"])
    assert dead["Status"]["StateChangeReason"]["Code"] == "INSTANCE_FAILURE"
    assert "EndDateTime" in dead["Status"]["Timeline"]
    every_core = lab.instances("CORE")
    replacement = [instance for instance in running if instance["Id"] not in {core["Id"] for core in cores}]
    assert len(replacement) == 1
    assert replacement[0]["PrivateDnsName"] not in {instance["PrivateDnsName"] for instance in every_core
                                                    if instance["Id"] != replacement[0]["Id"]}
    assert lab.group("CORE")["RequestedInstanceCount"] == 3

    def healed():
        from yarn.client import YarnClient

        with lab.hdfs() as client:
            live = {datanode.id.node_id for datanode in client.datanode_report().datanodes if datanode.live}
        with YarnClient.for_cluster(lab.cluster_dir) as yarn:
            registered = {node.node_id for node in yarn.nodes(states=("RUNNING",))}
        new_node, dead_node = replacement[0]["PrivateDnsName"], victim["PrivateDnsName"]
        return new_node in live and new_node in registered and dead_node not in live | registered \
            and hdfs_healthy(lab, 2)

    wait_until(healed, what="HDFS healthy again without the killed node")
    with lab.hdfs() as client:
        assert client.read_bytes("/data/heal.bin") == data
    wait_until(lambda: lab.group("CORE")["Status"]["State"] == "RUNNING", what="the core group RUNNING")
    wait_until(lambda: not lab.cluster_dir.node_dir(victim["PrivateDnsName"]).exists(), 10, "the dead instance's disk gone")


def test_a_frozen_core_node_is_not_replaced_and_comes_back(lab):
    from yarn.client import YarnClient

    with lab.hdfs() as client:
        client.write_bytes("/data/frozen.bin", os.urandom(1 << 20))
    frozen = lab.running("CORE")[0]
    pids = [lab.cluster_dir.read_daemon(f"{daemon}-{frozen['PrivateDnsName']}").pid
            for daemon in ("datanode", "nodemanager")]
    instances_before = {instance["Id"]: instance["Status"]["State"] for instance in lab.instances()}

    def node_state() -> str:
        with YarnClient.for_cluster(lab.cluster_dir) as yarn:
            return {node.node_id: node.state.value for node in yarn.nodes()}[frozen["PrivateDnsName"]]

    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        wait_until(lambda: node_state() == "LOST", what="YARN to lose the frozen node")
        assert {instance["Id"]: instance["Status"]["State"] for instance in lab.instances()} == instances_before
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    wait_until(lambda: node_state() == "RUNNING", what="the thawed node back in YARN")
    wait_until(lambda: hdfs_healthy(lab, 2), what="fsck HEALTHY with the thawed node")
    assert {instance["Id"]: instance["Status"]["State"] for instance in lab.instances()} == instances_before


def gated_step(ran: Path, name: str, gate: Path) -> list[str]:
    """A step that says it started, waits (bounded) until the test opens its gate, and says it ended."""
    return ["bash", "-c", f"echo {name}-start >> {ran}; for _ in $(seq 600); do [ -e {gate} ] && break; sleep 0.1; "
                          f"done; echo {name}-end >> {ran}"]


def test_a_controller_killed_while_a_step_runs_comes_back_and_runs_nothing_twice(lab, tmp_path):
    ran = tmp_path / "ran.txt"
    first = lab.add_step("ends-while-down", *gated_step(ran, "first", tmp_path / "gate-1"))
    second = lab.add_step("ends-after-up", *gated_step(ran, "second", tmp_path / "gate-2"))
    daemons = lab.daemon_pids()

    # The first step finishes while no controller watches it: the next controller reads how it ended.
    wait_until(lambda: ran.exists() and "first-start" in ran.read_text(), what="the first step to start")
    launcher.kill_daemon(lab.cluster_dir, "controller")
    (tmp_path / "gate-1").touch()
    wait_until(lambda: "first-end" in ran.read_text(), what="the first step to finish on its own")
    assert lab.step(first)["Status"]["State"] == "RUNNING"  # the journal's last word
    assert "adopting" in lab.emrlab("cluster", "up", check=True).stdout

    # The second runs through a controller crash and restart: the next controller adopts it.
    wait_until(lambda: "second-start" in ran.read_text(), what="the second step to start")
    launcher.kill_daemon(lab.cluster_dir, "controller")
    lab.emrlab("cluster", "up", check=True)
    assert lab.step(second)["Status"]["State"] == "RUNNING"
    (tmp_path / "gate-2").touch()
    assert lab.wait_step(second) == "COMPLETED"
    assert lab.step(first)["Status"]["State"] == "COMPLETED"
    assert ran.read_text().splitlines() == ["first-start", "first-end", "second-start", "second-end"]
    assert lab.daemon_pids() == daemons  # every instance adopted, none restarted
    assert lab.cluster()["Status"]["State"] == "WAITING"

    # Killed again with a step running, then `cluster down`: nothing is left, and `up` brings the same cluster back.
    third = lab.add_step("stopped-by-down", *gated_step(ran, "third", tmp_path / "gate-3"))
    wait_until(lambda: "third-start" in ran.read_text(), what="the third step to start")
    running = sorted(instance["Id"] for instance in lab.instances() if instance["Status"]["State"] == "RUNNING")
    launcher.kill_daemon(lab.cluster_dir, "controller")
    lab.emrlab("cluster", "down", check=True)
    assert not processes_in(lab.root), "cluster down left processes of a cluster whose controller had died"
    lab.emrlab("cluster", "up", check=True)
    assert lab.cluster()["Status"]["State"] == "WAITING"
    assert sorted(instance["Id"] for instance in lab.instances() if instance["Status"]["State"] == "RUNNING") == running
    assert lab.step(third)["Status"]["State"] in ("FAILED", "INTERRUPTED")
    assert ran.read_text().count("third-start") == 1 and "third-end" not in ran.read_text()


def test_down_and_up_bring_back_the_same_instances_and_protection_holds_until_lifted(lab):
    data = os.urandom(2 << 20)
    with lab.hdfs() as client:
        client.write_bytes("/data/kept.bin", data)
    before = {instance["Id"]: instance["PrivateDnsName"] for instance in lab.instances()
              if instance["Status"]["State"] == "RUNNING"}
    # A step `cluster down` stops has not failed: its CANCEL_AND_WAIT must not cancel the next one.
    stopped = lab.add_step("stopped-by-down", "bash", "-c", "sleep 60", action_on_failure="CANCEL_AND_WAIT")
    after_up = lab.add_step("runs-after-up", "bash", "-c", "exit 0")
    wait_until(lambda: lab.step(stopped)["Status"]["State"] == "RUNNING", what="the step to run")
    lab.emrlab("cluster", "down", check=True)
    assert not processes_in(lab.root)
    assert lab.cluster()["Down"] is True  # the journal answers while it is down
    lab.emrlab("cluster", "up", check=True)
    assert lab.cluster()["Down"] is False
    assert lab.step(stopped)["Status"]["State"] == "INTERRUPTED"
    assert lab.wait_step(after_up) == "COMPLETED"
    after = {instance["Id"]: instance["PrivateDnsName"] for instance in lab.instances()
             if instance["Status"]["State"] == "RUNNING"}
    assert after == before
    with lab.hdfs() as client:
        assert client.read_bytes("/data/kept.bin") == data
    wait_until(lambda: hdfs_healthy(lab, 2), what="fsck HEALTHY after down and up")
    assert lab.cluster()["TerminationProtected"] is True

    assert "termination protected" in one_line_error(lab.emrlab("cluster", "terminate"))
    assert lab.cluster()["Status"]["State"] == "WAITING"
    lab.emrlab("cluster", "modify", "--termination-protected", "false", check=True)
    running = lab.add_step("sleeps", "bash", "-c", "sleep 60")
    pending = lab.add_step("waits", "bash", "-c", "exit 0")
    wait_until(lambda: lab.step(running)["Status"]["State"] == "RUNNING", what="the sleeping step to run")
    lab.emrlab("cluster", "terminate", check=True)
    lab.emrlab("cluster", "wait", "terminated", "--timeout", "60s", check=True)
    cluster = lab.json("cluster", "describe")["Cluster"]
    assert cluster["Status"]["State"] == "TERMINATED"
    assert cluster["Status"]["StateChangeReason"]["Code"] == "USER_REQUEST"
    assert {group["Status"]["State"] for group in cluster["InstanceGroups"]} == {"TERMINATED"}
    assert {instance["Status"]["State"] for instance in lab.instances()} == {"TERMINATED"}
    assert lab.step(running)["Status"]["State"] == "CANCELLED" and lab.step(pending)["Status"]["State"] == "CANCELLED"
    wait_until(lambda: not processes_in(lab.root), what="every process of the terminated cluster to exit")
    assert "terminated cluster does not start again" in one_line_error(lab.emrlab("cluster", "up"))


# ---------------------------------------------------------------- clusters of their own


def test_a_transient_cluster_runs_its_steps_then_terminates_and_still_answers(workspace):
    definition = {
        "Name": "transient",
        "Colour": "blue", "Flavour": "mint",  # not RunJobFlow fields
        "ReleaseLabel": "emr-7.1.0", "LogUri": "s3://my-bucket/logs/",  # RunJobFlow's, with no meaning here
        "Instances": {"InstanceGroups": [{**group, "Shape": "round"} for group in instance_groups(core=1)],
                      "KeepJobFlowAliveWhenNoSteps": False},
        "Steps": [command_step("echo", ["bash", "-c", "echo transient"]),
                  command_step("mkdir", ["hdfs", "dfs", "-mkdir", "/transient"])],
    }
    (workspace / "transient.json").write_text(json.dumps(definition))
    managed = Managed(workspace / "cluster")
    result = managed.emrlab("cluster", "up", "--config", str(workspace / "transient.json"), *speed_flags())
    assert result.returncode == 0, result.stdout + result.stderr
    warnings = result.stderr.strip().splitlines()
    assert len(warnings) == 1, result.stderr
    assert all(name in warnings[0] for name in ("Colour", "Flavour", "ReleaseLabel", "LogUri", "Shape")), warnings
    managed.emrlab("cluster", "wait", "terminated", "--timeout", "60s", check=True)
    wait_until(lambda: not processes_in(workspace), what="every process of the transient cluster to exit")

    cluster = managed.json("cluster", "describe")["Cluster"]
    assert cluster["Status"]["State"] == "TERMINATED" and cluster["AutoTerminate"] is True
    assert cluster["Status"]["StateChangeReason"]["Code"] == "ALL_STEPS_COMPLETED"
    assert "EndDateTime" in cluster["Status"]["Timeline"]
    instances = managed.json("cluster", "list-instances")["Instances"]
    assert len(instances) == 2
    assert {(instance["Status"]["State"], instance["Status"]["StateChangeReason"]["Code"])
            for instance in instances} == {("TERMINATED", "CLUSTER_TERMINATED")}
    steps = managed.json("step", "list")["Steps"]
    assert [(step["Name"], step["Status"]["State"]) for step in steps] == [("mkdir", "COMPLETED"),
                                                                         ("echo", "COMPLETED")]
    echo = steps[1]["Id"]
    assert "transient" in managed.emrlab("step", "describe", echo, check=True).stdout
    assert "TERMINATED" in managed.emrlab("cluster", "describe", check=True).stdout
    assert "TERMINATED" in managed.emrlab("cluster", "list-instances", check=True).stdout
    assert "terminated" in one_line_error(managed.emrlab("step", "add", "--name", "late", "--", "ls")).lower()
    listed = managed.emrlab("cluster", "list", str(workspace), check=True).stdout
    assert cluster["Id"] in listed and "TERMINATED" in listed


def test_a_failing_bootstrap_action_on_first_start_ends_the_cluster_with_errors(workspace):
    script = write_script(workspace / "fails.sh", FAILING_SCRIPT)
    managed = Managed(workspace / "cluster")
    result = managed.emrlab("cluster", "up", "--core", "2", "--bootstrap-action", script, *speed_flags())
    error = one_line_error(result)
    assert "TERMINATED_WITH_ERRORS" in error and "BOOTSTRAP_FAILURE" in error
    wait_until(lambda: managed.cluster()["Status"]["State"] in TERMINATED_STATES, what="the cluster to end")
    wait_until(lambda: not processes_in(workspace), what="every process of the failed cluster to exit")
    cluster = managed.json("cluster", "describe")["Cluster"]
    assert cluster["Status"]["State"] == "TERMINATED_WITH_ERRORS"
    assert cluster["Status"]["StateChangeReason"]["Code"] == "BOOTSTRAP_FAILURE"
    instances = managed.json("cluster", "list-instances")["Instances"]
    assert {instance["Status"]["State"] for instance in instances} == {"TERMINATED"}
    failed = [instance for instance in instances
              if instance["Status"]["StateChangeReason"].get("Code") == "BOOTSTRAP_FAILURE"]
    assert failed and {instance["InstanceGroupType"] for instance in failed} == {"CORE"}
    stderr = (managed.cluster_dir.logs_dir / cluster["Id"] / "node" / failed[0]["Id"] / "bootstrap-actions" / "1"
              / "stderr").read_text()
    assert f"no disk for {failed[0]['Id']}" in stderr


BAD_DEFINITIONS = {
    "malformed": ('{"Instances": ', "not valid JSON"),
    "not-an-object": ("[1, 2]", "JSON object"),
    "count-as-string": (json.dumps({"Instances": {"InstanceGroups": [
        {"InstanceRole": "MASTER", "InstanceCount": 1}, {"InstanceRole": "CORE", "InstanceCount": "2"}]}}),
        "InstanceCount must be an integer"),
    "count-as-bool": (json.dumps({"Instances": {"InstanceGroups": [
        {"InstanceRole": "MASTER", "InstanceCount": 1}, {"InstanceRole": "CORE", "InstanceCount": True}]}}),
        "InstanceCount must be an integer"),
    "args-not-strings": (json.dumps({"Instances": {"InstanceGroups": instance_groups(1)},
                                     "Steps": [command_step("a", ["ls", 3])]}), "Args"),
    "unknown-role": (json.dumps({"Instances": {"InstanceGroups": [
        {"InstanceRole": "MASTER", "InstanceCount": 1}, {"InstanceRole": "WORKER", "InstanceCount": 1}]}}),
        "WORKER"),
    "unknown-instance-type": (json.dumps({"Instances": {"InstanceGroups": [
        {"InstanceRole": "MASTER", "InstanceCount": 1},
        {"InstanceRole": "CORE", "InstanceCount": 1, "InstanceType": "m9.huge"}]}}), "m9.huge"),
    "s3-bootstrap": (json.dumps({"Instances": {"InstanceGroups": instance_groups(1)}, "BootstrapActions": [
        {"Name": "s3", "ScriptBootstrapAction": {"Path": "s3://my-bucket/setup.sh"}}]}), "s3://my-bucket/setup.sh"),
    "idle-timeout-string": (json.dumps({"Instances": {"InstanceGroups": instance_groups(1)},
                                        "AutoTerminationPolicy": {"IdleTimeout": "60"}}), "IdleTimeout"),
    "no-instances": ("{}", "Instances"),
}


def test_bad_definitions_and_commands_without_a_cluster_are_one_clear_line_each(workspace):
    commands = []
    for name, (text, expected) in BAD_DEFINITIONS.items():
        (workspace / f"{name}.json").write_text(text)
        commands.append((("--dir", str(workspace / name), "cluster", "up", "--config",
                          f"file://{workspace / name}.json"), expected))
    (workspace / "not-utf8.json").write_bytes(b"\xff\xfe{")
    empty = str(workspace / "cluster")
    commands += [
        (("--dir", empty, "cluster", "up", "--config", str(workspace / "not-utf8.json")), "not valid JSON"),
        (("--dir", empty, "cluster", "up", "--config", str(workspace)), "cannot be read"),
        (("--dir", empty, "cluster", "up", "--config", "/no/such/definition.json"), "no such file"),
        (("--dir", empty, "cluster", "up", "--instance-type", "m9.huge"), "m9.huge"),
        (("--dir", empty, "cluster", "up", "--bootstrap-action", "s3://my-bucket/setup.sh"), "s3://"),
        (("--dir", empty, "cluster", "up", "--core", "0"), "core"),
        (("--dir", empty, "cluster", "describe"), "no managed cluster"),
        (("--dir", empty, "cluster", "list-instances"), "no managed cluster"),
        (("--dir", empty, "step", "list"), "no managed cluster"),
        (("--dir", empty, "step", "cancel", "s-NOSUCHSTEP0000"), "no managed cluster"),
        (("--dir", empty, "step", "add", "--name", "x", "--", "ls"), "no managed cluster"),
    ]
    results = emrlab_all([arguments for arguments, _ in commands])
    for (arguments, expected), result in zip(commands, results):
        assert expected in one_line_error(result), (arguments, result.stderr)
    assert not processes_in(workspace)
    assert sorted(path.name for path in workspace.iterdir() if path.is_dir()) == []  # no cluster directory made

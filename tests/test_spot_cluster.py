"""Spot task nodes end to end: the real controller, its seeded market, `emrlab spot` and `cluster cost`.

First, on clusters of their own: two short clusters with a high interruption
rate and the same seed interrupt the same instances at the same ages, and a
tiny `emrlab spot experiment` prints its table and writes its results.

Then one managed cluster (2 core nodes on demand, 3 task nodes on spot, a 3 s
notice, replacements after 2 s, no scheduled interruptions: the tests send
them with `emrlab spot interrupt`) is shared by the tests that run, in file
order: a word count interrupted in its map phase and in its reduce phase, a
word count that loses every task node, then what those interruptions left:
the instances' lifecycles, the replacements and the bill. A watcher thread
follows list-instances and the notice files the whole time.

The word count holds its tasks at gates (files the test writes) so that an
interruption lands on a running attempt, whatever the machine's speed: a map
waits while `gates/maps` names its node, a reducer while `gates/reduces`
exists. Each cluster lives in its own temporary directory and is stopped by
a finalizer with `launch.down` even on failure (test_controller_cluster.tear_down:
which also fails the test if a process of the cluster was left behind).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

from conftest import EXPECTED_WHILE_WAITING, FAST_PROPERTIES, WAIT_TIMEOUT_S, wait_until
from emrlab.controller import launch
from emrlab.controller.client import ControllerClient, controller_dir
from emrlab.controller.journal import read_state
from emrlab_common.clusterdir import ClusterDir
from mapreduce.api import counters as names
from mapreduce.appmaster.history import read_history
from mapreduce.appmaster.records import job_id_for
from test_controller_cluster import tear_down
from test_mapreduce_cluster import MR_FAST_PROPERTIES, corpus, output_of, run_on_cluster, word_counts

pytestmark = pytest.mark.cluster

INSTANCE_TYPES = Path(__file__).resolve().parents[1] / "emrlab" / "controller" / "instance_types.json"
NOTICE_S = 3.0
CLUSTER_PROPERTIES = {
    **FAST_PROPERTIES, **MR_FAST_PROPERTIES,
    "yarn.scheduler.capacity.node-locality-delay": "0",  # maps go to task nodes too, at once
    "emrlab.spot.replacement-delay": "2s",
}
COMMAND_TIMEOUT_S = 180.0
FINAL = ("SUCCEEDED", "FAILED", "KILLED")
SPOT_TERMINATION = "Server.SpotInstanceTermination"
# A word count whose tasks wait at the test's gates (bounded, should the test go wrong).
GATED_WORD_COUNT = """
import os, re, time
from mapreduce import Job

GATES = {gates!r}


def node_of_this_task():
    match = re.search(r"/nodes/([^/]+)/", os.getcwd())
    return match.group(1) if match else ""


def hold(gate):
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            held = open(os.path.join(GATES, gate)).read().split()
        except FileNotFoundError:
            return
        if "*" not in held and node_of_this_task() not in held:
            return
        time.sleep(0.1)


class SpotWordCount(Job):
    def mapper_init(self):
        hold("maps")

    def mapper(self, key, line):
        for word in line.split():
            yield word, 1

    def reducer_init(self):
        hold("reduces")

    def reducer(self, word, counts):
        yield word, sum(counts)
"""
ONE_ATTEMPT = {
    "mapreduce.map.maxattempts": "1", "mapreduce.reduce.maxattempts": "1",
    "mapreduce.job.reduce.slowstart.completedmaps": "1.0",
    "mapreduce.input.fileinputformat.split.maxsize": str(512 << 10),  # ~3 MB of input: 6 maps
    "mapreduce.job.reduces": "3",
    # A reducer takes a whole node: core-1 holds the AM, so reducers run on core-2 and on task nodes.
    "mapreduce.reduce.memory.mb": "768",
}


# ---------------------------------------------------------------- helpers


def flags(properties: dict[str, str]) -> list[str]:
    return [item for key, value in properties.items() for item in ("-D", f"{key}={value}")]


def emrlab(root: Path, *arguments: str, check: bool = True, timeout_s: float = COMMAND_TIMEOUT_S,
           environment: dict | None = None) -> subprocess.CompletedProcess:
    """The real `emrlab` command, as a user types it, on the cluster in `root`."""
    result = subprocess.run([sys.executable, "-m", "emrlab", "--dir", str(root), *arguments], capture_output=True,
                            text=True, timeout=timeout_s, check=False,
                            env={**{key: value for key, value in os.environ.items() if key != "EMRLAB_CLUSTER"},
                                 **(environment or {})})
    if check and result.returncode != 0:
        raise AssertionError(f"emrlab {' '.join(arguments)} exited {result.returncode}:\n{result.stdout}"
                             f"{result.stderr}")
    return result


def parse_time(text: str | None) -> float | None:
    return None if text is None else datetime.fromisoformat(text).timestamp()


class Watcher(threading.Thread):
    """Follows list-instances and the notice files: each instance's states in order, and what its node showed."""

    def __init__(self, cluster_dir: ClusterDir, poll_s: float = 0.1):
        super().__init__(daemon=True, name="spot-watcher")
        self.cluster_dir = cluster_dir
        self.poll_s = poll_s
        self.states: dict[str, list[str]] = {}        # instance id -> distinct states, in order
        self.nodes: dict[str, str] = {}               # instance id -> node name
        self.notices: dict[str, dict] = {}            # node -> {"seen_s", "state", "document"} at first sight
        self.listed_actions: dict[str, dict] = {}     # node -> list-instances' SpotInstanceAction during its notice
        self.done = threading.Event()
        self.errors: list[BaseException] = []

    def run(self) -> None:
        try:
            with ControllerClient.for_cluster(self.cluster_dir) as client:
                while not self.done.wait(self.poll_s):
                    self.poll(client)
        except BaseException as error:  # reported by the tests that read the watcher
            self.errors.append(error)

    def poll(self, client) -> None:
        try:
            instances = client.list_instances()["Instances"]
        except EXPECTED_WHILE_WAITING:  # the controller busy: try again
            return
        for instance in instances:
            history = self.states.setdefault(instance["Id"], [])
            state = instance["Status"]["State"]
            if not history or history[-1] != state:
                history.append(state)
            node = instance["PrivateDnsName"]
            self.nodes[instance["Id"]] = node
            if "SpotInstanceAction" in instance and state == "RUNNING":
                self.listed_actions.setdefault(node, instance["SpotInstanceAction"])
            action = self.cluster_dir.node_dir(node) / "spot" / "instance-action"
            if node not in self.notices and state != "TERMINATED" and action.exists():
                try:
                    document = json.loads(action.read_text())
                except (OSError, ValueError):
                    continue
                self.notices[node] = {"seen_s": time.time(), "state": state, "document": document}

    def stop(self) -> None:
        self.done.set()
        self.join(timeout=10)


class SpotCluster:
    """The shared managed cluster: its directory, its clients, and the watcher."""

    def __init__(self, root: Path):
        self.root = root
        self.cluster_dir = ClusterDir(root)
        self.watcher = Watcher(self.cluster_dir)
        self._hdfs = None
        self._yarn = None
        self.interrupted: list[str] = []   # node names, in the order the tests interrupted them
        self.jobs: set[str] = set()

    def emrlab(self, *arguments: str, check: bool = True) -> subprocess.CompletedProcess:
        return emrlab(self.root, *arguments, check=check)

    def hdfs(self):
        from hdfs import Client

        if self._hdfs is None:
            self._hdfs = Client.for_cluster(self.cluster_dir)
        return self._hdfs

    def yarn(self):
        from yarn.client import YarnClient

        if self._yarn is None:
            self._yarn = YarnClient.for_cluster(self.cluster_dir)
        return self._yarn

    def instances(self, role: str = "") -> list[dict]:
        with ControllerClient.for_cluster(self.cluster_dir) as client:
            return client.list_instances(role)["Instances"]

    def task_group(self) -> dict:
        with ControllerClient.for_cluster(self.cluster_dir) as client:
            groups = client.describe_cluster()["Cluster"]["InstanceGroups"]
        return next(group for group in groups if group["InstanceGroupType"] == "TASK")

    def running_task_nodes(self) -> list[str]:
        return [item["PrivateDnsName"] for item in self.instances("TASK") if item["Status"]["State"] == "RUNNING"]

    def attempts(self, job_id: str) -> list[dict]:
        from mapreduce.commands.jobstatus import job_summary

        return job_summary(self.hdfs(), self.yarn(), job_id)["attempts"]

    def new_job_id(self, name: str) -> str:
        """The job a test just submitted (an earlier test's may still be unregistering in YARN)."""
        from yarn.records import ApplicationState

        active = (ApplicationState.SUBMITTED, ApplicationState.ACCEPTED, ApplicationState.RUNNING)
        jobs = [job_id_for(report.application_id) for report in self.yarn().applications(states=active)
                if report.name == name and job_id_for(report.application_id) not in self.jobs]
        if len(jobs) != 1:
            return ""
        self.jobs.add(jobs[0])
        return jobs[0]

    def interrupt(self, *arguments: str) -> list[str]:
        """`emrlab spot interrupt ...`; returns the node names it sent notices to."""
        result = self.emrlab("spot", "interrupt", *arguments)
        noticed = [line.split("(", 1)[1].split(")", 1)[0] for line in result.stdout.splitlines()
                   if "interruption notice sent" in line]
        assert noticed, result.stdout
        for node in noticed:  # the notice is on the instance's disk at once, while it still runs
            action = self.cluster_dir.node_dir(node) / "spot" / "instance-action"
            document = wait_until(lambda action=action: action.exists() and json.loads(action.read_text()), 5,
                                  f"{action} during the notice")
            assert document["action"] == "terminate", document
        self.interrupted += noticed
        return noticed

    def close(self) -> None:
        self.watcher.stop()
        for client in (self._hdfs, self._yarn):
            if client is not None:
                client.close()


@pytest.fixture(scope="module")
def spot(tmp_path_factory):
    root = tmp_path_factory.mktemp("spot") / "cluster"
    cluster = SpotCluster(root)
    try:
        emrlab(root, "cluster", "up", "--core", "2", "--task", "3", "--task-market", "spot", "--spot-notice",
               f"{NOTICE_S:g}s", "--spot-interruption-rate", "0", "--spot-seed", "1", *flags(CLUSTER_PROPERTIES))
        cluster.watcher.start()
        cluster.hdfs().mkdirs("/data")
        yield cluster
    finally:
        cluster.close()
        tear_down(root.parent)  # launch.down; fails if any process of it was left


@pytest.fixture(scope="module")
def words(spot):
    """~3 MB of words in 1 MiB blocks."""
    data = corpus(80000, seed=3)
    spot.hdfs().write_bytes("/data/words.txt", data)
    assert len(spot.hdfs().block_locations("/data/words.txt")) >= 3
    return data


@pytest.fixture
def gates(tmp_path):
    directory = tmp_path / "gates"
    directory.mkdir()
    return directory


def start_job(cluster: SpotCluster, job_path: Path, output_dir: str,
              properties: dict | None = None) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["result"] = run_on_cluster(cluster, f"{job_path}:SpotWordCount", ["/data/words.txt"],
                                               output_dir, {**ONE_ATTEMPT, **(properties or {})})
        except Exception as error:  # reported by the test
            outcome["error"] = error

    thread = threading.Thread(target=run, name="spot-job")
    thread.start()
    return thread, outcome


def write_gated_job(tmp_path: Path, gates: Path) -> Path:
    path = tmp_path / "spotwordcount.py"
    path.write_text(GATED_WORD_COUNT.format(gates=str(gates)))
    return path


def by_id(attempts: list[dict]) -> dict[str, dict]:
    return {attempt["attempt_id"]: attempt for attempt in attempts}


def wait_ended(cluster: SpotCluster, job_id: str, attempts: list[dict], what: str) -> dict[str, dict]:
    """Wait until every one of `attempts` has ended; the job's attempts then, by id."""
    def ended():
        now = by_id(cluster.attempts(job_id))
        return all(now[attempt["attempt_id"]]["state"] in FINAL for attempt in attempts) and now

    return wait_until(ended, what=what)


def check_exact_and_killed_not_failed(cluster: SpotCluster, outcome: dict, data: bytes, output_dir: str) -> dict:
    assert "error" not in outcome, outcome.get("error")
    result = outcome["result"]
    lines = output_of(cluster.hdfs(), output_dir)
    assert {word: int(count) for word, count in (line.split("\t") for line in lines)} == word_counts(data)
    history = read_history(cluster.hdfs(), result.job_id)
    assert history["state"] == "SUCCEEDED"
    assert "FAILED" not in {attempt["state"] for attempt in history["attempts"]}, history["attempts"]
    counters = result.counters
    assert counters.get(names.JOB_COUNTER, names.NUM_FAILED_MAPS) == 0
    assert counters.get(names.JOB_COUNTER, names.NUM_FAILED_REDUCES) == 0
    killed = [attempt for attempt in history["attempts"] if attempt["state"] == "KILLED"]
    assert counters.get(names.JOB_COUNTER, names.NUM_KILLED_MAPS) == sum(a["kind"] == "map" for a in killed)
    assert counters.get(names.JOB_COUNTER, names.NUM_KILLED_REDUCES) == sum(a["kind"] == "reduce" for a in killed)
    assert counters.get(names.JOB_COUNTER, names.NUM_PREEMPTED_ATTEMPTS) == len(killed)
    assert all(a["end_cause"] in ("NODE_LOST", "NODE_DECOMMISSIONING") for a in killed), killed
    return history


# ---------------------------------------------------------------- the seeded schedule replays


def test_the_same_seed_gives_the_same_interruption_schedule_twice(tmp_path_factory):
    roots = [tmp_path_factory.mktemp(f"seed{index}") / "cluster" for index in (1, 2)]
    up = ["cluster", "up", "--core", "1", "--task", "2", "--task-market", "spot", "--spot-notice", "1s",
          "--spot-interruption-rate", "12/min", "--spot-seed", "7",
          *flags({**FAST_PROPERTIES, "emrlab.spot.replacement-delay": "1s"})]
    try:
        # Side by side, so that the two runs see different timing from the machine, not the market.
        processes = [subprocess.Popen([sys.executable, "-m", "emrlab", "--dir", str(root), *up],
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for root in roots]
        for process in processes:
            output, _ = process.communicate(timeout=COMMAND_TIMEOUT_S)
            assert process.returncode == 0, output

        def noticed(root: Path) -> dict[str, float]:
            """Node (the group's n-th instance) -> its age when its notice came."""
            state = read_state(controller_dir(ClusterDir(root)))
            return {instance.node_name: instance.notice_s - instance.ready_s for instance in state.instances.values()
                    if instance.notice_s is not None}

        wait_until(lambda: all(len(noticed(root)) >= 4 for root in roots), WAIT_TIMEOUT_S,
                   "four interruption notices in each cluster")
        # Once terminated, a cluster's bill stands still, and it is still its instances' lifetimes.
        emrlab(roots[0], "cluster", "terminate")
        emrlab(roots[0], "cluster", "wait", "terminated", "--timeout", "60s")
        cost = json.loads(emrlab(roots[0], "cluster", "cost", "--output", "json").stdout)
        with ControllerClient.for_cluster(ClusterDir(roots[0])) as client:
            listed = {item["Id"]: item for item in client.list_instances()["Instances"]}
        assert all(item["Status"]["State"] == "TERMINATED" for item in listed.values())
        check_bill(cost, listed, time.time(), time.time())
        assert any(bill["Interrupted"] for bill in cost["Instances"])
        time.sleep(1)
        assert json.loads(emrlab(roots[0], "cluster", "cost", "--output", "json").stdout) == cost
        for root in roots:
            launch.down(ClusterDir(root), timeout_s=5)
        ages = [noticed(root) for root in roots]
        states = [read_state(controller_dir(ClusterDir(root))) for root in roots]
    finally:
        try:
            tear_down(roots[0].parent)
        finally:
            tear_down(roots[1].parent)
    common = sorted(set(ages[0]) & set(ages[1]))
    assert len(common) >= 3, ages  # lives are exponential with a 5 s mean: chance alone rarely matches three
    assert {"task-1", "task-2"} <= set(common), ages
    for node in common:  # the monitor ticks every 0.5 s: the same age, within a tick or two
        assert abs(ages[0][node] - ages[1][node]) < 1.5, (node, ages)
    # An instance noticed in one run only was not watched long enough in the other to reach that age.
    for mine, other_state, other_ages in ((ages[0], states[1], ages[1]), (ages[1], states[0], ages[0])):
        others = {instance.node_name: instance for instance in other_state.instances.values()}
        for node in set(mine) - set(other_ages):
            instance = others.get(node)
            if instance is None or instance.ready_s is None:
                continue
            watched_s = (instance.ended_s or other_state.ended_s or time.time()) - instance.ready_s
            assert watched_s < mine[node] + 1.5, (node, mine[node], watched_s)
    # Only spot instances get notices, each when the market's seeded schedule (which the journaled state
    # replays: its seed, its groups, each instance's launch) said, after it started: the same in both, and kept.
    schedules = [{instance.node_name: state.interruption_due_s(instance) - instance.ready_s
                  for instance in state.instances.values() if instance.node_name in root_ages}
                 for state, root_ages in zip(states, ages)]
    assert {node: schedules[0][node] for node in common} == {node: schedules[1][node] for node in common}
    for state, root_ages, schedule in zip(states, ages, schedules):
        for instance in state.instances.values():
            if instance.node_name in root_ages:
                assert instance.role.value == "TASK" and instance.market.value == "SPOT"
                assert schedule[instance.node_name] - 0.1 <= root_ages[instance.node_name] <= (
                    schedule[instance.node_name] + 1.5), (instance.node_name, schedule, root_ages)


# ---------------------------------------------------------------- the spot lab


def test_a_tiny_spot_experiment_prints_its_table_and_writes_its_results(tmp_path):
    corpus_path = tmp_path / "corpus.txt"
    corpus_path.write_bytes(corpus(40000, seed=5))  # ~1.5 MB: two maps
    results = tmp_path / "lab"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    result = emrlab(tmp_path / "unused", "spot", "experiment", "--input", str(corpus_path), "--rates", "0,4",
                    "--runs", "1", "--task-nodes", "2", "--core-nodes", "1", "--block-size", "1m",
                    "--notice", "2s", "--replacement-delay", "2s", "--results", str(results),
                    *flags({**{key: value for key, value in FAST_PROPERTIES.items() if key != "dfs.blocksize"},
                            **MR_FAST_PROPERTIES, "dfs.replication": "1"}), check=False,
                    environment={"TMPDIR": str(scratch)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    header = next(index for index, line in enumerate(lines) if line.startswith("TASK MARKET"))
    rows = [line.split() for line in lines[header + 1:header + 4]]
    assert [(row[0], row[1]) for row in rows] == [("ON_DEMAND", "0"), ("SPOT", "0"), ("SPOT", "4")], lines
    assert all(row[-1] == "yes" for row in rows), lines
    document = json.loads((results / "results.json").read_text())
    assert [(run["market"], run["rate_per_min"]) for run in document["runs"]] == [
        ("ON_DEMAND", 0.0), ("SPOT", 0.0), ("SPOT", 4.0)]
    assert all(run["identical"] for run in document["runs"])
    assert len({run["output_sha256"] for run in document["runs"]}) == 1
    assert document["runs"][1]["interruptions"] == 0
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert not (results / "results.png").exists()
    else:
        assert (results / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(scratch.iterdir()), "the lab's clusters are removed"


# ---------------------------------------------------------------- the shared cluster, in file order


def test_word_count_through_interruptions_in_the_map_and_the_reduce_phase(spot, words, gates, tmp_path):
    task_nodes = spot.running_task_nodes()
    assert len(task_nodes) == 3
    (gates / "maps").write_text(" ".join(task_nodes))  # maps on task nodes wait: the interruption finds them
    (gates / "reduces").write_text("*")
    thread, outcome = start_job(spot, write_gated_job(tmp_path, gates), "/out/phases")
    try:
        job_id = wait_until(lambda: spot.new_job_id("SpotWordCount"), what="the job in YARN")

        held = wait_until(lambda: [a for a in spot.attempts(job_id) if a["kind"] == "map" and a["state"] == "RUNNING"
                                   and a["node_id"] in task_nodes], what="a map running on a task node")
        map_phase_node = held[0]["node_id"]
        assert spot.interrupt(map_phase_node) == [map_phase_node]
        again = spot.emrlab("spot", "interrupt", map_phase_node, check=False)  # one notice is enough
        assert again.returncode != 0 and len(again.stderr.strip().splitlines()) == 1, again.stderr
        assert "already has its notice" in again.stderr or "no instance" in again.stderr, again.stderr
        on_it = [a for a in held if a["node_id"] == map_phase_node]

        now = wait_ended(spot, job_id, on_it, "the AM to move the maps of the noticed node")
        # Killed at the notice, while the instance still runs: moved, not waited for.
        assert {(now[a["attempt_id"]]["state"], now[a["attempt_id"]]["end_cause"]) for a in on_it} == {
            ("KILLED", "NODE_DECOMMISSIONING")}
        assert map_phase_node not in spot.watcher.notices or spot.watcher.notices[map_phase_node]["state"] == "RUNNING"
        (gates / "maps").unlink()

        def reducers_past_their_copy():
            attempts = spot.attempts(job_id)
            reduces = [a for a in attempts if a["kind"] == "reduce" and a["state"] == "RUNNING"
                       and a["progress"] >= 0.33]
            return attempts if len(reduces) == 3 else None

        attempts = wait_until(reducers_past_their_copy, what="three reducers past their copy phase")
        assert all(a["state"] == "SUCCEEDED" for a in attempts if a["kind"] == "map" and a["state"] != "KILLED")
        reducers_on_task = [a for a in attempts if a["kind"] == "reduce" and a["node_id"].startswith("task-")]
        assert reducers_on_task, attempts
        reduce_phase_nodes = sorted({a["node_id"] for a in reducers_on_task})
        maps_lost = [a for a in attempts if a["kind"] == "map" and a["state"] == "SUCCEEDED"
                     and a["node_id"] in reduce_phase_nodes]
        assert sorted(spot.interrupt(*reduce_phase_nodes)) == reduce_phase_nodes

        now = wait_ended(spot, job_id, reducers_on_task, "the reducers of the interrupted nodes to end")
        # Graceful decommission let them run: they die with their instance at the end of the notice.
        assert {(now[a["attempt_id"]]["state"], now[a["attempt_id"]]["end_cause"]) for a in reducers_on_task} == {
            ("KILLED", "NODE_LOST")}
    finally:
        for gate in ("maps", "reduces"):
            (gates / gate).unlink(missing_ok=True)
        thread.join(timeout=COMMAND_TIMEOUT_S)
    history = check_exact_and_killed_not_failed(spot, outcome, words, "/out/phases")
    counters = outcome["result"].counters
    # More attempts were lost than maxattempts=1 allows to fail, and the job did not fail.
    assert counters.get(names.JOB_COUNTER, names.NUM_KILLED_MAPS) >= len(on_it)
    assert counters.get(names.JOB_COUNTER, names.NUM_KILLED_REDUCES) == len(reducers_on_task)
    # The re-run reducers copy every map's output again: the maps of the lost nodes ran again, and only those.
    assert counters.get(names.JOB_COUNTER, names.NUM_MAPS_RERUN_OUTPUT_LOST) == len(maps_lost)
    final = by_id(history["attempts"])
    assert {(final[a["attempt_id"]]["state"], final[a["attempt_id"]]["end_cause"]) for a in maps_lost} <= {
        ("KILLED", "NODE_LOST")}
    shown = spot.emrlab("job", "-history", outcome["result"].job_id).stdout
    assert "Preemptions" in shown
    assert all(a["attempt_id"] in shown.split("Preemptions", 1)[1] for a in on_it + reducers_on_task)


def test_losing_every_task_node_still_completes_the_job_on_the_core_nodes(spot, words, gates, tmp_path):
    task_nodes = wait_until(lambda: len(spot.running_task_nodes()) == 3 and spot.running_task_nodes(),
                            what="the task group back at 3 running instances")
    (gates / "maps").write_text(" ".join(task_nodes))
    # ~12 maps: more than the core nodes hold at once, so several wait on task nodes; reducers that fit there.
    thread, outcome = start_job(spot, write_gated_job(tmp_path, gates), "/out/every-task-node",
                                {"mapreduce.input.fileinputformat.split.maxsize": str(256 << 10),
                                 "mapreduce.reduce.memory.mb": "256", "mapreduce.job.reduces": "2"})
    try:
        job_id = wait_until(lambda: spot.new_job_id("SpotWordCount"), what="the job in YARN")

        seen: list = []

        def held_maps():
            attempts = seen[:] = spot.attempts(job_id)
            held = [a for a in attempts if a["kind"] == "map" and a["state"] == "RUNNING" and a["node_id"] in task_nodes]
            return len(held) >= 2 and held

        try:
            held = wait_until(held_maps, what="maps held on two or more task nodes")
        except AssertionError as error:
            raise AssertionError(f"{error}: {task_nodes} {[(a['attempt_id'], a['state'], a['node_id']) for a in seen]}")
        noticed_s = time.time()
        assert sorted(spot.interrupt("--group", "task", "--count", "3")) == sorted(task_nodes)

        wait_ended(spot, job_id, held, "the AM to move the maps of the noticed nodes")
        (gates / "maps").unlink()
    finally:
        (gates / "maps").unlink(missing_ok=True)
        thread.join(timeout=COMMAND_TIMEOUT_S)
    history = check_exact_and_killed_not_failed(spot, outcome, words, "/out/every-task-node")
    final = by_id(history["attempts"])
    assert {(final[a["attempt_id"]]["state"], final[a["attempt_id"]]["end_cause"]) for a in held} == {
        ("KILLED", "NODE_DECOMMISSIONING")}
    assert len(held) > int(ONE_ATTEMPT["mapreduce.map.maxattempts"])
    # What finished ran on the core nodes, or on replacements launched after every task node had its notice.
    ready = {item["PrivateDnsName"]: parse_time(item["Status"]["Timeline"].get("ReadyDateTime"))
             for item in spot.instances()}
    for attempt in history["attempts"]:
        if attempt["state"] == "SUCCEEDED" and not attempt["node_id"].startswith("core-"):
            assert attempt["node_id"] not in task_nodes and ready[attempt["node_id"]] > noticed_s, attempt
    for node in task_nodes:
        wait_until(lambda node=node: next(item for item in spot.instances() if item["PrivateDnsName"] == node)[
            "Status"]["State"] == "TERMINATED", what=f"{node} TERMINATED")


def test_interrupted_instances_end_terminated_and_replacements_restore_the_group(spot):
    assert spot.interrupted, "the tests before this one interrupted instances"
    group = wait_until(lambda: (group := spot.task_group())["RunningInstanceCount"] == 3 and group,
                       what="the task group back at its requested count")
    assert group["RequestedInstanceCount"] == 3 and group["Market"] == "SPOT"
    instances = {item["PrivateDnsName"]: item for item in spot.instances()}
    for node in spot.interrupted:
        status = instances[node]["Status"]
        assert status["State"] == "TERMINATED", instances[node]
        assert status["StateChangeReason"]["Code"] == "INSTANCE_FAILURE"
        assert SPOT_TERMINATION in status["StateChangeReason"]["Message"]
        # The notice file was on the instance while it ran; it went with the instance's disk.
        notice = spot.watcher.notices[node]
        assert notice["state"] == "RUNNING" and notice["document"]["action"] == "terminate"
        assert spot.watcher.listed_actions[node] == {"Action": "terminate", "Time": notice["document"]["time"]}
        deadline_s = parse_time(notice["document"]["time"])
        ended_s = parse_time(status["Timeline"]["EndDateTime"])
        assert deadline_s - 0.5 <= ended_s <= deadline_s + 5, (node, notice, status)
        assert not (spot.cluster_dir.node_dir(node) / "spot" / "instance-action").exists()
    # Nobody else was touched: master and core instances run, each spot loss got one replacement.
    roles = {}
    for item in instances.values():
        roles.setdefault(item["InstanceGroupType"], []).append(item)
    assert all(item["Status"]["State"] == "RUNNING" for item in roles["MASTER"] + roles["CORE"])
    assert len(roles["TASK"]) == 3 + len(spot.interrupted)
    replacements = [item for item in roles["TASK"] if int(item["PrivateDnsName"].split("-")[1]) > 3]
    assert len(replacements) == len(spot.interrupted)
    for item in replacements:
        # The watcher polls list-instances on its own thread: let it catch up with the describe above.
        states = wait_until(lambda item=item: "RUNNING" in spot.watcher.states[item["Id"]]
                            and spot.watcher.states[item["Id"]], what=f"the watcher to see {item['Id']} RUNNING")
        assert states[0] == "AWAITING_FULFILLMENT" and "RUNNING" in states, (item["PrivateDnsName"], states)
        assert states.index("AWAITING_FULFILLMENT") < states.index("RUNNING")
    assert not spot.watcher.errors, spot.watcher.errors


def check_bill(cost: dict, listed: dict[str, dict], before_s: float, after_s: float) -> None:
    """`cluster cost --output json` against list-instances (by id) and the price table; `before_s`..`after_s`:
    when both were read (the bill of a running instance runs until then)."""
    prices = json.loads(INSTANCE_TYPES.read_text())
    assert cost["Currency"] == "USD"
    on_demand_equivalent = 0.0
    for bill in cost["Instances"]:
        item = listed[bill["Id"]]
        timeline = item["Status"]["Timeline"]
        created_s, ready_s = parse_time(timeline["CreationDateTime"]), parse_time(timeline.get("ReadyDateTime"))
        ended_s = parse_time(timeline.get("EndDateTime"))
        seconds = bill["InstanceSeconds"]
        # Billed from launch (after creation, before ready) to termination, or until now.
        if ready_s is None:  # launched, then terminated before it ran
            assert ended_s is not None and 0 <= seconds <= ended_s - created_s + 0.1, (bill, timeline)
        elif ended_s is not None:
            assert ended_s - ready_s - 0.1 <= seconds <= ended_s - created_s + 0.1, (bill, timeline)
        else:
            assert before_s - ready_s - 1 <= seconds <= after_s - created_s + 1, (bill, timeline)
        price = prices[bill["InstanceType"]]
        billed_h = max(60.0, seconds) / 3600.0  # per second, one minute at least
        assert bill["EmrFee"] == pytest.approx(price["emr_usd_per_hour"] * billed_h, rel=1e-3, abs=2e-6)
        if bill["Market"] == "ON_DEMAND":
            assert bill["Ec2"] == pytest.approx(price["on_demand_usd_per_hour"] * billed_h, rel=1e-3, abs=2e-6)
        elif bill["Interrupted"]:
            assert ended_s - created_s < 3600 and bill["Ec2"] == 0.0  # interrupted in its first hour: no EC2 charge
            assert SPOT_TERMINATION in item["Status"]["StateChangeReason"]["Message"]
        else:  # at the spot price in force: the table's within the market's +-20%
            assert 0.8 * price["spot_usd_per_hour"] * billed_h - 2e-6 <= bill["Ec2"] <= (
                1.2 * price["spot_usd_per_hour"] * billed_h + 2e-6), bill
        assert bill["Total"] == pytest.approx(bill["Ec2"] + bill["EmrFee"], abs=2e-6)
        on_demand_equivalent += (price["on_demand_usd_per_hour"] + price["emr_usd_per_hour"]) * billed_h
    billed = {bill["Id"] for bill in cost["Instances"]}
    assert billed <= set(listed) and {instance_id for instance_id, item in listed.items()
                                      if "ReadyDateTime" in item["Status"]["Timeline"]} <= billed
    for field in ("Ec2", "EmrFee", "Total", "InstanceSeconds"):
        # Each figure is rounded on its own (seconds to 0.1, dollars to 1e-6): sums differ by that much at most.
        tolerance = (0.05 if field == "InstanceSeconds" else 1e-6) * (len(cost["Instances"]) + 1)
        total = sum(bill[field] for bill in cost["Instances"])
        assert cost["Total"][field] == pytest.approx(total, abs=tolerance), field
        assert cost["Total"][field] == pytest.approx(
            cost["ByMarket"]["ON_DEMAND"][field] + cost["ByMarket"]["SPOT"][field], abs=tolerance), field
        assert cost["Total"][field] == pytest.approx(sum(group[field] for group in cost["ByGroup"]), abs=tolerance)
        for market in ("ON_DEMAND", "SPOT"):
            assert cost["ByMarket"][market][field] == pytest.approx(
                sum(bill[field] for bill in cost["Instances"] if bill["Market"] == market), abs=tolerance)
    assert cost["AllOnDemandEquivalent"] == pytest.approx(on_demand_equivalent, rel=1e-3)
    assert cost["AllOnDemandEquivalent"] > cost["Total"]["Total"]  # spot saved something


def test_the_bill_matches_the_instances_lifetimes_and_the_price_table(spot):
    before_s = time.time()
    cost = json.loads(spot.emrlab("cluster", "cost", "--output", "json").stdout)
    listed = {item["Id"]: item for item in spot.instances()}
    after_s = time.time()
    check_bill(cost, listed, before_s, after_s)
    interrupted = {listed[bill["Id"]]["PrivateDnsName"] for bill in cost["Instances"] if bill["Interrupted"]}
    assert interrupted == set(spot.interrupted)
    assert len(cost["Instances"]) == len(listed)  # every instance has launched by now
    groups = {group["InstanceGroupType"]: group for group in cost["ByGroup"]}
    assert {role: (group["Market"], group["InstanceType"]) for role, group in groups.items()} == {
        "MASTER": ("ON_DEMAND", "m5.xlarge"), "CORE": ("ON_DEMAND", "m5.xlarge"), "TASK": ("SPOT", "m5.xlarge")}
    assert cost["ByMarket"]["SPOT"]["Total"] == pytest.approx(groups["TASK"]["Total"], abs=1e-6)
    table = spot.emrlab("cluster", "cost").stdout
    assert "spot saved" in table and groups["TASK"]["InstanceGroupId"] in table


def test_bad_spot_commands_are_one_clear_line_each(spot, tmp_path):
    commands = {
        ("spot", "interrupt"): "name the instances",
        ("spot", "interrupt", "core-1"): "ON_DEMAND",
        ("spot", "interrupt", "no-such-node"): "no instance no-such-node",
        ("spot", "interrupt", "--group", "core"): "ON_DEMAND",
        ("spot", "interrupt", "--group", "task", "--count", "9"): "not 9",
        ("spot", "interrupt", "--group", "task", "--count", "-1"): "count",
        ("spot", "interrupt", "--group", "task", "--count", "0"): "count",
        ("spot", "experiment", "--input", str(tmp_path / "missing.txt")): "no such file",
        ("spot", "experiment", "--input", __file__, "--rates", "0,fast"): "--rates",
        ("spot", "experiment", "--input", __file__, "--runs", "0"): "at least 1",
    }
    environment = {key: value for key, value in os.environ.items() if key != "EMRLAB_CLUSTER"}
    processes = {arguments: subprocess.Popen([sys.executable, "-m", "emrlab", "--dir", str(spot.root), *arguments],
                                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                             env=environment, cwd=tmp_path)
                 for arguments in commands}
    for arguments, process in processes.items():
        stdout, stderr = process.communicate(timeout=COMMAND_TIMEOUT_S)
        lines = stderr.strip().splitlines()
        assert process.returncode != 0 and len(lines) == 1, (arguments, process.returncode, stdout, stderr)
        assert "Traceback" not in stderr and "internal error" not in stderr, (arguments, stderr)
        assert commands[arguments] in lines[0], (arguments, lines[0])
    # None of it sent a notice.
    assert all(item["Status"]["State"] == "RUNNING" for item in spot.instances("TASK")
               if item["PrivateDnsName"] not in spot.interrupted)
    assert not (tmp_path / "spot-lab").exists()

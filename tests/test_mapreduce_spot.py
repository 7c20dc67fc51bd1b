"""MapReduce through spot interruptions: task nodes gracefully decommissioned, then killed without goodbye.

A word count (6 maps, 2 or 3 reduces) with `mapreduce.map.maxattempts=1` and
`mapreduce.reduce.maxattempts=1` on 2 core + 2 task NodeManagers. The task
nodes get their notice (graceful decommission, as the cluster controller
does during a spot notice), then their NodeManager and every container
process are SIGKILLed, once during the map phase and once during the reduce
phase. The output is exactly the sequential reference's, and every attempt
lost with a node is KILLED, not FAILED.
"""

from __future__ import annotations

import textwrap
import threading

import pytest

from conftest import wait_until
from mapreduce.api import counters as names
from mapreduce.appmaster.history import read_history
from test_mapreduce_cluster import (
    MR_FAST_PROPERTIES,
    corpus,
    output_of,
    read_status_attempts,
    run_on_cluster,
    running_job_id,
    word_counts,
    write_job,
)
from yarn.nodemanager.containers import kill_leftover_containers

pytestmark = pytest.mark.cluster

TASK_NODES = ("task-1", "task-2")
FINAL = ("SUCCEEDED", "FAILED", "KILLED")
SPOT_PROPERTIES = {
    **MR_FAST_PROPERTIES,
    "yarn.nodemanager.resource.memory-mb": "512",  # two 256 MB containers a node
    "yarn.scheduler.capacity.node-locality-delay": "0",  # maps go to task nodes too, at once
}
ONE_ATTEMPT = {"mapreduce.map.maxattempts": "1", "mapreduce.reduce.maxattempts": "1",
               "mapreduce.job.reduce.slowstart.completedmaps": "1.0",
               "mapreduce.input.fileinputformat.split.maxsize": str(20 << 10)}  # ~120 KB of input: 6 maps
# The node a task runs on, from its container's working directory (<cluster>/nodes/<node id>/...).
NODE_OF_TASK = """
import re

def node_of_this_task():
    match = re.search(r"/nodes/([^/]+)/", os.getcwd())
    return match.group(1) if match else ""


def hang():
    deadline = time.time() + 120  # bounded, should the test go wrong
    while time.time() < deadline:
        time.sleep(0.1)
"""


def spot_cluster(cluster_factory):
    cluster = cluster_factory(core=2, task=2, properties=SPOT_PROPERTIES, services=("hdfs", "yarn"))
    data = corpus(3000, seed=9)
    client = cluster.client()
    client.mkdirs("/data")
    client.write_bytes("/data/words.txt", data)
    return cluster, data


def interrupt(cluster, node_ids) -> None:
    """The end of a spot notice: the NodeManager and its containers SIGKILLed, nothing told to anyone."""
    for node_id in node_ids:
        cluster.kill(f"nodemanager-{node_id}")
        kill_leftover_containers(cluster.cluster_dir.root, node_id)


def start_job(cluster, job: str, name: str, output_dir: str, properties: dict) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["result"] = run_on_cluster(cluster, f"{job}:{name}", ["/data/words.txt"], output_dir, properties)
        except Exception as error:  # reported by the test
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def check_survived(cluster, outcome: dict, data: bytes, output_dir: str) -> dict:
    assert "error" not in outcome, outcome.get("error")
    result = outcome["result"]
    lines = output_of(cluster.client(), output_dir)
    assert dict((word, int(count)) for word, count in (line.split("\t") for line in lines)) == word_counts(data)
    history = read_history(cluster.client(), result.job_id)
    assert history["state"] == "SUCCEEDED"
    assert "FAILED" not in {attempt["state"] for attempt in history["attempts"]}
    assert result.counters.get(names.JOB_COUNTER, names.NUM_FAILED_MAPS) == 0
    assert result.counters.get(names.JOB_COUNTER, names.NUM_FAILED_REDUCES) == 0
    return history


def test_task_nodes_interrupted_in_the_map_phase(cluster_factory, tmp_path):
    cluster, data = spot_cluster(cluster_factory)
    markers = tmp_path / "hung"
    markers.mkdir()
    job = write_job(tmp_path, "spotmap", NODE_OF_TASK + textwrap.dedent(f"""
        MARKERS = {str(markers)!r}

        class SpotMapWordCount(Job):
            def mapper_init(self):
                node = node_of_this_task()
                if node.startswith("task-"):
                    try:  # the first map on each task node hangs until its node goes; the others run
                        os.close(os.open(os.path.join(MARKERS, node), os.O_CREAT | os.O_EXCL))
                    except FileExistsError:
                        return
                    hang()

            def mapper(self, key, line):
                for word in line.split():
                    yield word, 1

            def reducer(self, word, counts):
                yield word, sum(counts)
        """))
    thread, outcome = start_job(cluster, job, "SpotMapWordCount", "/out/spot-map",
                                {**ONE_ATTEMPT, "mapreduce.job.reduces": "2"})
    try:
        job_id = wait_until(lambda: running_job_id(cluster, "SpotMapWordCount"), what="the job in -list")

        def hung_maps():
            attempts = read_status_attempts(cluster, job_id)
            hung = [a for a in attempts if a["kind"] == "map" and a["state"] == "RUNNING"
                    and a["node_id"] in TASK_NODES and (markers / a["node_id"]).exists()]
            return hung if len(hung) == len(list(markers.iterdir())) and hung else None

        hung = wait_until(hung_maps, what="a map hanging on a task node")
        cluster.yarn().decommission_nodes(list(TASK_NODES), graceful=True, timeout_s=120)

        def moved():
            attempts = {a["attempt_id"]: a for a in read_status_attempts(cluster, job_id)}
            return all(attempts[a["attempt_id"]]["state"] in FINAL for a in hung) and attempts

        attempts = wait_until(moved, what="the AM to move the maps of the decommissioning nodes")
        # Killed (not failed) at the notice, while their NodeManagers still run: not at the kill.
        assert {(attempts[a["attempt_id"]]["state"], attempts[a["attempt_id"]]["end_cause"]) for a in hung} == {
            ("KILLED", "NODE_DECOMMISSIONING")}
        interrupt(cluster, TASK_NODES)
    finally:
        thread.join(timeout=120)
    history = check_survived(cluster, outcome, data, "/out/spot-map")
    lost = [a for a in history["attempts"] if a["end_cause"] in ("NODE_DECOMMISSIONING", "NODE_LOST")]
    assert {a["attempt_id"] for a in hung} <= {a["attempt_id"] for a in lost}
    assert all(a["state"] == "KILLED" and a["node_id"] in TASK_NODES for a in lost)
    assert outcome["result"].counters.get(names.JOB_COUNTER, names.NUM_KILLED_MAPS) >= len(hung)


def test_task_nodes_interrupted_in_the_reduce_phase(cluster_factory, tmp_path):
    cluster, data = spot_cluster(cluster_factory)
    go = tmp_path / "go"
    job = write_job(tmp_path, "spotreduce", NODE_OF_TASK + textwrap.dedent(f"""
        class SpotReduceWordCount(Job):
            def mapper(self, key, line):
                for word in line.split():
                    yield word, 1

            def reducer_init(self):
                if node_of_this_task().startswith("task-"):
                    hang()  # until the node goes
                deadline = time.time() + 120
                while not os.path.exists({str(go)!r}) and time.time() < deadline:
                    time.sleep(0.1)

            def reducer(self, word, counts):
                yield word, sum(counts)
        """))
    # 512 MB reducers: one per node that has room (core-1 holds the AM), so core-2, task-1 and task-2.
    thread, outcome = start_job(cluster, job, "SpotReduceWordCount", "/out/spot-reduce",
                                {**ONE_ATTEMPT, "mapreduce.job.reduces": "3", "mapreduce.reduce.memory.mb": "512"})
    try:
        job_id = wait_until(lambda: running_job_id(cluster, "SpotReduceWordCount"), what="the job in -list")

        def reducers_past_their_copy():
            attempts = read_status_attempts(cluster, job_id)
            reduces = [a for a in attempts if a["kind"] == "reduce" and a["state"] == "RUNNING"
                       and a["progress"] >= 0.33]
            return attempts if len(reduces) == 3 else None

        attempts = wait_until(reducers_past_their_copy, what="three reducers past their copy phase")
        on_task_nodes = [a for a in attempts if a["kind"] == "reduce" and a["node_id"] in TASK_NODES]
        maps_on_task_nodes = [a for a in attempts if a["kind"] == "map" and a["node_id"] in TASK_NODES]
        assert on_task_nodes, attempts
        cluster.yarn().decommission_nodes(list(TASK_NODES), graceful=True, timeout_s=120)
        interrupt(cluster, TASK_NODES)

        def reducers_ended():
            now = {a["attempt_id"]: a for a in read_status_attempts(cluster, job_id)}
            return all(now[a["attempt_id"]]["state"] in FINAL for a in on_task_nodes)

        wait_until(reducers_ended, what="the reducers of the lost nodes to end")
    finally:
        go.touch()
        thread.join(timeout=120)
    history = check_survived(cluster, outcome, data, "/out/spot-reduce")
    by_id = {a["attempt_id"]: a for a in history["attempts"]}
    assert {(by_id[a["attempt_id"]]["state"], by_id[a["attempt_id"]]["end_cause"]) for a in on_task_nodes} == {
        ("KILLED", "NODE_LOST")}
    assert all(by_id[a["attempt_id"]]["end_phase"] in ("sort", "reduce") for a in on_task_nodes)
    # Their re-runs copy every map's output again: the maps of the lost nodes ran again, and only those.
    assert all(by_id[a["attempt_id"]]["state"] == "KILLED" for a in maps_on_task_nodes)
    counters = outcome["result"].counters
    assert counters.get(names.JOB_COUNTER, names.NUM_MAPS_RERUN_OUTPUT_LOST) == len(maps_on_task_nodes)
    assert counters.get(names.JOB_COUNTER, names.NUM_KILLED_REDUCES) == len(on_task_nodes)
    shown = cluster.emrlab("job", "-history", outcome["result"].job_id, check=True).stdout.decode()
    assert "Preemptions" in shown and "Re-runs" in shown
    assert all(a["attempt_id"] in shown.split("Preemptions", 1)[1] for a in on_task_nodes)

"""Reducers holding every container while maps wait: the AM preempts them, the job ends (real processes).

Two NodeManagers of one vcore each: the AM takes one, so one task runs at a
time. With slow start 0 the two reducers are asked for with the maps, at a
higher priority (Hadoop's), and a reducer gets the only container; it then
waits for map output that can never be made. Without reducer preemption the
job hangs for good; with it the AM kills the reducer (REDUCER_PREEMPTED),
holds both reducers back until every map has had a container, and the job
ends with exactly the reference output.
"""

from __future__ import annotations

import collections
import threading

import pytest

from conftest import ClusterPool
from mapreduce.appmaster.history import read_history
from test_mapreduce_cluster import MR_FAST_PROPERTIES, corpus, output_of, run_on_cluster

pytestmark = pytest.mark.cluster

JOB_TIMEOUT_S = 60.0  # a healthy run takes well under half that; a hang never ends


@pytest.fixture
def one_task_at_a_time(tmp_path_factory):
    pool = ClusterPool(lambda: tmp_path_factory.mktemp("preempt"))
    yield pool.start(core=2, properties={**MR_FAST_PROPERTIES, "yarn.nodemanager.resource.cpu-vcores": "1"},
                     services=("hdfs", "yarn"))
    pool.close()


def test_reducers_that_took_every_container_before_the_maps_are_preempted_and_the_job_ends(one_task_at_a_time):
    cluster = one_task_at_a_time
    client = cluster.client()
    data = corpus(30000, seed=3)  # over 1 MiB: two blocks, two maps
    client.write_bytes("/in/words.txt", data)
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["result"] = run_on_cluster(
                cluster, "mapreduce.examples.wordcount:WordCount", ["/in/words.txt"], "/out/preempt",
                {"mapreduce.job.reduces": "2", "mapreduce.job.reduce.slowstart.completedmaps": "0"})
        except Exception as error:  # reported below
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(JOB_TIMEOUT_S)
    if thread.is_alive():
        yarn = cluster.yarn()
        for report in yarn.applications():
            yarn.kill_application(report.application_id, "the test timed out")
        thread.join(15)
        pytest.fail(f"the job hung: not done after {JOB_TIMEOUT_S:.0f} s (reducers holding every container?)")
    assert "error" not in outcome, outcome.get("error")
    lines = output_of(client, "/out/preempt")
    assert collections.Counter({word: int(count) for word, count in (line.split("\t") for line in lines)}) == \
        collections.Counter(data.decode().split())
    history = read_history(client, outcome["result"].job_id)
    preempted = [a for a in history["attempts"] if a["end_cause"] == "REDUCER_PREEMPTED"]
    assert preempted and all(a["kind"] == "reduce" and a["state"] == "KILLED" for a in preempted), preempted
    assert not [a for a in history["attempts"] if a["state"] == "FAILED"]

"""A killed MapReduce ApplicationMaster on a real cluster: YARN starts a second attempt that recovers
the first one's finished maps; on its last attempt the client cleans up the output.

The job is a word count (4 maps, 2 reduces) whose reducers wait for a marker
file, so the AM can be SIGKILLed (its container's process group, from the
NodeManager's pid file) once every map has succeeded and before any reduce
has.
"""

from __future__ import annotations

import ast
import collections
import os
import signal
import subprocess
import sys
import threading

import pytest
from conftest import ClusterPool, wait_until
from test_mapreduce_cluster import (
    MR_FAST_PROPERTIES,
    corpus,
    listed_job_ids,
    output_of,
    read_status_attempts,
    run_on_cluster,
    running_job_id,
    write_job,
)

from mapreduce.api.errors import JobFailed
from mapreduce.api.fs import HdfsFileSystem
from mapreduce.appmaster.description import staging_dir
from mapreduce.appmaster.history import read_history
from mapreduce.appmaster.records import application_id_for
from mapreduce.appmaster.recovery import RECOVERY_DIR, RecoveryLog

pytestmark = pytest.mark.cluster

SPLIT_PROPERTIES = {"mapreduce.job.reduces": "2", "mapreduce.input.fileinputformat.split.maxsize": str(128 * 1024)}


@pytest.fixture(scope="module")
def am_cluster(tmp_path_factory):
    pool = ClusterPool(lambda: tmp_path_factory.mktemp("amrecovery"))
    # An AM stopped by YARN cleans up between SIGTERM and SIGKILL: give it time on a loaded machine.
    properties = {**MR_FAST_PROPERTIES, "yarn.nodemanager.sleep-delay-before-sigkill.ms": "3000"}
    cluster = pool.start(core=2, task=0, properties=properties, services=("hdfs", "yarn"))
    client = cluster.client()
    data = corpus(14000, seed=7)  # ~0.5 MiB: five 128 KiB splits, so five maps
    client.mkdirs("/data")
    client.write_bytes("/data/words.txt", data)
    yield cluster, data
    pool.close()


def waiting_wordcount(tmp_path) -> tuple[str, object]:
    marker = tmp_path / "go"
    job = write_job(tmp_path, "waiting", f"""
        class WaitingWordCount(Job):
            def mapper(self, key, line):
                for word in line.split():
                    yield word, 1

            def reducer_init(self):
                deadline = time.time() + 120
                while not os.path.exists({str(marker)!r}) and time.time() < deadline:
                    time.sleep(0.1)

            def reducer(self, word, counts):
                yield word, sum(counts)
        """)
    return f"{job}:WaitingWordCount", marker


def run_in_background(cluster, reference: str, output_dir: str, properties: dict) -> tuple[threading.Thread, dict]:
    # The jobs listed before this one starts: an earlier test's job may still be on its way out.
    outcome: dict = {"known_jobs": listed_job_ids(cluster)}

    def run() -> None:
        try:
            outcome["result"] = run_on_cluster(cluster, reference, ["/data/words.txt"], output_dir, properties)
        except Exception as error:  # the test's assertions report it
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def kill_am_when_maps_are_done(cluster, known_jobs) -> tuple[str, list[str]]:
    """SIGKILL the job's AM once every map succeeded; returns (job id, the succeeded maps' attempt ids)."""
    job_id = wait_until(lambda: running_job_id(cluster, "WaitingWordCount", known_jobs), what="the job in -list")

    def maps_done():
        attempts = read_status_attempts(cluster, job_id)
        maps = [a for a in attempts if a["kind"] == "map"]
        return maps if len(maps) >= 4 and all(a["state"] == "SUCCEEDED" for a in maps) else None

    maps = wait_until(maps_done, what="every map succeeded")
    # ... and is in the recovery log (the AM writes it just after it hears of the success).
    log = RecoveryLog(HdfsFileSystem(cluster.client()), staging_dir(cluster.client().user, job_id))
    wait_until(lambda: len([a for a in log.load().tasks.values() if a.kind == "map"]) == len(maps),
               what="the maps in the recovery log")
    report = cluster.yarn().application_report(application_id_for(job_id))
    pid_file = next(cluster.cluster_dir.root.glob(f"nodes/*/nm-local-dir/pids/{report.am_container_id}.pid"))
    os.killpg(int(pid_file.read_text().split()[0]), signal.SIGKILL)
    return job_id, [a["attempt_id"] for a in maps]


def test_a_killed_am_is_restarted_and_its_second_attempt_runs_only_the_unfinished_tasks(am_cluster, tmp_path):
    cluster, data = am_cluster
    reference, marker = waiting_wordcount(tmp_path)
    thread, outcome = run_in_background(cluster, reference, "/out/recovered", SPLIT_PROPERTIES)
    try:
        job_id, maps = kill_am_when_maps_are_done(cluster, outcome["known_jobs"])
        application_id = application_id_for(job_id)
        wait_until(lambda: cluster.yarn().application_report(application_id).attempts == 2, what="AM attempt 2")
    finally:
        marker.touch()
        thread.join(timeout=120)
    assert "error" not in outcome, outcome.get("error")
    client = cluster.client()
    lines = output_of(client, "/out/recovered")
    assert collections.Counter({word: int(count) for word, count in (line.split("\t") for line in lines)}) \
        == collections.Counter(data.decode().split())
    assert not client.exists("/out/recovered/_temporary")
    history = read_history(client, job_id)
    assert history["state"] == "SUCCEEDED"
    history_maps = [a for a in history["attempts"] if a["kind"] == "map"]
    # Every map is the first attempt's, recovered; none ran again.
    assert sorted(a["attempt_id"] for a in history_maps) == sorted(maps)
    assert all(a["recovered"] and a["state"] == "SUCCEEDED" for a in history_maps)
    reduces = [a for a in history["attempts"] if a["kind"] == "reduce" and a["state"] == "SUCCEEDED"]
    assert len(reduces) == 2 and all(int(a["attempt_id"].rsplit("_", 1)[1]) >= 1000 for a in reduces)
    counters = outcome["result"].counters
    assert counters.get("org.apache.hadoop.mapreduce.JobCounter", "TOTAL_LAUNCHED_MAPS") == 0
    assert counters.task("MAP_INPUT_RECORDS") == 14000  # the recovered maps' counters count
    assert cluster.yarn().application_report(application_id).attempts == 2


def test_an_am_killed_on_its_last_attempt_leaves_no_temporary_and_the_path_can_be_used_again(am_cluster, tmp_path):
    cluster, data = am_cluster
    reference, marker = waiting_wordcount(tmp_path)
    properties = {**SPLIT_PROPERTIES, "mapreduce.am.max-attempts": "1"}
    thread, outcome = run_in_background(cluster, reference, "/out/lost-am", properties)
    try:
        kill_am_when_maps_are_done(cluster, outcome["known_jobs"])
    finally:
        thread.join(timeout=60)
    assert isinstance(outcome.get("error"), JobFailed), outcome
    client = cluster.client()
    # The client saw the application FAILED with no AM left to abort the job, and did it.
    assert not client.exists("/out/lost-am")
    marker.touch()
    run_on_cluster(cluster, reference, ["/data/words.txt"], "/out/lost-am", SPLIT_PROPERTIES)
    assert len(output_of(client, "/out/lost-am")) == len(set(data.decode().split()))


def test_an_application_killed_through_yarn_with_no_client_left_aborts_its_own_output(am_cluster, tmp_path):
    cluster, _ = am_cluster
    reference, marker = waiting_wordcount(tmp_path)
    job_file = reference.rsplit(":", 1)[0]
    environment = dict(os.environ, EMRLAB_CLUSTER=str(cluster.cluster_dir.root))
    known_jobs = listed_job_ids(cluster)
    process = subprocess.Popen([sys.executable, "-m", "emrlab", "job", "run", job_file, "-r", "cluster",
                                "/data/words.txt", "-o", "/out/yarn-killed", "-D", "mapreduce.job.reduces=2"],
                               env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        job_id = wait_until(lambda: running_job_id(cluster, "WaitingWordCount", known_jobs), what="the job in -list")
        client = cluster.client()
        wait_until(lambda: client.exists("/out/yarn-killed/_temporary"), what="the job's output set up")
    finally:
        process.kill()  # the client is gone: only the AM can clean up now
        process.wait()
    cluster.emrlab("application", "-kill", application_id_for(job_id), check=True)
    # YARN stops the AM's container (SIGTERM); the AM sees its application ended, and aborts the job.
    wait_until(lambda: not client.exists("/out/yarn-killed"), what="the killed job's output removed")
    assert not client.exists(staging_dir(client.user, job_id))
    marker.touch()


def test_a_second_am_attempt_resumes_a_two_step_job_after_its_committed_step(am_cluster, tmp_path):
    cluster, data = am_cluster
    marker = tmp_path / "go"
    job = write_job(tmp_path, "twosteps", f"""
        from mapreduce import Step

        class CountsByCount(Job):
            def mapper(self, key, line):
                for word in line.split():
                    yield word, 1

            def total(self, word, counts):
                yield word, sum(counts)

            def by_count_init(self):
                deadline = time.time() + 120
                while not os.path.exists({str(marker)!r}) and time.time() < deadline:
                    time.sleep(0.1)

            def by_count(self, word, count):
                yield count, word

            def words(self, count, words):
                yield count, sorted(words)

            def steps(self):
                return [Step(mapper=self.mapper, combiner=self.total, reducer=self.total),
                        Step(mapper_init=self.by_count_init, mapper=self.by_count, reducer=self.words)]
        """)
    thread, outcome = run_in_background(cluster, f"{job}:CountsByCount", "/out/two-steps", SPLIT_PROPERTIES)
    try:
        job_id = wait_until(lambda: running_job_id(cluster, "CountsByCount", outcome["known_jobs"]),
                            what="the job in -list")
        client = cluster.client()
        log_dir = f"{staging_dir(client.user, job_id)}/{RECOVERY_DIR}"
        wait_until(lambda: client.exists(f"{log_dir}/step-0.committed"), what="step 0 committed")
        report = cluster.yarn().application_report(application_id_for(job_id))
        pid_file = next(cluster.cluster_dir.root.glob(f"nodes/*/nm-local-dir/pids/{report.am_container_id}.pid"))
        os.killpg(int(pid_file.read_text().split()[0]), signal.SIGKILL)
        wait_until(lambda: cluster.yarn().application_report(application_id_for(job_id)).attempts == 2,
                   what="AM attempt 2")
    finally:
        marker.touch()
        thread.join(timeout=120)
    assert "error" not in outcome, outcome.get("error")
    counts = collections.Counter(data.decode().split())
    expected = collections.defaultdict(list)
    for word, count in counts.items():
        expected[count].append(word)
    lines = output_of(client, "/out/two-steps")
    assert {int(count): sorted(ast.literal_eval(words)) for count, words in (line.split("\t") for line in lines)} \
        == {count: sorted(words) for count, words in expected.items()}
    history = read_history(client, job_id)
    first_step = [a for a in history["attempts"] if a["step_index"] == 0]
    assert first_step and all(a["recovered"] and a["state"] == "SUCCEEDED" for a in first_step)
    assert history["state"] == "SUCCEEDED" and history["step_count"] == 2

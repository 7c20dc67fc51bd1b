"""MapReduce on a real cluster: HDFS + YARN daemons, the AM and tasks as separate processes.

One cluster (3 core nodes and 1 task node, 1 MiB blocks, fast heartbeats) is
shared by the module's tests; the tests that break nodes run last and use
nodes the others no longer need. Every job's output is compared with a
sequential reference computed here.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import textwrap
import time

import pytest

from conftest import YARN_FAST_PROPERTIES, wait_until
from mapreduce import counters as names
from mapreduce.appmaster.history import read_history
from mapreduce.errors import JobFailed
from mapreduce.monitor import JobMonitor
from mapreduce.runners import runner_class
from mapreduce.runners.spec import JobSpec

pytestmark = pytest.mark.cluster

MR_FAST_PROPERTIES = {
    **YARN_FAST_PROPERTIES,
    # Three 256 MB containers per node: tasks spread over the nodes, as on a busy cluster.
    "yarn.nodemanager.resource.memory-mb": "768",
    "yarn.app.mapreduce.am.scheduler.heartbeat.interval-ms": "100",
    "mapreduce.task.progress-report.interval": "200",
    "mapreduce.client.progressmonitor.pollinterval": "200",
    "emrlab.reduce.shuffle.events.poll-ms": "100",
    "mapreduce.reduce.shuffle.fetch.retry.interval-ms": "200",
    "mapreduce.map.memory.mb": "256",
    "mapreduce.reduce.memory.mb": "256",
    "yarn.app.mapreduce.am.resource.mb": "256",
}
WORDS = ["apple", "banana", "cherry", "date", "elder", "fig", "grape", "hazel", "iris", "juniper", "kiwi", "lime"]


@pytest.fixture(scope="module")
def mr_cluster(tmp_path_factory):
    from conftest import ClusterPool

    pool = ClusterPool(lambda: tmp_path_factory.mktemp("mrcluster"))
    cluster = pool.start(core=3, task=1, properties=MR_FAST_PROPERTIES, services=("hdfs", "yarn"))
    yield cluster
    pool.close()


def corpus(lines: int, seed: int) -> bytes:
    import random

    generator = random.Random(seed)
    return "".join(" ".join(generator.choice(WORDS) for _ in range(generator.randint(1, 12))) + "\n"
                   for _ in range(lines)).encode()


def word_counts(data: bytes) -> dict[str, int]:
    return dict(collections.Counter(data.decode().split()))


def output_of(client, output_dir: str) -> list[str]:
    names_ = sorted(status.path.rsplit("/", 1)[-1] for status in client.list(output_dir))
    assert "_SUCCESS" in names_, names_
    lines = []
    for name in names_:
        if name.startswith("part-"):
            lines += client.read_bytes(f"{output_dir}/{name}").decode().splitlines()
    return lines


def run_on_cluster(cluster, reference: str, inputs: list[str], output_dir: str, properties: dict | None = None,
                   arguments: tuple[str, ...] = ()):
    spec = JobSpec(job_reference=reference, input_paths=tuple(inputs), output_dir=output_dir,
                   job_arguments=arguments, properties=dict(properties or {}),
                   cluster_dir=str(cluster.cluster_dir.root), job_name=reference.rsplit(":", 1)[-1])
    return runner_class("cluster")().run(spec, JobMonitor(quiet=True))


@pytest.fixture(scope="module")
def words_input(mr_cluster):
    """~2.2 MiB of words in HDFS: three 1 MiB blocks, so three maps."""
    client = mr_cluster.client()
    data = corpus(60000, seed=1)
    client.mkdirs("/data")
    client.write_bytes("/data/words.txt", data)
    return "/data/words.txt", data


def test_wordcount_on_the_cluster_matches_the_reference(mr_cluster, words_input):
    path, data = words_input
    assert len(mr_cluster.client().block_locations(path)) == 3
    result = run_on_cluster(mr_cluster, "mapreduce.examples.wordcount:WordCount", [path], "/out/wordcount",
                            {"mapreduce.job.reduces": "2"})
    client = mr_cluster.client()
    lines = output_of(client, "/out/wordcount")
    assert dict((word, int(count)) for word, count in (line.split("\t") for line in lines)) == word_counts(data)
    assert len([name for name in (s.path for s in client.list("/out/wordcount")) if "part-r-" in name]) == 2
    counters = result.counters
    assert counters.get(names.JOB_COUNTER, names.TOTAL_LAUNCHED_MAPS) == 3
    assert counters.get(names.JOB_COUNTER, names.TOTAL_LAUNCHED_REDUCES) == 2
    assert counters.get(names.JOB_COUNTER, names.DATA_LOCAL_MAPS) > 0
    assert counters.task(names.SHUFFLED_MAPS) == 6
    assert counters.task(names.MAP_INPUT_RECORDS) == 60000
    assert counters.get(names.FILE_SYSTEM_COUNTER, "HDFS_BYTES_READ") >= len(data)
    history = read_history(client, result.job_id)
    assert history["state"] == "SUCCEEDED"
    assert {attempt["state"] for attempt in history["attempts"]} == {"SUCCEEDED"}
    assert all(attempt["node_id"] for attempt in history["attempts"])


def write_job(tmp_path, name: str, body: str) -> str:
    path = tmp_path / f"{name}.py"
    path.write_text("import os, random, sys, time\nfrom mapreduce import Job\n\n" + textwrap.dedent(body))
    return str(path)


def test_a_failing_mapper_fails_the_job_with_its_stderr_and_leaves_no_output(mr_cluster, words_input, tmp_path):
    job = write_job(tmp_path, "broken", """
        class Broken(Job):
            def mapper(self, key, line):
                print("about to fail on", repr(line[:10]), file=sys.stderr)
                raise ValueError("this mapper is broken")

            def reducer(self, key, values):
                yield key, sum(values)
        """)
    result = mr_cluster.emrlab("job", "run", job, "-r", "cluster", words_input[0], "-o", "/out/broken",
                               "-D", "mapreduce.map.maxattempts=2")
    stderr = result.stderr.decode()
    assert result.returncode != 0
    assert "failed 2 times" in stderr
    assert "ValueError: this mapper is broken" in stderr
    assert "about to fail on" in stderr  # the attempt's stderr tail
    assert not mr_cluster.client().exists("/out/broken")


def test_bad_paths_are_one_clear_line(mr_cluster, words_input):
    missing = mr_cluster.emrlab("job", "run", "mapreduce/examples/wordcount.py", "-r", "cluster", "/no/such/input",
                                "-o", "/out/never")
    assert missing.returncode != 0
    assert missing.stderr.decode().strip().splitlines()[-1] == (
        "emrlab job: Input path does not exist: hdfs:///no/such/input")
    mr_cluster.client().mkdirs("/out/exists")
    exists = mr_cluster.emrlab("job", "run", "mapreduce/examples/wordcount.py", "-r", "cluster", words_input[0],
                               "-o", "/out/exists")
    assert exists.returncode != 0
    assert "Output directory hdfs:///out/exists already exists" in exists.stderr.decode()


def test_crashing_tasks_still_give_exactly_the_reference_output(mr_cluster, words_input, tmp_path):
    """MIT 6.5840's crash test: tasks that die or stall now and then, with max attempts raised."""
    job = write_job(tmp_path, "crashy", """
        def maybe_crash():
            roll = random.random()
            if roll < 0.33:
                os._exit(1)
            if roll < 0.5:
                time.sleep(random.random())

        class CrashyWordCount(Job):
            def mapper_init(self):
                maybe_crash()

            def mapper(self, key, line):
                for word in line.split():
                    yield word, 1

            def reducer_init(self):
                maybe_crash()

            def reducer(self, word, counts):
                yield word, sum(counts)
        """)
    path, data = words_input
    result = run_on_cluster(mr_cluster, f"{job}:CrashyWordCount", [path], "/out/crashy",
                            {"mapreduce.job.reduces": "2", "mapreduce.map.maxattempts": "20",
                             "mapreduce.reduce.maxattempts": "20"})
    lines = output_of(mr_cluster.client(), "/out/crashy")
    assert dict((word, int(count)) for word, count in (line.split("\t") for line in lines)) == word_counts(data)
    assert len(lines) == len(set(lines))
    assert result.counters.get(names.JOB_COUNTER, names.TOTAL_LAUNCHED_MAPS) >= 3


def test_maps_run_in_parallel_and_none_runs_twice_on_healthy_nodes(mr_cluster, words_input, tmp_path):
    """MIT 6.5840's parallelism and job-count tests, seen from inside the job."""
    markers = tmp_path / "markers"
    markers.mkdir()
    job = write_job(tmp_path, "parallel", f"""
        MARKERS = {str(markers)!r}

        class Parallel(Job):
            def mapper_init(self):
                open(os.path.join(MARKERS, self.config["mapreduce.task.attempt.id"]), "w").close()
                deadline = time.time() + 20
                while len(os.listdir(MARKERS)) < 2 and time.time() < deadline:
                    time.sleep(0.05)
                self.together = len(os.listdir(MARKERS))

            def mapper(self, key, line):
                return iter(())

            def mapper_final(self):
                yield "most maps seen running at once", self.together

            def reducer(self, key, values):
                yield key, max(values)
        """)
    result = run_on_cluster(mr_cluster, f"{job}:Parallel", [words_input[0]], "/out/parallel",
                            {"mapreduce.job.reduces": "1"})
    (line,) = output_of(mr_cluster.client(), "/out/parallel")
    assert int(line.split("\t")[1]) >= 2
    launched = sorted(os.listdir(markers))
    assert len(launched) == 3 and all(attempt_id.endswith("_0") for attempt_id in launched)
    assert result.counters.get(names.JOB_COUNTER, names.TOTAL_LAUNCHED_MAPS) == 3

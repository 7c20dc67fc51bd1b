"""The spark runner: every example and the mrjob compatibility jobs give the inline runner's output.

One local Spark context (one JVM) serves the whole module; the runner reuses a
context already running in its process. Skipped, with the reason, where PySpark
or Java 17+ is missing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mapreduce.api import counters as names
from mapreduce.api.errors import JobFailed
from mapreduce.api.spec import JobSpec
from mapreduce.runners import runner_class
from mapreduce.runners.monitor import JobMonitor
from mapreduce.runners.spark import spark_missing
from tests.mapreduce_helpers import run_job, write_corpus

JOBS = Path(__file__).parent / "mr_jobs"


pytestmark = pytest.mark.skipif(spark_missing() is not None, reason=str(spark_missing()))


@pytest.fixture(scope="module", autouse=True)
def spark():
    from mapreduce.runners.spark import spark_context

    context, _ = spark_context({"spark.master": "local[2]"})
    yield context
    context.stop()


@pytest.fixture
def corpus(tmp_path):
    return [write_corpus(tmp_path / "in" / f"part-{index}.txt", 400, seed=index) for index in range(2)]


def parts(output_dir: Path) -> dict[str, str]:
    assert (output_dir / "_SUCCESS").exists(), f"no _SUCCESS in {output_dir}"
    return {part.name: part.read_text(encoding="utf-8") for part in sorted(output_dir.glob("part-*"))}


def assert_same_as_inline(tmp_path, reference, inputs, arguments=(), properties=None):
    inline = run_job(reference, inputs, tmp_path / "inline", "inline", properties, arguments)
    spark = run_job(reference, inputs, tmp_path / "spark", "spark", properties, arguments)
    assert parts(tmp_path / "spark") == parts(tmp_path / "inline")
    assert parts(tmp_path / "spark"), "no part files"
    for counter in (names.MAP_INPUT_RECORDS, names.MAP_OUTPUT_RECORDS, names.REDUCE_OUTPUT_RECORDS):
        assert spark.counters.task(counter) == inline.counters.task(counter), counter
    return spark


EXAMPLES = [
    ("mapreduce.examples.wordcount:WordCount", (), None),
    ("mapreduce.examples.grep:Grep", ("--pattern", "[a-z]*o[a-z]*"), None),
    ("mapreduce.examples.invertedindex:InvertedIndex", (), None),
    ("mapreduce.examples.sort:Sort", ("--samples", "200"), {"mapreduce.job.reduces": "3"}),
    (f"{JOBS / 'mr_word_freq.py'}:MRWordFreqCount", (), None),
    (f"{JOBS / 'mr_most_used_word.py'}:MRMostUsedWord", ("--min-length", "4"), None),
    (f"{JOBS / 'lab_jobs.py'}:Indexer", (), None),
]


@pytest.mark.parametrize("reference, arguments, properties", EXAMPLES, ids=lambda value: str(value).split(":")[-1])
def test_examples_and_mrjob_jobs_equal_inline(tmp_path, corpus, reference, arguments, properties):
    result = assert_same_as_inline(tmp_path, reference, corpus, arguments, properties)
    assert result.counters.get(names.JOB_COUNTER, names.TOTAL_LAUNCHED_MAPS) >= 2


def test_join_of_two_inputs(tmp_path):
    left, right = tmp_path / "users", tmp_path / "orders"
    left.mkdir()
    right.mkdir()
    (left / "a.txt").write_text("".join(f"{user}\tname-{user}\n" for user in range(40)))
    (right / "orders.txt").write_text("".join(f"{order % 50}\titem-{order}\n" for order in range(120)))
    assert_same_as_inline(tmp_path, "mapreduce.examples.join:Join", [left, right])


def test_secondary_sort_combiner_spills_and_map_only(tmp_path, corpus):
    source = tmp_path / "pairs.txt"
    source.write_text("".join(f"{key} {value}\n" for key, value in [("b", 3), ("a", 9), ("b", 1), ("a", -2)] * 5))
    assert_same_as_inline(tmp_path / "sorted", f"{JOBS / 'sorted_values.py'}:SortedValues", [source],
                          properties={"mapreduce.task.io.sort.mb": "0.0001"})
    tiny_buffer = {"mapreduce.task.io.sort.mb": "0.002", "mapreduce.job.maps": "3"}
    result = assert_same_as_inline(tmp_path / "spills", "mapreduce.examples.wordcount:WordCount", corpus,
                                   properties=tiny_buffer)
    assert result.counters.task(names.COMBINE_INPUT_RECORDS) > result.counters.task(names.COMBINE_OUTPUT_RECORDS)
    assert_same_as_inline(tmp_path / "maponly", "mapreduce.examples.wordcount:WordCount", corpus,
                          properties={"mapreduce.job.reduces": "0"})
    assert sorted(parts(tmp_path / "maponly" / "spark")) == ["part-m-00000", "part-m-00001"]


def test_a_failing_mapper_fails_the_job_with_the_users_error(tmp_path, corpus):
    with pytest.raises(JobFailed) as failure:
        run_job(f"{JOBS / 'lab_jobs.py'}:FailingMapper", corpus, tmp_path / "out", "spark")
    assert "Task failed task_" in failure.value.message and "lab_jobs.py" in failure.value.message
    assert not (tmp_path / "out").exists()


def test_the_command_line_without_java_says_what_to_install(tmp_path, corpus):
    done = subprocess.run([sys.executable, "-m", "emrlab", "job", "run", "mapreduce/examples/wordcount.py",
                           "-r", "spark", str(corpus[0]), "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, env={"PATH": "/nonexistent", "JAVA_HOME": "/nonexistent"},
                          cwd=Path(__file__).parent.parent, timeout=120)
    assert done.returncode != 0
    assert "Java 17+" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.cluster
def test_a_multi_step_job_from_hdfs_to_hdfs(tmp_path, corpus, cluster_factory):
    cluster = cluster_factory(core=1)
    client = cluster.client()
    client.upload(corpus[0], "/in/words.txt")
    outputs = {}
    for runner in ("inline", "spark"):
        output = f"hdfs:///out/{runner}"
        runner_class(runner)().run(JobSpec("mapreduce.examples.grep:Grep", ("hdfs:///in/words.txt",), output,
                                           job_arguments=("--pattern", "[a-z]*o[a-z]*"),
                                           cluster_dir=str(cluster.cluster_dir.root)), JobMonitor(quiet=True))
        outputs[runner] = {path.rsplit("/", 1)[1]: client.read_bytes(path) for path in client.glob(f"/out/{runner}/*")}
    assert outputs["spark"] == outputs["inline"] and "_SUCCESS" in outputs["spark"]
    if client.exists("/tmp"):  # the steps' intermediate output is gone
        assert not [status for status in client.list("/tmp") if status.name.startswith("emrlab-job-")]

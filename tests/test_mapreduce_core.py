"""The MapReduce engine's pieces, and a first job end to end on the inline runner."""

from __future__ import annotations

import collections

import pytest

from mapreduce.api import counters as names
from mapreduce.api.counters import Counters
from mapreduce.api.keys import UnorderableKey, decode_key, encode_key
from mapreduce.task.attempt import TaskAttempt
from mapreduce.task.splits import InputSplit
from tests.mapreduce_helpers import output_lines, run_job, write_corpus


def test_wordcount_inline_matches_reference(tmp_path):
    corpus = write_corpus(tmp_path / "in" / "words.txt", 3000)
    result = run_job("mapreduce.examples.wordcount:WordCount", [corpus], tmp_path / "out")
    reference = collections.Counter(corpus.read_text(encoding="utf-8").split())
    got = dict(line.split("\t") for line in output_lines(tmp_path / "out"))
    assert {word: int(count) for word, count in got.items()} == dict(reference)
    assert result.counters.get(names.JOB_COUNTER, names.TOTAL_LAUNCHED_MAPS) >= 2
    assert result.counters.get(names.JOB_COUNTER, names.TOTAL_LAUNCHED_REDUCES) == 2
    assert result.counters.task(names.MAP_INPUT_RECORDS) == 3000
    assert result.counters.task(names.MAP_OUTPUT_RECORDS) == sum(reference.values())
    assert result.counters.task(names.REDUCE_OUTPUT_RECORDS) == len(reference)
    assert sorted((tmp_path / "out").iterdir())[0].name == "_SUCCESS"


def test_keys_sort_across_types_in_the_documented_order():
    ordered = [None, False, True, -1e300, -5, 0.5, 1.0, 1, 2**53 + 1, 2**64 - 1, float("inf"),
               "", "a", "a\x00", "ab", "é", b"", b"\x00", [], [None], [1], [1, 0], ["a"], {}, {"a": 1}]
    encoded = [encode_key(key) for key in ordered]
    assert encoded == sorted(encoded)
    assert [decode_key(data) for data in encoded] == ordered


def test_unorderable_keys_are_named():
    with pytest.raises(UnorderableKey, match="NaN"):
        encode_key(["x", float("nan")])
    with pytest.raises(UnorderableKey, match="set"):
        encode_key({1, 2})


def test_task_attempt_and_counters_cross_the_wire():
    attempt = TaskAttempt(job_id="job_1700000000000_0007", step_index=0, kind="map", task_index=3, attempt_index=1,
                          job_reference="job.py:WordCount", job_arguments=("--x", "1"), properties={"a": "b"},
                          split=InputSplit("hdfs:///in/a", 0, 100, ("core-1",)), num_reduces=2, num_maps=4,
                          local_dir="/tmp/l", output_dir="hdfs:///out")
    assert TaskAttempt.from_wire(attempt.to_wire()) == attempt
    assert attempt.attempt_id == "attempt_1700000000000_0007_m_000003_1"
    counters = Counters()
    counters.increment(names.TASK_COUNTER, names.MAP_INPUT_RECORDS, 5)
    counters.increment("My Group", "things")
    assert Counters.from_wire(counters.to_wire()) == counters
    assert "Map input records=5" in counters.format()


def test_the_monitor_prints_hadoops_progress_lines_only_when_they_change():
    import io

    from mapreduce.runners.monitor import JobMonitor

    stream = io.StringIO()
    monitor = JobMonitor(stream=stream, interactive=False)
    monitor.job_started("job_1_0001")
    for map_progress, reduce_progress in [(0, 0), (0.5, 0), (0.501, 0), (1, 0), (1, 1)]:
        monitor.progress(map_progress, reduce_progress)
    counters = Counters()
    counters.increment(names.TASK_COUNTER, names.MAP_INPUT_RECORDS, 7)
    monitor.job_succeeded("job_1_0001", counters)
    assert stream.getvalue().splitlines() == [
        "Running job: job_1_0001", " map 0% reduce 0%", " map 50% reduce 0%", " map 100% reduce 0%",
        " map 100% reduce 100%", "Job job_1_0001 completed successfully", "Counters: 1",
        "\tMap-Reduce Framework", "\t\tMap input records=7"]


def test_reduce_input_records_count_values_the_reducer_did_not_read(tmp_path):
    corpus = write_corpus(tmp_path / "in.txt", 500)
    result = run_job(f"{__file__}:FirstValueOnly", [corpus], tmp_path / "out")
    words = corpus.read_text(encoding="utf-8").split()
    assert result.counters.task(names.REDUCE_INPUT_RECORDS) == len(words)
    assert result.counters.task(names.REDUCE_INPUT_GROUPS) == len(set(words))


from mapreduce import Job  # noqa: E402  (the job class the test above runs)


class FirstValueOnly(Job):
    def mapper(self, key, line):
        for word in line.split():
            yield word, 1

    def reducer(self, word, counts):
        yield word, next(iter(counts))


def test_zero_reducers_make_a_job_map_only(tmp_path):
    corpus = write_corpus(tmp_path / "in.txt", 200)
    result = run_job("mapreduce.examples.wordcount:WordCount", [corpus], tmp_path / "out",
                     properties={"mapreduce.job.reduces": "0"})
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["_SUCCESS", "part-m-00000", "part-m-00001"]
    assert len(output_lines(tmp_path / "out")) == len(corpus.read_text(encoding="utf-8").split())
    assert result.counters.get(names.JOB_COUNTER, names.TOTAL_LAUNCHED_REDUCES) == 0


def test_output_lines_write_numbers_and_booleans_as_json_does():
    import json

    job = Job([])
    for value in (0, -7, 2**70, True, False, 1.5, [1, "a"]):
        assert job.format_output("k", value) == "k\t" + json.dumps(value, ensure_ascii=False, separators=(",", ":"))

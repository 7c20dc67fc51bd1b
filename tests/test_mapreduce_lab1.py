"""MIT 6.5840 Lab 1's tests, ported: ordinary jobs on the local runner against a sequential reference.

Parallelism, re-execution and crashes are detected from inside the jobs
(tests/mr_jobs/lab_jobs.py), as the lab's plugins do.
"""

from __future__ import annotations

import collections
import time
from pathlib import Path

import pytest

from mapreduce.api import counters as names
from mapreduce.api.errors import JobFailed
from tests.mapreduce_helpers import output_lines, run_job, write_corpus

JOBS = Path(__file__).parent / "mr_jobs" / "lab_jobs.py"


def job(name: str) -> str:
    return f"{JOBS}:{name}"


def word_counts(paths) -> dict[str, int]:
    counter = collections.Counter()
    for path in paths:
        counter.update(Path(path).read_text(encoding="utf-8").split())
    return dict(counter)


def parsed(output_dir: Path) -> dict[str, str]:
    return dict(line.split("\t", 1) for line in output_lines(output_dir))


@pytest.fixture
def corpus(tmp_path):
    return [write_corpus(tmp_path / "in" / f"doc-{index}.txt", 400, seed=index) for index in range(3)]


def test_word_count_matches_the_sequential_reference(tmp_path, corpus):
    result = run_job("mapreduce.examples.wordcount:WordCount", corpus, tmp_path / "out", runner="local")
    assert {word: int(count) for word, count in parsed(tmp_path / "out").items()} == word_counts(corpus)
    assert result.counters.get(names.JOB_COUNTER, names.TOTAL_LAUNCHED_MAPS) >= 3


def test_indexer_matches_the_sequential_reference(tmp_path, corpus):
    run_job(job("Indexer"), corpus, tmp_path / "out", runner="local")
    documents = collections.defaultdict(set)
    for path in corpus:
        for word in path.read_text(encoding="utf-8").split():
            documents[word].add(path.name)
    expected = {word: f"{len(names_)} {','.join(sorted(names_))}" for word, names_ in documents.items()}
    assert parsed(tmp_path / "out") == expected


def test_maps_run_in_parallel(tmp_path, corpus):
    signals = tmp_path / "signals"
    signals.mkdir()
    run_job(job("MapTiming"), corpus, tmp_path / "out", runner="local",
            properties={"mapreduce.local.map.tasks.maximum": "2"}, arguments=("--signal-dir", str(signals)))
    assert parsed(tmp_path / "out") == {"maps-seen-at-once": "2"}


def test_reduces_run_in_parallel(tmp_path, corpus):
    signals = tmp_path / "signals"
    signals.mkdir()
    run_job(job("ReduceTiming"), corpus, tmp_path / "out", runner="local",
            properties={"mapreduce.local.reduce.tasks.maximum": "2"}, arguments=("--signal-dir", str(signals)))
    seen = [line.split("\t")[1] for line in output_lines(tmp_path / "out") if line.startswith("~reduces")]
    assert seen == ["2", "2"]


def test_no_map_runs_twice_without_faults(tmp_path, corpus):
    signals = tmp_path / "signals"
    signals.mkdir()
    result = run_job(job("JobCount"), corpus, tmp_path / "out", runner="local",
                     arguments=("--signal-dir", str(signals)))
    marks = sorted(path.name for path in signals.iterdir())
    launched = result.counters.get(names.JOB_COUNTER, names.TOTAL_LAUNCHED_MAPS)
    assert len(marks) == launched >= 3
    assert all(mark.endswith("_0") for mark in marks)  # every map's first attempt, and only it


def test_output_is_complete_when_the_job_is_done_and_never_changes_after(tmp_path, corpus):
    output = tmp_path / "out"
    run_job(job("EarlyExit"), corpus, output, runner="local", arguments=("--signal-dir", str(tmp_path)))
    first = {path.name: path.read_bytes() for path in output.iterdir()}
    assert {word: int(count) for word, count in parsed(output).items()} == word_counts(corpus)
    time.sleep(1.0)  # a straggler would write now
    assert {path.name: path.read_bytes() for path in output.iterdir()} == first
    assert not (output / "_temporary").exists()


def test_crashing_and_stalling_tasks_still_give_exactly_the_reference(tmp_path, corpus):
    result = run_job(job("CrashingWordCount"), corpus, tmp_path / "out", runner="local",
                     properties={"mapreduce.map.maxattempts": "30", "mapreduce.reduce.maxattempts": "30",
                                 "mapreduce.job.reduces": "3"})
    assert {word: int(count) for word, count in parsed(tmp_path / "out").items()} == word_counts(corpus)
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [
        "_SUCCESS", "part-r-00000", "part-r-00001", "part-r-00002"]
    launched = result.counters.get(names.JOB_COUNTER, names.TOTAL_LAUNCHED_MAPS)
    failed = result.counters.get(names.JOB_COUNTER, names.NUM_FAILED_MAPS)
    assert launched - failed == 3


@pytest.mark.parametrize("runner", ["inline", "local"])
def test_failing_user_code_fails_the_job_with_its_traceback_and_no_output(tmp_path, corpus, runner):
    with pytest.raises(JobFailed, match="the fox broke this mapper") as failure:
        run_job(job("FailingMapper"), corpus, tmp_path / "out", runner=runner,
                properties={"mapreduce.map.maxattempts": "2"})
    assert "RuntimeError" in failure.value.message
    assert not (tmp_path / "out").exists()


def test_an_unorderable_key_is_named_in_the_failure(tmp_path, corpus):
    with pytest.raises(JobFailed, match="NaN"):
        run_job(job("UnorderableKeys"), corpus, tmp_path / "out", runner="local",
                properties={"mapreduce.map.maxattempts": "1"})


def test_an_attempt_without_progress_is_killed_after_the_task_timeout(tmp_path, corpus):
    with pytest.raises(JobFailed, match="timeout"):
        run_job(job("StuckMapper"), corpus, tmp_path / "out", runner="local",
                properties={"mapreduce.task.timeout": "1000", "mapreduce.map.maxattempts": "1"})


@pytest.mark.parametrize("name, producer", [("BadYield", "mapper"), ("BadReducerYield", "reducer")])
def test_a_bad_yield_is_named_as_such(tmp_path, corpus, name, producer):
    with pytest.raises(JobFailed, match=f"BadRecord: the {producer} must yield \\(key, value\\) pairs"):
        run_job(job(name), corpus, tmp_path / "out", runner="local", properties={"mapreduce.map.maxattempts": "1",
                                                                               "mapreduce.reduce.maxattempts": "1"})
    assert not (tmp_path / "out").exists()

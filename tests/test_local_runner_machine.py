"""The local and inline runners run the cluster's JobStateMachine: its retries, timeouts, kills and counters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mapreduce.api import counters as names
from mapreduce.appmaster.config import AppMasterConfig
from mapreduce.runners.driver import LocalJobFailed
from mapreduce.runners.inline import InlineRunner
from mapreduce.runners.local import LocalRunner
from tests.mapreduce_helpers import output_lines, run_job, write_corpus

JOBS = Path(__file__).parent / "mr_jobs" / "local_runner_jobs.py"
TWO_MAPS_AT_ONCE = {"mapreduce.local.map.tasks.maximum": "2", "mapreduce.job.maps": "2"}


def job(name: str) -> str:
    return f"{JOBS}:{name}"


def job_counter(counters, name: str) -> int:
    return counters.get(names.JOB_COUNTER, name)


@pytest.fixture
def corpus(tmp_path):
    return [write_corpus(tmp_path / "in" / "doc.txt", 200, seed=1)]


def test_the_local_runner_takes_the_cluster_ams_settings_and_defaults():
    assert LocalRunner().config({}) == AppMasterConfig()
    config = LocalRunner().config({"mapreduce.map.maxattempts": "7", "mapreduce.task.timeout": "1500"})
    assert (config.map_attempts_max, config.task_timeout_s) == (7, 1.5)


def test_failed_attempts_are_retried_up_to_mapreduce_map_maxattempts(tmp_path, corpus):
    result = run_job(job("FailsTwice"), corpus, tmp_path / "out", runner="local",
                     properties={**TWO_MAPS_AT_ONCE, "mapreduce.map.maxattempts": "3"})
    maps = job_counter(result.counters, names.TOTAL_LAUNCHED_MAPS) // 3
    assert maps >= 1 and job_counter(result.counters, names.TOTAL_LAUNCHED_MAPS) == 3 * maps
    assert job_counter(result.counters, names.NUM_FAILED_MAPS) == 2 * maps
    assert job_counter(result.counters, names.NUM_KILLED_MAPS) == 0
    assert output_lines(tmp_path / "out")
    with pytest.raises(LocalJobFailed, match="after 2 attempts") as failure:
        run_job(job("FailsTwice"), corpus, tmp_path / "again", runner="local",
                properties={**TWO_MAPS_AT_ONCE, "mapreduce.map.maxattempts": "2"})
    assert "this attempt fails on purpose" in failure.value.message
    assert job_counter(failure.value.counters, names.NUM_FAILED_MAPS) >= 2
    assert not (tmp_path / "again").exists()


def test_an_attempt_without_progress_for_mapreduce_task_timeout_fails_and_runs_again(tmp_path, corpus):
    # The timeout also counts an attempt's process start, which a busy machine makes slow: attempts to spare.
    result = run_job(job("StallsOnce"), corpus, tmp_path / "out", runner="local",
                     properties={**TWO_MAPS_AT_ONCE, "mapreduce.task.timeout": "3000",
                                 "mapreduce.map.maxattempts": "10", "mapreduce.reduce.maxattempts": "10"})
    failed = job_counter(result.counters, names.NUM_FAILED_MAPS)
    assert failed >= 2  # each map's first attempt stalled, and timed out
    assert job_counter(result.counters, names.TOTAL_LAUNCHED_MAPS) - failed == 2
    assert job_counter(result.counters, names.NUM_KILLED_MAPS) == 0
    with pytest.raises(LocalJobFailed, match="after 1 attempts; .* ended with a timeout"):
        run_job(job("StallsOnce"), corpus, tmp_path / "again", runner="local",
                properties={**TWO_MAPS_AT_ONCE, "mapreduce.task.timeout": "1000", "mapreduce.map.maxattempts": "1"})


def test_attempts_still_running_when_the_job_fails_are_killed_not_failed(tmp_path, corpus):
    with pytest.raises(LocalJobFailed, match="map 0 fails on purpose") as failure:
        run_job(job("FirstMapFails"), corpus, tmp_path / "out", runner="local",
                properties={**TWO_MAPS_AT_ONCE, "mapreduce.map.maxattempts": "1"})
    counters = failure.value.counters
    assert job_counter(counters, names.TOTAL_LAUNCHED_MAPS) == 2
    assert job_counter(counters, names.NUM_FAILED_MAPS) == 1
    assert job_counter(counters, names.NUM_KILLED_MAPS) == 1
    assert not (tmp_path / "out").exists()


def test_the_inline_runner_runs_the_same_machine_with_one_attempt_per_task(tmp_path, corpus):
    result = run_job(job("WordCount"), corpus, tmp_path / "out", runner="inline")
    assert job_counter(result.counters, names.TOTAL_LAUNCHED_MAPS) >= 1
    assert job_counter(result.counters, names.TOTAL_LAUNCHED_REDUCES) == 2
    assert InlineRunner().config({"mapreduce.map.maxattempts": "4"}).map_attempts_max == 1
    with pytest.raises(LocalJobFailed, match="this attempt fails on purpose") as failure:
        run_job(job("FailsTwice"), corpus, tmp_path / "again", runner="inline",
                properties={"mapreduce.map.maxattempts": "4"})
    assert job_counter(failure.value.counters, names.NUM_FAILED_MAPS) == 1
    assert isinstance(failure.value.__cause__, RuntimeError)  # the user's own error, for a debugger


def test_the_local_runner_writes_a_history_file_that_job_history_prints(tmp_path, corpus):
    import subprocess
    import sys
    import time

    before = time.time()
    result = run_job(job("FailsTwice"), corpus, tmp_path / "out", runner="local",
                     properties={**TWO_MAPS_AT_ONCE, "mapreduce.map.maxattempts": "3",
                                 "mapreduce.local.jobhistory.dir": str(tmp_path / "history")})
    (path,) = (tmp_path / "history").iterdir()
    assert path.name == f"{result.job_ids[0]}.json"
    summary = json.loads(path.read_text())
    assert summary["state"] == "SUCCEEDED"
    maps = [attempt for attempt in summary["attempts"] if attempt["kind"] == "map"]
    assert [attempt["state"] for attempt in maps].count("FAILED") == 2 * len(maps) // 3
    # On the wall clock, as a cluster's history is: within this test's run, attempts after the job's start.
    for attempt in summary["attempts"]:
        assert before <= summary["start_time_s"] <= attempt["start_time_s"] <= attempt["finish_time_s"] <= time.time()
    shown = subprocess.run([sys.executable, "-m", "emrlab", "job", "-history", str(path)], capture_output=True,
                           text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert f"Hadoop job: {result.job_ids[0]}" in shown.stdout
    assert shown.stdout.count(" FAILED ") == 2 * len(maps) // 3
    assert summary["attempts"][-1]["attempt_id"] in shown.stdout


def test_a_history_directory_that_cannot_be_written_is_one_warning_and_the_job_still_succeeds(tmp_path, corpus,
                                                                                            capsys):
    (tmp_path / "history").write_text("a file where the directory would go")
    result = run_job(job("WordCount"), corpus, tmp_path / "out", runner="inline",
                     properties={"mapreduce.local.jobhistory.dir": str(tmp_path / "history" / "jobs")})
    assert (tmp_path / "out" / "_SUCCESS").exists() and result.counters
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("WARN")]
    assert len(warnings) == 1 and "could not write the job history" in warnings[0], warnings


def test_job_history_of_a_file_that_is_not_one_says_so_in_one_line(tmp_path):
    import subprocess
    import sys

    (tmp_path / "list.json").write_text("[1]")
    fields = {"job_id": "job_1_0001", "name": "wc", "user": "me", "state": "SUCCEEDED"}
    (tmp_path / "text-times.json").write_text(json.dumps({**fields, "start_time_s": "noon"}))
    (tmp_path / "bad-attempt.json").write_text(json.dumps({**fields, "attempts": [{"attempt_id": 3}]}))
    for path, message in ((tmp_path / "absent.json", "No such file"), (tmp_path / "list.json", "not a job history"),
                          (tmp_path / "text-times.json", "not a job history"),
                          (tmp_path / "bad-attempt.json", "not a job history")):
        shown = subprocess.run([sys.executable, "-m", "emrlab", "job", "-history", str(path)], capture_output=True,
                               text=True, timeout=60)
        assert shown.returncode != 0 and message in shown.stderr
        assert len(shown.stderr.strip().splitlines()) == 1, shown.stderr

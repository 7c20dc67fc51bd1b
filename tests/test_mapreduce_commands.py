"""The commands (`emrlab job run`, `examples`, `streaming`), mrjob jobs, and spills under a small buffer."""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mapreduce.api import counters as names
from tests.mapreduce_helpers import output_lines, run_job, write_corpus

JOBS = Path(__file__).parent / "mr_jobs"


def emrlab(*arguments, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emrlab", *map(str, arguments)], capture_output=True, text=True,
                          cwd=cwd, timeout=300, env={**os.environ, "EMRLAB_CLUSTER": "/nonexistent-cluster"})


@pytest.fixture
def corpus(tmp_path):
    return [write_corpus(tmp_path / "in" / f"doc-{index}.txt", 300, seed=index) for index in range(2)]


def word_counts(paths) -> dict[str, int]:
    return dict(collections.Counter("".join(Path(path).read_text(encoding="utf-8") for path in paths).split()))


def test_job_run_prints_progress_and_counters(tmp_path, corpus):
    done = emrlab("job", "run", "mapreduce/examples/wordcount.py", "-r", "local", *corpus, "-o", tmp_path / "out",
                  "--reducers", "3", "-D", "mapreduce.task.io.sort.mb=1", cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr
    assert " map 100% reduce 100%" in done.stderr
    assert "completed successfully" in done.stderr and "Map input records=600" in done.stderr
    assert len(list((tmp_path / "out").glob("part-r-*"))) == 3


def test_input_patterns_expand_as_in_file_input_format(tmp_path, corpus):
    (tmp_path / "in" / "notes.log").write_text("not words to count\n")
    done = emrlab("job", "run", "mapreduce/examples/wordcount.py", "-r", "local", tmp_path / "in" / "doc-*.txt",
                  "-o", tmp_path / "out", "-q", cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr
    got = {word: int(count) for word, count in (line.split("\t") for line in output_lines(tmp_path / "out"))}
    assert got == word_counts(corpus)
    nothing = emrlab("job", "run", "mapreduce/examples/wordcount.py", "-r", "local", tmp_path / "in" / "x*",
                     "-o", tmp_path / "out2", cwd=Path(__file__).parent.parent)
    assert nothing.returncode != 0 and "matches 0 files" in nothing.stderr


def test_a_job_file_is_its_own_command_line(tmp_path, corpus):
    done = subprocess.run([sys.executable, "mapreduce/examples/wordcount.py",
                           "-r", "inline", *map(str, corpus), "-o", str(tmp_path / "out"), "-q"],
                          capture_output=True, text=True, cwd=Path(__file__).parent.parent, timeout=300)
    assert done.returncode == 0, done.stderr
    got = dict(line.split("\t") for line in output_lines(tmp_path / "out"))
    assert {word: int(count) for word, count in got.items()} == word_counts(corpus)


@pytest.mark.parametrize("arguments, message", [
    (["job", "run", "missing.py", "-r", "local", "IN", "-o", "OUT"], "does not exist"),
    (["job", "run", "mapreduce/__init__.py", "-r", "local", "IN", "-o", "OUT"], "defines no job class"),
    (["job", "run", "mapreduce/examples/wordcount.py", "-r", "nowhere", "IN", "-o", "OUT"], "unknown runner"),
    (["job", "run", "mapreduce/examples/wordcount.py", "-r", "local", "missing-input", "-o", "OUT"],
     "Input path does not exist"),
    (["job", "run", "mapreduce/examples/wordcount.py", "-r", "local", "IN", "--reducers", "-1"], "must be 0 or more"),
    (["examples", "nosuch", "IN", "OUT"], "unknown example"),
    (["streaming", "-input", "IN", "-output", "OUT"], "required: -mapper"),
])
def test_bad_input_is_one_clear_line(tmp_path, arguments, message):
    (tmp_path / "IN").write_text("a b\n")
    root = Path(__file__).parent.parent
    arguments = [str(root / a) if a.startswith("mapreduce/") or a == "missing.py" else a for a in arguments]
    done = emrlab(*arguments, cwd=tmp_path)
    assert done.returncode != 0
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_existing_output_is_refused(tmp_path, corpus):
    (tmp_path / "out").mkdir()
    done = emrlab("examples", "wordcount", *corpus, tmp_path / "out", "-r", "local")
    assert done.returncode != 0 and "already exists" in done.stderr.strip().splitlines()[-1]


def test_failing_user_code_reports_the_attempts_stderr_tail(tmp_path, corpus):
    done = emrlab("job", "run", f"{JOBS / 'lab_jobs.py'}:FailingMapper", "-r", "local", *corpus, "-o",
                  tmp_path / "out", "-D", "mapreduce.map.maxattempts=2", "-q")
    assert done.returncode != 0
    assert "after 2 attempts" in done.stderr and "RuntimeError: the fox broke this mapper" in done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("runner", ["inline", "local"])
def test_streaming_with_hadoop_conventions(tmp_path, corpus, runner):
    done = emrlab("streaming", "-input", tmp_path / "in", "-output", tmp_path / "out",
                  "-mapper", "streaming_mapper.py", "-reducer", "python3 streaming_reducer.py",
                  "-combiner", "python3 streaming_reducer.py", "-numReduceTasks", "3",
                  "-file", JOBS / "streaming_mapper.py", "-file", JOBS / "streaming_reducer.py", "-r", runner,
                  cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    got = dict(line.split("\t") for line in output_lines(tmp_path / "out"))
    assert {word: int(count) for word, count in got.items()} == word_counts(corpus)
    assert "doc-0.txt=1" in done.stderr and "doc-1.txt=1" in done.stderr  # reporter:counter from stderr
    assert len(list((tmp_path / "out").glob("part-r-*"))) == 3


def test_streaming_map_only_and_failing_commands(tmp_path, corpus):
    done = emrlab("streaming", "-input", corpus[0], "-output", tmp_path / "out", "-mapper", "tr a-z A-Z",
                  "-reducer", "NONE", "-r", "local", "-q")
    assert done.returncode == 0, done.stderr
    assert sorted(path.name for path in (tmp_path / "out").iterdir())[1:] == ["part-m-00000", "part-m-00001"]
    ascii_upper = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    assert output_lines(tmp_path / "out") == corpus[0].read_text(encoding="utf-8").translate(ascii_upper).splitlines()
    failed = emrlab("streaming", "-input", corpus[0], "-output", tmp_path / "fail", "-mapper", "cat; exit 3",
                    "-D", "mapreduce.map.maxattempts=2", "-r", "local", "-q")
    assert failed.returncode != 0 and "subprocess failed with code 3" in failed.stderr
    assert not (tmp_path / "fail").exists()


@pytest.mark.parametrize("runner", ["inline", "local"])
def test_an_unmodified_mrjob_job_with_its_protocols(tmp_path, corpus, runner):
    run_job(f"{JOBS / 'mr_word_freq.py'}:MRWordFreqCount", corpus, tmp_path / "out", runner)
    got = {json.loads(key): json.loads(value) for key, value in
           (line.split("\t") for line in output_lines(tmp_path / "out"))}
    import re
    expected = collections.Counter(word.lower() for path in corpus
                                   for word in re.findall(r"[\w']+", path.read_text(encoding="utf-8")))
    assert got == dict(expected)


def test_a_multi_step_mrjob_job_with_passthrough_arguments(tmp_path, corpus):
    done = emrlab("job", "run", JOBS / "mr_most_used_word.py", "-r", "local", *corpus, "-o", tmp_path / "out",
                  "--min-length", "4", "-q")
    assert done.returncode == 0, done.stderr
    counts = collections.Counter(word.lower() for word in "".join(p.read_text(encoding="utf-8") for p in corpus).split()
                                 if len(word) >= 4)
    best = max((count, word) for word, count in counts.items())
    assert output_lines(tmp_path / "out") == [f"{best[0]}\t{json.dumps(best[1])}"]


@pytest.mark.parametrize("runner", ["inline", "local"])
def test_a_tiny_sort_buffer_spills_and_merges_and_still_counts_right(tmp_path, corpus, runner):
    result = run_job("mapreduce.examples.wordcount:WordCount", corpus, tmp_path / "out", runner, properties={
        "mapreduce.task.io.sort.mb": "0.002", "mapreduce.task.io.sort.factor": "2",
        "mapreduce.reduce.memory.mb": "0", "mapreduce.job.maps": "5"})
    got = dict(line.split("\t") for line in output_lines(tmp_path / "out"))
    assert {word: int(count) for word, count in got.items()} == word_counts(corpus)
    counters = result.counters
    assert counters.task(names.SPILLED_RECORDS) > counters.task(names.COMBINE_OUTPUT_RECORDS)  # spills were merged
    assert counters.task(names.MAP_OUTPUT_RECORDS) == counters.task(names.COMBINE_INPUT_RECORDS)


def test_secondary_sort_gives_values_in_order(tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("".join(f"{key} {value}\n" for key, value in [("b", 3), ("a", 9), ("b", 1), ("a", -2), ("b", 2)] * 3))
    run_job(f"{JOBS / 'sorted_values.py'}:SortedValues", [source], tmp_path / "out", "local",
            properties={"mapreduce.task.io.sort.mb": "0.0001"})
    assert sorted(output_lines(tmp_path / "out")) == ["a\t[-2,-2,-2,9,9,9]", "b\t[1,1,1,2,2,2,3,3,3]"]

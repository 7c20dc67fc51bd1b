"""Bad input a new user types, on the job commands: one clear line and a non-zero exit, or the right result."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hdfs.errors import AccessControl, FileAlreadyExists, FileNotFound, InvalidPath

WORDCOUNT = Path(__file__).parent.parent / "mapreduce" / "examples" / "wordcount.py"


def emrlab(*arguments, cwd, stdin=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emrlab", *map(str, arguments)], capture_output=True, text=True,
                          cwd=cwd, timeout=300, input=stdin,
                          env={**os.environ, "EMRLAB_CLUSTER": str(cwd / "no-cluster")})


@pytest.fixture
def words(tmp_path):
    path = tmp_path / "words.txt"
    path.write_text("b a\nc a\n")
    return path


@pytest.mark.parametrize("definition, message", [
    ("mapreduce.job.reduces=-1", "must be 0 (map-only) or more"),
    ("mapreduce.task.io.sort.mb=lots", "mapreduce.task.io.sort.mb: invalid number 'lots'"),
    ("mapreduce.task.io.sort.mb=0", "Invalid \"mapreduce.task.io.sort.mb\""),
    ("dfs.replication=-2", "Requested replication factor of -2 is less than the required minimum of 1"),
    ("dfs.replication=0", "Requested replication factor of 0 is less than the required minimum of 1"),
    ("mapreduce.map.maxattempts=0", "at least 1 attempt"),
    ("stream.num.map.output.key.fields=0", "stream.num.map.output.key.fields: must be 1 or more"),
])
def test_bad_typed_keys_are_refused_at_submission(tmp_path, words, definition, message):
    done = emrlab("examples", "wordcount", words, tmp_path / "out", "-D", definition, "-r", "local", cwd=tmp_path)
    assert done.returncode != 0 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.strip().splitlines()[-1].count(message) == 1
    assert "map 0%" not in done.stderr and not (tmp_path / "out").exists()


def test_one_default_runner_rule_said_in_one_line(tmp_path, words):
    for command in (["job", "run", WORDCOUNT, words, "-o", tmp_path / "o1"],
                    ["examples", "wordcount", words, tmp_path / "o2"],
                    ["streaming", "-input", words, "-output", tmp_path / "o3", "-mapper", "cat"]):
        done = emrlab(*command, "-q", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert "no cluster is running" in done.stderr and "local runner" in done.stderr


def test_without_an_output_the_output_goes_to_stdout_and_dash_reads_stdin(tmp_path):
    done = emrlab("examples", "wordcount", "-", "-", "-q", "-r", "local", cwd=tmp_path, stdin="b a\nc a\n")
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.splitlines()) == ["a\t2", "b\t1", "c\t1"]
    done = emrlab("job", "run", WORDCOUNT, "-", "-q", "-r", "inline", cwd=tmp_path,
                  stdin="x y x\n")
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.splitlines()) == ["x\t2", "y\t1"]
    assert list(tmp_path.iterdir()) == []  # nothing left behind


def test_hdfs_errors_are_the_matching_python_built_ins():
    assert isinstance(FileNotFound("File /x does not exist"), FileNotFoundError)
    assert isinstance(FileAlreadyExists("exists"), FileExistsError)
    assert isinstance(AccessControl("Permission denied"), PermissionError)
    assert isinstance(InvalidPath("bad"), ValueError)
    with pytest.raises(OSError, match="does not exist"):
        raise FileNotFound("File /x does not exist")


def test_an_unknown_command_is_one_line_with_a_hint(tmp_path):
    done = emrlab("stremaing", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        "emrlab: unknown command 'stremaing' (did you mean streaming? emrlab --help lists the commands)"]


def test_undecodable_lines_reach_a_python_mapper_as_mrjob_decodes_them(tmp_path):
    source = tmp_path / "bad.txt"
    source.write_bytes(b"caf\xe9 ok\nna\xefve caf\xc3\xa9\n")
    done = emrlab("examples", "wordcount", source, "-", "-r", "inline", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    # UTF-8 where the line is UTF-8, else latin-1 for the whole line (mrjob's RawValueProtocol)
    assert sorted(done.stdout.splitlines()) == sorted(["café\t1", "ok\t1", "naïve\t1", "cafÃ©\t1"])


def test_a_python_mapper_that_counts_and_returns_none(tmp_path):
    job = tmp_path / "count_lines.py"
    job.write_text("from mapreduce import Job\n\n\nclass CountLines(Job):\n"
                   "    def mapper_init(self):\n        self.lines = 0\n\n"
                   "    def mapper(self, _, line):\n        self.lines += 1\n\n"
                   "    def mapper_final(self):\n        yield 'lines', self.lines\n\n"
                   "    def reducer(self, key, counts):\n        yield key, sum(counts)\n")
    (tmp_path / "in.txt").write_text("a\nb\nc\n")
    done = emrlab("job", "run", job, tmp_path / "in.txt", "-r", "local", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["lines\t3"]

"""mrjob's job API on emrlab, feature by feature, through `emrlab job run` as a user types it.

Each job is run from a directory that is not the job's own (support files are
found as mrjob finds them, next to the job's file), and compared with mrjob's
own local runner where that runner can run it.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

pytest.importorskip("mrjob")

from mapreduce.streaming.loader import load_job_class  # noqa: E402
from tests.mapreduce_helpers import output_lines  # noqa: E402

JOBS = Path(__file__).parent / "mr_jobs"
ROOT = Path(__file__).parent.parent


def emrlab(*arguments, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emrlab", *map(str, arguments)], capture_output=True, text=True,
                          cwd=cwd, timeout=300, env={**os.environ, "EMRLAB_CLUSTER": "/nonexistent-cluster",
                                                     "PYTHONPATH": str(ROOT)})


@pytest.fixture
def text(tmp_path) -> list[Path]:
    paths = []
    for index, body in enumerate(["b a c\nskip this line\na a\n", "c b\nskip\n\n"]):
        path = tmp_path / "in" / f"t{index}.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_text(body)
        paths.append(path)
    return paths


def mrjob_local(job: Path, inputs, *arguments) -> list[str]:
    instance = load_job_class(str(job))(args=["-r", "local", "--no-conf", "-q", *map(str, inputs), *arguments])
    with instance.make_runner() as runner:
        try:
            runner.run()
            return b"".join(runner.cat_output()).decode().splitlines()
        finally:
            # mrjob's setup wrapper locks a file in /tmp (hard-coded) that it never removes.
            Path(f"/tmp/wrapper.lock.{runner.get_job_key()}").unlink(missing_ok=True)


@pytest.mark.parametrize("runner", ["inline", "local"])
def test_support_files_arguments_protocols_and_jobconf(tmp_path, text, runner):
    extra = tmp_path / "extra.txt"
    extra.write_text("from --extra")
    shipped = tmp_path / "local-name.txt"
    shipped.write_text("from --files")
    with tarfile.open(tmp_path / "bundle.tar.gz", "w:gz") as bundle:
        bundle.add(extra, arcname="inside.txt")
    done = emrlab("job", "run", JOBS / "mr_support_files.py", "-r", runner, *text, "-o", tmp_path / "out",
                  "--who", "L", "--extra", extra, "--files", f"{shipped}#shipped.txt",
                  "--archives", f"{tmp_path / 'bundle.tar.gz'}#unpacked", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    got = dict(tuple(ast.literal_eval(field) for field in line.split("\t")) for line in output_lines(tmp_path / "out"))
    assert got == {
        ("greeting", "L"): "hello from FILES", ("words", "L"): ["alpha", "beta"], ("lines", "L"): 6,
        ("jobconf", "colour"): "blue", ("jobconf", "flag"): "true", ("jobconf", "step"): "one",
        ("extra", "extra.txt"): "from --extra", ("files", "shipped.txt"): "from --files",
        ("archive", "unpacked"): ["inside.txt"]}
    assert "lines=6" in done.stderr  # increment_counter from a mapper that returns None


def test_required_arguments_and_load_args_checks_are_one_line(tmp_path, text):
    missing = emrlab("job", "run", JOBS / "mr_support_files.py", "-r", "inline", *text, "-o", tmp_path / "o1",
                     cwd=tmp_path)
    assert missing.returncode != 0 and "--who" in missing.stderr and "Traceback" not in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    refused = emrlab("job", "run", JOBS / "mr_support_files.py", "-r", "inline", *text, "-o", tmp_path / "o2",
                     "--who", "bad", cwd=tmp_path)
    assert refused.returncode != 0 and "--who must not be bad" in refused.stderr
    assert "Traceback" not in refused.stderr
    absent = emrlab("job", "run", JOBS / "mr_support_files.py", "-r", "inline", *text, "-o", tmp_path / "o3",
                    "--who", "L", "--files", tmp_path / "nothing.txt", cwd=tmp_path)
    assert absent.returncode != 0 and "nothing.txt: no such file" in absent.stderr


@pytest.mark.parametrize("runner", ["inline", "local"])
def test_pre_filters_and_commands_give_mrjobs_answer(tmp_path, text, runner):
    done = emrlab("job", "run", JOBS / "mr_filters_and_commands.py", "-r", runner, *text, "-o", tmp_path / "out",
                  cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    expected = mrjob_local(JOBS / "mr_filters_and_commands.py", text)
    assert sorted(output_lines(tmp_path / "out")) == sorted(expected) == ['"a"\t3', '"b"\t2', '"c"\t2']


@pytest.mark.parametrize("job, why", [("MRJarStep", "JarStep runs a Java jar"), ("MRSparkStep", "SparkStep runs on Spark")])
def test_jar_and_spark_steps_are_refused_with_the_reason(tmp_path, text, job, why):
    done = emrlab("job", "run", f"{JOBS / 'mr_other_steps.py'}:{job}", "-r", "inline", *text, "-o", tmp_path / "out",
                  cwd=tmp_path)
    assert done.returncode != 0 and why in done.stderr and "Traceback" not in done.stderr


def test_undecodable_bytes_pass_through_as_in_mrjob(tmp_path):
    source = tmp_path / "bytes.txt"
    source.write_bytes(b"caf\xe9 ok\n\xff\xfe raw\n")
    job = JOBS / "mr_word_freq.py"
    done = emrlab("job", "run", job, "-r", "inline", source, "-o", tmp_path / "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    got = b"".join(path.read_bytes() for path in sorted((tmp_path / "out").glob("part-*")))
    assert sorted(got.splitlines()) == sorted(line.encode() for line in mrjob_local(job, [source]))

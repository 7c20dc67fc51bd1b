"""mrjob's own example jobs, as shipped in the installed mrjob package, on emrlab's runners.

Each job runs unmodified on the inline, local and cluster runners, and its
output is compared with what mrjob's own runner gives for the same input
(mrjob's inline runner, or its local runner for the jobs that run commands,
which mrjob's inline runner refuses). Part files come in any order, so lines
are compared as sorted lists; floats are compared to 9 digits (a reducer's
sum of floats depends on the order of its values, which neither Hadoop nor
mrjob fixes); input paths are compared by file name.
"""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path

import pytest

mrjob = pytest.importorskip("mrjob")

from conftest import ClusterPool  # noqa: E402
from mapreduce.api.errors import JobFailed  # noqa: E402
from mapreduce.streaming.loader import load_job_class  # noqa: E402
from tests.mapreduce_helpers import output_lines, run_job  # noqa: E402
from tests.test_mapreduce_cluster import MR_FAST_PROPERTIES, output_of, run_on_cluster  # noqa: E402

EXAMPLES_DIR = Path(mrjob.__file__).parent / "examples"
DOCS = sorted((EXAMPLES_DIR / "docs-to-classify").glob("*.txt"))
TEXT = [
    "The quick brown fox jumps over the lazy dog.\n"
    "Unusual universes hum; the fox runs.\n"
    "\n"
    "a fox, a dog, a cup of tea; such fun\n",
    "Our union of United States\n"
    "the dog sleeps under the sun\n"
    "fox fox fox unique\n",
]
# name -> (job arguments, runner mrjob's reference runs on)
EXAMPLES = {
    "mr_wc": ((), "inline"),
    "mr_count_lines_right": ((), "inline"),
    "mr_count_lines_by_file": ((), "inline"),
    "mr_most_used_word": ((), "inline"),
    "mr_grep": (("-e", "fox"), "local"),
    "mr_log_sampler": (("--sample-size", "1000"), "inline"),
    "mr_next_word_stats": ((), "inline"),
    "mr_nick_nack": ((), "inline"),
    "mr_text_classifier": ((), "inline"),
    "mr_word_freq_count": ((), "inline"),
    "mr_words_containing_u_freq_count": ((), "local"),
}


@pytest.fixture(scope="module")
def text_inputs(tmp_path_factory) -> list[Path]:
    directory = tmp_path_factory.mktemp("mrjob-input")
    paths = []
    for index, text in enumerate(TEXT):
        path = directory / f"part-{index}.txt"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def inputs_for(name: str, text_inputs) -> list[Path]:
    return DOCS if name == "mr_text_classifier" else text_inputs


def job_reference(name: str) -> str:
    path = EXAMPLES_DIR / f"{name}.py"
    return f"{path}:{load_job_class(str(path)).__name__}"


@functools.cache
def mrjob_output(name: str, inputs: tuple[str, ...]) -> list:
    """The job's output on mrjob's own runner, normalized."""
    arguments, runner = EXAMPLES[name]
    job = load_job_class(str(EXAMPLES_DIR / f"{name}.py"))(args=["-r", runner, "--no-conf", "-q", *inputs,
                                                                    *arguments])
    with job.make_runner() as mrjob_runner:
        try:
            mrjob_runner.run()
            lines = b"".join(mrjob_runner.cat_output()).decode("utf-8").splitlines()
        finally:
            # mrjob's setup wrapper locks a file in /tmp (hard-coded) that it never removes.
            Path(f"/tmp/wrapper.lock.{mrjob_runner.get_job_key()}").unlink(missing_ok=True)
    return normalized(lines)


def normalized(lines: list[str]) -> list:
    return sorted("\t".join(json.dumps(_field(field), sort_keys=True) for field in line.split("\t")) for line in lines)


def _field(text: str):
    try:
        return _rounded(json.loads(text))
    except ValueError:
        return text


def _rounded(value):
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, str) and re.search(r"part-\d\.txt$", value):
        return os.path.basename(value)  # an input path: file://part-0.txt, /tmp/.../part-0.txt, hdfs://...
    return value


@pytest.mark.parametrize("runner", ["inline", "local"])
@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_mrjob_examples_give_mrjobs_answers(tmp_path, text_inputs, name, runner):
    inputs = inputs_for(name, text_inputs)
    run_job(job_reference(name), inputs, tmp_path / "out", runner, arguments=EXAMPLES[name][0])
    assert normalized(output_lines(tmp_path / "out")) == mrjob_output(name, tuple(map(str, inputs)))


@pytest.mark.parametrize("runner", ["inline", "local"])
def test_mr_boom_fails_as_it_means_to(tmp_path, text_inputs, runner):
    with pytest.raises(JobFailed, match="BOOM"):
        run_job(job_reference("mr_boom"), text_inputs, tmp_path / "out", runner,
                properties={"mapreduce.map.maxattempts": "1"})
    assert not (tmp_path / "out" / "_SUCCESS").exists()


# ---------------------------------------------------------------- on the cluster


@pytest.fixture(scope="module")
def mrjob_cluster(tmp_path_factory, text_inputs):
    pool = ClusterPool(lambda: tmp_path_factory.mktemp("mrjobcluster"))
    cluster = pool.start(core=2, task=0, properties=MR_FAST_PROPERTIES, services=("hdfs", "yarn"))
    client = cluster.client()
    for directory, paths in (("/mrjob/text", text_inputs), ("/mrjob/docs", DOCS)):
        client.mkdirs(directory)
        for path in paths:
            client.write_bytes(f"{directory}/{path.name}", path.read_bytes())
    yield cluster
    pool.close()


@pytest.mark.cluster
def test_mrjob_examples_on_the_cluster_give_mrjobs_answers(mrjob_cluster, text_inputs):
    client = mrjob_cluster.client()
    for name in sorted(EXAMPLES):
        inputs = inputs_for(name, text_inputs)
        directory = "/mrjob/docs" if name == "mr_text_classifier" else "/mrjob/text"
        run_on_cluster(mrjob_cluster, job_reference(name), [directory], f"/out/{name}",
                       {"mapreduce.job.reduces": "2"}, arguments=EXAMPLES[name][0])
        assert normalized(output_of(client, f"/out/{name}")) == mrjob_output(name, tuple(map(str, inputs))), name


@pytest.mark.cluster
def test_mr_boom_fails_on_the_cluster_with_its_error(mrjob_cluster):
    with pytest.raises(JobFailed, match="BOOM"):
        run_on_cluster(mrjob_cluster, job_reference("mr_boom"), ["/mrjob/text"], "/out/mr_boom",
                       {"mapreduce.map.maxattempts": "1"})


@pytest.mark.cluster
def test_support_files_dirs_and_archives_reach_tasks_on_the_cluster(mrjob_cluster, tmp_path):
    import ast
    import tarfile

    jobs = Path(__file__).parent / "mr_jobs"
    extra = tmp_path / "extra.txt"
    extra.write_text("from --extra")
    with tarfile.open(tmp_path / "bundle.tgz", "w:gz") as bundle:
        bundle.add(extra, arcname="inside.txt")
    run_on_cluster(mrjob_cluster, f"{jobs / 'mr_support_files.py'}:MRSupportFiles", ["/mrjob/text"], "/out/support",
                   arguments=("--who", "C", "--extra", str(extra), "--archives", f"{tmp_path / 'bundle.tgz'}#unpacked"))
    got = dict(tuple(ast.literal_eval(field) for field in line.split("\t"))
               for line in output_of(mrjob_cluster.client(), "/out/support"))
    assert got[("greeting", "C")] == "hello from FILES" and got[("words", "C")] == ["alpha", "beta"]
    assert got[("lines", "C")] == sum(text.count("\n") for text in TEXT)
    assert got[("extra", "extra.txt")] == "from --extra" and got[("archive", "unpacked")] == ["inside.txt"]

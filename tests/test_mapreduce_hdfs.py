"""Jobs that read and write HDFS: the engine's file system layer against a real cluster."""

from __future__ import annotations

import collections

import pytest

from mapreduce.api import counters as names
from mapreduce.api.fs import HdfsFileSystem
from mapreduce.api.spec import JobSpec
from mapreduce.runners import runner_class
from mapreduce.runners.monitor import JobMonitor
from mapreduce.task.config import TaskConfig
from mapreduce.task.splits import compute_splits
from tests.mapreduce_helpers import write_corpus

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def hdfs(tmp_path_factory, shared_cluster):
    corpus = write_corpus(tmp_path_factory.mktemp("corpus") / "words.txt", 40000, seed=3)
    client = shared_cluster.client()
    client.upload(corpus, "/data/words.txt", block_size_bytes=1 << 20)
    return shared_cluster, client, collections.Counter(corpus.read_text(encoding="utf-8").split())


def read_output(client, directory: str) -> list[str]:
    names_ = [status.name for status in client.list(directory)]
    assert "_SUCCESS" in names_ and "_temporary" not in names_
    lines = []
    for name in sorted(name for name in names_ if name.startswith("part-")):
        lines += client.read_bytes(f"{directory}/{name}").decode("utf-8").splitlines()
    return lines


def test_splits_follow_hdfs_blocks_and_their_hosts(hdfs):
    cluster, client, _ = hdfs
    splits = compute_splits(HdfsFileSystem(client), ["hdfs:///data/words.txt"], TaskConfig(maps=1))
    locations = client.block_locations("/data/words.txt")
    assert [split.offset for split in splits] == [location.offset_bytes for location in locations]
    assert all(set(split.hosts) == set(location.hosts) and split.hosts for split, location in zip(splits, locations))


@pytest.mark.parametrize("runner", ["inline", "local"])
def test_wordcount_from_hdfs_to_hdfs(hdfs, runner):
    cluster, client, expected = hdfs
    spec = JobSpec("mapreduce.examples.wordcount:WordCount", ("hdfs:///data/words.txt",), f"hdfs:///out/wc-{runner}",
                   cluster_dir=str(cluster.cluster_dir.root))
    result = runner_class(runner)().run(spec, JobMonitor(quiet=True))
    got = dict(line.split("\t") for line in read_output(client, f"/out/wc-{runner}"))
    assert {word: int(count) for word, count in got.items()} == dict(expected)
    assert result.counters.get(names.FILE_SYSTEM_COUNTER, "HDFS_BYTES_READ") == client.status("/data/words.txt").length_bytes
    assert result.counters.get(names.FILE_SYSTEM_COUNTER, "HDFS_BYTES_WRITTEN") > 0
    assert result.counters.get(names.JOB_COUNTER, names.TOTAL_LAUNCHED_MAPS) >= 2


def test_a_multi_step_job_on_hdfs_leaves_no_intermediate_output(hdfs):
    cluster, client, expected = hdfs
    before = {status.path for status in client.list("/")}
    spec = JobSpec("mapreduce.examples.grep:Grep", ("hdfs:///data/words.txt",), "hdfs:///out/grep",
                   job_arguments=("--pattern", r"\bthe\b"), cluster_dir=str(cluster.cluster_dir.root))
    runner_class("local")().run(spec, JobMonitor(quiet=True))
    assert read_output(client, "/out/grep") == [f"the\t{expected['the']}"]
    assert {status.path for status in client.list("/")} - before <= {"/out", "/tmp"}
    if client.exists("/tmp"):
        assert not [status for status in client.list("/tmp") if status.name.startswith("emrlab-job-")]

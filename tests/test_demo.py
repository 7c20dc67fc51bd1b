"""`emrlab demo`, as a new user runs it: the whole stack, a right answer, nothing left behind."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter

import pytest

from emrlab import launcher
from emrlab.controller import launch
from emrlab.corpus import corpus_chunks
from emrlab_common.clusterdir import ClusterDir

DEMO_TIMEOUT_S = 300
SIZE = "5m"  # two 4 MiB blocks: two map tasks


def run_demo(*arguments: str, directory=None) -> subprocess.CompletedProcess:
    prefix = ["--dir", str(directory)] if directory else []
    return subprocess.run([sys.executable, "-m", "emrlab", *prefix, "demo", *arguments], capture_output=True,
                          text=True, timeout=DEMO_TIMEOUT_S, env=dict(os.environ, EMRLAB_CLUSTER=os.devnull))


@pytest.fixture
def demo_dir(tmp_path):
    directory = tmp_path / "demo-cluster"
    yield directory
    launch.down(ClusterDir(directory), timeout_s=5)


def printed_top_words(stdout: str) -> dict[str, int]:
    section = stdout.split("most frequent words", 1)[1].split("distinct words", 1)[0]
    return {word: int(count.replace(",", "")) for word, count in re.findall(r"^\s+(\S+)\s+([\d,]+)$", section, re.M)}


def test_demo_counts_words_right_and_can_keep_then_reuse_its_cluster(demo_dir):
    first = run_demo("--size", SIZE, "--keep", "--core", "2", "--task", "1", directory=demo_dir)
    assert first.returncode == 0, first.stderr
    job_output = first.stderr  # progress and counters go to stderr, as Hadoop's client prints them
    assert "completed successfully" in job_output
    assert "map 100% reduce 100%" in job_output
    # Two blocks, two maps; an attempt killed with the interrupted spot node is launched again.
    assert int(re.search(r"Launched map tasks=(\d+)", job_output).group(1)) >= 2
    assert "EC2 interrupts task-1" in first.stdout
    assert "Server.SpotInstanceTermination" in first.stdout  # task-1's line in the instance list
    assert "spot saved" in first.stdout
    reference = Counter(b"".join(corpus_chunks(5 << 20)).decode().split())
    top = printed_top_words(first.stdout)
    assert len(top) == 10
    assert top == dict(reference.most_common(10))
    assert launcher.running_daemons(ClusterDir(demo_dir)), "--keep leaves the cluster running"

    second = run_demo("--size", "1m", directory=demo_dir)
    assert second.returncode == 0, second.stderr
    assert "Using the cluster already running" in second.stdout
    assert launcher.running_daemons(ClusterDir(demo_dir)), "a cluster the demo did not start is left running"


def test_demo_tears_down_what_it_started(demo_dir):
    result = run_demo("--size", "1m", "--core", "1", "--task", "0", directory=demo_dir)
    assert result.returncode == 0, result.stderr
    assert "Stopped the cluster" in result.stdout
    assert not launcher.running_daemons(ClusterDir(demo_dir))


def test_demo_rejects_a_bad_size():
    result = run_demo("--size", "lots")
    assert result.returncode != 0
    assert result.stderr.startswith("emrlab demo: ") and "Traceback" not in result.stderr

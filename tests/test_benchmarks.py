"""The benchmark suite: a tiny run of the real command, and the checks that make it honest."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import engines, suite
from benchmarks.suite import (
    BenchmarkFailed,
    cached_corpus,
    check_sorted_and_complete,
    fingerprint,
    input_fingerprint,
    same_output,
    scaling,
)

ROOT = Path(__file__).parent.parent


def test_a_tiny_run_checks_every_job_and_writes_a_table_and_json(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "run", "--sizes", "48k,96k", "--engines", "python,python-mp,emrlab-local",
         "--runs", "1", "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, cwd=ROOT, timeout=240)
    assert done.returncode == 0, done.stderr
    assert "wordcount" in done.stdout and "emrlab-local" in done.stdout and "ratio" in done.stdout
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert {(row["job"], row["engine"]) for row in results["summary"]} == {
        (job, engine) for job in ("wordcount", "grep", "sort", "invertedindex")
        for engine in ("python", "python-mp", "emrlab-local")}
    assert all(row["wall_s"] > 0 and row["cpu_s"] > 0 for row in results["summary"])
    local = [row for row in results["summary"] if row["engine"] == "emrlab-local"]
    assert all(0 < row["first_task_s"] < row["wall_s"] for row in local)  # from its job history
    assert results["machine"]["cpus"] >= 1


def test_a_bad_engine_or_job_is_one_clear_line(tmp_path):
    for flag, value in (("--engines", "hadoop"), ("--jobs", "pagerank"), ("--instance-type", "m5.huge"),
                        ("-D", "emrlab.map.fuse")):
        done = subprocess.run([sys.executable, "-m", "benchmarks", "run", flag, value, "--sizes", "8k",
                               "--cache-dir", str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert done.returncode != 0 and "Traceback" not in done.stderr
        assert value in done.stderr.strip().splitlines()[-1]


def test_an_engine_interrupted_while_it_starts_is_stopped_with_the_others(tmp_path, monkeypatch):
    stopped = []

    class Engine(engines.Engine):
        def __init__(self, name, interrupt=False):
            self.name, self.interrupt = name, interrupt

        def start(self, corpora, work):
            if self.interrupt:  # as Ctrl-C comes while the cluster's corpus is uploaded
                raise KeyboardInterrupt

        def stop(self):
            stopped.append(self.name)

    monkeypatch.setattr(suite, "make_engines", lambda *arguments: [Engine("first"), Engine("second", True)])
    options = argparse.Namespace(sizes="8k", jobs="wordcount", engines="first,second", core_nodes=3,
                                 block_size="64m", instance_type=None, defines=[], cache_dir=str(tmp_path),
                                 seed=1, runs=1)
    with pytest.raises(KeyboardInterrupt):
        suite.run_suite(options)
    assert stopped == ["first", "second"]


def test_a_define_reaches_the_emrlab_engines_runs_and_no_other():
    from benchmarks.engines import make_engines

    engines = make_engines(["emrlab-local", "emrlab-cluster", "python"], 3, "64m", defines=["emrlab.map.fuse=false"])
    for engine in engines[:2]:
        command = engine.command("wordcount", ["in"], "out")
        assert command[command.index("emrlab.map.fuse=false") - 1] == "-D"
    assert "emrlab.map.fuse=false" not in engines[2].command("wordcount", ["in"], "out")


def test_the_fusion_comparison_runs_all_three_ways_and_checks_their_output():
    done = subprocess.run([sys.executable, "-m", "benchmarks.profile_map", "--size", "64k", "--compare-fusion",
                           "--repeat", "1"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "same file.out" in done.stdout and "fused / generator:" in done.stdout \
        and "default / generator:" in done.stdout
    done = subprocess.run([sys.executable, "-m", "benchmarks.profile_map", "--size", "64k", "--counting"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "in the corpus's order" in done.stdout and "from the 2,000 most frequent" in done.stdout


def test_an_instance_type_scales_each_core_node_to_the_machine_as_cluster_up_does():
    from benchmarks.engines import node_offers

    offers = node_offers("m5.xlarge", 3, capacity=(2, 24_000))
    assert sorted(offers) == ["core-1", "core-2", "core-3"]
    vcores = [int(arguments[3].rpartition("=")[2]) for arguments in offers.values()]
    assert sum(vcores) == 3  # 2 cores: an ApplicationMaster and one task per core, not 12 slots
    assert all(arguments[1].startswith("yarn.nodemanager.resource.memory-mb=") for arguments in offers.values())


def test_engines_that_disagree_fail_the_run():
    same = fingerprint([b"a\t1", b"b\t2"])
    same_output("wordcount", {"python": same, "emrlab-local": fingerprint([b"b\t2", b"a\t1"])})  # any order
    with pytest.raises(BenchmarkFailed, match="emrlab-local's output differs from python's"):
        same_output("wordcount", {"python": same, "emrlab-local": fingerprint([b"a\t1", b"b\t3"])})
    with pytest.raises(BenchmarkFailed):
        same_output("sort", {"python": same, "spark-df": fingerprint([b"b\t2", b"a\t1"])})  # order matters


def test_sort_output_must_be_ordered_and_complete(tmp_path):
    files = cached_corpus(tmp_path, 20_000, seed=3)
    assert cached_corpus(tmp_path, 20_000, seed=3) == files and len(files) == 4  # cached, not rewritten
    assert sum(path.stat().st_size for path in files) == 20_000
    lines = [line for path in files for line in path.read_bytes().split(b"\n")[:-1]]
    source = input_fingerprint(files)
    check_sorted_and_complete(fingerprint(sorted(lines)), source)
    with pytest.raises(BenchmarkFailed, match="not in order"):
        check_sorted_and_complete(fingerprint(lines), source)
    with pytest.raises(BenchmarkFailed, match="exactly the input"):
        check_sorted_and_complete(fingerprint(sorted(lines)[1:]), source)


def test_scaling_finds_the_fixed_cost_and_says_whether_time_grows_linearly():
    def rows(wall):
        return [{"job": "sort", "engine": "python", "size_bytes": size * 1e6, "wall_s": wall(size)} for size in (4, 16, 64)]

    (linear,) = scaling(rows(lambda size: 2 + 0.5 * size))
    assert abs(linear["fixed_s"] - 2) < 1e-9 and abs(linear["per_mb_s"] - 0.5) < 1e-9 and abs(linear["growth"] - 1) < 1e-9
    (quadratic,) = scaling(rows(lambda size: 2 + 0.5 * size + 0.01 * size * size))
    assert quadratic["growth"] > 1.15


def test_both_spark_apis_sort_as_plain_python_does(tmp_path):
    from mapreduce.runners.spark import spark_missing

    if spark_missing():
        pytest.skip(spark_missing())
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "run", "--sizes", "32k", "--engines", "python,spark-rdd,spark-df",
         "--jobs", "sort", "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert set(results["startup_s"]) == {"spark-rdd", "spark-df"}  # reported apart from the jobs
    spark_rows = [row for row in results["summary"] if row["engine"].startswith("spark")]
    assert len(spark_rows) == 2 and all(row["cpu_s"] > 1 for row in spark_rows)  # the JVM's CPU is counted


def test_the_issues_growth_takes_the_measured_time_to_the_first_task():
    # 2 s before the first task, then 0.5 s a MB and 1 s after the last: linear work under fixed costs.
    rows = [{"job": "grep", "engine": "emrlab-local", "size_bytes": size * 1e6, "wall_s": 3 + 0.5 * size,
             "first_task_s": 2.0} for size in (16, 64)]
    (row,) = scaling(rows)
    assert row["t0_s"] == 2.0
    assert abs(row["t0_growth"] - (35 - 2) / (4 * (11 - 2))) < 1e-9  # the second fixed second shows as < 1
    (unknown,) = scaling([{**entry, "first_task_s": None} for entry in rows])
    assert unknown["t0_s"] is None and unknown["t0_growth"] is None


def test_a_measurement_waits_for_its_own_orphans_not_for_daemons_already_running():
    """The suite's cluster stays up while the other engines run: measuring one of them must not
    wait for the cluster's daemons to end as if they were that command's orphans. (In a
    subprocess: measuring makes its process a subreaper.)"""
    script = """
import subprocess, time
from benchmarks import measure
measure.ORPHANS_WAIT_S = 60
daemon = subprocess.Popen(["sleep", "20"])
measure.measure(["sh", "-c", "sleep 0.2 & exit 0"])
print("daemon running" if daemon.poll() is None else "waited for the daemon")
others = [pid for pid in measure._children_of(measure.os.getpid()) if pid != daemon.pid]
print("orphan reaped" if not others else "orphan left")
daemon.kill()
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["daemon running", "orphan reaped"]

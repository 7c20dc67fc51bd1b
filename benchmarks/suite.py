"""The benchmark suite: every engine on every job and input size, checked, tabled, saved and plotted.

    python -m benchmarks run                       # small defaults: a few minutes
    python -m benchmarks run --sizes 64m,256m,1g --runs 3      # the full matrix (or --full)
    python -m benchmarks run --engines emrlab-local,python --jobs wordcount --sizes 16m

1. The corpus (emrlab.corpus: Zipf over 100,000 words, punctuation, uneven
   lines) is written once per size as PARTS files and cached (--cache-dir).
2. Engines that need a start (the emrlab cluster) start once, timed; Spark's
   start is timed in each run. Both are reported apart, never inside a job's time.
3. Runs are interleaved: run 1 of every size, job and engine, then run 2, ...,
   with the engines' order rotated each run, so that a slow minute on a shared
   machine falls on all of them.
4. Every run's output is fingerprinted (line count and an order-independent
   hash; for sort also the order): engines that disagree fail the suite, and
   sort's output must be sorted and hold exactly the input's lines.
5. A table of medians per job: wall time, CPU time of every process involved,
   peak memory, throughput and the ratio to the emrlab cluster (or to the first
   engine); results.json with every run and the machine; results.png (time
   against input size, per engine) when matplotlib is there (emrlab[plot]).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from benchmarks.engines import ENGINES, Engine, make_engines
from benchmarks.jobs import JOBS, ORDERED_JOBS
from benchmarks.measure import CommandFailed
from emrlab.corpus import write_corpus
from emrlab_common.config import format_size, parse_size

DEFAULT_SIZES = "4m,16m"
FULL_SIZES = "64m,256m,1g"
FULL_RUNS = 3
# The cluster's nodes fit the machine, as `cluster up` sizes them: on 2 cores, m5.xlarge gives each of 3
# nodes 1 vcore (an AM and 2 tasks at once). Measured on a quiet machine (benchmarks/README.md), 1 GiB
# took 64.7 s and 107 CPU s so, against 73.1 s and 136 CPU s with Hadoop's 4 vcores a node (12 slots).
DEFAULT_INSTANCE_TYPE = "m5.xlarge"
HADOOP_DEFAULTS = "hadoop"
PARTS = 4                     # files per corpus: several maps, and an inverted index worth the name
CORPUS_VERSION = 2            # bump when emrlab.corpus changes its bytes
HASH_MODULUS = 1 << 64


class BenchmarkFailed(Exception):
    """The suite cannot go on: an engine failed or engines disagree."""


@dataclass(frozen=True)
class Fingerprint:
    """What is compared between engines: the lines as a multiset, and for ordered jobs their order."""

    lines: int
    multiset_hash: int
    ordered_hash: str
    in_order: bool


def fingerprint(lines: Iterable[bytes]) -> Fingerprint:
    count = total = 0
    ordered = hashlib.sha256()
    previous, in_order = None, True
    for line in lines:
        count += 1
        total = (total + int.from_bytes(hashlib.blake2b(line, digest_size=8).digest(), "big")) % HASH_MODULUS
        ordered.update(line + b"\n")
        if previous is not None and line < previous:
            in_order = False
        previous = line
    return Fingerprint(count, total, ordered.hexdigest(), in_order)


def same_output(job: str, fingerprints: dict[str, Fingerprint]) -> None:
    """Raise BenchmarkFailed unless every engine's output is the first one's."""
    (first, expected), *others = fingerprints.items()
    for name, got in others:
        same = (got.lines, got.multiset_hash) == (expected.lines, expected.multiset_hash)
        if job in ORDERED_JOBS:
            same = same and got.ordered_hash == expected.ordered_hash
        if not same:
            raise BenchmarkFailed(f"{job}: {name}'s output differs from {first}'s "
                                  f"({got.lines} lines against {expected.lines})")


def check_sorted_and_complete(got: Fingerprint, input_lines: Fingerprint) -> None:
    if not got.in_order:
        raise BenchmarkFailed("sort: the output is not in order")
    if (got.lines, got.multiset_hash) != (input_lines.lines, input_lines.multiset_hash):
        raise BenchmarkFailed(f"sort: the output does not hold exactly the input's lines "
                              f"({got.lines} lines, the input has {input_lines.lines})")


def cached_corpus(cache_dir: Path, size_bytes: int, seed: int) -> list[Path]:
    """PARTS files of the corpus adding up to size_bytes, written once and kept in cache_dir."""
    directory = cache_dir / f"corpus-v{CORPUS_VERSION}-{size_bytes}-seed{seed}"
    if not directory.is_dir():
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=".writing-", dir=cache_dir))
        for part in range(PARTS):
            part_bytes = size_bytes // PARTS + (size_bytes % PARTS if part == PARTS - 1 else 0)
            write_corpus(partial / f"part-{part:05d}.txt", part_bytes, seed=seed * 1000 + part)
        os.replace(partial, directory)
    return sorted(directory.glob("part-*.txt"))


def input_fingerprint(files: list[Path]) -> Fingerprint:
    def lines():
        for path in files:
            with open(path, "rb") as file:
                for line in file:
                    yield line.rstrip(b"\n")
    fingerprint_of_input = fingerprint(lines())
    return fingerprint_of_input


def machine() -> dict:
    with open("/proc/meminfo") as file:
        memory_kib = int(file.readline().split()[1])
    return {"cpus": os.cpu_count(), "memory_bytes": memory_kib * 1024, "platform": platform.platform(),
            "python": platform.python_version(), "load_average": os.getloadavg()}


def run_suite(options) -> dict:
    sizes = [(label, parse_size(label)) for label in options.sizes.split(",")]
    jobs = options.jobs.split(",")
    for job in jobs:
        if job not in JOBS:
            raise BenchmarkFailed(f"unknown job {job!r} (choose from {', '.join(JOBS)})")
    engines: list[Engine] = []
    for engine in make_engines(options.engines.split(","), options.core_nodes, options.block_size,
                               options.instance_type, options.defines):
        reason = engine.missing()
        if reason:
            if options.engines != ",".join(ENGINES):  # asked for by name: it must run
                raise BenchmarkFailed(f"engine {engine.name} cannot run here: {reason}")
            print(f"skipping {engine.name}: {reason}", file=sys.stderr)
        else:
            engines.append(engine)
    cache_dir = Path(options.cache_dir).expanduser()
    corpora = {label: cached_corpus(cache_dir, size, options.seed) for label, size in sizes}
    work = Path(tempfile.mkdtemp(prefix="emrlab-benchmarks-"))
    runs: list[dict] = []
    started_engines = []
    try:
        for engine in engines:
            print(f"starting {engine.name}...", file=sys.stderr) if engine.name == "emrlab-cluster" else None
            started_engines.append(engine)  # stopped even if its start is cut short (Ctrl-C while it uploads)
            engine.start(corpora, work)
        input_fingerprints = {}
        for run in range(options.runs):
            order = engines[run % len(engines):] + engines[:run % len(engines)]
            for label, size in sizes:
                for job in jobs:
                    fingerprints = {}
                    for engine in order:
                        output = engine.output(f"{job}-{label}-{run}")
                        try:
                            measured = engine.run(job, label, corpora[label], output)
                        except CommandFailed as error:
                            raise BenchmarkFailed(f"{engine.name} failed on {job} of {label}: {error}") from None
                        fingerprints[engine.name] = fingerprint(engine.output_lines(output))
                        engine.remove(output)
                        runs.append({"run": run, "size": label, "size_bytes": size, "job": job,
                                     "engine": engine.name, "wall_s": measured.wall_s, "cpu_s": measured.cpu_s,
                                     "peak_memory_bytes": measured.peak_memory_bytes,
                                     "first_task_s": measured.first_task_s})
                        print(f"run {run + 1}/{options.runs} {label:>5} {job:<13} {engine.name:<15}"
                              f"{measured.wall_s:8.2f} s", file=sys.stderr)
                    same_output(job, fingerprints)
                    if job == "sort":
                        if label not in input_fingerprints:
                            input_fingerprints[label] = input_fingerprint(corpora[label])
                        check_sorted_and_complete(next(iter(fingerprints.values())), input_fingerprints[label])
    finally:
        for engine in started_engines:
            engine.stop()
        shutil.rmtree(work, ignore_errors=True)
    startup = {engine.name: engine.startup_s for engine in engines if engine.startup_s is not None}
    results = {"machine": machine(), "options": vars(options), "startup_s": startup, "runs": runs,
            "summary": summarize(runs, [engine.name for engine in engines])}
    results["scaling"] = scaling(results["summary"])
    return results


def summarize(runs: list[dict], engine_names: list[str]) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
    for entry in runs:
        groups.setdefault((entry["size_bytes"], entry["job"], entry["engine"]), []).append(entry)
    reference_engine = "emrlab-cluster" if "emrlab-cluster" in engine_names else engine_names[0]
    rows = []
    for (size, job, engine), entries in groups.items():
        wall = statistics.median(entry["wall_s"] for entry in entries)
        rows.append({"size": entries[0]["size"], "size_bytes": size, "job": job, "engine": engine,
                     "runs": len(entries), "wall_s": wall,
                     "cpu_s": statistics.median(entry["cpu_s"] for entry in entries),
                     "peak_memory_bytes": statistics.median(entry["peak_memory_bytes"] for entry in entries),
                     "throughput_mb_per_s": size / 1e6 / wall if wall > 0 else 0.0, "reference": reference_engine,
                     "first_task_s": _median_or_none(entry.get("first_task_s") for entry in entries)})
    walls = {(row["size_bytes"], row["job"], row["engine"]): row["wall_s"] for row in rows}
    for row in rows:
        reference = walls.get((row["size_bytes"], row["job"], reference_engine))
        row["ratio_to_reference"] = row["wall_s"] / reference if reference else None
    order = {name: index for index, name in enumerate(engine_names)}
    rows.sort(key=lambda row: (JOBS.index(row["job"]), row["size_bytes"], order[row["engine"]]))
    return rows


def _median_or_none(values) -> float | None:
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None


def scaling(summary: list[dict]) -> list[dict]:
    """How time grows with input, per job and engine (with two sizes or more): a least-squares
    line t = fixed_s + size x per-MB cost, and, between the two largest sizes, the growth
    (t(big) - fixed) / (k (t(small) - fixed)) for k = big / small: 1.0 is linear.

    With two sizes the line goes through both points, so that growth is 1.0 whenever the fixed
    cost comes out positive. `t0_growth` is the same with t0 measured instead: the time from the
    command's start to its first task's (emrlab's runners, from the job history), a median over
    the sizes of each size's median (t0 does not depend on the input's size, so every size's
    runs estimate it)."""
    groups: dict[tuple, list[tuple[float, float]]] = {}
    first_tasks: dict[tuple, list[float]] = {}
    for row in summary:
        groups.setdefault((row["job"], row["engine"]), []).append((row["size_bytes"] / 1e6, row["wall_s"]))
        if row.get("first_task_s") is not None:
            first_tasks.setdefault((row["job"], row["engine"]), []).append(row["first_task_s"])
    rows = []
    for (job, engine), points in groups.items():
        if len(points) < 2:
            continue
        points.sort()
        sizes, times = [size for size, _ in points], [wall for _, wall in points]
        mean_size, mean_time = statistics.fmean(sizes), statistics.fmean(times)
        spread = sum((size - mean_size) ** 2 for size in sizes)
        per_mb_s = sum((size - mean_size) * (wall - mean_time) for size, wall in points) / spread
        fixed_s = max(0.0, mean_time - per_mb_s * mean_size)
        (small, t_small), (big, t_big) = points[-2], points[-1]
        growth = (t_big - fixed_s) / ((big / small) * (t_small - fixed_s)) if t_small > fixed_s else None
        t0_s = _median_or_none(first_tasks.get((job, engine), ()))
        t0_growth = ((t_big - t0_s) / ((big / small) * (t_small - t0_s))
                     if t0_s is not None and t_small > t0_s else None)
        rows.append({"job": job, "engine": engine, "fixed_s": fixed_s, "per_mb_s": per_mb_s, "growth": growth,
                     "t0_s": t0_s, "t0_growth": t0_growth})
    return rows


def print_table(results: dict) -> None:
    info = results["machine"]
    print(f"\n{info['cpus']} CPUs, {format_size(info['memory_bytes'])}B memory, {info['platform']}, "
          f"Python {info['python']}, load average at the end {info['load_average'][0]:.1f}")
    rows = results["summary"]
    if not rows:
        return
    reference = rows[0]["reference"]
    print(f"medians of {results['options']['runs']} run(s); CPU: every process involved (a cluster's daemons "
          f"included); ratio: wall time / {reference}'s\n")
    header = (f"{'job':<13} {'size':>6} {'engine':<15} {'wall s':>8} {'CPU s':>8} {'peak MB':>8} {'MB/s':>7} "
              f"{'ratio':>6}")
    print(header)
    print("-" * len(header))
    for row in rows:
        ratio = f"{row['ratio_to_reference']:.2f}" if row["ratio_to_reference"] is not None else "-"
        print(f"{row['job']:<13} {row['size']:>6} {row['engine']:<15} {row['wall_s']:8.2f} {row['cpu_s']:8.2f} "
              f"{row['peak_memory_bytes'] / 1e6:8.0f} {row['throughput_mb_per_s']:7.1f} {ratio:>6}")
    if results.get("scaling"):
        print("\nhow time grows with input (least squares t = fixed + size x cost; growth between the two "
              "largest sizes, 1.00 = linear;\nt0: the command's start to the first task's, measured, and the "
              "growth (t(big) - t0) / (k (t(small) - t0)) for k = big / small)")
        for row in results["scaling"]:
            growth = f"{row['growth']:.2f}" if row["growth"] is not None else "-"
            t0 = f"{row['t0_s']:5.2f} s" if row.get("t0_s") is not None else "    - "
            t0_growth = f"{row['t0_growth']:.2f}" if row.get("t0_growth") is not None else "-"
            print(f"{row['job']:<13} {row['engine']:<15} fixed {row['fixed_s']:6.2f} s  "
                  f"{row['per_mb_s'] * 1000:8.1f} ms/MB  growth {growth}   t0 {t0}  growth {t0_growth}")
    if results["startup_s"]:
        print("\nstart-up, not in the times above: " + ", ".join(
            f"{name} {seconds:.1f} s" for name, seconds in results["startup_s"].items()))


def plot(results: dict, path: Path) -> bool:
    """Time against input size per engine, one panel per job; False without matplotlib."""
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    from matplotlib import pyplot

    jobs = list(dict.fromkeys(row["job"] for row in results["summary"]))
    figure, axes = pyplot.subplots(1, len(jobs), figsize=(4.5 * len(jobs), 4), squeeze=False)
    for axis, job in zip(axes[0], jobs):
        rows = [row for row in results["summary"] if row["job"] == job]
        for engine in dict.fromkeys(row["engine"] for row in rows):
            points = sorted((row["size_bytes"] / 1e6, row["wall_s"]) for row in rows if row["engine"] == engine)
            axis.plot(*zip(*points), marker="o", label=engine)
        axis.set(title=job, xlabel="input (MB)", ylabel="median wall time (s)", xscale="log", yscale="log")
        axis.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks run", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help=f"input sizes (default {DEFAULT_SIZES})")
    parser.add_argument("--engines", default=",".join(ENGINES), help="default: every engine that can run here")
    parser.add_argument("--jobs", default=",".join(JOBS), help=f"default: {','.join(JOBS)}")
    parser.add_argument("--runs", type=int, default=1, help="runs of each measurement; medians are reported")
    parser.add_argument("--full", action="store_true", help=f"the full matrix: --sizes {FULL_SIZES} --runs {FULL_RUNS}")
    parser.add_argument("--out", default="benchmark-results", help="where results.json and results.png go")
    parser.add_argument("--cache-dir", default=os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"),
                                                            "emrlab", "benchmarks"), help="where corpora are kept")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--core-nodes", type=int, default=3, help="emrlab-cluster's core nodes (default 3)")
    parser.add_argument("--block-size", default="64m", help="emrlab-cluster's dfs.blocksize (default 64m)")
    parser.add_argument("--instance-type", default=DEFAULT_INSTANCE_TYPE,
                        help="emrlab-cluster's core nodes offer this EC2 type scaled to this machine, as `cluster up` "
                        f"does (default {DEFAULT_INSTANCE_TYPE}); `{HADOOP_DEFAULTS}`: Hadoop's 4 vcores, 4096 MB "
                        "each, whatever the machine")
    parser.add_argument("-D", dest="defines", action="append", default=[], metavar="KEY=VALUE",
                        help="a job property for the emrlab engines' runs, as `emrlab job run -D` takes it "
                        "(e.g. -D emrlab.map.fuse=false)")
    options = parser.parse_args(argv)
    if options.full:
        options.sizes, options.runs = FULL_SIZES, FULL_RUNS
    if options.runs < 1:
        parser.error("--runs must be at least 1")
    if options.instance_type == HADOOP_DEFAULTS:
        options.instance_type = None
    if options.instance_type:
        from emrlab.controller.instancetypes import instance_type
        from emrlab_common.errors import EmrlabError

        try:
            instance_type(options.instance_type, "--instance-type")
        except EmrlabError as error:
            parser.error(error.message)
    # A termination (timeout, kill) unwinds like Ctrl-C, so that a cluster the suite started is stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        results = run_suite(options)
    except KeyboardInterrupt:
        print("python -m benchmarks run: interrupted", file=sys.stderr)
        return 130
    except (BenchmarkFailed, ValueError) as error:
        print(f"python -m benchmarks run: {error}", file=sys.stderr)
        return 1
    print_table(results)
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    plotted = plot(results, out / "results.png")
    print(f"\nraw results: {out / 'results.json'}" + (f", plot: {out / 'results.png'}" if plotted else
                                                      " (pip install 'emrlab[plot]' for a plot)"))
    return 0

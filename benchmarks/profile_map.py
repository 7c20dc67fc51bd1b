"""CPU time of one map attempt on the benchmark corpus, and where it goes.

    python -m benchmarks.profile_map [--size 16m] [--job wordcount] [--profile]
    python -m benchmarks.profile_map --size 32m --compare-fusion [--repeat 9]
    python -m benchmarks.profile_map --size 128m --counting

Runs one map task of the job in this process (no runner, no daemons) on a
corpus file and prints its CPU seconds (time.process_time: steadier than wall
time on a shared machine), then with --profile cProfile's top functions. For
comparing a change to the map side (task/attempt.py, task/mapbuffer.py, api/keys.py, the record
reader in task/splits.py) before and after, on the same file. --compare-fusion
runs the map as it runs by default (for word count: vectorised, task/vectorised.py),
with the mapper fused only (task/fusion.py) and as a generator, in turns,
--repeat times each, checks that all leave the same file.out, and prints each
run's CPU seconds, the medians and their ratios to the generator's. --counting times
the buffer's counting loop alone (a dict get and store per word) over the
corpus's words in their order, then over as many words drawn from its 2,000
most frequent: the difference is what the dict's cache misses cost.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from benchmarks.jobs import emrlab_job
from emrlab.corpus import write_corpus
from emrlab_common.config import parse_size
from mapreduce.api.fs import LocalFileSystem
from mapreduce.task.attempt import NullReporter, TaskAttempt, run_map_attempt
from mapreduce.task.formats import INPUT_FORMAT_KEY, TEXT_FORMAT
from mapreduce.task.fusion import FUSE_KEY, VECTORISE_KEY
from mapreduce.task.splits import InputSplit


def map_attempt(job: str, path: Path, local_dir: str) -> TaskAttempt:
    job_file, arguments = emrlab_job(job)
    reference = job_file if ":" in job_file else f"{job_file}:{_class_name(job)}"
    return TaskAttempt(job_id="job_profile_0001", step_index=0, kind="map", task_index=0, attempt_index=0,
                       job_reference=reference, job_arguments=tuple(arguments),
                       properties={INPUT_FORMAT_KEY: TEXT_FORMAT, "emrlab.sort.boundaries": "[]"},
                       split=InputSplit(str(path), 0, path.stat().st_size), num_reduces=2, num_maps=1,
                       local_dir=local_dir, output_dir=os.path.join(local_dir, "out"))


def _class_name(job: str) -> str:
    return {"wordcount": "WordCount", "sort": "Sort", "invertedindex": "InvertedIndex"}[job]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="16m")
    parser.add_argument("--job", default="wordcount", choices=["wordcount", "grep", "sort", "invertedindex"])
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--compare-fusion", action="store_true", help="default, fused only and not, in turns")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each with --compare-fusion (default 5)")
    parser.add_argument("--counting", action="store_true", help="the counting loop alone, real words and frequent ones")
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="emrlab-profile-map-"))
    try:
        corpus = write_corpus(work / "corpus.txt", parse_size(options.size))
        if options.compare_fusion:
            compare_fusion(options.job, corpus, work, options.size, max(options.repeat, 1))
            return
        if options.counting:
            counting(corpus)
            return
        attempt = map_attempt(options.job, corpus, str(work / "task"))
        profiler = cProfile.Profile() if options.profile else None
        started = time.process_time()
        if profiler:
            profiler.enable()
        result = run_map_attempt(attempt, LocalFileSystem(), NullReporter())
        if profiler:
            profiler.disable()
        cpu_s = time.process_time() - started
        print(f"{options.job} map of {options.size}: {cpu_s:.2f} CPU s, "
              f"{result.counters.task('MAP_OUTPUT_RECORDS')} records out")
        if profiler:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def counting(corpus: Path) -> None:
    words = corpus.read_text(encoding="utf-8", errors="surrogateescape").split()
    ranked = Counter(words).most_common()
    frequent = [word for word, _ in ranked[:2000]]
    share = sum(count for _, count in ranked[:10_000]) / max(len(words), 1)
    print(f"{len(words)} words, {len(ranked)} distinct, the 10,000 most frequent {share:.0%} of them; "
          "counting loop, CPU s:")
    for label, stream in (("in the corpus's order", words),
                          ("from the 2,000 most frequent", [frequent[i % len(frequent)] for i in range(len(words))])):
        counts: dict = {}
        get = counts.get
        started = time.process_time()
        for word in stream:
            counts[word] = get(word, 0) + 1
        print(f"  {label:30} {time.process_time() - started:6.2f}")
        del stream


def compare_fusion(job: str, corpus: Path, work: Path, size: str, repeat: int) -> None:
    modes = {"default": {}, "fused": {VECTORISE_KEY: "false"}, "generator": {FUSE_KEY: "false"}}
    times: dict[str, list[float]] = {name: [] for name in modes}
    outputs: dict[str, bytes] = {}
    for run in range(repeat):
        for name in times:
            local_dir = work / f"task-{name}-{run}"
            attempt = map_attempt(job, corpus, str(local_dir))
            attempt = replace(attempt, properties={**attempt.properties, **modes[name]})
            started = time.process_time()
            run_map_attempt(attempt, LocalFileSystem(), NullReporter())
            times[name].append(time.process_time() - started)
            outputs[name] = (local_dir / "file.out").read_bytes()
            shutil.rmtree(local_dir)
    for name in ("default", "fused"):
        if outputs[name] != outputs["generator"]:
            raise SystemExit(f"profile_map: the {name} map's file.out differs from the generator's")
    print(f"{job} map of {size}, CPU s, {repeat} runs of each in turns (same file.out):")
    for name, values in times.items():
        print(f"  {name:9}  median {statistics.median(values):6.2f}   " + " ".join(f"{value:.2f}" for value in values))
    for name in ("default", "fused"):
        ratio = statistics.median(times[name]) / statistics.median(times["generator"])
        print(f"  {name} / generator: {ratio:.2f}")


if __name__ == "__main__":
    main()

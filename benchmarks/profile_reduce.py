"""CPU time of one reduce attempt over several maps' output, and where it goes.

    python -m benchmarks.profile_reduce [--size 64m] [--maps 4] [--job wordcount] [--repeat 3] [--profile]

Writes a corpus of `--size` and runs `--maps` map attempts of the job on it in
this process (each map reads the whole file, as the maps of a corpus that size
each read one block of a corpus `--maps` times as large would: the same
vocabulary), then runs reduce attempt 0 of 2 over their outputs `--repeat`
times, with the segments in memory as the cluster's shuffle fetches them, and
prints each reduce's CPU seconds (time.process_time). With --profile,
cProfile's top functions of one more reduce. For comparing a change to the
reduce side (task/segments.py's merge, task/merger.py, task/attempt.py's
`_groups` and output) before and after, on the same map outputs.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from benchmarks.profile_map import map_attempt
from emrlab.corpus import write_corpus
from emrlab_common.config import parse_size
from mapreduce.api.counters import Counters
from mapreduce.runners.driver import LocalMapOutputs
from mapreduce.task.attempt import NullReporter, run_map_attempt, run_reduce_attempt
from mapreduce.api.fs import LocalFileSystem
from mapreduce.task.segments import Segment

PARTITIONS = 2


@dataclass(frozen=True)
class InMemoryMapOutputs:
    """The maps' segments of a partition as bytes, as the cluster's shuffle hands them to the merge."""

    map_output_paths: tuple[str, ...]

    def fetch(self, partition: int, counters: Counters) -> list[Segment]:
        return [Segment.from_bytes(segment.read_bytes(), segment.records)
                for segment in LocalMapOutputs(self.map_output_paths).fetch(partition, counters)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="64m")
    parser.add_argument("--maps", type=int, default=4)
    parser.add_argument("--job", default="wordcount", choices=["wordcount", "sort", "invertedindex"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="emrlab-profile-reduce-"))
    try:
        corpus = write_corpus(work / "corpus.txt", parse_size(options.size))
        outputs = []
        for index in range(options.maps):
            attempt = replace(map_attempt(options.job, corpus, str(work / f"map{index}")), task_index=index,
                              num_reduces=PARTITIONS, num_maps=options.maps)
            outputs.append(run_map_attempt(attempt, LocalFileSystem(), NullReporter()).map_output_path)
        source = InMemoryMapOutputs(tuple(outputs))
        template = replace(map_attempt(options.job, corpus, ""), kind="reduce", split=None, num_maps=options.maps)
        for run in range(options.repeat + options.profile):
            profiler = cProfile.Profile() if options.profile and run == options.repeat else None
            attempt = replace(template, attempt_index=run, local_dir=str(work / f"reduce{run}"),
                              output_dir=str(work / f"out{run}"))
            started = time.process_time()
            if profiler:
                profiler.enable()
            result = run_reduce_attempt(attempt, LocalFileSystem(), source, NullReporter())
            if profiler:
                profiler.disable()
                pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
            else:
                print(f"{options.job} reduce of {options.maps} maps of {options.size}: "
                      f"{time.process_time() - started:.2f} CPU s, "
                      f"{result.counters.task('REDUCE_INPUT_RECORDS')} records in, "
                      f"{result.counters.task('REDUCE_OUTPUT_RECORDS')} out")
            shutil.rmtree(attempt.local_dir, ignore_errors=True)
            shutil.rmtree(os.path.join(attempt.output_dir), ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

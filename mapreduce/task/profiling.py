"""Profiling some of a job's tasks where they run, as Hadoop's `mapreduce.task.profile` does.

    emrlab job run JOB.py -r cluster IN -o OUT -D mapreduce.task.profile=true \\
        [-D mapreduce.task.profile.maps=0-2] [-D mapreduce.task.profile.reduces=0-2]
    emrlab logs -applicationId ID -log_files profile.out

Hadoop starts the chosen tasks' JVMs with a profiler agent and keeps what it writes with the
task's logs, as profile.out. Here the chosen attempts run under cProfile in their container,
from the moment the container has its task until its last call to the ApplicationMaster (so
the HDFS client, the shuffle, the commit and `done` are in it, not only the user's code; the
main thread only, not the heartbeat's or the shuffle's copying threads), and write two files
to the container's log directory: profile.out (pstats' table of the top functions by
cumulative time, then by own time, after a line with the process's CPU time before the task
came, which is the interpreter's start and its imports) and profile.prof (the raw stats, for
`python -m pstats` or any viewer that reads them). Which tasks: Hadoop's integer ranges by
task index, `0-2,5,7-` (every attempt of those tasks).
"""

from __future__ import annotations

import io
import pstats
from dataclasses import dataclass
from pathlib import Path

from emrlab_common.config import parse_bool, setting
from emrlab_common.errors import InvalidArgument

PROFILE_OUT, PROFILE_STATS = "profile.out", "profile.prof"
TOP_FUNCTIONS = 40


def parse_ranges(text: str) -> tuple[tuple[int, int | None], ...]:
    """Hadoop's IntegerRanges: comma-separated `N`, `A-B`, `A-` (A and up), `-B` (0 to B); empty is none."""
    ranges = []
    for part in (part.strip() for part in text.split(",")):
        if not part:
            continue
        first, dash, last = part.partition("-")
        try:
            start = int(first) if first.strip() else 0
            end = (int(last) if last.strip() else None) if dash else start
        except ValueError:
            raise InvalidArgument(f"{part!r} is not a task index or a range such as 0-2 or 7-") from None
        if start < 0 or (end is not None and end < start):
            raise InvalidArgument(f"{part!r} is not a range of task indexes")
        ranges.append((start, end))
    return tuple(ranges)


@dataclass(frozen=True)
class ProfileConfig:
    enabled: bool = setting("mapreduce.task.profile", False, parse_bool,
                            "Run some tasks under cProfile; profile.out in their container logs.")
    maps: tuple = setting("mapreduce.task.profile.maps", parse_ranges("0-2"), parse_ranges,
                          "Which map tasks are profiled, by index (Hadoop's ranges: 0-2,5,7-).")
    reduces: tuple = setting("mapreduce.task.profile.reduces", parse_ranges("0-2"), parse_ranges,
                             "Which reduce tasks are profiled, by index.")

    def profiles(self, is_map: bool, index: int) -> bool:
        return self.enabled and any(start <= index and (end is None or index <= end)
                                    for start, end in (self.maps if is_map else self.reduces))


def write_profile(stats: pstats.Stats, log_dir: Path, attempt_id: str, startup_cpu_s: float) -> None:
    stats.dump_stats(str(log_dir / PROFILE_STATS))
    text = io.StringIO()
    stats.stream = text
    text.write(f"{attempt_id}: {startup_cpu_s:.3f} CPU s from the process's start to its task "
               "(the interpreter and its imports), not in the tables below\n\n")
    stats.sort_stats("cumulative").print_stats(TOP_FUNCTIONS)
    stats.sort_stats("tottime").print_stats(TOP_FUNCTIONS)
    (log_dir / PROFILE_OUT).write_text(text.getvalue())

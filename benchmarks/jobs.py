"""The benchmark's jobs: what each computes, and how its output is checked.

Every engine runs each job its own idiomatic way (see engines.py) and must
produce the same lines; for `sort` also in the same order, and that order is
checked to be sorted and to hold every input line.

    wordcount      the README's job example, unchanged: `word<TAB>count` per distinct word
    grep           the number of lines matching GREP_PATTERN (one line: the count)
    sort           every line, in one total order (byte order), TeraSort-style: sampled
                   range partitioning across reducers
    invertedindex  for each lower-cased word, the sorted JSON list of the files it is in

This file is also an emrlab job file (GrepLines), so it imports nothing but mapreduce.
"""

from __future__ import annotations

import re
from pathlib import Path

from mapreduce import Job

GREP_PATTERN = r"the \w+ of"
JOBS = ("wordcount", "grep", "sort", "invertedindex")
ORDERED_JOBS = ("sort",)  # output compared line by line in part order; the others as sets of lines
EXAMPLES = Path(__file__).resolve().parent.parent / "mapreduce" / "examples"


class GrepLines(Job):
    """How many lines match GREP_PATTERN (grep -c)."""

    def mapper_init(self):
        self.matches = re.compile(GREP_PATTERN).search

    def mapper(self, key, line):
        if self.matches(line):
            yield None, 1

    def combiner(self, key, counts):
        yield None, sum(counts)

    def reducer(self, key, counts):
        yield None, sum(counts)


def emrlab_job(job: str) -> tuple[str, list[str]]:
    """The job file (and job arguments) the emrlab engines run for `job`."""
    return {
        "wordcount": (str(EXAMPLES / "wordcount.py"), []),
        "grep": (f"{Path(__file__).resolve()}:GrepLines", []),
        "sort": (str(EXAMPLES / "sort.py"), ["--samples", "10000"]),
        "invertedindex": (str(EXAMPLES / "invertedindex.py"), []),
    }[job]

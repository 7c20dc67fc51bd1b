"""The reduce side's merge: many sorted segments into one sorted stream, in bounded memory.

A reducer receives one segment from every map. Merging them all at once would
hold a read buffer per segment, and fetched segments kept in memory could
exceed what the task may use. So, as Hadoop's MergeManager does:

- In-memory segments beyond the memory budget (`mapreduce.task.io.sort.mb`)
  are written to disk first, largest first.
- While there are more segments than `mapreduce.task.io.sort.factor`, the
  smallest `factor` of them are merged into one file on local disk (an
  intermediate merge pass), so that the final merge reads at most `factor`
  segments at once, each through a small buffer.

The result equals `sorted(concatenation of the segments)` by encoded key (a
hypothesis test checks it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain

from mapreduce.api import counters as names
from mapreduce.api.counters import Counters
from mapreduce.task.segments import Record, Segment, merge, merge_batches, write_segment_file


@dataclass(frozen=True)
class MergeSettings:
    factor: int = 10
    memory_limit_bytes: int = 100 << 20


class BoundedMerger:
    def __init__(self, local_dir: str, settings: MergeSettings, counters: Counters, sort_values: bool = False):
        assert settings.factor >= 2, "a merge needs at least two inputs per pass"
        self.local_dir = local_dir
        self.settings = settings
        self.counters = counters
        self.sort_values = sort_values
        self.files_written = 0

    def _new_path(self) -> str:
        self.files_written += 1
        return os.path.join(self.local_dir, f"merge{self.files_written}.out")

    def _write(self, records: Iterator[Record]) -> Segment:
        segment = write_segment_file(self._new_path(), records)
        self.counters.increment(names.FILE_SYSTEM_COUNTER, names.bytes_written("FILE"), segment.length)
        self.counters.increment(names.TASK_COUNTER, names.SPILLED_RECORDS, max(segment.records, 0))
        return segment

    def spill_memory(self, segments: list[Segment]) -> list[Segment]:
        """Write in-memory segments to disk, largest first, until the rest fit the budget."""
        in_memory = sorted((segment for segment in segments if segment.in_memory), key=lambda s: -s.length)
        kept = [segment for segment in segments if not segment.in_memory]
        held = sum(segment.length for segment in in_memory)
        for segment in in_memory:
            if held > self.settings.memory_limit_bytes:
                kept.append(self._write(segment.records_iter()))
                held -= segment.length
            else:
                kept.append(segment)
        return kept

    def merge(self, segments: list[Segment]) -> Iterator[Record]:
        """One sorted stream of all records; intermediate passes go through local disk."""
        return chain.from_iterable(self.merge_batches(segments))

    def merge_batches(self, segments: list[Segment]) -> Iterator[list[Record]]:
        """`merge`'s records, a list of a few thousand at a time."""
        segments = [segment for segment in self.spill_memory(segments) if segment.length > 0]
        while len(segments) > self.settings.factor:
            segments.sort(key=lambda segment: segment.length)
            # Hadoop sizes the first pass so that later passes merge exactly `factor` segments.
            first_pass = (len(segments) - 1) % (self.settings.factor - 1) + 1
            take = first_pass if first_pass > 1 else self.settings.factor
            batch, segments = segments[:take], segments[take:]
            segments.append(self._write(merge(batch, self.sort_values)))
        if not segments:
            return iter(())
        return merge_batches(segments, self.sort_values)

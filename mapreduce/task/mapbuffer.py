"""The map side's sort buffer: collect, group, combine, spill sorted runs, merge them.

What Hadoop's MapOutputBuffer does with a byte ring and a quicksort, done the
way Python is fast: records are grouped in a dict as they arrive (key -> list
of values), so that a spill sorts each distinct key once, encodes each key
once, and hands the combiner a ready list of values. For word count that turns
millions of records into a few hundred thousand sort entries per spill, and
its keys (str, every value the same 1) are only counted, then spilled as
columns by C loops (`_spill_counted`).

- The buffer estimates its serialized size (distinct keys' bytes, plus the
  records times an average value size and Hadoop's 16 bytes of metadata per
  record). Past `mapreduce.task.io.sort.mb` x `mapreduce.map.sort.spill.percent`
  it spills: sort by (partition, encoded key), run the combiner, and write one
  segment per partition to `spillN.out` in the task's local directory.
- At the end, one spill is renamed to `file.out`; several are merged per
  partition (combining again if there were at least
  `mapreduce.map.combine.minspills`), and `file.out.index` says where each
  partition's segment lies.
"""

from __future__ import annotations

import os
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain, groupby, islice, repeat
from operator import itemgetter, mul

import msgpack

from mapreduce.api import counters as names
from mapreduce.api.counters import Counters
from mapreduce.api.errors import as_pair, bad_pair, reraise_bad_pair
from mapreduce.api.keys import decode_key, encode_key, encode_str_keys
from mapreduce.api.partitioners import partition_all
from mapreduce.task.segments import (
    MAP_OUTPUT_FILE,
    MAP_OUTPUT_INDEX_FILE,
    IndexEntry,
    Segment,
    SegmentWriter,
    array_header_bytes,
    merge,
    write_index,
)

RECORD_METADATA_BYTES = 16  # Hadoop's per-record accounting in the sort buffer
VALUE_SIZE_SAMPLE_WEIGHT = 0.1
SPILL_CHECK_RECORDS = 4096
_NOTHING = object()  # no record seen yet

# (key, values) groups in, (key, value) pairs out: a combiner with its _init and _final.
CombineFunction = Callable[[Iterator[tuple]], Iterator[tuple]]


@dataclass(frozen=True)
class SpillSettings:
    limit_bytes: int
    combine_min_spills: int = 3


def _values_in_step(keys: list, records: list) -> list | None:
    """A combiner's values, when it did what nearly every combiner does (checked by C loops): it
    yielded one (key, value) tuple per key it was given, in the same order, each key the str
    it was given. None when it did anything else."""
    if len(records) != len(keys) or set(map(type, records)) - {tuple} or set(map(len, records)) - {2}:
        return None
    combined_keys = list(map(itemgetter(0), records))
    if set(map(type, combined_keys)) - {str} or combined_keys != keys:
        return None
    return list(map(itemgetter(1), records))


class MapOutputBuffer:
    def __init__(self, local_dir: str, num_partitions: int, partitioner, combine: CombineFunction | None,
                 sort_values: bool, settings: SpillSettings, counters: Counters, combine_sums: bool = False):
        self.local_dir = local_dir
        self.num_partitions = num_partitions
        self.partitioner = partitioner
        self.combine = combine
        # The combiner is `yield key, sum(values)` and nothing else (fusion.summing).
        self.combine_sums = combine_sums
        self.sort_values = sort_values
        self.settings = settings
        self.counters = counters
        # str keys as themselves (the fast path); any other key by its encoding (bytes).
        self.groups: dict = {}
        # str key -> how many records of it had the value `counted_value` (see collect).
        self.counts: dict[str, int] = {}
        self.counted_value = _NOTHING
        self.last_value = None  # the last record `_add` took: a sample of the values' size
        # What a fused mapper (fusion.py) reads at each call: the counted value, the counting, and
        # the slow paths; and the vectorised word count's way in (vectorised.py). The counted
        # value's slot is set as the buffer chooses it.
        self.sink = [self.counted_value, self.counts.get, self.counts, self._add, self._put, self]
        self.key_bytes = 0
        self.records = 0
        self.grouped = 0  # records of this spill in `groups`
        self.records_total = 0
        self.value_bytes_average = 8.0
        self.spills: list[tuple[str, list[IndexEntry]]] = []

    # ------------------------------------------------------------ collecting

    def collect(self, batches: Iterable[Iterable[tuple] | int]) -> None:
        """Take every (key, value) of every batch (a mapper call's output). The hot loop:
        one dict lookup per record; the size check runs between batches, every
        SPILL_CHECK_RECORDS records. A batch that is an int is a fused mapper's call
        (`fusion.py`): it has put its records in already, through `sink`, and says how many.

        A record whose value is the very object the task's first record had (word count's
        `yield word, 1`: the same int 1 each time) and whose key is a str is only counted,
        in `counts` (key -> how many); a count stands for that many copies of the value, so
        nothing is lost, not even the order of a key's values. Appending to a list per record
        costs half as much again as counting, and the lists' memory besides. A key whose
        values differ keeps them all in `groups`, in order (`_add`)."""
        counts = self.counts
        counted, add = counts.get, self._add
        one = self.counted_value
        records = 0
        next_check = SPILL_CHECK_RECORDS
        try:
            for pairs in batches:
                if type(pairs) is int:
                    records += pairs
                else:
                    for key, value in pairs:
                        records += 1
                        if value is one:
                            # Only str keys are ever counted, so a key found here needs no type check; one
                            # that merely equals a str (a str subclass such as numpy.str_) encodes as that
                            # str does, and would be grouped with it anyway. (A try costs nothing until
                            # it catches: an unhashable key, a list, goes on to be encoded.)
                            try:
                                count = counted(key)
                            except TypeError:
                                count = None
                            if count is not None:
                                counts[key] = count + 1
                                continue
                        add(key, value)
                    one = self.counted_value  # the first batch may have chosen it
                if records >= next_check:
                    self._account(records)
                    records = 0
                    self.spill_if_full()
        except (TypeError, ValueError) as error:
            reraise_bad_pair(error, "collect", "mapper")
            raise
        self._account(records)

    def _add(self, key, value) -> None:
        """One record, past the hot loop's counting: a new key, another value, another kind of key."""
        counts, groups = self.counts, self.groups
        one = self.counted_value
        self.last_value = value
        if type(key) is not str and isinstance(key, str):
            key = str(key)  # a str subclass is its str: encoded alike, so grouped with it
        if type(key) is str:
            if value is one:
                if not groups or key not in groups:
                    # Counted already when the caller did not know the counted value yet (collect's
                    # first batch, a fused mapper's first call); else a new key.
                    count = counts.get(key, 0)
                    counts[key] = count + 1
                    if not count:
                        self.key_bytes += len(key)
                    return
            elif one is _NOTHING:  # the task's first record: its value is the one counted
                self.counted_value = self.sink[0] = value
                counts[key] = 1
                self.key_bytes += len(key)
                return
            elif counts and key in counts:  # another value: the key's count becomes a list
                count = counts.pop(key)
                groups[key] = [one] * count
                self.grouped += count
        else:
            key = encode_key(key)
        self.grouped += 1
        values = groups.get(key)
        if values is None:
            groups[key] = [value]
            self.key_bytes += len(key)
        else:
            values.append(value)

    def add_counted(self, keys: list[str], times: list[int], value) -> None:
        """`times[i]` records (keys[i], value) for each i, counted before they came (the vectorised
        word count's, `vectorised.py`; the str keys distinct): counted here as `collect` counts
        the same records one by one. If `value` is not the counted value (a `mapper_init` chose
        another), they go to `_add` one by one."""
        one = self.counted_value
        if one is _NOTHING and keys:  # the task's first records: their value is the one counted
            self.counted_value = self.sink[0] = one = value
        if not (type(value) is type(one) and value == one):
            for key, n in zip(keys, times):
                for _ in range(n):
                    self._add(key, value)
            return
        counts, groups = self.counts, self.groups
        get = counts.get
        new_bytes = 0
        for key, n in zip(keys, times):
            count = get(key)
            if count is not None:
                counts[key] = count + n
            elif groups and key in groups:  # a key that had other values keeps them all, in order
                groups[key].extend(repeat(value, n))
                self.grouped += n
            else:
                counts[key] = n
                new_bytes += len(key)
        self.key_bytes += new_bytes
        if keys:
            self.last_value = value

    def counted_room(self) -> int:
        """About how many more distinct counted keys the buffer takes before it is full: how many
        the vectorised word count may hold before it hands them over (`vectorised.py`)."""
        per_key = self.key_bytes / max(len(self.counts), 1) + self.value_bytes_average + RECORD_METADATA_BYTES
        return max(int((self.settings.limit_bytes - self.estimated_bytes()) / per_key), 0)

    def _put(self, record) -> None:
        """A fused mapper's `yield record` of anything but a literal pair: unpacked as `collect` does."""
        try:
            key, value = record
        except (TypeError, ValueError) as error:
            raise bad_pair(error, "mapper") from error
        self._add(key, value)

    def _account(self, records: int) -> None:
        self.records += records
        self.records_total += records
        if records:
            self._sample_value(self.last_value)

    def _sample_value(self, value) -> None:
        size = len(msgpack.packb(value))
        self.value_bytes_average += (size - self.value_bytes_average) * VALUE_SIZE_SAMPLE_WEIGHT

    def estimated_bytes(self) -> int:
        """What the buffer holds. With a combiner, a key's counted records are one record (the
        combiner may run on any part of a key's values, so folding them early is allowed);
        without one, every record is written out, and counted as such."""
        held = self.grouped + len(self.counts) if self.combine is not None else self.records
        return int(self.key_bytes + held * (self.value_bytes_average + RECORD_METADATA_BYTES))

    def spill_if_full(self) -> None:
        if (self.groups or self.counts) and self.estimated_bytes() >= self.settings.limit_bytes:
            self.spill()

    # ------------------------------------------------------------ spilling

    def _sorted_entries(self) -> list[tuple]:
        """(partition, encoded key, key, values), sorted by partition then key bytes. A counted
        key's values are its count, an int (`_values` makes it `repeat(value, count)` when they
        are read): a tuple of an int, bytes and a str holds nothing the cyclic garbage collector
        must follow, so it stops visiting it after its first pass, where a tuple holding an
        iterator would be walked again by every pass while the spill's entries pile up (half
        the time of this step, measured)."""
        partition = self.partitioner.partition
        count = self.num_partitions
        buckets: list[list[tuple]] = [[] for _ in range(count)]
        output_bytes = 0
        pack = msgpack.Packer().pack  # one packer for all: msgpack.packb builds a new one per call
        for key, values in self.groups.items():
            if type(key) is str:
                encoded = encode_key(key)
            else:
                encoded, key = key, decode_key(key)
            if self.sort_values and len(values) > 1:
                values.sort(key=encode_key)
            index = partition(encoded, key, count)
            buckets[index].append((index, encoded, key, values))
            output_bytes += len(encoded) * len(values) + len(pack(values)) - array_header_bytes(len(values))
        if self.counts:
            value = self.counted_value
            value_bytes = len(pack(value))
            for key, times in self.counts.items():
                encoded = encode_key(key)
                index = partition(encoded, key, count)
                buckets[index].append((index, encoded, key, times))
                output_bytes += (len(encoded) + value_bytes) * times
        entries = []
        for bucket in buckets:  # partitions in order; within one, a sort on the key bytes alone
            bucket.sort(key=itemgetter(1))
            entries += bucket
        self.counters.increment(names.TASK_COUNTER, names.MAP_OUTPUT_BYTES, output_bytes)
        return entries

    def spill(self) -> None:
        path = os.path.join(self.local_dir, f"spill{len(self.spills)}.out")
        if self.groups:
            entries = self._sorted_entries()
            if self.combine is not None:
                records = self._combined(entries)
            else:
                records = ((partition, encoded, value)
                           for partition, encoded, _, values in entries for value in self._values(values))
            index = self._write_partitions(path, records)
        else:
            index = self._spill_counted(path)
        self.spills.append((path, index))
        self.groups.clear()
        self.counts.clear()
        self.records = self.grouped = self.key_bytes = 0

    def _spill_counted(self, path: str) -> list[IndexEntry]:
        """The spill when every key was counted (word count's): done on columns (the keys, their
        encodings, partitions and counts, each a list) by C loops, with no tuple built per key.
        The spill is memory-bound, one cache miss after another over a few hundred thousand
        objects, so every object not made per key is time saved.

        The str keys are sorted as they are (their encodings sort alike) and encoded in that
        order; a stable sort by partition then keeps the key order within each partition."""
        keys = sorted(self.counts)
        encoded = encode_str_keys(keys)
        partitions = partition_all(self.partitioner, encoded, keys, self.num_partitions)
        if self.num_partitions > 1:
            order = sorted(range(len(keys)), key=partitions.__getitem__)
            keys, encoded = list(map(keys.__getitem__, order)), list(map(encoded.__getitem__, order))
            partitions.sort()
        times = list(map(self.counts.__getitem__, keys))
        value = self.counted_value
        value_bytes = len(msgpack.packb(value)) if keys else 0  # no keys: maybe no value seen yet
        output_bytes = sum(map(mul, map(len, encoded), times)) + value_bytes * self.records
        self.counters.increment(names.TASK_COUNTER, names.MAP_OUTPUT_BYTES, output_bytes)
        if self.combine is None:
            pairs = chain.from_iterable(map(repeat, zip(encoded, repeat(value)), times))
            return self._write_segments(path, self._split_by_partition(partitions, pairs, times))
        self.counters.increment(names.TASK_COUNTER, names.COMBINE_INPUT_RECORDS, self.records)
        if self.combine_sums and type(value) is int:
            # What `yield key, sum(values)` gives for n copies of the int v, without a call per key.
            values = times if value == 1 else list(map(mul, times, repeat(value)))
        else:
            records = list(self.combine(zip(keys, map(repeat, repeat(value), times))))
            values = _values_in_step(keys, records)
            if values is None:
                output = self._combined_any(list(zip(partitions, encoded, keys, times)), keys, records)
                return self._write_partitions(path, self._combined_output(output))
        self.counters.increment(names.TASK_COUNTER, names.COMBINE_OUTPUT_RECORDS, len(values))
        return self._write_segments(path, self._split_by_partition(partitions, zip(encoded, values)))

    def _split_by_partition(self, partitions: list[int], pairs: Iterator[tuple],
                            times: list[int] | None = None) -> Iterator[Iterator[tuple]]:
        """Each partition's (encoded key, value) pairs, from pairs in partition order (`partitions`
        sorted, one per key; `times` the pairs per key, one each if None)."""
        start = 0
        for partition in range(self.num_partitions):
            end = bisect_left(partitions, partition + 1, start)
            count = end - start if times is None else sum(times[start:end])
            yield islice(pairs, count)
            start = end

    def _values(self, values):
        """An entry's values: its list, or for a counted key, its count of the counted value."""
        return repeat(self.counted_value, values) if type(values) is int else values

    def _groups(self, entries: list[tuple]) -> Iterator[tuple]:
        """(key, values) per entry, for the combiner."""
        return ((key, self._values(values)) for _, _, key, values in entries)

    def _combined(self, entries: list[tuple]) -> list[tuple]:
        """Run the combiner over each key's values; its output, re-sorted if it changed keys."""
        self.counters.increment(names.TASK_COUNTER, names.COMBINE_INPUT_RECORDS, self.records)
        keys = list(map(itemgetter(2), entries))
        records = list(self.combine(self._groups(entries)))
        output = self._combined_in_step(entries, keys, records)
        if output is None:
            output = self._combined_any(entries, keys, records)
        return self._combined_output(output)

    def _combined_output(self, output: list[tuple]) -> list[tuple]:
        """The combiner's (partition, encoded key, value) records, each key's by value if the
        values are sorted (secondary sort); counted."""
        if self.sort_values:
            output.sort(key=lambda record: (record[0], record[1], encode_key(record[2])))
        self.counters.increment(names.TASK_COUNTER, names.COMBINE_OUTPUT_RECORDS, len(output))
        return output

    @staticmethod
    def _combined_in_step(entries: list[tuple], keys: list, records: list) -> list[tuple] | None:
        """The common case, checked and done by C loops: (partition, encoded key, value) per entry."""
        values = _values_in_step(keys, records)
        if values is None:
            return None
        return list(zip(map(itemgetter(0), entries), map(itemgetter(1), entries), values))

    def _combined_any(self, entries: list[tuple], keys: list, records: list) -> list[tuple]:
        """Any other combiner output, record by record."""
        # A combiner nearly always yields the key it was given, right after it was given it: look
        # for its entry there (the next entry, else the last one found) before in a table of all
        # keys, and sort again only if the entries' positions go backwards or a new key appears.
        position_of = None
        output = []
        in_order = True
        last_position = -1
        for record in records:
            key, value = record if type(record) is tuple and len(record) == 2 else as_pair(record, "combiner")
            if type(key) is not str:
                position = None
            elif last_position + 1 < len(keys) and key == keys[last_position + 1]:
                position = last_position + 1
            elif last_position >= 0 and key == keys[last_position]:
                position = last_position
            else:
                if position_of is None:
                    position_of = {key: position for position, key in enumerate(keys) if type(key) is str}
                position = position_of.get(key)
            if position is not None:
                entry = entries[position]
                output.append((entry[0], entry[1], value))
                in_order = in_order and position >= last_position
                last_position = position
            else:
                encoded = encode_key(key)
                output.append((self.partitioner.partition(encoded, key, self.num_partitions), encoded, value))
                in_order = False
        if not in_order:
            output.sort(key=itemgetter(0, 1))
        return output

    def _write_partitions(self, path: str, records: Iterable[tuple]) -> list[IndexEntry]:
        """Write (partition, encoded key, value) records, sorted by partition, as segments."""
        def by_partition():
            groups = groupby(records, key=itemgetter(0))
            group = next(groups, None)
            for partition in range(self.num_partitions):
                if group is not None and group[0] == partition:
                    yield map(itemgetter(1, 2), group[1])
                    group = next(groups, None)
                else:
                    yield ()
        return self._write_segments(path, by_partition())

    def _write_segments(self, path: str, partitions: Iterable[Iterable[tuple]]) -> list[IndexEntry]:
        """Write each partition's (encoded key, value) pairs, in partition order, as one segment each."""
        entries = []
        with open(path, "wb") as file:
            for pairs in partitions:
                writer = SegmentWriter(file)
                writer.write_all(pairs)
                entries.append(writer.finish())
            written = file.tell()
        spilled = sum(entry.records for entry in entries)
        self.counters.increment(names.TASK_COUNTER, names.SPILLED_RECORDS, spilled)
        self.counters.increment(names.FILE_SYSTEM_COUNTER, names.bytes_written("FILE"), written)
        return entries

    # ------------------------------------------------------------ the end

    def flush(self) -> str:
        """Spill what is left and leave one indexed `file.out`; returns its path."""
        if self.groups or self.counts or not self.spills:
            self.spill()
        output_path = os.path.join(self.local_dir, MAP_OUTPUT_FILE)
        index_path = os.path.join(self.local_dir, MAP_OUTPUT_INDEX_FILE)
        if len(self.spills) == 1:
            path, entries = self.spills[0]
            os.replace(path, output_path)
        else:
            entries = self._merge_spills(output_path)
            for path, _ in self.spills:
                os.unlink(path)
        write_index(index_path, entries)
        self.counters.increment(names.TASK_COUNTER, names.MAP_OUTPUT_MATERIALIZED_BYTES,
                                sum(entry.length for entry in entries))
        return output_path

    def _merge_spills(self, output_path: str) -> list[IndexEntry]:
        recombine = self.combine is not None and len(self.spills) >= self.settings.combine_min_spills
        entries = []
        with open(output_path, "wb") as file:
            for partition in range(self.num_partitions):
                segments = [Segment.from_file(path, index[partition].offset, index[partition].length,
                                              index[partition].records) for path, index in self.spills]
                records = merge(segments, self.sort_values)
                if recombine:
                    records = self._recombined(records)
                writer = SegmentWriter(file)
                writer.write_all(records)
                entries.append(writer.finish())
        written = sum(entry.length for entry in entries)
        self.counters.increment(names.TASK_COUNTER, names.SPILLED_RECORDS, sum(entry.records for entry in entries))
        self.counters.increment(names.FILE_SYSTEM_COUNTER, names.bytes_written("FILE"), written)
        return entries

    def _recombined(self, records: Iterator[tuple]) -> Iterator[tuple]:
        groups = ((decode_key(encoded), [value for _, value in group])
                  for encoded, group in groupby(records, key=itemgetter(0)))
        for record in self.combine(groups):
            key, value = as_pair(record, "combiner")
            yield encode_key(key), value

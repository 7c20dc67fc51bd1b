"""The map side's sort buffer against a model: whatever way it holds records (counted or in
lists), its file.out has every record, sorted by key, each key's values in the mapper's order."""

from __future__ import annotations

import math
import os
import tempfile

import msgpack
from hypothesis import given, settings
from hypothesis import strategies as st

from mapreduce.api import counters as names
from mapreduce.api.counters import Counters
from mapreduce.api.keys import decode_key, encode_key
from mapreduce.api.partitioners import HashPartitioner
from mapreduce.task.mapbuffer import MapOutputBuffer, SpillSettings
from mapreduce.task.segments import MAP_OUTPUT_INDEX_FILE, Segment, read_index

PARTITIONS = 2
ONE = 1
# Values equal to 1 that are not the same value (True, 1.0), or the same value as another object.
values = st.sampled_from([ONE, ONE, ONE, True, 1.0, 2, "1", -0.0, 0.0, None])


class _Word(str):
    """A str subclass (as numpy.str_ is): equal to its str, and encoded as it is."""


keys = st.sampled_from(["a", "b", "é", "a\x00", "", 1, 1.0, True, ["a"], _Word("a"), _Word("c")])
batches = st.lists(st.lists(st.tuples(keys, values), max_size=12), max_size=8)


def _run(pairs_batches, combine=None, limit_bytes=1 << 30, partitions=PARTITIONS,
         partitioner=None) -> tuple[list[list[tuple]], Counters]:
    counters = Counters()
    with tempfile.TemporaryDirectory() as directory:
        buffer = MapOutputBuffer(directory, partitions, partitioner or HashPartitioner(), combine, False,
                                 SpillSettings(limit_bytes=limit_bytes), counters)
        buffer.collect(pairs_batches)
        path = buffer.flush()
        counters.increment(names.TASK_COUNTER, names.MAP_OUTPUT_RECORDS, buffer.records_total)  # as the attempt does
        index = read_index(os.path.join(directory, MAP_OUTPUT_INDEX_FILE))
        partitions = [[(decode_key(key), value) for key, value in
                       Segment.from_file(path, entry.offset, entry.length).records_iter()] for entry in index]
    return partitions, counters


def _model(pairs_batches, count=PARTITIONS, partitioner=None) -> list[list[tuple]]:
    """Every record by partition, sorted by encoded key (stable: a key's values in order)."""
    partitioner = partitioner or HashPartitioner()
    records = [(encode_key(key), key, value) for batch in pairs_batches for key, value in batch]
    records.sort(key=lambda record: record[0])
    partitions: list[list[tuple]] = [[] for _ in range(count)]
    for encoded, key, value in records:
        partitions[partitioner.partition(encoded, key, count)].append((decode_key(encoded), value))
    return partitions


def _output_bytes(pairs_batches) -> int:
    """MAP_OUTPUT_BYTES: each record's encoded key and packed value, as Hadoop counts them."""
    return sum(len(encode_key(key)) + len(msgpack.packb(value)) for batch in pairs_batches for key, value in batch)


def _same(got, expected) -> bool:
    """Equal and of the same types (True is not 1, -0.0 is not 0.0), as msgpack tells them apart."""
    def exact(value):
        if isinstance(value, float):
            return ("float", math.copysign(1, value), value)
        if isinstance(value, list):
            return ("list", tuple(exact(element) for element in value))
        return (type(value).__name__, value)
    return [[(exact(k), exact(v)) for k, v in part] for part in got] == \
        [[(exact(k), exact(v)) for k, v in part] for part in expected]


def _keep_values(groups):
    """A combiner that shows what it was given: each key's values as one list, in order."""
    for key, group in groups:
        yield key, list(group)


@settings(max_examples=200, deadline=None)
@given(pairs_batches=batches, limit_bytes=st.sampled_from([1, 40, 1 << 30]), partitions=st.sampled_from([1, 2, 3]))
def test_without_a_combiner_every_record_comes_out_in_key_then_mapper_order(pairs_batches, limit_bytes, partitions):
    got, counters = _run(pairs_batches, limit_bytes=limit_bytes, partitions=partitions)
    assert _same(got, _model(pairs_batches, partitions))
    assert counters.task("SPILLED_RECORDS") >= sum(map(len, pairs_batches))
    assert counters.task("MAP_OUTPUT_BYTES") == _output_bytes(pairs_batches)
    assert counters.task("MAP_OUTPUT_RECORDS") == sum(map(len, pairs_batches))


@settings(max_examples=200, deadline=None)
@given(pairs_batches=batches)
def test_a_combiner_sees_each_keys_values_in_the_mappers_order(pairs_batches):
    got, counters = _run(pairs_batches, combine=_keep_values)
    expected = [[(decode_key(encoded), [value for _, value in group]) for encoded, group in _grouped(part)]
                for part in _model(pairs_batches)]
    assert _same(got, expected)
    assert counters.task("COMBINE_INPUT_RECORDS") == sum(map(len, pairs_batches))
    assert counters.task("MAP_OUTPUT_BYTES") == _output_bytes(pairs_batches)
    assert counters.task("MAP_OUTPUT_RECORDS") == sum(map(len, pairs_batches))


def _summed(groups):
    for key, group in groups:
        yield key, sum(group)


numbers = st.sampled_from([ONE, ONE, ONE, 2, -3])


def _sums(parts) -> dict:
    """Each key's (by its encoding) sum of values, over lists of (key, value) pairs."""
    sums: dict = {}
    for key, value in (pair for part in parts for pair in part):
        encoded = encode_key(key)
        sums[encoded] = sums.get(encoded, 0) + value
    return sums


@settings(max_examples=200, deadline=None)
@given(pairs_batches=st.lists(st.lists(st.tuples(keys.filter(lambda key: not isinstance(key, list)), numbers),
                                       max_size=12), max_size=8),
       limit_bytes=st.sampled_from([1, 40, 200, 1 << 30]))
def test_a_combiner_over_spills_keeps_every_record_counted(pairs_batches, limit_bytes):
    """Whatever spills a small buffer makes with a combiner, every record is in the output's
    sums and in MAP_OUTPUT_RECORDS."""
    got, counters = _run(pairs_batches, combine=_summed, limit_bytes=limit_bytes)
    assert _sums(got) == _sums(pairs_batches)
    assert counters.task("MAP_OUTPUT_RECORDS") == sum(map(len, pairs_batches))
    assert counters.task("MAP_OUTPUT_BYTES") == _output_bytes(pairs_batches)


def _renamed(groups):
    """Yields a new key for some keys, and two records for others: its output must be sorted again."""
    for key, group in groups:
        total = sum(group)
        if key == "b":
            yield "a2", total
        elif key == "é":
            yield key, total
            yield "0", -total
        else:
            yield key, total


def _odd_records(groups):
    """Lists for pairs, and a str subclass for a key: not the common case, the same output."""
    for key, group in groups:
        yield [_Word(key) if key == "a" else key, sum(group)]


words = st.sampled_from(["a", "b", "é", "a\x00", "", "zz", "\ud800"])
word_batches = st.lists(st.lists(st.tuples(words, st.just(ONE)), max_size=12), max_size=8)


@settings(max_examples=150, deadline=None)
@given(pairs_batches=word_batches, partitions=st.sampled_from([1, 2, 3]),
       combiner=st.sampled_from([_summed, _renamed, _odd_records]))
def test_counted_words_come_out_as_the_combiner_made_them(pairs_batches, partitions, combiner):
    """Word count's case (every key a counted str, one spill): the combiner's output per key,
    whatever it yields, partitioned and sorted by key as any record is (stably: a key's
    records in the order the combiner yielded them)."""
    got, counters = _run(pairs_batches, combine=combiner, partitions=partitions)
    groups = ((decode_key(encoded), [value for _, value in group])
              for encoded, group in _grouped(_model(pairs_batches, 1)[0]))
    combined = list(combiner(groups))
    assert _same(got, _model([combined], partitions))
    assert counters.task("MAP_OUTPUT_BYTES") == _output_bytes(pairs_batches)
    assert counters.task("COMBINE_INPUT_RECORDS") == sum(map(len, pairs_batches))
    assert counters.task("COMBINE_OUTPUT_RECORDS") == len(combined)
    assert counters.task("MAP_OUTPUT_RECORDS") == sum(map(len, pairs_batches))


class _FirstLetter(HashPartitioner):
    """A subclass with a rule of its own: its batch call must use it."""

    def partition(self, encoded_key, key, num_partitions):
        return ord(key[:1] or "a") % num_partitions


@settings(max_examples=50, deadline=None)
@given(pairs_batches=word_batches)
def test_a_partitioner_subclass_partitions_counted_words_by_its_own_rule(pairs_batches):
    got, _ = _run(pairs_batches, partitions=3, partitioner=_FirstLetter())
    assert _same(got, _model(pairs_batches, 3, _FirstLetter()))


def _grouped(part):
    from itertools import groupby

    return groupby(part, key=lambda record: encode_key(record[0]))


def test_counted_records_are_one_record_each_key_for_the_spill_size():
    """With a combiner, a million `(word, 1)` of ten words fit a buffer that ten lists would not."""
    words = [f"w{index}" for index in range(10)]
    pairs = [[(word, ONE) for word in words]] * 100_000
    got, counters = _run(pairs, combine=_summed, limit_bytes=64 << 10)
    assert sorted(pair for part in got for pair in part) == sorted((word, 100_000) for word in words)
    assert counters.task("SPILLED_RECORDS") == 10  # one spill, no merge
    assert counters.task("COMBINE_INPUT_RECORDS") == 1_000_000


def test_a_combiner_buffer_spills_as_its_distinct_keys_fill_it():
    """Twenty thousand words, each twice, through a 64 KiB buffer with a combiner: the new keys
    fill it, so it spills along the way (then merges), and every count comes out."""
    words = [f"word{index}" for index in range(20_000)]
    pairs = [[(word, ONE) for word in words[start:start + 100]] for start in range(0, len(words), 100)] * 2
    got, counters = _run(pairs, combine=_summed, limit_bytes=64 << 10)
    assert sorted(pair for part in got for pair in part) == sorted((word, 2) for word in words)
    assert counters.task("SPILLED_RECORDS") > 2 * len(words)  # spilled, then spilled again by the merge
    assert counters.task("MAP_OUTPUT_RECORDS") == 40_000

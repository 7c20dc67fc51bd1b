"""Hypothesis for the engine's pure pieces: record reader, key order, partitioner, merge, spills."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
from fractions import Fraction

import msgpack
from hypothesis import given, settings
from hypothesis import strategies as st

from mapreduce.api import counters as names
from mapreduce.api.counters import Counters
from mapreduce.api.keys import decode_key, encode_key, encode_str_keys
from mapreduce.api.partitioners import HashPartitioner, partition_all
from mapreduce.task.merger import BoundedMerger, MergeSettings
from mapreduce.task.segments import Segment, write_segment_file
from mapreduce.task.splits import read_line_chunks

# ---------------------------------------------------------------- the line record reader


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200).map(lambda raw: raw.replace(b"x", b"\n")),
       cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=8),
       chunk_bytes=st.integers(min_value=1, max_value=16))
def test_every_line_is_read_exactly_once_whatever_the_split_points(data, cuts, chunk_bytes):
    points = sorted({0, len(data), *(cut for cut in cuts if cut <= len(data))})
    got = b""
    for start, end in zip(points, points[1:]):
        got += b"".join(read_line_chunks(io.BytesIO(data), start, end - start, chunk_bytes))
    assert got == data  # every byte of every line, in order, once


# ---------------------------------------------------------------- keys

scalars = st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1) \
    | st.floats(allow_nan=False) | st.text(max_size=6) | st.binary(max_size=6)
keys = st.recursive(scalars, lambda children: st.lists(children, max_size=4)
                    | st.dictionaries(st.text(max_size=3), children, max_size=3), max_leaves=8)


def model(value):
    """The documented order as a Python sort key: type rank, then within the type."""
    if value is None:
        return (0,)
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, (int, float)):
        if isinstance(value, float) and math.isinf(value):
            return (2, 1 if value > 0 else -1, 0, 0, 0)
        is_negative_zero = isinstance(value, float) and value == 0 and math.copysign(1, value) < 0
        return (2, 0, Fraction(value), isinstance(value, int), not is_negative_zero)
    if isinstance(value, str):
        return (3, value)
    if isinstance(value, bytes):
        return (4, value)
    if isinstance(value, list):
        return (5, tuple(model(element) for element in value))
    return (6, tuple(sorted((model(key), model(item)) for key, item in value.items())))


@settings(max_examples=200, deadline=None)
@given(first=keys, second=keys)
def test_encoded_key_order_is_the_model_order(first, second):
    a, b = encode_key(first), encode_key(second)
    assert (a < b) == (model(first) < model(second))
    assert (a == b) == (model(first) == model(second))


@settings(max_examples=150, deadline=None)
@given(key=keys)
def test_keys_and_values_round_trip(key):
    assert decode_key(encode_key(key)) == key
    assert msgpack.unpackb(msgpack.packb(key), raw=False, strict_map_key=False) == key


# ---------------------------------------------------------------- the partitioner

PARTITION_SCRIPT = """
import json, sys
from mapreduce.api.keys import encode_key
from mapreduce.api.partitioners import HashPartitioner
keys = json.loads(sys.stdin.read())
print(json.dumps([HashPartitioner().partition(encode_key(k), k, 7) for k in keys]))
"""


@settings(max_examples=3, deadline=None)
@given(sample=st.lists(st.text(max_size=8) | st.integers(min_value=-(2**40), max_value=2**40)
                       | st.lists(st.text(max_size=3), max_size=3), min_size=1, max_size=40))
def test_the_partitioner_is_the_same_in_every_process(sample):
    here = [HashPartitioner().partition(encode_key(key), key, 7) for key in sample]
    for seed in ("1", "2"):
        other = subprocess.run([sys.executable, "-c", PARTITION_SCRIPT], input=json.dumps(sample), text=True,
                               capture_output=True, check=True, env={"PYTHONHASHSEED": seed, "PATH": ""})
        assert json.loads(other.stdout) == here


# ---------------------------------------------------------------- the bounded merge

records = st.tuples(st.text(max_size=4).map(encode_key), st.integers(min_value=0, max_value=9))


@settings(max_examples=100, deadline=None)
@given(runs=st.lists(st.lists(records, max_size=20), max_size=12), factor=st.integers(min_value=2, max_value=4),
       memory_limit_bytes=st.integers(min_value=0, max_value=300), on_disk=st.lists(st.booleans(), max_size=12))
def test_external_merge_equals_sorted_concatenation(tmp_path_factory, runs, factor, memory_limit_bytes, on_disk):
    directory = tmp_path_factory.mktemp("merge")
    segments = []
    for index, run in enumerate(runs):
        run = sorted(run, key=lambda record: record[0])
        if index < len(on_disk) and on_disk[index]:
            segments.append(write_segment_file(str(directory / f"run{index}"), run))
        else:
            data = b"".join(msgpack.packb(key) + msgpack.packb(value) for key, value in run)
            segments.append(Segment.from_bytes(data, len(run)))
    merger = BoundedMerger(str(directory), MergeSettings(factor, memory_limit_bytes), Counters())
    merged = list(merger.merge(segments))
    everything = [record for run in runs for record in run]
    assert [key for key, _ in merged] == sorted(key for key, _ in everything)
    assert sorted(merged) == sorted(everything)


def test_merge_passes_keep_at_most_factor_segments_open(tmp_path):
    runs = [[(encode_key(f"k{index:03d}"), index)] for index in range(25)]
    segments = [write_segment_file(str(tmp_path / f"run{index}"), run) for index, run in enumerate(runs)]
    counters = Counters()
    merger = BoundedMerger(str(tmp_path), MergeSettings(factor=3, memory_limit_bytes=0), counters)
    merged = list(merger.merge(segments))
    assert [value for _, value in merged] == list(range(25))
    assert merger.files_written >= 11  # (25 - 3) / (3 - 1) intermediate passes
    assert counters.task(names.SPILLED_RECORDS) > 25


# ---------------------------------------------------------------- str keys in a batch

str_keys = st.lists(st.text(max_size=6) | st.sampled_from(["\x00", "a\x00b", "\ud800", "\udcff", "é", ""]), max_size=30)


@settings(max_examples=200, deadline=None)
@given(sample=str_keys)
def test_str_keys_encode_in_a_batch_as_one_by_one_and_sort_as_their_encodings(sample):
    encoded = encode_str_keys(sample)
    assert encoded == [encode_key(key) for key in sample]
    assert [encode_key(key) for key in sorted(sample)] == sorted(encoded)


class _Sum(HashPartitioner):
    def partition(self, encoded_key, key, num_partitions):
        return sum(encoded_key) % num_partitions


class _Plain:
    def partition(self, encoded_key, key, num_partitions):
        return len(encoded_key) % num_partitions


@settings(max_examples=50, deadline=None)
@given(sample=str_keys, count=st.integers(min_value=1, max_value=9))
def test_partition_all_is_each_keys_partition(sample, count):
    encoded = encode_str_keys(sample)
    for partitioner in (HashPartitioner(), _Sum(), _Plain()):
        assert partition_all(partitioner, encoded, sample, count) == \
            [partitioner.partition(key_bytes, key, count) for key_bytes, key in zip(encoded, sample)]

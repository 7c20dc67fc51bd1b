"""The reduce side's merge by sorting bounded buffers gives exactly heapq.merge's records, ties included,
and holds about READ_BUFFER_BYTES of records a segment whatever their size."""

import heapq
import io
from operator import itemgetter

from hypothesis import given, settings
from hypothesis import strategies as st

from mapreduce.task import segments
from mapreduce.task.segments import READ_BUFFER_BYTES, Segment, SegmentWriter

# Sorted runs of small keys, so that keys repeat within and across runs; each value says where it came from.
runs = st.lists(st.lists(st.binary(max_size=2), max_size=30).map(sorted), min_size=2, max_size=5)


@given(keys=runs, data=st.data())
@settings(max_examples=400, deadline=None)
def test_sorted_batches_equal_heapq_merge(keys, data):
    streams = [[(key, (run, position)) for position, key in enumerate(run_keys)] for run, run_keys in enumerate(keys)]
    expected = list(heapq.merge(*streams, key=itemgetter(0)))
    # Small buffers, a size a stream, so that every run is refilled many times and at different rates.
    sizes = data.draw(st.lists(st.integers(1, 8), min_size=len(streams), max_size=len(streams)))
    batches = list(segments._sorted_batches([iter(stream) for stream in streams], sizes))
    assert [record for batch in batches for record in batch] == expected
    assert all(batches)  # no empty batch


def _segment(records: list[tuple]) -> Segment:
    file = io.BytesIO()
    writer = SegmentWriter(file)
    writer.write_all(records)
    return Segment.from_bytes(file.getvalue(), writer.finish().records)


# Runs of records of one value size each: a few bytes (word count) up to more than READ_BUFFER_BYTES.
value_sizes = st.sampled_from([1, 100, 10_000, 100_000])
sized_runs = st.lists(st.tuples(st.lists(st.binary(max_size=1), max_size=12).map(sorted), value_sizes),
                      min_size=1, max_size=4)


@given(runs=sized_runs, sort_values=st.booleans())
@settings(max_examples=60, deadline=None)
def test_merge_of_large_records_equals_heapq_merge_in_bounded_batches(runs, sort_values):
    streams = [[(key, b"%d %d " % (run, position) + b"v" * size) for position, key in enumerate(keys)]
               for run, (keys, size) in enumerate(runs)]
    merged = [_segment(stream) for stream in streams]
    batches = list(segments.merge_batches(merged, sort_values))
    if sort_values:
        expected = sorted(record for stream in streams for record in stream)
    else:
        expected = list(heapq.merge(*streams, key=itemgetter(0)))
    assert [record for batch in batches for record in batch] == expected
    assert all(batches)
    # Below 2 x batch_records records a segment are held, batch_records x its average size is at most
    # READ_BUFFER_BYTES (or one record, when a record is larger): so is every batch handed out.
    bound = sum(max(2 * READ_BUFFER_BYTES, segment.length // max(1, segment.records)) for segment in merged)
    assert max((sum(len(key) + len(value) for key, value in batch) for batch in batches), default=0) <= bound


def test_batch_records_by_average_record_size():
    small = _segment([(b"%05d" % i, 1) for i in range(10_000)])  # word count's records: a full batch
    assert segments.batch_records(small) == segments.MERGE_BATCH_RECORDS
    large = _segment([(b"%05d" % i, "x" * 100_000) for i in range(3)])
    assert segments.batch_records(large) == 1
    medium = _segment([(b"%05d" % i, "x" * 1000) for i in range(100)])
    assert segments.batch_records(medium) * medium.length // medium.records <= READ_BUFFER_BYTES
    assert segments.batch_records(Segment.from_bytes(b"")) == segments.MERGE_BATCH_RECORDS


def test_reading_an_in_memory_segment_holds_a_buffer_of_it_not_a_copy():
    """A reducer merges several map outputs held in memory: reading one must not copy it whole
    (msgpack's Unpacker.feed did, so each such segment was held twice)."""
    import tracemalloc

    file = io.BytesIO()
    writer = SegmentWriter(file)
    writer.write_all((b"\x05key%08d\x00" % index, "v" * 100) for index in range(200_000))
    data = file.getvalue()
    segment = Segment.from_bytes(data, writer.records)
    tracemalloc.start()
    try:
        records = segment.records_iter()
        first = next(records)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert first == (b"\x05key00000000\x00", "v" * 100)
    assert len(data) > 20 * READ_BUFFER_BYTES
    assert peak < 4 * READ_BUFFER_BYTES
    assert sum(1 for _ in records) == 200_000 - 1

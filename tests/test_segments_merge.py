"""The reduce side's merge by sorting bounded buffers gives exactly heapq.merge's records, ties included."""

import heapq
from operator import itemgetter

from hypothesis import given, settings
from hypothesis import strategies as st

from mapreduce.task import segments

# Sorted runs of small keys, so that keys repeat within and across runs; each value says where it came from.
runs = st.lists(st.lists(st.binary(max_size=2), max_size=30).map(sorted), min_size=2, max_size=5)


@given(keys=runs, batch_records=st.integers(1, 8))
@settings(max_examples=400, deadline=None)
def test_sorted_batches_equal_heapq_merge(keys, batch_records):
    streams = [[(key, (run, position)) for position, key in enumerate(run_keys)] for run, run_keys in enumerate(keys)]
    expected = list(heapq.merge(*streams, key=itemgetter(0)))
    original = segments.MERGE_BATCH_RECORDS
    segments.MERGE_BATCH_RECORDS = batch_records  # small buffers, so that every run is refilled many times
    try:
        batches = list(segments._sorted_batches([iter(stream) for stream in streams]))
    finally:
        segments.MERGE_BATCH_RECORDS = original
    assert [record for batch in batches for record in batch] == expected
    assert all(batches)  # no empty batch

"""Map output on disk: sorted runs ("segments") of records, and an index per partition.

A map task writes one file, `file.out`, holding one segment per reduce
partition, one after the other, and `file.out.index` saying where each starts:

    file.out.index   per partition: offset, length (bytes), records  (3 x uint64, big-endian)
    file.out         segment 0 | segment 1 | ...

A segment is a msgpack stream: encoded key (bytes, see `keys.py`), value,
encoded key, value, ... sorted by encoded key. Keys stay encoded all the way
to the reducer, so sorting and merging compare bytes; values stay plain msgpack
objects. A reducer gets its partition's segment from every map as a `Segment`,
in memory (bytes fetched over the shuffle) or on disk (a file range), and
merges them with `merge`.
"""

from __future__ import annotations

import bisect
import heapq
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain, islice
from operator import itemgetter
from pathlib import Path

import msgpack

INDEX_ENTRY = struct.Struct(">QQQ")
MAP_OUTPUT_FILE = "file.out"
MAP_OUTPUT_INDEX_FILE = "file.out.index"
MAP_OUTPUT_DIR_NAME = "output"  # <application dir>/output/<map attempt id>/: where the shuffle service finds them
READ_BUFFER_BYTES = 1 << 16  # per segment during a merge: memory is about segments x 2 x this (batch_records)
WRITE_BATCH_RECORDS = 4096  # records packed by one call
MERGE_BATCH_RECORDS = 4096  # records read from each segment at a time during a merge, at most

Record = tuple  # (encoded key: bytes, value)


@dataclass(frozen=True)
class IndexEntry:
    offset: int
    length: int
    records: int


def array_header_bytes(count: int) -> int:
    """The bytes of msgpack's header of an array of `count` elements."""
    return 1 if count < 16 else 3 if count < 1 << 16 else 5


def write_index(path: str, entries: list[IndexEntry]) -> None:
    with open(path, "wb") as file:
        file.write(b"".join(INDEX_ENTRY.pack(entry.offset, entry.length, entry.records) for entry in entries))


def read_index(path: str) -> list[IndexEntry]:
    with open(path, "rb") as file:
        data = file.read()
    return [IndexEntry(*values) for values in INDEX_ENTRY.iter_unpack(data)]


def read_index_entry(path: str, partition: int) -> IndexEntry:
    """One partition's entry, without reading the others (what the shuffle service serves from)."""
    with open(path, "rb") as file:
        file.seek(partition * INDEX_ENTRY.size)
        return IndexEntry(*INDEX_ENTRY.unpack(file.read(INDEX_ENTRY.size)))


def _unpacker(source) -> msgpack.Unpacker:
    return msgpack.Unpacker(source, raw=False, strict_map_key=False, read_size=READ_BUFFER_BYTES,
                            max_buffer_size=0)


class _FileRange:
    """A file-like view of [offset, offset + length) of a file, for the unpacker."""

    def __init__(self, path: str, offset: int, length: int):
        self.file = open(path, "rb")
        self.file.seek(offset)
        self.remaining = length

    def read(self, size: int) -> bytes:
        if self.remaining <= 0:
            self.file.close()
            return b""
        data = self.file.read(min(size, self.remaining))
        self.remaining -= len(data)
        return data


class _MemoryRange:
    """A file-like view of a segment's bytes in memory, for the unpacker: it reads them a buffer at a
    time, where Unpacker.feed would copy the whole segment into a buffer of its own (so a reducer
    merging in-memory segments held each one twice)."""

    def __init__(self, data: bytes | bytearray):
        self.view = memoryview(data)
        self.position = 0

    def read(self, size: int) -> bytes:
        chunk = self.view[self.position:self.position + size]
        self.position += len(chunk)
        return bytes(chunk)


@dataclass(frozen=True)
class Segment:
    """One sorted run: bytes in memory, or a range of a file on disk."""

    data: bytes | bytearray | None = None
    path: str | None = None
    offset: int = 0
    length: int = 0
    records: int = -1  # -1: not known

    @classmethod
    def from_bytes(cls, data: bytes | bytearray, records: int = -1) -> Segment:
        return cls(data=data, length=len(data), records=records)

    @classmethod
    def from_file(cls, path: str, offset: int = 0, length: int | None = None, records: int = -1) -> Segment:
        if length is None:
            length = os.path.getsize(path) - offset
        return cls(path=path, offset=offset, length=length, records=records)

    @property
    def in_memory(self) -> bool:
        return self.data is not None

    def read_bytes(self) -> bytes:
        if self.data is not None:
            return self.data
        with open(self.path, "rb") as file:
            file.seek(self.offset)
            return file.read(self.length)

    def records_iter(self) -> Iterator[Record]:
        """(encoded key, value) pairs, streaming from disk with a bounded buffer."""
        if self.length == 0:
            return iter(())
        if self.data is not None:
            unpacker = _unpacker(_MemoryRange(self.data))
        else:
            unpacker = _unpacker(_FileRange(self.path, self.offset, self.length))
        return zip(unpacker, unpacker)


class SegmentWriter:
    """Writes records as a segment to an open binary file; counts what it wrote."""

    def __init__(self, file):
        self.file = file
        self.start = file.tell()
        self.records = 0
        self._packer = msgpack.Packer()

    def write(self, encoded_key: bytes, value) -> None:
        pack = self._packer.pack
        self.file.write(pack(encoded_key) + pack(value))
        self.records += 1

    def write_all(self, records: Iterable[Record]) -> None:
        """A few thousand records at a time, packed by one call: msgpack packs a list as a header and
        its elements one after the other, so the flat list key, value, key, value, ... packs as a
        header and exactly the segment's bytes (C loops, where a pack per key and value was two
        Python calls per record)."""
        pack = self._packer.pack
        records = iter(records)
        while batch := list(chain.from_iterable(islice(records, WRITE_BATCH_RECORDS))):
            assert len(batch) % 2 == 0, "a record is a (key, value) pair"
            self.file.write(memoryview(pack(batch))[array_header_bytes(len(batch)):])
            self.records += len(batch) // 2

    def finish(self) -> IndexEntry:
        return IndexEntry(self.start, self.file.tell() - self.start, self.records)


def merge(segments: list[Segment], sort_values: bool = False) -> Iterator[Record]:
    """All records of sorted segments, in order: a k-way merge on encoded keys.

    With `sort_values` (secondary sort), records are ordered by key, then by value
    in the key order of `keys.py`.
    """
    return chain.from_iterable(merge_batches(segments, sort_values))


def merge_batches(segments: list[Segment], sort_values: bool = False) -> Iterator[list[Record]]:
    """`merge`'s records, a list of a few thousand at a time (fewer, when records are large)."""
    sizes = [batch_records(segment) for segment in segments]
    if len(segments) == 1 and not sort_values:
        return _batches(segments[0].records_iter(), sizes[0])
    if sort_values:
        from mapreduce.api.keys import encode_key

        return _batches(heapq.merge(*(segment.records_iter() for segment in segments),
                                    key=lambda record: (record[0], encode_key(record[1]))), min(sizes))
    return _sorted_batches([segment.records_iter() for segment in segments], sizes)


def batch_records(segment: Segment) -> int:
    """How many records to read from a segment at a time: about READ_BUFFER_BYTES of them by its average
    record size (so that a merge holds about segments x 2 x READ_BUFFER_BYTES of decoded records, whatever
    their size), MERGE_BATCH_RECORDS at most. A segment whose record count is not known reads
    MERGE_BATCH_RECORDS at a time."""
    if segment.records < 0:
        return MERGE_BATCH_RECORDS
    average = max(1, segment.length // max(1, segment.records))
    return max(1, min(MERGE_BATCH_RECORDS, READ_BUFFER_BYTES // average))


def _batches(records: Iterator[Record], size: int) -> Iterator[list[Record]]:
    while batch := list(islice(records, size)):
        yield batch


def _sorted_batches(streams: list[Iterator[Record]], sizes: list[int]) -> Iterator[list[Record]]:
    """The k-way merge done by Python's sort, in C, instead of heapq.merge's Python loop per record.

    Each stream's next records wait in a buffer (refilled, `sizes[i]` records at a time, when it holds
    fewer, so memory is below 2 x sizes[i] records a stream). No stream still running can yield a key
    below `bound`, the smallest of their buffers' last keys; so every buffered record up to it is
    final, and sorting them (timsort merges the streams' sorted runs) gives the merge's next
    records. Records of equal keys come stream by stream, as from heapq.merge: past the first
    running stream whose buffer ends at `bound` (more of that key may follow in it), the later
    streams give only keys below `bound`. That stream's buffer is taken whole, so each round
    moves on."""
    first = itemgetter(0)
    buffers: list[list[Record]] = [[] for _ in streams]
    running = [True] * len(streams)
    while True:
        for index, (stream, size) in enumerate(zip(streams, sizes)):
            if running[index] and len(buffers[index]) < size:
                batch = list(islice(stream, size))
                buffers[index] += batch
                running[index] = len(batch) == size
        if not any(running):
            break
        bound = min(buffer[-1][0] for buffer, more in zip(buffers, running) if more)
        taken: list[Record] = []
        held_back = False
        for buffer, more in zip(buffers, running):
            if held_back:
                end = bisect.bisect_left(buffer, bound, key=first)
            else:
                end = bisect.bisect_right(buffer, bound, key=first)
                held_back = more and buffer[-1][0] == bound
            taken += buffer[:end]
            del buffer[:end]
        taken.sort(key=first)
        yield taken
    rest = list(chain.from_iterable(buffers))
    rest.sort(key=first)
    if rest:
        yield rest


def write_segment_file(path: str, records: Iterable[Record]) -> Segment:
    """Write records to a new file as one segment (an intermediate merge's output)."""
    with open(path, "wb") as file:
        writer = SegmentWriter(file)
        writer.write_all(records)
        entry = writer.finish()
    return Segment.from_file(path, 0, entry.length, entry.records)


def map_output_dir(application_dir: Path | str, map_attempt_id: str) -> Path:
    """Where a map attempt in a container writes its output, which the NodeManager's shuffle service serves."""
    return Path(application_dir) / MAP_OUTPUT_DIR_NAME / map_attempt_id

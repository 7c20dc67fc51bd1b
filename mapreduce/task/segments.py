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

import heapq
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from operator import itemgetter

import msgpack

INDEX_ENTRY = struct.Struct(">QQQ")
MAP_OUTPUT_FILE = "file.out"
MAP_OUTPUT_INDEX_FILE = "file.out.index"
READ_BUFFER_BYTES = 1 << 16  # per segment during a merge: memory is segments x this

Record = tuple  # (encoded key: bytes, value)


@dataclass(frozen=True)
class IndexEntry:
    offset: int
    length: int
    records: int


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


@dataclass(frozen=True)
class Segment:
    """One sorted run: bytes in memory, or a range of a file on disk."""

    data: bytes | None = None
    path: str | None = None
    offset: int = 0
    length: int = 0
    records: int = -1  # -1: not known

    @classmethod
    def from_bytes(cls, data: bytes, records: int = -1) -> Segment:
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
            unpacker = _unpacker(None)
            unpacker.feed(self.data)
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
        """Batches writes: a list of packed pieces is joined and written per few thousand records."""
        pack = self._packer.pack
        pieces: list[bytes] = []
        count = 0
        for encoded_key, value in records:
            pieces.append(pack(encoded_key))
            pieces.append(pack(value))
            count += 1
            if len(pieces) >= 8192:
                self.file.write(b"".join(pieces))
                pieces.clear()
        if pieces:
            self.file.write(b"".join(pieces))
        self.records += count

    def finish(self) -> IndexEntry:
        return IndexEntry(self.start, self.file.tell() - self.start, self.records)


def merge(segments: list[Segment], sort_values: bool = False) -> Iterator[Record]:
    """All records of sorted segments, in order: a k-way merge on encoded keys.

    With `sort_values` (secondary sort), records are ordered by key, then by value
    in the key order of `keys.py`.
    """
    if len(segments) == 1 and not sort_values:
        return segments[0].records_iter()
    if sort_values:
        from mapreduce.api.keys import encode_key

        return heapq.merge(*(segment.records_iter() for segment in segments),
                           key=lambda record: (record[0], encode_key(record[1])))
    return heapq.merge(*(segment.records_iter() for segment in segments), key=itemgetter(0))


def write_segment_file(path: str, records: Iterable[Record]) -> Segment:
    """Write records to a new file as one segment (an intermediate merge's output)."""
    with open(path, "wb") as file:
        writer = SegmentWriter(file)
        writer.write_all(records)
        entry = writer.finish()
    return Segment.from_file(path, 0, entry.length, entry.records)

"""Word count's mapper run over a batch of lines at once, with numpy.

The commonest mapper of all,

    def mapper(self, key, line):
        for word in line.split():
            yield word, 1

costs per word what fusion (`fusion.py`) can make cheaper but not remove: `split` makes a
str object for the word, the buffer hashes it and looks it up in a dict of a few hundred
thousand keys (a cache miss or two each) and stores one more count: about 0.35
microseconds a word, 9 CPU seconds for a 128 MiB block of 26 million words (1.7 here).
Spark's DataFrame runs the same query (split, explode, group by, count) as generated JVM
code over the bytes. For a mapper that is exactly this loop (`fusion.split_count`: any
names, any int constant), the map task runs it here instead, on the split's bytes, 8 MiB
of lines at a time:

1. A line that is not plain ASCII (a byte of 128 or more, or a control character that
   `str.split` does not take for whitespace, NUL among them) goes to the fused mapper as
   before, decoded as the reader decodes it: `str.split` then finds its words with
   Unicode's own whitespace (U+00A0, U+2028, ...). The line's bytes are blanked here.
2. In what is left, a byte at or below 32 (space) is whitespace to `str.split` (tab,
   newline, \\v, \\f, \\r, \\x1c to \\x1f, space: the only ones left) and every other byte is
   part of a word: words are runs of bytes above 32, found where that changes.
3. A word of at most 8 bytes is read as one big-endian uint64 from where it starts (a view
   of the bytes with a stride of 1), with the bytes past its end masked to 0: a number that
   is the word, exactly (a word's bytes are never 0, so the padding cannot make two words
   alike). `numpy.unique` sorts them and counts each, and the numbers are turned back into
   str by viewing them as 8-byte strings. A word of 9 to 16 bytes is two such numbers, seen
   as one 16-byte string; a longer one (rare in text) is sliced out and counted by Counter.
   No hashing: nothing can collide.
4. The distinct words and their counts are kept as numpy columns from batch to batch (16
   bytes a short word, where a dict takes about 100) and go to the map buffer
   (`MapOutputBuffer.add_counted`) at the end, or before the buffer would be full with them:
   it counts them exactly as it counts the fused mapper's `yield word, 1`.

What comes out is what the loop gives: the same records, so the same file.out and the same
counters; only with a sort buffer too small for the split's words do the spills come at
other points (the buffer is filled a tally at a time, not a record at a time), so the spill
counters differ, as Hadoop's move with its buffer's size. `-D emrlab.map.vectorise=false`
turns this off, and `-D emrlab.map.fuse=false` with fusion.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator

import numpy

from mapreduce.task.splits import split_lines

BATCH_BYTES = 8 << 20  # lines read before they are counted: about 80 MB of numpy arrays at a time
HELD_WORDS = 4_000_000  # distinct words of several batches held as columns before the buffer has them
SHORT, MEDIUM = 8, 16  # the longest word counted as one uint64, and as two
_PAD = b" " * (MEDIUM + 1)  # so that every word has 16 bytes to read from its start
# Bytes that send their line to the fused mapper: a control character that str.split does not
# take for whitespace (NUL among them), and every byte of 128 and up.
_SPECIAL = numpy.ones(256, dtype=bool)
_SPECIAL[[9, 10, 11, 12, 13, 28, 29, 30, 31]] = False
_SPECIAL[32:128] = False
# _KEEP[n]: the first n bytes of a big-endian uint64.
_KEEP = numpy.array([0] + [(1 << 64) - (1 << (64 - 8 * n)) for n in range(1, SHORT + 1)], dtype=numpy.uint64)


def count_words(chunks: Iterable[bytes], value, map_lines: Callable[[list[str]], int], buffer) -> Iterator[int]:
    """Put the records `for word in line.split(): yield word, value` gives for every line of
    `chunks` (whole lines, as the reader reads them) in the map buffer (its `add_counted`);
    yield how many records each batch put. `map_lines` maps the lines this path does not take
    (decoded as the reader decodes them), and says how many records."""
    tally = _Tally(value, buffer.add_counted)
    pending: list[bytes] = []
    size = 0
    for chunk in chunks:
        pending.append(chunk)
        size += len(chunk)
        if size >= BATCH_BYTES:
            records = _count_batch(pending, map_lines, tally)
            pending, size = [], 0
            most = min(HELD_WORDS, buffer.counted_room())  # held past the buffer's limit: its spill is due
            if tally.held > most:
                tally.compact()
                if tally.held > most:
                    tally.drain()
            yield records
    records = _count_batch(pending, map_lines, tally) if pending else 0
    tally.drain()
    yield records


class _Tally:
    """Distinct words and their counts, kept over batches as numpy columns by kind (a short
    word's 8 bytes and its count are 16 bytes, where the buffer's dict takes about 100 a key)
    and handed to the buffer at the end, or once more are held than the buffer has room for
    (or HELD_WORDS), so that it spills where it would have: a dict update per distinct word of
    each batch was a third of the time."""

    def __init__(self, value, add_counted: Callable):
        self.value, self.add_counted = value, add_counted
        self.columns: dict[str, list[tuple[numpy.ndarray, numpy.ndarray]]] = {"S8": [], "S16": []}
        self.long: Counter = Counter()  # words of more than 16 bytes
        self.in_columns = 0

    @property
    def held(self) -> int:
        return self.in_columns + len(self.long)

    def add(self, kind: str, keys: numpy.ndarray, times: numpy.ndarray) -> None:
        if len(keys):
            self.columns[kind].append((keys, times))
            self.in_columns += len(keys)

    def compact(self) -> None:
        self.in_columns = 0
        for kind, columns in self.columns.items():
            if len(columns) > 1:
                columns[:] = [_merged(columns)]
            self.in_columns += sum(len(keys) for keys, _ in columns)

    def drain(self) -> None:
        self.compact()
        for kind, columns in self.columns.items():
            for keys, times in columns:
                # A big-endian number is its bytes; numpy drops a string's trailing zero bytes.
                words = (keys.astype(">u8").view("S8") if kind == "S8" else keys).astype("U16").tolist()
                self.add_counted(words, times.tolist(), self.value)
            columns.clear()
        if self.long:
            self.add_counted([word.decode("ascii") for word in self.long], list(self.long.values()), self.value)
            self.long.clear()
        self.in_columns = 0


def _merged(columns: list[tuple[numpy.ndarray, numpy.ndarray]]) -> tuple[numpy.ndarray, numpy.ndarray]:
    """Sorted distinct keys and their summed counts, of several such columns."""
    keys = numpy.concatenate([keys for keys, _ in columns])
    times = numpy.concatenate([times for _, times in columns])
    order = numpy.argsort(keys, kind="stable")  # runs already sorted: a merge
    keys, times = keys[order], times[order]
    first = numpy.flatnonzero(numpy.concatenate(([True], keys[1:] != keys[:-1])))
    return keys[first], numpy.add.reduceat(times, first)


def _count_batch(chunks: list[bytes], map_lines: Callable, tally: _Tally) -> int:
    """Count the words of a batch of whole lines into `tally`; how many there were."""
    data = numpy.frombuffer(b"".join([b"\n", *chunks, _PAD]), dtype=numpy.uint8)
    records = 0
    if data.max() >= 128 or _SPECIAL[data[data < 32]].any():
        data, records = _take_special_lines(data, map_lines)
    return records + _count_words(data, tally)


def _take_special_lines(data: numpy.ndarray, map_lines: Callable) -> tuple[numpy.ndarray, int]:
    """Give the lines with a byte of `_SPECIAL` to `map_lines`, decoded as the reader decodes
    them, and blank them in a copy of `data`."""
    special = numpy.flatnonzero(_SPECIAL[data])
    newlines = numpy.flatnonzero(data == 10)  # data starts with one, and its lines end in one
    lines = numpy.unique(numpy.searchsorted(newlines, special) - 1)  # the newline before each
    starts = newlines[lines] + 1
    ends = numpy.append(newlines, len(data) - len(_PAD))[lines + 1]
    data = data.copy()
    raw = data.tobytes()
    spans = list(zip(starts.tolist(), ends.tolist()))
    records = map_lines([line for start, end in spans for line in split_lines(raw[start:end])])
    for start, end in spans:
        data[start:end] = 32
    return data, records


def _count_words(data: numpy.ndarray, tally: _Tally) -> int:
    """Count the runs of bytes above 32 in `data` (which starts with whitespace and ends with
    `_PAD`) into `tally`, by length; how many there were."""
    blank = data <= 32
    edges = numpy.flatnonzero(blank[1:] != blank[:-1]) + 1
    starts, ends = edges[0::2], edges[1::2]
    lengths = ends - starts
    # Every byte from each position on, as a big-endian number (no copy: a stride of one byte).
    window = numpy.ndarray(shape=(len(data) - SHORT + 1,), dtype=">u8", buffer=data, strides=(1,))
    short = lengths <= SHORT
    every_short = bool(short.all())
    if every_short:
        keys = window[starts] & _KEEP[lengths]
    else:
        keys = window[starts[short]] & _KEEP[lengths[short]]
    tally.add("S8", *numpy.unique(keys, return_counts=True))
    if not every_short:
        medium = ~short & (lengths <= MEDIUM)
        if medium.any():
            first = starts[medium]
            pairs = numpy.empty((len(first), 2), dtype=">u8")
            pairs[:, 0] = window[first]
            pairs[:, 1] = window[first + SHORT] & _KEEP[lengths[medium] - SHORT]
            tally.add("S16", *numpy.unique(pairs.view("S16").ravel(), return_counts=True))
        long = lengths > MEDIUM
        if long.any():
            raw = data.tobytes()
            tally.long.update(raw[start:end] for start, end in zip(starts[long].tolist(), ends[long].tolist()))
    return len(starts)

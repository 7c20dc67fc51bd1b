"""Input splits, and the line record reader that reads each line exactly once.

A split is a byte range of one file that one map task reads. Hadoop's rule
(FileInputFormat) sizes them:

    splitSize = max(minSize, min(goalSize, maxSize, blockSize))

with `mapreduce.input.fileinputformat.split.minsize` / `.maxsize` and
goalSize = total input / `mapreduce.job.maps`, all read from the step's
`TaskConfig` (the rule of Hadoop's mapred FileInputFormat, which streaming
uses: with the default hint of 2, even a small input gets two maps). The
cluster's ApplicationMaster sets the hint to 1 by default, which gives one
map per block (appmaster/plan.py, RUNNER_DEFAULTS says why).
A file's last split may be up to 10% larger than splitSize rather than
leaving a sliver (SPLIT_SLOP = 1.1). Each split carries the hosts of the
block it starts in, so that the scheduler can run the map next to its data.

Lines cross split boundaries. The rule: a line belongs to the split in which
it *starts*. A reader whose split does not start at 0 skips everything up to
and including the first newline at or after `offset - 1` (if the byte before
its offset is a newline, it skips nothing), and it reads every line that
starts before its end, even if that line runs past it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from emrlab_common.errors import NotFound
from hdfs.paths import has_glob
from mapreduce.task.config import TaskConfig

SPLIT_SLOP = 1.1
READ_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class InputSplit:
    path: str
    offset: int
    length: int
    hosts: tuple[str, ...] = ()

    def to_list(self) -> list:
        return [self.path, self.offset, self.length, list(self.hosts)]

    @classmethod
    def from_list(cls, values: list) -> InputSplit:
        path, offset, length, hosts = values
        return cls(path, offset, length, tuple(hosts))


def is_hidden(name: str) -> bool:
    """Hadoop's hidden-file filter: _SUCCESS, _temporary, .crc files are not input."""
    return name.startswith(("_", "."))


def input_files(fs, paths: list[str]) -> list:
    """The files under `paths` (patterns expand, directories expand one level, hidden
    names skipped), as Hadoop's FileInputFormat lists its input."""
    files = []
    for path in expand_patterns(fs, paths):
        try:
            status = fs.status(path)
        except NotFound:
            raise NotFound(f"Input path does not exist: {path}") from None
        if status.is_directory:
            files += [entry for entry in fs.list(path) if not entry.is_directory and not is_hidden(entry.name)]
        else:
            files.append(status)
    return files


def expand_patterns(fs, paths) -> list[str]:
    expanded = []
    for path in paths:
        if not has_glob(path):
            expanded.append(path)
            continue
        matches = fs.glob(path)
        if not matches:
            raise NotFound(f"Input Pattern {path} matches 0 files")
        expanded += matches
    return expanded


def split_size(block_size: int, config: TaskConfig, total_bytes: int) -> int:
    # Hadoop reads a minimum below 1 as 1, and a hint of 0 maps as 1.
    minimum = max(1, config.split_min_size_bytes)
    goal = math.ceil(total_bytes / max(1, config.maps)) or 1
    return max(minimum, min(goal, config.split_max_size_bytes, block_size))


def compute_splits(fs, paths: list[str], config: TaskConfig, splittable: bool = True) -> list[InputSplit]:
    """Splits of every input file, in file order; an empty file gives one empty split (as
    Hadoop's FileInputFormat: a map-only job over it writes an empty part-m-00000)."""
    files = input_files(fs, paths)
    total = sum(status.length_bytes for status in files)
    splits = []
    for status in files:
        if status.length_bytes == 0:
            splits.append(InputSplit(status.path, 0, 0))
            continue
        blocks = fs.block_locations(status.path)
        if not splittable:
            splits.append(InputSplit(status.path, 0, status.length_bytes, _hosts_at(blocks, 0)))
            continue
        size = split_size(status.block_size_bytes, config, total)
        offset, remaining = 0, status.length_bytes
        while remaining / size > SPLIT_SLOP:
            splits.append(InputSplit(status.path, offset, size, _hosts_at(blocks, offset)))
            offset += size
            remaining -= size
        splits.append(InputSplit(status.path, offset, remaining, _hosts_at(blocks, offset)))
    return splits


def _hosts_at(blocks, offset: int) -> tuple[str, ...]:
    for block in blocks:
        if block.offset_bytes <= offset < block.offset_bytes + block.length_bytes:
            return tuple(block.hosts)
    return ()


def read_line_chunks(stream, offset: int, length: int, chunk_bytes: int = READ_CHUNK_BYTES) -> Iterator[bytes]:
    """The split's lines, as byte chunks of whole lines (each ending in a newline, except
    perhaps a file's last line). Yielding chunks rather than lines lets the caller decode
    and split a megabyte at a time; `split_lines` turns a chunk into lines.
    """
    end = offset + length
    if offset > 0:
        stream.seek(offset - 1)
        position = offset - 1 + _skip_first_line(stream, chunk_bytes)
    else:
        stream.seek(0)
        position = 0
    pending = b""  # the start of a line whose newline has not been read yet
    while position < end:
        data = stream.read(chunk_bytes)
        if not data:
            if pending:
                yield pending
            return
        data = pending + data if pending else data
        last_newline = data.rfind(b"\n")
        if last_newline < 0:
            pending = data
            continue
        whole, pending = data[:last_newline + 1], data[last_newline + 1:]
        if position + len(whole) > end:
            # Keep only the lines that start before `end`: up to the newline ending the line
            # that holds byte end - 1.
            cut = whole.find(b"\n", end - position - 1)
            yield whole[:cut + 1]
            return
        yield whole
        position += len(whole)


def _skip_first_line(stream, chunk_bytes: int) -> int:
    """Read through the first newline; return how many bytes that took (the stream stays there)."""
    skipped = 0
    while True:
        data = stream.read(chunk_bytes)
        if not data:
            return skipped
        newline = data.find(b"\n")
        if newline >= 0:
            stream.seek(-(len(data) - newline - 1), 1)
            return skipped + newline + 1
        skipped += len(data)


def split_lines(chunk: bytes) -> list[str]:
    """Lines of a chunk from `read_line_chunks`, decoded as UTF-8, without their line endings
    (a trailing carriage return goes too, as Hadoop's LineRecordReader drops CR LF)."""
    text = chunk.decode("utf-8", "surrogateescape")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    if "\r" in text:
        lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    return lines


def line_count(chunk: bytes) -> int:
    """How many lines `split_lines` finds in the chunk, without decoding it."""
    return chunk.count(b"\n") + (bool(chunk) and not chunk.endswith(b"\n"))


def read_lines(stream, split: InputSplit) -> Iterator[str]:
    """Every line of `split`, one at a time (tests and samplers; tasks use the chunks)."""
    for chunk in read_line_chunks(stream, split.offset, split.length):
        yield from split_lines(chunk)

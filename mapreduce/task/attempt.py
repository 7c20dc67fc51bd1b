"""Task attempts: what one map or reduce attempt is, and running it.

A runner (or the ApplicationMaster) describes an attempt as a `TaskAttempt`,
a plain record that crosses process boundaries as msgpack (`to_wire`), and the
process that runs it calls

    run_map_attempt(attempt, fs, reporter) -> AttemptResult
    run_reduce_attempt(attempt, fs, source, reporter) -> AttemptResult

A map attempt reads its split, runs the mapper and leaves `file.out` and
`file.out.index` in `attempt.local_dir` (see `mapbuffer.py`), or, in a
map-only step, writes its part file through the output committer. A reduce
attempt asks `source.fetch(partition, counters)` for its partition's segment
from every map (the local runners read map output files directly; the
cluster's shuffle fetches them from NodeManagers), merges them (`merger.py`),
runs the reducer, and writes `part-r-NNNNN` in its attempt directory. The
runner then commits the task (`FileOutputCommitter.commit_task`).

Reading a task top to bottom: `run_map_attempt`, then `run_reduce_attempt`;
`phases.py` turns a job's step into the functions they call.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain, groupby, repeat
from operator import itemgetter
from typing import Protocol

import msgpack

from emrlab_common.config import load
from mapreduce.api import counters as names
from mapreduce.api.counters import Counters
from mapreduce.api.errors import as_pair
from mapreduce.api.fs import filesystem_for, same_kind
from mapreduce.api.job import Job
from mapreduce.api.keys import decode_key
from mapreduce.task.config import TaskConfig
from mapreduce.task.formats import INPUT_FORMAT_KEY, OUTPUT_FORMAT_KEY, RECORDS_FORMAT, TEXT_FORMAT
from mapreduce.task.mapbuffer import MapOutputBuffer, SpillSettings
from mapreduce.task.merger import BoundedMerger, MergeSettings
from mapreduce.task.output import LAZY_OUTPUT_KEY, FileOutputCommitter, part_file_name
from mapreduce.task.segments import Segment
from mapreduce.task.splits import InputSplit, line_count, read_line_chunks, split_lines
from mapreduce.task.steps import load_step

WRITE_BATCH_RECORDS = 4096
# Where a task finds HDFS when its input and output are on different file systems.
CLUSTER_DIR_KEY = "emrlab.cluster.dir"


class TaskReporter(Protocol):
    def report(self, progress: float, status: str, counters: Counters) -> None: ...


class NullReporter:
    def report(self, progress: float, status: str, counters: Counters) -> None:
        pass


class MapOutputSource(Protocol):
    def fetch(self, partition: int, counters: Counters) -> list[Segment]: ...


@dataclass(frozen=True)
class TaskAttempt:
    job_id: str                      # job_<cluster timestamp>_<sequence>, one per step
    step_index: int
    kind: str                        # "map" or "reduce"
    task_index: int
    attempt_index: int
    job_reference: str               # "path/job.py:Class" or "package.module:Class"
    job_arguments: tuple[str, ...] = ()
    properties: dict = field(default_factory=dict)
    split: InputSplit | None = None  # maps only
    num_reduces: int = 0
    num_maps: int = 0
    local_dir: str = ""              # the attempt's scratch space on the node's disk
    output_dir: str = ""             # the step's output directory (committer's root)

    @property
    def is_map(self) -> bool:
        return self.kind == "map"

    @property
    def attempt_id(self) -> str:
        """Hadoop's form: attempt_1700000000000_0001_m_000003_0."""
        letter = "m" if self.is_map else "r"
        return f"attempt_{self.job_id[len('job_'):]}_{letter}_{self.task_index:06d}_{self.attempt_index}"

    @property
    def task_id(self) -> str:
        return "task_" + self.attempt_id[len("attempt_"):].rsplit("_", 1)[0]

    def to_wire(self) -> bytes:
        return msgpack.packb({
            "job_id": self.job_id, "step_index": self.step_index, "kind": self.kind,
            "task_index": self.task_index, "attempt_index": self.attempt_index,
            "job_reference": self.job_reference, "job_arguments": list(self.job_arguments),
            "properties": dict(self.properties), "split": self.split.to_list() if self.split else None,
            "num_reduces": self.num_reduces, "num_maps": self.num_maps, "local_dir": self.local_dir,
            "output_dir": self.output_dir,
        })

    @classmethod
    def from_wire(cls, data: bytes) -> TaskAttempt:
        values = msgpack.unpackb(data)
        values["job_arguments"] = tuple(values["job_arguments"])
        values["split"] = InputSplit.from_list(values["split"]) if values["split"] else None
        return cls(**values)


@dataclass(frozen=True)
class AttemptResult:
    counters: Counters
    map_output_path: str | None = None  # <local_dir>/file.out, for a map with reducers


def task_properties(attempt: TaskAttempt) -> dict[str, str]:
    """The job's configuration plus what Hadoop tells each task about itself; streaming
    commands see these as environment variables (dots as underscores)."""
    properties = dict(attempt.properties)
    properties.update({
        "mapreduce.job.id": attempt.job_id,
        "mapreduce.task.id": attempt.task_id,
        "mapreduce.task.attempt.id": attempt.attempt_id,
        "mapreduce.task.partition": str(attempt.task_index),
        "mapreduce.task.ismap": "true" if attempt.is_map else "false",
        "mapreduce.job.reduces": str(attempt.num_reduces),
        "mapreduce.job.output.dir": attempt.output_dir,
    })
    if attempt.split is not None:
        properties.update({
            "mapreduce.map.input.file": attempt.split.path,
            "mapreduce.map.input.start": str(attempt.split.offset),
            "mapreduce.map.input.length": str(attempt.split.length),
        })
    return properties


class TaskContext:
    """What a running job sees of its task: counters, status, and a throttled reporter."""

    REPORT_INTERVAL_S = 0.5

    def __init__(self, reporter: TaskReporter, counters: Counters):
        self.reporter = reporter
        self.counters = counters
        self.status = ""
        self.progress = 0.0
        self._last_report = 0.0

    def set_status(self, message: str) -> None:
        self.status = message
        self.report(self.progress, force=True)

    def report(self, progress: float, force: bool = False) -> None:
        self.progress = progress
        now = time.monotonic()
        if force or now - self._last_report >= self.REPORT_INTERVAL_S:
            self._last_report = now
            self.reporter.report(progress, self.status, self.counters)


# ---------------------------------------------------------------- map


class _TextRecords:
    """(None, line) for every line of the split, when iterated; its lines a list at a time
    (`line_lists`) for a mapper fused with the map buffer. Counts input and reports progress
    per megabyte."""

    def __init__(self, fs, split: InputSplit, context: TaskContext):
        self.fs, self.split, self.context = fs, split, context

    def byte_chunks(self) -> Iterator[bytes]:
        """The split's lines as the reader's chunks of whole lines, undecoded (`vectorised.py`)."""
        counters = self.context.counters
        consumed = 0
        with self.fs.open(self.split.path) as stream:
            for chunk in read_line_chunks(stream, self.split.offset, self.split.length):
                counters.increment(names.TASK_COUNTER, names.MAP_INPUT_RECORDS, line_count(chunk))
                counters.increment(names.FILE_SYSTEM_COUNTER, names.bytes_read(self.fs.name), len(chunk))
                yield chunk
                consumed += len(chunk)
                self.context.report(min(consumed / max(self.split.length, 1), 1.0))

    def line_lists(self) -> Iterator[list[str]]:
        return map(split_lines, self.byte_chunks())

    def __iter__(self) -> Iterator[tuple]:
        for lines in self.line_lists():
            yield from zip(repeat(None), lines)  # (None, line) pairs made in C, not by this frame


def _msgpack_records(fs, split: InputSplit, context: TaskContext) -> Iterator[tuple]:
    """(key, value) records of a previous step's output file (one split per file)."""
    counters = context.counters
    with fs.open(split.path) as stream:
        unpacker = msgpack.Unpacker(stream, raw=False, strict_map_key=False, read_size=1 << 20)
        records = 0
        for records, record in enumerate(unpacker, start=1):
            yield record[0], record[1]
            if records % 4096 == 0:
                counters.increment(names.TASK_COUNTER, names.MAP_INPUT_RECORDS, 4096)
                context.report(min(stream.tell() / max(split.length, 1), 1.0))
        counters.increment(names.TASK_COUNTER, names.MAP_INPUT_RECORDS, records % 4096)
    counters.increment(names.FILE_SYSTEM_COUNTER, names.bytes_read(fs.name), split.length)


class OutputWriter:
    """Writes a task's output records to its part file, as text lines or msgpack records."""

    def __init__(self, fs, path: str, job, output_format: str, counters: Counters, records_counter: str,
                 lazy: bool = False):
        self.fs = fs
        self.path = path
        self.lazy = lazy  # LazyOutputFormat: no part file for a task that writes nothing
        self.file = fs.create(path)
        self.job = job
        self.records_format = output_format == RECORDS_FORMAT
        self.counters = counters
        self.records_counter = records_counter
        self.producer = "mapper" if records_counter == names.MAP_OUTPUT_RECORDS else "reducer"
        self.written_bytes = 0

    def write_all(self, records: Iterator[tuple]) -> None:
        pending: list = []  # packed records, or text lines encoded a batch at a time
        count = 0
        pack = msgpack.Packer().pack
        format_output = self.job.format_output
        # Job.format_output's line for a str key and an int value, without its two calls per line.
        default_text = not self.records_format and type(self.job).format_output is Job.format_output
        for record in records:
            key, value = record if type(record) is tuple and len(record) == 2 else as_pair(record, self.producer)
            if self.records_format:
                pending.append(pack([key, value]))
            elif default_text and type(key) is str and type(value) is int:
                pending.append(f"{key}\t{value}\n")
            else:
                pending.append(format_output(key, value) + "\n")
            count += 1
            if len(pending) >= WRITE_BATCH_RECORDS:
                self._flush(pending)
        self._flush(pending)
        self.counters.increment(names.TASK_COUNTER, self.records_counter, count)

    def _flush(self, pending: list) -> None:
        if pending:
            if self.records_format:
                data = b"".join(pending)
            else:
                data = "".join(pending).encode("utf-8", "surrogateescape")
            self.file.write(data)
            self.written_bytes += len(data)
            pending.clear()

    def close(self) -> None:
        self.file.close()
        if self.lazy and self.written_bytes == 0:
            self.fs.delete(self.path)
        self.counters.increment(names.FILE_SYSTEM_COUNTER, names.bytes_written(self.fs.name), self.written_bytes)


def _spill_settings(config: TaskConfig) -> SpillSettings:
    return SpillSettings(limit_bytes=config.spill_limit_bytes, combine_min_spills=config.combine_min_spills)


def run_map_attempt(attempt: TaskAttempt, fs, reporter: TaskReporter) -> AttemptResult:
    assert attempt.is_map and attempt.split is not None
    counters = Counters()
    context = TaskContext(reporter, counters)
    properties = task_properties(attempt)
    job, step, phases = load_step(attempt, properties, context)
    os.makedirs(attempt.local_dir, exist_ok=True)
    read = _msgpack_records if properties.get(INPUT_FORMAT_KEY) == RECORDS_FORMAT else _TextRecords
    started = time.process_time()

    if attempt.num_reduces == 0:  # map-only: the mapper's output is the step's output
        output_fs = fs if same_kind(fs, attempt.output_dir) else filesystem_for(
            attempt.output_dir, properties.get(CLUSTER_DIR_KEY))
        committer = FileOutputCommitter(output_fs, attempt.output_dir)
        path = output_fs.join(committer.task_attempt_dir(attempt), part_file_name("map", attempt.task_index))
        writer = OutputWriter(output_fs, path, job, properties.get(OUTPUT_FORMAT_KEY, TEXT_FORMAT), counters,
                              names.MAP_OUTPUT_RECORDS, lazy=bool(properties.get(LAZY_OUTPUT_KEY)))
        try:
            writer.write_all(pair for batch in phases.map(read(fs, attempt.split, context))
                             for pair in batch)
        finally:
            writer.close()
            if output_fs is not fs:  # opened here for the output alone
                output_fs.close()
        output_path = None
    else:
        buffer = MapOutputBuffer(attempt.local_dir, attempt.num_reduces, job.partitioner(), phases.combine,
                                 phases.sort_values, _spill_settings(load(TaskConfig, properties)), counters,
                                 combine_sums=phases.combine_sums)
        buffer.collect(phases.map(read(fs, attempt.split, context), buffer.sink))
        counters.increment(names.TASK_COUNTER, names.MAP_OUTPUT_RECORDS, buffer.records_total)
        output_path = buffer.flush()
    phases.close()
    counters.increment(names.TASK_COUNTER, names.CPU_MILLISECONDS, int((time.process_time() - started) * 1000))
    context.report(1.0, force=True)
    return AttemptResult(counters, output_path)


# ---------------------------------------------------------------- reduce


def _merge_settings(config: TaskConfig) -> MergeSettings:
    return MergeSettings(factor=config.sort_factor, memory_limit_bytes=config.merge_memory_limit_bytes)


def _groups(batches, counters: Counters, context: TaskContext, total_records: int) -> Iterator[tuple]:
    """(key, values) per distinct key of a sorted stream of record batches, counting every record
    (even those of a group the reducer did not read to the end) as Hadoop counts reduce input:
    a batch at a time, as the merge gives them, rather than by a Python step per record."""
    seen = 0

    def counted(stream):
        nonlocal seen
        for batch in stream:
            seen += len(batch)
            yield batch

    group_count = 0
    for encoded, group in groupby(chain.from_iterable(counted(batches)), key=itemgetter(0)):
        group_count += 1
        yield decode_key(encoded), map(itemgetter(1), group)
        if group_count % 1024 == 0 and total_records > 0:
            context.report(0.66 + 0.34 * min(seen / total_records, 1.0))
    counters.increment(names.TASK_COUNTER, names.REDUCE_INPUT_GROUPS, group_count)
    counters.increment(names.TASK_COUNTER, names.REDUCE_INPUT_RECORDS, seen)


def run_reduce_attempt(attempt: TaskAttempt, fs, source: MapOutputSource, reporter: TaskReporter) -> AttemptResult:
    assert not attempt.is_map
    counters = Counters()
    context = TaskContext(reporter, counters)
    properties = task_properties(attempt)
    job, step, phases = load_step(attempt, properties, context)
    os.makedirs(attempt.local_dir, exist_ok=True)
    started = time.process_time()

    segments = source.fetch(attempt.task_index, counters)
    context.report(0.33, force=True)
    merger = BoundedMerger(attempt.local_dir, _merge_settings(load(TaskConfig, properties)), counters,
                           phases.sort_values)
    batches = merger.merge_batches(segments)
    context.report(0.66, force=True)
    total_records = sum(segment.records for segment in segments if segment.records > 0)

    committer = FileOutputCommitter(fs, attempt.output_dir)
    path = fs.join(committer.task_attempt_dir(attempt), part_file_name("reduce", attempt.task_index))
    writer = OutputWriter(fs, path, job, properties.get(OUTPUT_FORMAT_KEY, TEXT_FORMAT), counters,
                          names.REDUCE_OUTPUT_RECORDS, lazy=bool(properties.get(LAZY_OUTPUT_KEY)))
    try:
        writer.write_all(phases.reduce(_groups(batches, counters, context, total_records)))
    finally:
        writer.close()
    phases.close()
    counters.increment(names.TASK_COUNTER, names.CPU_MILLISECONDS, int((time.process_time() - started) * 1000))
    context.report(1.0, force=True)
    return AttemptResult(counters)

"""Hadoop Streaming: any program that reads lines on stdin and writes lines on stdout.

    emrlab streaming -input IN -output OUT -mapper 'python3 mapper.py' -reducer 'python3 reducer.py' \\
        -file mapper.py -file reducer.py [-combiner CMD] [-numReduceTasks N] [-D key=value]

Hadoop's conventions, so that scripts written for Hadoop run unchanged:

- The mapper gets the input lines; the combiner and reducer get `key<TAB>value`
  lines sorted by key (all of one key's lines together).
- An output line is split at its first tab into key and value; a line with no
  tab is all key (and is written back without a tab).
- On stderr, `reporter:counter:GROUP,NAME,AMOUNT` adds to a counter and
  `reporter:status:MESSAGE` sets the task's status; other stderr lines go to
  the attempt's log.
- A non-zero exit fails the attempt (which is then retried).
- `-reducer NONE` (or `-numReduceTasks 0`) makes the job map-only.
- The command sees the job configuration as environment variables, dots
  turned into underscores (`mapreduce_map_input_file`, `mapreduce_task_partition`,
  ...), and runs in a working directory holding the `-file` files.
"""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from emrlab_common.config import load, parse_bool, parse_int, parse_text, setting
from emrlab_common.errors import InvalidArgument
from mapreduce.api.errors import TaskFailed
from mapreduce.api.job import Job, Step
from mapreduce.api.keyfields import (
    KEY_FIELD_COMPARATORS,
    KEY_FIELD_PARTITIONERS,
    KeyFieldBasedPartitioner,
    KeyFieldComparator,
    parse_specs,
)
from mapreduce.api.partitioners import HashPartitioner

# Comma-separated `path[#name]` entries each attempt finds in its working directory (Hadoop's
# distributed cache: -files, -archives; mrjob's FILES, DIRS, ARCHIVES).
FILES_KEY = "emrlab.job.files"
ARCHIVES_KEY = "emrlab.job.archives"
# -cmdenv NAME=VALUE, space-separated, as Hadoop keeps them.
CMDENV_KEY = "stream.addenvironment"
OUTPUT_BATCH_LINES = 1024
STDERR_TAIL_LINES = 5  # of a failed command, in its attempt's error
REPORTER_PREFIX = b"reporter:"
HASH_PARTITIONERS = {"org.apache.hadoop.mapred.lib.HashPartitioner",
                     "org.apache.hadoop.mapreduce.lib.partition.HashPartitioner"}
TEXT_COMPARATORS = {"org.apache.hadoop.io.Text$Comparator", "org.apache.hadoop.io.Text.Comparator"}


def _separator(text: str) -> bytes:
    if not text:
        raise InvalidArgument("a field separator cannot be empty")
    return text.encode("utf-8").decode("unicode_escape").encode("latin-1") if "\\" in text else text.encode()


def parse_positive_int(text: str) -> int:
    value = parse_int(text)
    if value < 1:
        raise InvalidArgument(f"must be 1 or more, not {value}")
    return value


@dataclass(frozen=True)
class StreamingConfig:
    """How lines become (key, value) records and back, and how keys are partitioned and sorted."""

    map_output_separator: bytes = setting(
        "stream.map.output.field.separator", b"\t", _separator,
        "Where a mapper's (or combiner's) output line is cut into key and value.")
    map_output_key_fields: int = setting(
        "stream.num.map.output.key.fields", 1, parse_positive_int,
        "How many separated fields of a mapper's output line are the key; the rest is the value.")
    reduce_input_separator: bytes = setting(
        "stream.reduce.input.field.separator", b"\t", _separator,
        "Between key and value in the lines a reducer (or combiner) reads.")
    reduce_output_separator: bytes = setting(
        "stream.reduce.output.field.separator", b"\t", _separator,
        "Where a reducer's output line is cut into key and value.")
    reduce_output_key_fields: int = setting(
        "stream.num.reduce.output.key.fields", 1, parse_positive_int,
        "How many separated fields of a reducer's output line are the key.")
    non_zero_exit_is_failure: bool = setting(
        "stream.non.zero.exit.is.failure", True, parse_bool,
        "Whether a command's non-zero exit fails its attempt.")
    partitioner_class: str = setting(
        "mapreduce.job.partitioner.class", "", parse_text,
        "-partitioner: Hadoop's KeyFieldBasedPartitioner, or the default hash partitioner.")
    partitioner_options: str = setting(
        "mapreduce.partition.keypartitioner.options", "", parse_text,
        "KeyFieldBasedPartitioner's -k specs (which key fields choose the reducer).")
    comparator_class: str = setting(
        "mapreduce.job.output.key.comparator.class", "", parse_text,
        "KeyFieldBasedComparator, or keys sorted by their bytes (Hadoop's Text order).")
    comparator_options: str = setting(
        "mapreduce.partition.keycomparator.options", "", parse_text,
        "KeyFieldBasedComparator's -k specs (which key fields sort, numerically with n, reversed with r).")
    key_field_separator: bytes = setting(
        "mapreduce.map.output.key.field.separator", b"\t", _separator,
        "Between the fields of a key, for the key field partitioner and comparator.")

    def __post_init__(self):
        if self.partitioner_class and self.partitioner_class not in KEY_FIELD_PARTITIONERS | HASH_PARTITIONERS:
            raise InvalidArgument(f"-partitioner {self.partitioner_class} is not supported (supported: "
                                  f"{', '.join(sorted(KEY_FIELD_PARTITIONERS | HASH_PARTITIONERS))})")
        if self.comparator_class and self.comparator_class not in KEY_FIELD_COMPARATORS | TEXT_COMPARATORS:
            raise InvalidArgument(f"mapreduce.job.output.key.comparator.class {self.comparator_class} is not "
                                  f"supported (supported: {', '.join(sorted(KEY_FIELD_COMPARATORS | TEXT_COMPARATORS))})")
        parse_specs(self.partitioner_options, "mapreduce.partition.keypartitioner.options")
        parse_specs(self.comparator_options, "mapreduce.partition.keycomparator.options")

    def partitioner(self):
        if self.partitioner_class in KEY_FIELD_PARTITIONERS:
            return KeyFieldBasedPartitioner(parse_specs(self.partitioner_options,
                                                        "mapreduce.partition.keypartitioner.options"),
                                            self.key_field_separator)
        return HashPartitioner()

    def comparator(self) -> KeyFieldComparator | None:
        if self.comparator_class in KEY_FIELD_COMPARATORS:
            return KeyFieldComparator(parse_specs(self.comparator_options, "mapreduce.partition.keycomparator.options"),
                                      self.key_field_separator)
        return None


class StreamingJob(Job):
    """The job `emrlab streaming` runs: its steps are the commands given on the command line."""

    def configure_args(self) -> None:
        self.add_passthru_arg("--mapper", required=False)
        self.add_passthru_arg("--combiner")
        self.add_passthru_arg("--reducer")

    def steps(self) -> list[Step]:
        reducer = self.options.reducer
        if reducer == "NONE":
            return [Step(mapper_cmd=self.options.mapper, jobconf={"mapreduce.job.reduces": "0"})]
        return [Step(mapper_cmd=self.options.mapper, combiner_cmd=self.options.combiner,
                     reducer_cmd=reducer or "cat")]

    def partitioner(self):
        return load(StreamingConfig, self.config).partitioner()

    def format_output(self, key, value) -> str:
        return output_text(key, value)


def output_text(key, value) -> str:
    """A record as TextOutputFormat writes it (key<TAB>value; a key alone when there was no
    value), bytes kept as they came (decoded so that encoding gives them back)."""
    if isinstance(key, list):
        key = key[-1]  # a comparator's sort key around the key
    text = _text(key)
    return text if value is None else f"{text}\t{_text(value)}"


def _text(value) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)


def split_line(line: bytes, separator: bytes, key_fields: int) -> tuple[bytes, bytes | None]:
    """A command's output line as (key, value): the key is up to the `key_fields`-th separator;
    a line with fewer separators is all key."""
    line = line.rstrip(b"\n")
    position = -len(separator)
    for _ in range(key_fields):
        position = line.find(separator, position + len(separator))
        if position < 0:
            return line, None
    return line[:position], line[position + len(separator):]


def working_directory(properties: dict, local_dir: str, fs_for) -> str:
    """The attempt's working directory, holding every shipped file under its name
    (`path#name`, else the file's own name) and every archive unpacked under its name.

    Local files are symlinked (the local runners); bare names are YARN local resources
    in the container's directory (the cluster runner), made executable as Hadoop's
    localizer makes them; hdfs:// files are copied."""
    work = os.path.join(local_dir, "work")
    os.makedirs(work, exist_ok=True)
    for path, name in shipped(properties.get(FILES_KEY, "")):
        target = os.path.join(work, name)
        if os.path.lexists(target):
            continue
        if path.startswith("hdfs://"):
            _copy_from(fs_for, path, target)
            os.chmod(target, 0o755)
        else:
            source = os.path.abspath(path)
            if not os.path.isabs(path) and os.path.isfile(source):
                os.chmod(source, os.stat(source).st_mode | 0o500)
            os.symlink(source, target)
    for path, name in shipped(properties.get(ARCHIVES_KEY, "")):
        target = os.path.join(work, name)
        if os.path.lexists(target):
            continue
        if path.startswith("hdfs://"):
            local_copy = os.path.join(local_dir, os.path.basename(path))
            _copy_from(fs_for, path, local_copy)
            path = local_copy
        unpack_archive(path, target)
    return work


def shipped(entries: str) -> list[tuple[str, str]]:
    """(path, name) of each comma-separated `path[#name]` entry."""
    result = []
    for entry in filter(None, entries.split(",")):
        path, _, name = entry.partition("#")
        result.append((path, name or os.path.basename(path.rstrip("/"))))
    return result


def unpack_archive(path: str, target: str) -> None:
    """An archive (.zip, .tar, .tar.gz, .tgz, .jar) unpacked into `target`, as Hadoop's -archives."""
    archive_format = "zip" if path.endswith((".zip", ".jar")) else None
    try:
        shutil.unpack_archive(path, target, format=archive_format)
    except (shutil.ReadError, ValueError) as error:
        raise TaskFailed(f"cannot unpack archive {os.path.basename(path)}: {error}") from None


def _copy_from(fs_for, path: str, target: str) -> None:
    with fs_for(path).open(path) as source, open(target, "wb") as copy:
        shutil.copyfileobj(source, copy)


class CommandStage:
    """One run of a command: feed it lines from a thread, read its stdout, watch its stderr."""

    def __init__(self, command: str, environment: dict, cwd: str, context, to_record, exit_is_failure: bool = True):
        self.command = command
        self.context = context
        self.to_record = to_record
        self.exit_is_failure = exit_is_failure
        environment = dict(environment)
        environment["PATH"] = cwd + os.pathsep + environment.get("PATH", "")
        self.process = subprocess.Popen(["bash", "-c", command], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, env=environment, cwd=cwd)
        self.input_error: BaseException | None = None
        self.stderr_tail: collections.deque[bytes] = collections.deque(maxlen=STDERR_TAIL_LINES)

    def run(self, lines: Iterator[bytes]) -> Iterator[list[tuple]]:
        """Batches of (key, value) from the command's stdout, while lines go in on stdin."""
        feeder = threading.Thread(target=self._feed, args=(lines,), daemon=True)
        watcher = threading.Thread(target=self._watch_stderr, daemon=True)
        feeder.start()
        watcher.start()
        batch: list[tuple] = []
        to_record = self.to_record
        for line in self.process.stdout:
            batch.append(to_record(line))
            if len(batch) >= OUTPUT_BATCH_LINES:
                yield batch
                batch = []
        if batch:
            yield batch
        code = self.process.wait()
        feeder.join()
        watcher.join()
        if self.input_error is not None:
            raise self.input_error
        if code != 0 and self.exit_is_failure:
            tail = b"".join(self.stderr_tail).decode("utf-8", "replace").rstrip()
            raise TaskFailed(f"PipeMapRed.waitOutputThreads(): subprocess failed with code {code}"
                             f" (command: {self.command})" + (f"; the end of its stderr:\n{tail}" if tail else ""))

    def _feed(self, lines: Iterator[bytes]) -> None:
        stdin = self.process.stdin
        try:
            pending = []
            for line in lines:
                pending.append(line)
                if len(pending) >= OUTPUT_BATCH_LINES:
                    stdin.write(b"".join(pending))
                    pending.clear()
            stdin.write(b"".join(pending))
        except BrokenPipeError:
            pass  # the command stopped reading; its exit code tells whether that was a failure
        except BaseException as error:
            self.input_error = error
            self.process.kill()
        finally:
            try:
                stdin.close()
            except BrokenPipeError:
                pass

    def _watch_stderr(self) -> None:
        for line in self.process.stderr:
            if line.startswith(REPORTER_PREFIX):
                self._reporter_line(line[len(REPORTER_PREFIX):].rstrip(b"\n").decode("utf-8", "replace"))
            else:
                self.stderr_tail.append(line)
                sys.stderr.buffer.write(line)
                sys.stderr.flush()

    def _reporter_line(self, text: str) -> None:
        kind, _, rest = text.partition(":")
        if kind == "counter":
            group, name, amount = (rest.split(",", 2) + ["", ""])[:3]
            try:
                self.context.counters.increment(group, name, int(amount))
            except ValueError:
                print(f"ignored a malformed reporter line: reporter:{text}", file=sys.stderr)
        elif kind == "status":
            self.context.set_status(rest)

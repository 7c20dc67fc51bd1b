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

from mapreduce.errors import TaskFailed
from mapreduce.job import Job, Step
from mapreduce.phases import Phases, group_function, map_function, subprocess_environment

# Comma-separated `path[#name]` entries each attempt finds in its working directory (Hadoop's
# distributed cache: -files, -archives; mrjob's FILES, DIRS, ARCHIVES).
FILES_KEY = "emrlab.job.files"
ARCHIVES_KEY = "emrlab.job.archives"
OUTPUT_BATCH_LINES = 1024
STDERR_TAIL_LINES = 5  # of a failed command, in its attempt's error
REPORTER_PREFIX = b"reporter:"


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

    def format_output(self, key, value) -> str:
        return key if value is None else f"{key}\t{value}"


def parse_line(line: bytes) -> tuple[str, str | None]:
    text = line.rstrip(b"\n").decode("utf-8", "surrogateescape")
    key, tab, value = text.partition("\t")
    return (key, value) if tab else (text, None)


def _line(key, value) -> bytes:
    text = key if value is None else f"{key}\t{value}"
    return (str(text) + "\n").encode("utf-8", "surrogateescape")


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

    def __init__(self, command: str, environment: dict, cwd: str, context):
        self.command = command
        self.context = context
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
        for line in self.process.stdout:
            batch.append(parse_line(line))
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
        if code != 0:
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


def _flatten(batches) -> Iterator[tuple]:
    for batch in batches:
        yield from batch


def command_phases(job, step: Step, properties: dict, context, local_dir: str) -> Phases:
    from mapreduce.fs import filesystem_for

    environment = subprocess_environment(properties)
    cwd = working_directory(properties, local_dir, filesystem_for)

    def run_stage(command: str, lines: Iterator[bytes]) -> Iterator[list[tuple]]:
        return CommandStage(command, environment, cwd, context).run(lines)

    def command_map(records: Iterator[tuple]):
        return run_stage(step.mapper_cmd, (_line(value, None) if key is None else _line(key, value)
                                           for key, value in records))

    def command_groups(command: str):
        def run(groups: Iterator[tuple]) -> Iterator[tuple]:
            lines = (_line(key, value) for key, values in groups for value in values)
            return _flatten(run_stage(command, lines))
        return run

    mapper = command_map if step.mapper_cmd else map_function(step)
    combine = (command_groups(step.combiner_cmd) if step.combiner_cmd
               else group_function(step.combiner, step.combiner_init, step.combiner_final) if step.combiner else None)
    reduce = (command_groups(step.reducer_cmd) if step.reducer_cmd
              else group_function(step.reducer, step.reducer_init, step.reducer_final))
    return Phases(map=mapper, combine=combine, reduce=reduce, sort_values=bool(getattr(job, "SORT_VALUES", False)))

"""The job API: a MapReduce job is a small class of generator methods.

    from mapreduce import Job

    class WordCount(Job):
        def mapper(self, key, line):
            for word in line.split():
                yield word, 1

        def combiner(self, word, counts):
            yield word, sum(counts)

        def reducer(self, word, counts):
            yield word, sum(counts)

    if __name__ == "__main__":
        WordCount.run()      # python wordcount.py -r local in.txt -o out --reducers 2

`mapreduce.Job` is this module's Job with `run()` added by `mapreduce/commands/jobfile.py`:
the API does not depend on the command line that runs it.

This is mrjob's shape (whose users will feel at home): `mapper(key, value)`,
`combiner(key, values)` and `reducer(key, values)` yield (key, value) pairs;
`mapper_init`/`mapper_final` (and the same for combiner and reducer) run once
per task before and after the records, and `_final` may yield too. A text
input's mapper sees key None and each line (without its newline) as the value.
Keys and values are anything msgpack carries; keys are sorted in the total
order of `mapreduce.api.keys`. Several steps chain with `steps()`:

    def steps(self):
        return [Step(mapper=self.mapper_words, reducer=self.reducer_count),
                Step(reducer=self.reducer_top)]

Inside a task, `self.increment_counter(group, name, amount)` adds to a counter,
`self.set_status(message)` reports a status, `self.config` holds the job's
configuration (`-D key=value`, `JOBCONF`, a step's `jobconf`), and
`self.options` the job's own arguments (declared in `configure_args` with
`self.add_passthru_arg(...)`, argparse-style).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from mapreduce.api.partitioners import HashPartitioner, Partitioner


@dataclass(frozen=True)
class Step:
    """One MapReduce pass: a map phase, optionally a combiner, and a reduce phase.

    A step with neither `reducer` nor `reducer_cmd` is map-only: the mappers'
    output is the step's output (`part-m-NNNNN`). A step with no mapper maps
    each record to itself. The `*_cmd` fields run a shell command as Hadoop
    Streaming does (lines in on stdin, `key<TAB>value` lines out on stdout).
    """

    mapper: Callable | None = None
    mapper_init: Callable | None = None
    mapper_final: Callable | None = None
    combiner: Callable | None = None
    combiner_init: Callable | None = None
    combiner_final: Callable | None = None
    reducer: Callable | None = None
    reducer_init: Callable | None = None
    reducer_final: Callable | None = None
    mapper_cmd: str | None = None
    combiner_cmd: str | None = None
    reducer_cmd: str | None = None
    jobconf: dict = field(default_factory=dict)

    @property
    def map_only(self) -> bool:
        return self.reducer is None and self.reducer_cmd is None

    @property
    def has_combiner(self) -> bool:
        return self.combiner is not None or self.combiner_cmd is not None


class Job:
    """Subclass this; define some of the methods below (they are None here)."""

    mapper = mapper_init = mapper_final = None
    combiner = combiner_init = combiner_final = None
    reducer = reducer_init = reducer_final = None

    # Secondary sort: a reducer sees each key's values in key order (mrjob's SORT_VALUES).
    SORT_VALUES = False
    # Job configuration defaults, overridden by -D on the command line.
    JOBCONF: dict[str, str] = {}

    def __init__(self, args: list[str] | None = None):
        self.arg_parser = argparse.ArgumentParser(prog=type(self).__name__, add_help=False)
        self.passthru_actions: list[argparse.Action] = []
        self.configure_args()
        self.options = self.arg_parser.parse_args(list(args)) if args is not None else argparse.Namespace()
        self.config: dict[str, str] = {}
        self._task = None  # set by the task that runs this job: counters and reporter

    # ------------------------------------------------------------ for subclasses

    def configure_args(self) -> None:
        """Declare the job's own arguments with `self.add_passthru_arg` (argparse's signature)."""

    def add_passthru_arg(self, *names, **kwargs) -> None:
        self.passthru_actions.append(self.arg_parser.add_argument(*names, **kwargs))

    def steps(self) -> list[Step]:
        """One step made of the methods this class defines."""
        return [Step(mapper=self.mapper, mapper_init=self.mapper_init, mapper_final=self.mapper_final,
                     combiner=self.combiner, combiner_init=self.combiner_init, combiner_final=self.combiner_final,
                     reducer=self.reducer, reducer_init=self.reducer_init, reducer_final=self.reducer_final)]

    def partitioner(self) -> Partitioner:
        """Which reduce partition a key goes to; override to plug in another partitioner."""
        return HashPartitioner()

    def step_properties(self, step_index: int, context) -> dict[str, str]:
        """Run by the client before a step: extra configuration for that step's tasks.

        `context` has `fs`, `input_paths`, `num_reduces` and `properties`. The sort
        example samples its input here to choose its range partitioner's boundaries,
        as Hadoop's InputSampler writes a partition file before the job starts.
        """
        return {}

    def format_output(self, key, value) -> str:
        """One output line (without newline), as Hadoop's TextOutputFormat writes it:
        key<TAB>value, a str as itself, anything else as JSON; a None key or value is
        left out with its tab (Hadoop's NullWritable)."""
        if value is None:
            return _text(key)
        if key is None:
            return _text(value)
        return f"{_text(key)}\t{_text(value)}"

    # ------------------------------------------------------------ inside a task

    def increment_counter(self, group: str, name: str, amount: int = 1) -> None:
        if self._task is not None:
            self._task.counters.increment(group, name, amount)

    def set_status(self, message: str) -> None:
        if self._task is not None:
            self._task.set_status(message)


def _text(value) -> str:
    if type(value) is str:
        return value
    if type(value) is int:  # what json.dumps writes for an int, without building an encoder per call
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def passthru_argv(actions: list[argparse.Action], namespace: argparse.Namespace) -> list[str]:
    """The command-line words that give `namespace`'s values of `actions` again, so that a
    task process can rebuild the job's options (only what differs from the defaults)."""
    argv: list[str] = []
    for action in actions:
        value = getattr(namespace, action.dest, action.default)
        if value == action.default or not action.option_strings:
            continue
        flag = action.option_strings[0]
        if action.nargs == 0:
            argv += [flag] * (value if isinstance(value, int) and not isinstance(value, bool) else 1)
        elif isinstance(action, argparse._AppendAction):
            for item in value:
                argv += [flag, str(item)]
        elif isinstance(value, list):
            argv += [flag, *map(str, value)]
        else:
            argv += [flag, str(value)]
    return argv


def iterate(generator_function, *arguments) -> Iterator:
    """Call a user's method; None (a method that yields nothing and returns) is no records."""
    result = generator_function(*arguments)
    return iter(()) if result is None else result

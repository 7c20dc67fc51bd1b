"""Running an unmodified mrjob `MRJob` class on emrlab's runners.

    emrlab job run mr_word_count.py -r local IN -o OUT

The adapter presents an MRJob as an emrlab job: each `MRStep` becomes a
`Step` with the same methods (and `*_cmd` commands), `SORT_VALUES` keeps its
meaning, the job's passthrough arguments are accepted on the command line, and
`increment_counter`/`set_status` reach the task's counters and status. Between
map and reduce, keys and values travel as msgpack objects (mrjob's internal
JSON protocol would give the same types: tuples become lists). mrjob's
protocols decide the ends: `INPUT_PROTOCOL` reads the first step's input lines
and `OUTPUT_PROTOCOL` writes the last step's output lines. The task's
configuration is in the environment too, with dots as underscores, so
`mrjob.compat.jobconf_from_env` works.

mrjob is an optional extra: `pip install 'emrlab[mrjob]'`.
"""

from __future__ import annotations

import os

from emrlab_common.errors import InvalidArgument
from mapreduce.job import Step
from mapreduce.partitioners import HashPartitioner
from mapreduce.phases import subprocess_environment

_UNSUPPORTED = ("mapper_raw", "mapper_pre_filter", "combiner_pre_filter", "reducer_pre_filter")
_STEP_FIELDS = ("mapper", "mapper_init", "mapper_final", "combiner", "combiner_init", "combiner_final",
                "reducer", "reducer_init", "reducer_final", "mapper_cmd", "combiner_cmd", "reducer_cmd")


class MRJobAdapter:
    def __init__(self, job_class: type, arguments: list[str]):
        self.mrjob = job_class(args=list(arguments))
        self.mrjob.increment_counter = self.increment_counter
        self.mrjob.set_status = self.set_status
        dests = getattr(self.mrjob, "_passthru_arg_dests", set())
        self.passthru_actions = [action for action in self.mrjob.arg_parser._actions if action.dest in dests]
        self.SORT_VALUES = bool(self.mrjob.sort_values())
        self.JOBCONF = {key: str(value) for key, value in (getattr(job_class, "JOBCONF", None) or {}).items()}
        self._config: dict = {}
        self._task = None

    @property
    def config(self) -> dict:
        return self._config

    @config.setter
    def config(self, properties: dict) -> None:
        """The task's configuration, also as environment variables for `jobconf_from_env`."""
        self._config = properties
        if properties:
            os.environ.update({key: value for key, value in subprocess_environment(properties).items()
                               if key not in os.environ or key.startswith("mapreduce_")})

    def increment_counter(self, group: str, counter: str, amount: int = 1) -> None:
        if self._task is not None:
            self._task.counters.increment(group, counter, amount)

    def set_status(self, message: str) -> None:
        if self._task is not None:
            self._task.set_status(message)

    def steps(self) -> list[Step]:
        steps = []
        for index, mrstep in enumerate(self.mrjob.steps()):
            fields = getattr(mrstep, "_steps", None)
            if fields is None:
                raise InvalidArgument(f"step {index} is a {type(mrstep).__name__}; emrlab runs MRStep steps only")
            for name in _UNSUPPORTED:
                if fields.get(name):
                    raise InvalidArgument(f"step {index} uses {name}, which emrlab does not support")
            values = {name: fields.get(name) for name in _STEP_FIELDS}
            if index == 0 and not values["mapper_cmd"]:
                values["mapper"] = self._reading_input(values["mapper"])
            if values["reducer"] is None and mrstep.has_explicit_reducer and not values["reducer_cmd"]:
                values["reducer"] = _identity_reducer
            steps.append(Step(**values, jobconf=dict(fields.get("jobconf") or {})))
        return steps

    def _reading_input(self, mapper):
        """The first mapper reads lines through the job's INPUT_PROTOCOL."""
        read = self.mrjob.input_protocol().read

        def mapper_with_protocol(_, line: str):
            key, value = read(line.encode("utf-8", "surrogateescape"))
            if mapper is None:
                return iter(((key, value),))
            return mapper(key, value)

        return mapper_with_protocol

    def partitioner(self):
        return HashPartitioner()

    def step_properties(self, step_index: int, context) -> dict:
        return {}

    def format_output(self, key, value) -> str:
        return self.mrjob.output_protocol().write(key, value).decode("utf-8", "surrogateescape")


def _identity_reducer(key, values):
    for value in values:
        yield key, value

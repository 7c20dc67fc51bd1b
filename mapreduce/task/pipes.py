"""A Streaming step's phases: its mapper, combiner and reducer commands as the functions an attempt
calls (Hadoop's PipeMapper and PipeReducer, around PipeMapRed).

Records go to a command as `key<TAB>value` lines and come back split at the
separators StreamingConfig says; the commands themselves run as CommandStages
(`streaming/streamjob.py`), in a working directory holding the job's files.
A step with no command for a phase uses the Python method instead (`phases.py`).
"""

from __future__ import annotations

from collections.abc import Iterator

from emrlab_common.config import load
from mapreduce.api.deprecation import TASK_KEYS_OLD_NAMES
from mapreduce.api.fs import filesystem_for
from mapreduce.api.job import Step
from mapreduce.streaming.streamjob import CMDENV_KEY, CommandStage, StreamingConfig, split_line, working_directory
from mapreduce.task.config import TaskConfig
from mapreduce.task.formats import is_text_input
from mapreduce.task.fusion import fusion_enabled, vectorising_enabled
from mapreduce.task.phases import Phases, combiner_sums, group_function, map_function, subprocess_environment


def record_line(key, value, separator: bytes = b"\t") -> bytes:
    """A record as a command's input line (bytes as they are, text as UTF-8)."""
    if isinstance(key, list):
        key = key[-1]
    key_bytes = key if isinstance(key, bytes) else str(key).encode("utf-8", "surrogateescape")
    if value is None:
        return key_bytes + b"\n"
    value_bytes = value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogateescape")
    return key_bytes + separator + value_bytes + b"\n"


def flatten(batches) -> Iterator[tuple]:
    for batch in batches:
        yield from batch


def command_environment(properties: dict) -> dict[str, str]:
    """The task's configuration as variables (also under the old names old scripts read,
    `map_input_file`), then the -cmdenv variables."""
    named = dict(properties)
    named.update({old: properties[new] for new, old in TASK_KEYS_OLD_NAMES.items() if new in properties})
    environment = subprocess_environment(named)
    for assignment in properties.get(CMDENV_KEY, "").split():
        name, _, value = assignment.partition("=")
        environment[name] = value
    return environment


def command_phases(job, step: Step, properties: dict, context, local_dir: str) -> Phases:
    config = load(StreamingConfig, properties)
    environment = command_environment(properties)
    cwd = working_directory(properties, local_dir, filesystem_for)
    comparator = config.comparator() if load(TaskConfig, properties).reduces > 0 else None

    def map_record(line: bytes) -> tuple:
        key, value = split_line(line, config.map_output_separator, config.map_output_key_fields)
        return (comparator.sort_key(key), value) if comparator is not None else (key, value)

    def reduce_record(line: bytes) -> tuple:
        return split_line(line, config.reduce_output_separator, config.reduce_output_key_fields)

    def run_stage(command: str, lines: Iterator[bytes], to_record) -> Iterator[list[tuple]]:
        return CommandStage(command, environment, cwd, context, to_record, config.non_zero_exit_is_failure).run(lines)

    def command_map(records: Iterator[tuple], sink=None):  # a command is never fused
        return run_stage(step.mapper_cmd, (record_line(value, None) if key is None else record_line(key, value)
                                           for key, value in records), map_record)

    def command_groups(command: str, to_record):
        def run(groups: Iterator[tuple]) -> Iterator[tuple]:
            lines = (record_line(key, value, config.reduce_input_separator)
                     for key, values in groups for value in values)
            return flatten(run_stage(command, lines, to_record))
        return run

    fuse = fusion_enabled(properties)
    mapper = command_map if step.mapper_cmd else map_function(step, is_text_input(properties), fuse,
                                                              vectorising_enabled(properties))
    combine = (command_groups(step.combiner_cmd, map_record) if step.combiner_cmd
               else group_function(step.combiner, step.combiner_init, step.combiner_final) if step.combiner else None)
    reduce = (command_groups(step.reducer_cmd, reduce_record) if step.reducer_cmd
              else group_function(step.reducer, step.reducer_init, step.reducer_final))
    return Phases(map=mapper, combine=combine, reduce=reduce, sort_values=bool(getattr(job, "SORT_VALUES", False)),
                  combine_sums=not step.combiner_cmd and combiner_sums(step, fuse))

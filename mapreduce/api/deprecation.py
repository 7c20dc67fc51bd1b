"""Hadoop's deprecated configuration names, mapped as Hadoop maps them.

Course material from the Hadoop 1 days writes `-D mapred.reduce.tasks=2` or
`-jobconf mapred.text.key.comparator.options=-k2,2nr`. Hadoop 2 and 3 still
accept those names, say so once per name, and use the new one
(`Configuration.deprecation`); so does emrlab. The table is the part of
Hadoop's DeprecatedProperties that applies here.
"""

from __future__ import annotations

import sys

DEPRECATED_KEYS = {
    "mapred.reduce.tasks": "mapreduce.job.reduces",
    "mapred.map.tasks": "mapreduce.job.maps",
    "mapred.job.name": "mapreduce.job.name",
    "mapred.job.queue.name": "mapreduce.job.queuename",
    "mapred.text.key.comparator.options": "mapreduce.partition.keycomparator.options",
    "mapred.text.key.partitioner.options": "mapreduce.partition.keypartitioner.options",
    "mapred.output.key.comparator.class": "mapreduce.job.output.key.comparator.class",
    "mapred.partitioner.class": "mapreduce.job.partitioner.class",
    "map.output.key.field.separator": "mapreduce.map.output.key.field.separator",
    "mapred.min.split.size": "mapreduce.input.fileinputformat.split.minsize",
    "mapred.max.split.size": "mapreduce.input.fileinputformat.split.maxsize",
    "mapred.task.timeout": "mapreduce.task.timeout",
    "mapred.map.max.attempts": "mapreduce.map.maxattempts",
    "mapred.reduce.max.attempts": "mapreduce.reduce.maxattempts",
    "mapred.job.map.memory.mb": "mapreduce.map.memory.mb",
    "mapred.job.reduce.memory.mb": "mapreduce.reduce.memory.mb",
    "mapred.reduce.slowstart.completed.maps": "mapreduce.job.reduce.slowstart.completedmaps",
    "io.sort.mb": "mapreduce.task.io.sort.mb",
    "io.sort.factor": "mapreduce.task.io.sort.factor",
    "io.sort.spill.percent": "mapreduce.map.sort.spill.percent",
    "min.num.spills.for.combine": "mapreduce.map.combine.minspills",
    "mapred.compress.map.output": "mapreduce.map.output.compress",
    "dfs.block.size": "dfs.blocksize",
    "dfs.umaskmode": "fs.permissions.umask-mode",
}
# What a task is told about itself, also under the old names old scripts read
# (`os.environ["map_input_file"]`).
TASK_KEYS_OLD_NAMES = {
    "mapreduce.map.input.file": "map.input.file",
    "mapreduce.map.input.start": "map.input.start",
    "mapreduce.map.input.length": "map.input.length",
    "mapreduce.task.attempt.id": "mapred.task.id",
    "mapreduce.task.id": "mapred.tip.id",
    "mapreduce.task.partition": "mapred.task.partition",
    "mapreduce.task.ismap": "mapred.task.is.map",
    "mapreduce.job.id": "mapred.job.id",
}
# KeyFieldBasedPartitioner's older way to say "the first N fields".
PARTITION_FIELDS_KEY = "num.key.fields.for.partition"
PARTITIONER_OPTIONS_KEY = "mapreduce.partition.keypartitioner.options"


def deprecation_warning(old: str, new: str) -> str:
    """Hadoop's line, as Configuration.deprecation logs it."""
    return f"Configuration.deprecation: {old} is deprecated. Instead, use {new}"


def translate(properties: dict[str, str], warn=None) -> dict[str, str]:
    """`properties` with deprecated names replaced by their new names (a new name given too
    wins); `warn(line)` hears Hadoop's deprecation line for each old name used."""
    result = {}
    for key, value in properties.items():
        new = DEPRECATED_KEYS.get(key)
        if new is None:
            result.setdefault(key, value)
            continue
        if warn is not None:
            warn(deprecation_warning(key, new))
        result.setdefault(new, value)
    for key, value in properties.items():
        if key in result and key not in DEPRECATED_KEYS:
            result[key] = value
    if PARTITION_FIELDS_KEY in result and PARTITIONER_OPTIONS_KEY not in result:
        result[PARTITIONER_OPTIONS_KEY] = f"-k1,{result[PARTITION_FIELDS_KEY]}"
    return result


def warn_on_stderr(line: str) -> None:
    print(line, file=sys.stderr)

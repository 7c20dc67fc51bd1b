"""Counters: named totals that tasks increment and the job adds up, with Hadoop's names.

Groups and counter names are Hadoop's, so that what a student reads here (and
in `emrlab job -status`) matches a real cluster's output. A user's job adds its
own groups with `self.increment_counter(group, name, amount)`.

A task attempt's counters travel to the runner (or the ApplicationMaster) as
msgpack; the job's counters are the sum over the attempts that succeeded.
"""

from __future__ import annotations

from collections.abc import Iterator

import msgpack

TASK_COUNTER = "org.apache.hadoop.mapreduce.TaskCounter"
FILE_SYSTEM_COUNTER = "org.apache.hadoop.mapreduce.FileSystemCounter"
JOB_COUNTER = "org.apache.hadoop.mapreduce.JobCounter"
SHUFFLE_ERRORS = "Shuffle Errors"

# TaskCounter
MAP_INPUT_RECORDS = "MAP_INPUT_RECORDS"
MAP_OUTPUT_RECORDS = "MAP_OUTPUT_RECORDS"
MAP_OUTPUT_BYTES = "MAP_OUTPUT_BYTES"
MAP_OUTPUT_MATERIALIZED_BYTES = "MAP_OUTPUT_MATERIALIZED_BYTES"
COMBINE_INPUT_RECORDS = "COMBINE_INPUT_RECORDS"
COMBINE_OUTPUT_RECORDS = "COMBINE_OUTPUT_RECORDS"
REDUCE_INPUT_GROUPS = "REDUCE_INPUT_GROUPS"
REDUCE_INPUT_RECORDS = "REDUCE_INPUT_RECORDS"
REDUCE_OUTPUT_RECORDS = "REDUCE_OUTPUT_RECORDS"
REDUCE_SHUFFLE_BYTES = "REDUCE_SHUFFLE_BYTES"
SPILLED_RECORDS = "SPILLED_RECORDS"
SHUFFLED_MAPS = "SHUFFLED_MAPS"
FAILED_SHUFFLE = "FAILED_SHUFFLE"
MERGED_MAP_OUTPUTS = "MERGED_MAP_OUTPUTS"
SPLIT_RAW_BYTES = "SPLIT_RAW_BYTES"
CPU_MILLISECONDS = "CPU_MILLISECONDS"

# JobCounter
TOTAL_LAUNCHED_MAPS = "TOTAL_LAUNCHED_MAPS"
TOTAL_LAUNCHED_REDUCES = "TOTAL_LAUNCHED_REDUCES"
NUM_FAILED_MAPS = "NUM_FAILED_MAPS"
NUM_FAILED_REDUCES = "NUM_FAILED_REDUCES"
NUM_KILLED_MAPS = "NUM_KILLED_MAPS"
NUM_KILLED_REDUCES = "NUM_KILLED_REDUCES"
DATA_LOCAL_MAPS = "DATA_LOCAL_MAPS"
RACK_LOCAL_MAPS = "RACK_LOCAL_MAPS"
OTHER_LOCAL_MAPS = "OTHER_LOCAL_MAPS"
MILLIS_MAPS = "MILLIS_MAPS"
MILLIS_REDUCES = "MILLIS_REDUCES"
# emrlab's own: finished maps run again because their output was lost (node gone, fetch failures)
NUM_MAPS_RERUN_OUTPUT_LOST = "NUM_MAPS_RERUN_OUTPUT_LOST"
# emrlab's own: attempts killed because their node was decommissioned or lost (spot interruptions)
NUM_PREEMPTED_ATTEMPTS = "NUM_PREEMPTED_ATTEMPTS"

# Shuffle Errors (Hadoop's group of that display name)
IO_ERROR = "IO_ERROR"
WRONG_LENGTH = "WRONG_LENGTH"


def bytes_read(filesystem_name: str) -> str:
    """FILE_BYTES_READ or HDFS_BYTES_READ: FileSystemCounter names carry the scheme."""
    return f"{filesystem_name}_BYTES_READ"


def bytes_written(filesystem_name: str) -> str:
    return f"{filesystem_name}_BYTES_WRITTEN"


GROUP_DISPLAY_NAMES = {
    FILE_SYSTEM_COUNTER: "File System Counters",
    JOB_COUNTER: "Job Counters",
    TASK_COUNTER: "Map-Reduce Framework",
    SHUFFLE_ERRORS: "Shuffle Errors",
}
# Hadoop prints the framework groups in this order, then users' groups by name.
_GROUP_ORDER = [FILE_SYSTEM_COUNTER, JOB_COUNTER, TASK_COUNTER, SHUFFLE_ERRORS]

COUNTER_DISPLAY_NAMES = {
    "FILE_BYTES_READ": "FILE: Number of bytes read",
    "FILE_BYTES_WRITTEN": "FILE: Number of bytes written",
    "HDFS_BYTES_READ": "HDFS: Number of bytes read",
    "HDFS_BYTES_WRITTEN": "HDFS: Number of bytes written",
    TOTAL_LAUNCHED_MAPS: "Launched map tasks",
    TOTAL_LAUNCHED_REDUCES: "Launched reduce tasks",
    NUM_FAILED_MAPS: "Failed map tasks",
    NUM_FAILED_REDUCES: "Failed reduce tasks",
    NUM_KILLED_MAPS: "Killed map tasks",
    NUM_KILLED_REDUCES: "Killed reduce tasks",
    DATA_LOCAL_MAPS: "Data-local map tasks",
    RACK_LOCAL_MAPS: "Rack-local map tasks",
    OTHER_LOCAL_MAPS: "Other local map tasks",
    MILLIS_MAPS: "Total time spent by all map tasks (ms)",
    MILLIS_REDUCES: "Total time spent by all reduce tasks (ms)",
    NUM_MAPS_RERUN_OUTPUT_LOST: "Finished maps run again (output lost)",
    NUM_PREEMPTED_ATTEMPTS: "Attempts killed by a lost or decommissioned node",
    MAP_INPUT_RECORDS: "Map input records",
    MAP_OUTPUT_RECORDS: "Map output records",
    MAP_OUTPUT_BYTES: "Map output bytes",
    MAP_OUTPUT_MATERIALIZED_BYTES: "Map output materialized bytes",
    COMBINE_INPUT_RECORDS: "Combine input records",
    COMBINE_OUTPUT_RECORDS: "Combine output records",
    REDUCE_INPUT_GROUPS: "Reduce input groups",
    REDUCE_INPUT_RECORDS: "Reduce input records",
    REDUCE_OUTPUT_RECORDS: "Reduce output records",
    REDUCE_SHUFFLE_BYTES: "Reduce shuffle bytes",
    SPILLED_RECORDS: "Spilled Records",
    SHUFFLED_MAPS: "Shuffled Maps",
    FAILED_SHUFFLE: "Failed Shuffles",
    MERGED_MAP_OUTPUTS: "Merged Map outputs",
    SPLIT_RAW_BYTES: "Input split bytes",
    CPU_MILLISECONDS: "CPU time spent (ms)",
}


class Counters:
    """group -> name -> int. Not thread-safe beyond what the GIL gives a dict update."""

    def __init__(self, values: dict[str, dict[str, int]] | None = None):
        self._groups: dict[str, dict[str, int]] = {group: dict(names) for group, names in (values or {}).items()}

    def increment(self, group: str, name: str, amount: int = 1) -> None:
        names = self._groups.get(group)
        if names is None:
            names = self._groups[group] = {}
        names[name] = names.get(name, 0) + amount

    def get(self, group: str, name: str) -> int:
        return self._groups.get(group, {}).get(name, 0)

    def task(self, name: str) -> int:
        """A TaskCounter value, the ones tests and reports ask for most."""
        return self.get(TASK_COUNTER, name)

    def add(self, other: Counters) -> Counters:
        """Add `other` into this one (the job's total of its attempts); returns self."""
        for group, name, value in other.items():
            self.increment(group, name, value)
        return self

    def items(self) -> Iterator[tuple[str, str, int]]:
        for group, names in self._groups.items():
            for name, value in names.items():
                yield group, name, value

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {group: dict(names) for group, names in self._groups.items()}

    def __eq__(self, other) -> bool:
        return isinstance(other, Counters) and self.as_dict() == other.as_dict()

    def __repr__(self) -> str:
        return f"Counters({self.as_dict()!r})"

    def to_wire(self) -> bytes:
        return msgpack.packb(self._groups)

    @classmethod
    def from_wire(cls, data: bytes) -> Counters:
        return cls(msgpack.unpackb(data))

    def format(self) -> str:
        """The block Hadoop's client prints at the end of a job."""
        groups = sorted(self._groups, key=lambda group: (
            _GROUP_ORDER.index(group) if group in _GROUP_ORDER else len(_GROUP_ORDER), group))
        lines = [f"Counters: {sum(len(self._groups[group]) for group in groups)}"]
        for group in groups:
            lines.append(f"\t{GROUP_DISPLAY_NAMES.get(group, group)}")
            for name in sorted(self._groups[group]):
                display = COUNTER_DISPLAY_NAMES.get(name, name) if group in _GROUP_ORDER else name
                lines.append(f"\t\t{display}={self._groups[group][name]}")
        return "\n".join(lines)

"""The settings a map or reduce attempt reads, under Hadoop's keys: one frozen `TaskConfig`.

An attempt builds it once from the job's properties (`load(TaskConfig, properties)`);
the client builds it too, at submission (`runners/submission.py`), so that a bad
value is refused in one line before any task runs. A reduce container's memory
is read by the attempt (its merge budget), the shuffle (its copy budget) and the
ApplicationMaster (the container it asks for): the one setting below serves all three.
"""

from __future__ import annotations

from dataclasses import dataclass

from emrlab_common.config import MiB, parse_float, parse_int, parse_size, setting
from emrlab_common.errors import InvalidArgument


def reduce_memory_mb_setting():
    """`mapreduce.reduce.memory.mb`, for every configuration class that reads it."""
    return setting("mapreduce.reduce.memory.mb", 512, parse_int, "Memory of a reduce container.")


def heap_ratio_setting():
    """`mapreduce.job.heap.memory-mb.ratio`: the share of a container its process may use for data. Hadoop
    sizes a task's Java heap so, and the shuffle and merge budgets are fractions of that heap; here the rest
    is the interpreter's own memory and the merge's buffers."""
    return setting("mapreduce.job.heap.memory-mb.ratio", 0.8, parse_float,
                   "Share of a task container's memory its data may use (Hadoop's heap share).")


def output_block_setting():
    """`dfs.blocksize`: a reducer writing to HDFS holds the block it is writing (hdfs/client/writer.py keeps
    a block's packets until the block is done, to send them again down a new pipeline if one fails)."""
    return setting("dfs.blocksize", 128 * MiB, parse_size, "Block size of the files tasks write to HDFS.")


def reduce_data_memory_bytes(memory_mb: int, heap_ratio: float, block_bytes: int, fraction: float) -> int:
    """What a reducer may keep of copied map output in memory: `fraction` of its heap share (Hadoop's heap,
    here what the interpreter leaves), less the output block its HDFS writer holds."""
    return max(0, int((memory_mb * MiB * heap_ratio - block_bytes) * fraction))


def shuffle_input_buffer_setting():
    """`mapreduce.reduce.shuffle.input.buffer.percent`, for the shuffle's and the merge's budgets."""
    return setting("mapreduce.reduce.shuffle.input.buffer.percent", 0.70, parse_float,
                   "Fraction of the reducer's memory that may hold copied map output.")


@dataclass(frozen=True)
class TaskConfig:
    """The keys map and reduce tasks read, with the range each must be in."""

    reduces: int = setting("mapreduce.job.reduces", 1, parse_int, "Reduce tasks of each step.")
    maps: int = setting("mapreduce.job.maps", 2, parse_int,
                        "A hint: how many maps to split the input into (0 is read as 1, as Hadoop does).")
    # In megabytes, as Hadoop; a fraction ("0.05") gives tests small spills.
    sort_mb: float = setting("mapreduce.task.io.sort.mb", 100.0, parse_float, "A map's sort buffer, in MB.")
    spill_percent: float = setting("mapreduce.map.sort.spill.percent", 0.8, parse_float,
                                   "How full the sort buffer gets before it spills.")
    sort_factor: int = setting("mapreduce.task.io.sort.factor", 10, parse_int, "Streams merged at once.")
    combine_min_spills: int = setting("mapreduce.map.combine.minspills", 3, parse_int,
                                      "Spills before the combiner runs on the merge too.")
    split_min_size_bytes: int = setting("mapreduce.input.fileinputformat.split.minsize", 0, parse_size,
                                        "The smallest split (below 1 is read as 1, as Hadoop does).")
    split_max_size_bytes: int = setting("mapreduce.input.fileinputformat.split.maxsize", 2**63 - 1, parse_size,
                                        "The largest split.")
    reduce_memory_mb: int = reduce_memory_mb_setting()
    shuffle_input_buffer_fraction: float = shuffle_input_buffer_setting()
    heap_ratio: float = heap_ratio_setting()
    output_block_bytes: int = output_block_setting()

    def __post_init__(self):
        if self.reduces < 0:
            raise InvalidArgument(f"mapreduce.job.reduces: {self.reduces} reducers; the number of reduce tasks "
                                  f"must be 0 (map-only) or more")
        if self.maps < 0:
            raise InvalidArgument(f"mapreduce.job.maps: {self.maps}; the hint must be 0 or more")
        if not 0 < self.sort_mb <= 2047:
            raise InvalidArgument(f"mapreduce.task.io.sort.mb: Invalid \"mapreduce.task.io.sort.mb\": {self.sort_mb:g}"
                                  " (must be more than 0 and at most 2047)")
        if not 0 < self.spill_percent <= 1:
            raise InvalidArgument(f"mapreduce.map.sort.spill.percent: Invalid \"mapreduce.map.sort.spill.percent\": "
                                  f"{self.spill_percent:g} (must be more than 0 and at most 1)")
        if self.sort_factor < 2:
            raise InvalidArgument(f"mapreduce.task.io.sort.factor: {self.sort_factor}; must be 2 or more")

    @property
    def spill_limit_bytes(self) -> int:
        """How many bytes a map's sort buffer holds before it spills."""
        return max(1, int(self.sort_mb * MiB * self.spill_percent))

    @property
    def merge_memory_limit_bytes(self) -> int:
        """How much of a reducer's memory its merge may keep fetched segments in."""
        return reduce_data_memory_bytes(self.reduce_memory_mb, self.heap_ratio, self.output_block_bytes,
                                        self.shuffle_input_buffer_fraction)

"""Checks at submission: every typed key a job's tasks will read is read once, on the client.

Hadoop reads a job's configuration as the tasks run, so `-D mapreduce.task.io.sort.mb=lots`
is noticed only after every map attempt has failed four times. emrlab parses
the keys its tasks, its ApplicationMaster and its HDFS client understand
before anything runs, and refuses a bad value in one line, with Hadoop's
words where Hadoop has them.
"""

from __future__ import annotations

from dataclasses import dataclass

from emrlab_common.config import load, parse_float, parse_int, parse_size, setting
from emrlab_common.errors import InvalidArgument
from hdfs.cli.dfs import check_definitions
from hdfs.client.config import ClientConfig as HdfsClientConfig
from mapreduce.appmaster.config import AppMasterConfig
from mapreduce.shuffle.scheduler import ShuffleConfig
from mapreduce.streaming.streamjob import StreamingConfig

@dataclass(frozen=True)
class TaskConfig:
    """The keys map and reduce tasks read, with the range each must be in."""

    reduces: int = setting("mapreduce.job.reduces", 1, parse_int, "Reduce tasks of each step.")
    maps: int = setting("mapreduce.job.maps", 2, parse_int,
                        "A hint: how many maps to split the input into (0 is read as 1, as Hadoop does).")
    sort_mb: float = setting("mapreduce.task.io.sort.mb", 100.0, parse_float, "A map's sort buffer, in MB.")
    spill_percent: float = setting("mapreduce.map.sort.spill.percent", 0.8, parse_float,
                                   "How full the sort buffer gets before it spills.")
    sort_factor: int = setting("mapreduce.task.io.sort.factor", 10, parse_int, "Streams merged at once.")
    combine_min_spills: int = setting("mapreduce.map.combine.minspills", 3, parse_int,
                                      "Spills before the combiner runs on the merge too.")
    split_min_size_bytes: int = setting("mapreduce.input.fileinputformat.split.minsize", 1, parse_size,
                                        "The smallest split.")
    split_max_size_bytes: int = setting("mapreduce.input.fileinputformat.split.maxsize", 2**63 - 1, parse_size,
                                        "The largest split.")

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


def check_job_properties(properties: dict[str, str]) -> None:
    """Raise InvalidArgument, naming the key, for the first value a job's processes would refuse."""
    load(TaskConfig, properties)
    load(StreamingConfig, properties)
    load(ShuffleConfig, properties)
    am = load(AppMasterConfig, properties)
    for key, value in (("mapreduce.map.maxattempts", am.map_attempts_max),
                       ("mapreduce.reduce.maxattempts", am.reduce_attempts_max)):
        if value < 1:
            raise InvalidArgument(f"{key}: {value}; a task needs at least 1 attempt")
    for key, value in (("mapreduce.map.memory.mb", am.map_memory_mb), ("mapreduce.reduce.memory.mb",
                                                                       am.reduce_memory_mb),
                       ("yarn.app.mapreduce.am.resource.mb", am.am_memory_mb)):
        if value < 0:
            raise InvalidArgument(f"{key}: {value} MB; a container's memory cannot be negative")
    check_definitions(properties)  # the HDFS client's keys (dfs.replication), as `dfs` checks them
    hdfs = load(HdfsClientConfig, properties)
    if "dfs.blocksize" in properties and hdfs.block_size_bytes <= 0:
        raise InvalidArgument(f"dfs.blocksize: {properties['dfs.blocksize']}; a block must be more than 0 bytes")


def check_job(job, spec) -> None:
    """Check each step's configuration as its tasks will see it (JOBCONF, -D, the step's jobconf)."""
    from mapreduce.api.deprecation import translate

    job_conf = {key: str(value) for key, value in getattr(job, "JOBCONF", {}).items()}
    for step in job.steps():
        check_job_properties(translate({**job_conf, **spec.properties,
                                        **{key: str(value) for key, value in step.jobconf.items()}}))

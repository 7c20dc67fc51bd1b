"""Checks at submission: every typed key a job's tasks will read is read once, on the client.

Hadoop reads a job's configuration as the tasks run, so `-D mapreduce.task.io.sort.mb=lots`
is noticed only after every map attempt has failed four times. emrlab parses
the keys its tasks, its ApplicationMaster and its HDFS client understand
before anything runs, and refuses a bad value in one line, with Hadoop's
words where Hadoop has them.
"""

from __future__ import annotations

from emrlab_common.config import load
from emrlab_common.errors import InvalidArgument
from hdfs.cli.dfs import check_definitions
from hdfs.client.config import ClientConfig as HdfsClientConfig
from mapreduce.appmaster.config import AppMasterConfig
from mapreduce.streaming.streamjob import StreamingConfig
from mapreduce.task.config import TaskConfig
from mapreduce.task.profiling import ProfileConfig
from mapreduce.task.reduce.scheduler import ShuffleConfig


def check_job_properties(properties: dict[str, str]) -> None:
    """Raise InvalidArgument, naming the key, for the first value a job's processes would refuse."""
    load(TaskConfig, properties)
    load(StreamingConfig, properties)
    load(ShuffleConfig, properties)
    load(ProfileConfig, properties)
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

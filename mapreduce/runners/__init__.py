"""Runners: where a job runs, chosen by name (`-r inline|local|cluster|spark`).

A runner is a class with `run(spec: JobSpec, monitor: JobMonitor) -> JobResult`
that raises `JobFailed`. The registry maps names to "module:Class" so that a
runner's module (and its dependencies, e.g. YARN's client for `cluster`) is
imported only when used (`spark` needs PySpark, an optional extra).

Read in this order (JobSpec and JobResult are api/spec.py's; the plan of each step, which the
ApplicationMaster makes too, is appmaster/plan.py's):

    submission.py  every typed key checked once, on the client, before anything runs
    monitor.py     what the client prints while the job runs (` map X% reduce Y%`, counters)
    engine.py      what the inline and local runners share: splits, tasks, commit, counters
    driver.py      their ApplicationMaster: the cluster's JobStateMachine (appmaster/) run on this
                   machine, its commands carried out by an executor: retries, timeouts, counters
    inline.py      the executor that runs every attempt in this process, one after another
    local.py       the executor that runs attempts in parallel child processes (worker.py: one child)
    cluster.py     the job on YARN and HDFS (Hadoop's JobSubmitter), run by appmaster/
    spark.py       the job on Apache Spark, with emrlab's own task code inside Spark's tasks
"""

from __future__ import annotations

import importlib

from emrlab_common.errors import InvalidArgument, Unavailable
from mapreduce.api.spec import JobResult, JobSpec

RUNNERS: dict[str, str] = {
    "inline": "mapreduce.runners.inline:InlineRunner",
    "local": "mapreduce.runners.local:LocalRunner",
    "cluster": "mapreduce.runners.cluster:ClusterRunner",
    "spark": "mapreduce.runners.spark:SparkRunner",
}

__all__ = ["RUNNERS", "JobResult", "JobSpec", "runner_class"]


def runner_class(name: str) -> type:
    if name not in RUNNERS:
        raise InvalidArgument(f"unknown runner {name!r} (choose from {', '.join(RUNNERS)})")
    module_name, _, class_name = RUNNERS[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and module_name.startswith(error.name):
            raise Unavailable(f"the {name} runner is not available in this installation "
                              f"({module_name} is missing)") from None
        raise
    return getattr(module, class_name)

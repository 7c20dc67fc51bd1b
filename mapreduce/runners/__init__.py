"""Runners: where a job runs, chosen by name (`-r inline|local|cluster|spark`).

A runner is a class with `run(spec: JobSpec, monitor: JobMonitor) -> JobResult`
that raises `JobFailed`. The registry maps names to "module:Class" so that a
runner's module (and its dependencies, e.g. YARN's client for `cluster`) is
imported only when used (`spark` needs PySpark, an optional extra).
"""

from __future__ import annotations

import importlib

from emrlab_common.errors import InvalidArgument, Unavailable
from mapreduce.runners.spec import JobResult, JobSpec

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
            raise Unavailable(f"the {name} runner is not available in this installation ({module_name} is missing)") from None
        raise
    return getattr(module, class_name)

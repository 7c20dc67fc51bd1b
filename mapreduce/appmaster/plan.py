"""Planning a job's steps: inputs, outputs, reducers and configuration of each step.

Shared by the ApplicationMaster and every runner, so that a job means the same thing wherever it
runs.
A multi-step job runs as one Hadoop job per step (as mrjob does): step N reads
step N-1's output from an intermediate directory, as msgpack (key, value)
records so that keys and values keep their types; the last step writes text
lines to the job's output directory.

Configuration, weakest first: the runner's defaults, the job's `JOBCONF`,
`-D key=value`, the step's `jobconf`, and what `Job.step_properties` returns.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from emrlab_common.config import load
from emrlab_common.errors import AlreadyExists, NotFound
from mapreduce.api.deprecation import translate
from mapreduce.streaming.loader import instantiate, load_job_class
from mapreduce.streaming.streamjob import ARCHIVES_KEY, FILES_KEY
from mapreduce.task.config import TaskConfig
from mapreduce.task.formats import INPUT_FORMAT_KEY, OUTPUT_FORMAT_KEY, RECORDS_FORMAT, TEXT_FORMAT

REDUCES_KEY = "mapreduce.job.reduces"
INPUT_DIRS_KEY = "mapreduce.input.fileinputformat.inputdir"
MAPS_KEY = "mapreduce.job.maps"

# The one place where a runner's defaults differ from Hadoop's (mapred-default.xml, which
# TaskConfig follows: mapreduce.job.reduces 1, mapreduce.job.maps 2), and why:
RUNNER_DEFAULTS = {
    # Two maps and two reducers, so that a job that only works with one (a global count kept
    # in a mapper, an assumption about which reducer sees what) fails early, on a laptop.
    "local": {REDUCES_KEY: "2", MAPS_KEY: "2"},
    # One map per HDFS block (a hint of 1 map leaves every split a block, or a whole small file),
    # as the cluster has always split: Hadoop's own mapreduce.lib.input FileInputFormat ignores the
    # hint, and a map-only job over one small file keeps writing one part-m-00000.
    "cluster": {MAPS_KEY: "1"},
}


@dataclass(frozen=True)
class StepContext:
    """What `Job.step_properties` may look at before a step runs."""

    fs: object
    input_paths: tuple[str, ...]
    num_reduces: int
    properties: dict


@dataclass(frozen=True)
class StepPlan:
    step_index: int
    steps_total: int
    input_paths: tuple[str, ...]
    output_dir: str
    num_reduces: int          # 0 for a map-only step
    properties: dict

    @property
    def final(self) -> bool:
        return self.step_index == self.steps_total - 1

    @property
    def map_only(self) -> bool:
        return self.num_reduces == 0


def client_job(spec):
    """The job object on the client side: for its steps and its step_properties hook."""
    return instantiate(load_job_class(spec.job_reference), list(spec.job_arguments))


def with_support_files(job, spec):
    """`spec` with the job's support files (an mrjob job's FILES, DIRS, ARCHIVES, file
    arguments and --files/--dirs/--archives) added to what every task's working directory
    holds; each local one must exist."""
    support_files = getattr(job, "support_files", None)
    if support_files is None:
        return spec
    properties = dict(spec.properties)
    for key, entries in zip((FILES_KEY, ARCHIVES_KEY), support_files()):
        for entry in entries:
            path = entry.partition("#")[0]
            if "://" not in path and not os.path.exists(path):
                raise NotFound(f"{path}: no such file (a support file of the job)")
        if entries:
            properties[key] = ",".join(filter(None, [properties.get(key, ""), *entries]))
    return replace(spec, properties=properties)


def check_output_absent(fs, output_dir: str) -> None:
    if fs.exists(output_dir):
        raise AlreadyExists(f"Output directory {output_dir} already exists")


def scratch_uri(fs, scratch_dir: str) -> str:
    """The job's scratch directory in the job's output file system, as a URI (so that every
    process knows which file system it is in)."""
    prefix = "hdfs://" if fs.name == "HDFS" and not scratch_dir.startswith("hdfs://") else ""
    return prefix + scratch_dir.rstrip("/")


def intermediate_dir(fs, scratch_dir: str, step_index: int) -> str:
    """Where step `step_index` leaves its output for the next step."""
    return f"{scratch_uri(fs, scratch_dir)}/step-{step_index}-output"


def plan_step(job, spec, step_index: int, fs, scratch_dir: str, defaults: dict | None = None) -> StepPlan:
    steps = job.steps()
    step = steps[step_index]
    final = step_index == len(steps) - 1
    properties = dict(defaults or {})
    properties.update({key: str(value) for key, value in getattr(job, "JOBCONF", {}).items()})
    properties.update(spec.properties)
    properties.update({key: str(value) for key, value in step.jobconf.items()})
    properties = translate(properties)  # mapred.reduce.tasks in an old job's JOBCONF means mapreduce.job.reduces
    # As on Hadoop, zero reducers make a step map-only even if it has a reducer.
    num_reduces = 0 if step.map_only else load(TaskConfig, properties).reduces
    inputs = tuple(spec.input_paths) if step_index == 0 else (intermediate_dir(fs, scratch_dir, step_index - 1),)
    context = StepContext(fs, inputs, num_reduces, dict(properties))
    properties.update({key: str(value) for key, value in job.step_properties(step_index, context).items()})
    properties[REDUCES_KEY] = str(num_reduces)
    properties[INPUT_DIRS_KEY] = ",".join(inputs)
    properties[INPUT_FORMAT_KEY] = TEXT_FORMAT if step_index == 0 else RECORDS_FORMAT
    properties[OUTPUT_FORMAT_KEY] = TEXT_FORMAT if final else RECORDS_FORMAT
    output_dir = spec.output_dir if final else intermediate_dir(fs, scratch_dir, step_index)
    return StepPlan(step_index, len(steps), inputs, output_dir, num_reduces, properties)

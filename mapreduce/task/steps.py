"""An attempt's job and step: the job class loaded from its reference, the step's phases built.

A step is made of Python methods (`phases.py` turns them into the phases) or of
Hadoop Streaming commands (`pipes.py` does); this module chooses,
so that neither of those two needs the other's side.
"""

from __future__ import annotations

from mapreduce.api.job import Step
from mapreduce.streaming.loader import instantiate, load_job_class
from mapreduce.task.formats import is_text_input
from mapreduce.task.fusion import fusion_enabled, vectorising_enabled
from mapreduce.task.phases import Phases, combiner_sums, group_function, map_function
from mapreduce.task.pipes import command_phases


def load_step(attempt, properties: dict, context):
    """Load the attempt's job, give it its task context and configuration; its step's phases."""
    job_class = load_job_class(attempt.job_reference)
    job = instantiate(job_class, list(attempt.job_arguments))
    job.config = properties
    job._task = context
    steps = job.steps()
    if not 0 <= attempt.step_index < len(steps):
        raise ValueError(f"job has {len(steps)} steps; no step {attempt.step_index}")
    step = steps[attempt.step_index]
    return job, step, phases_of(job, step, properties, context, attempt.local_dir)


def phases_of(job, step: Step, properties: dict, context, local_dir: str) -> Phases:
    if step.mapper_cmd or step.combiner_cmd or step.reducer_cmd:
        return command_phases(job, step, properties, context, local_dir)
    fuse = fusion_enabled(properties)
    return Phases(map=map_function(step, is_text_input(properties), fuse, vectorising_enabled(properties)),
                  combine=group_function(step.combiner, step.combiner_init, step.combiner_final)
                  if step.combiner else None,
                  reduce=group_function(step.reducer, step.reducer_init, step.reducer_final),
                  sort_values=bool(getattr(job, "SORT_VALUES", False)), combine_sums=combiner_sums(step, fuse))

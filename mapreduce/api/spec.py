"""What a client asks a runner to run, and what it gets back."""

from __future__ import annotations

from dataclasses import dataclass, field

from mapreduce.api.counters import Counters


@dataclass(frozen=True)
class JobSpec:
    job_reference: str                  # "path/job.py:Class" or "package.module:Class"
    input_paths: tuple[str, ...]
    output_dir: str
    job_arguments: tuple[str, ...] = ()  # the job's own (passthrough) arguments
    properties: dict = field(default_factory=dict)  # -D key=value, as strings
    cluster_dir: str | None = None
    job_name: str = ""


@dataclass(frozen=True)
class JobResult:
    job_ids: tuple[str, ...]             # one per step
    output_dir: str
    counters: Counters                   # summed over every step
    step_counters: tuple[Counters, ...] = ()
    elapsed_s: float = 0.0

    @property
    def job_id(self) -> str:
        return self.job_ids[-1]

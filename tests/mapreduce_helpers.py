"""Helpers for MapReduce tests: corpora, reading a job's output, running a job on a runner."""

from __future__ import annotations

import random
from pathlib import Path

from mapreduce.api.spec import JobResult, JobSpec
from mapreduce.runners import runner_class
from mapreduce.runners.monitor import JobMonitor

WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "émigré", "naïve", "a", "I", "zebra"]


def write_corpus(path: Path, lines: int, seed: int = 0, words: list[str] = WORDS) -> Path:
    generator = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as file:
        for _ in range(lines):
            file.write(" ".join(generator.choice(words) for _ in range(generator.randint(0, 15))) + "\n")
    return path


def output_lines(output_dir: Path) -> list[str]:
    """Every line of every part file, in part order (as `-getmerge` would give them)."""
    assert (output_dir / "_SUCCESS").exists(), f"no _SUCCESS in {output_dir}"
    lines = []
    for part in sorted(output_dir.glob("part-*")):
        lines += part.read_text(encoding="utf-8").splitlines()
    return lines


def run_job(reference: str, inputs: list, output_dir: Path, runner: str = "inline", properties: dict | None = None,
            arguments: tuple[str, ...] = ()) -> JobResult:
    spec = JobSpec(job_reference=reference, input_paths=tuple(str(path) for path in inputs),
                   output_dir=str(output_dir), job_arguments=arguments, properties=dict(properties or {}))
    return runner_class(runner)().run(spec, JobMonitor(quiet=True))

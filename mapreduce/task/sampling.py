"""Sampling input lines before a job starts (what Hadoop's InputSampler does for sorting).

A seeded reservoir sample from the first lines of each of up to `splits_max`
splits, spread over the input, so that the sample (and the partition
boundaries chosen from it) are the same on every run. Only the start of each
split is read, as Hadoop's TeraSort samples the first records of up to 10
splits: the client reads a few MB before the job, not the whole input (which
made a sort's start grow with its input).
"""

from __future__ import annotations

import itertools
import random

from emrlab_common.config import load
from mapreduce.task.config import TaskConfig
from mapreduce.task.splits import compute_splits, read_lines

SAMPLE_SEED = 0
# Lines read at the start of each sampled split, per line the sample keeps from it.
LINES_READ_PER_SAMPLE = 20


def sample_lines(fs, paths: list[str], properties: dict, samples: int, splits_max: int = 10) -> list[str]:
    splits = compute_splits(fs, paths, load(TaskConfig, properties))
    if not splits or samples <= 0:
        return []
    step = max(1, len(splits) // splits_max)
    chosen = splits[::step][:splits_max]
    per_split = max(1, samples // len(chosen))
    generator = random.Random(SAMPLE_SEED)
    sample: list[str] = []
    for split in chosen:
        reservoir: list[str] = []
        with fs.open(split.path) as stream:
            lines = itertools.islice(read_lines(stream, split), per_split * LINES_READ_PER_SAMPLE)
            for seen, line in enumerate(lines):
                if len(reservoir) < per_split:
                    reservoir.append(line)
                else:
                    slot = generator.randint(0, seen)
                    if slot < per_split:
                        reservoir[slot] = line
        sample += reservoir
    return sample

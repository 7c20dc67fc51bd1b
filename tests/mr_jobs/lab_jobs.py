"""Jobs for the tests ported from MIT 6.5840 Lab 1: faults and timing detected from inside a job.

Each job takes `--signal-dir DIR`, a directory the test gives it, and leaves
marks there that the test reads afterwards (as the lab's mtiming/rtiming/
jcount/crash plugins do with files in the current directory).
"""

import os
import random
import time

from mapreduce import Job

WAIT_FOR_PEER_S = 30.0


def _wait_for_two(directory: str, prefix: str, name: str) -> int:
    """Leave a mark, then wait (bounded) until two marks exist: two tasks running at once."""
    open(os.path.join(directory, f"{prefix}-{name}"), "w").close()
    deadline = time.monotonic() + WAIT_FOR_PEER_S
    while time.monotonic() < deadline:
        count = sum(1 for entry in os.listdir(directory) if entry.startswith(prefix + "-"))
        if count >= 2:
            return count
        time.sleep(0.05)
    return 1


class SignalJob(Job):
    def configure_args(self):
        self.add_passthru_arg("--signal-dir", required=True)


class MapTiming(SignalJob):
    """Each map waits to see another map running; the output says how many it saw."""

    def mapper_init(self):
        self.seen = _wait_for_two(self.options.signal_dir, "map", self.config["mapreduce.task.attempt.id"])

    def mapper(self, key, line):
        return iter(())

    def mapper_final(self):
        yield "maps-seen-at-once", self.seen

    def reducer(self, key, values):
        yield key, min(values)


class ReduceTiming(SignalJob):
    def mapper(self, key, line):
        for word in line.split():
            yield word, 1

    def reducer_init(self):
        self.seen = _wait_for_two(self.options.signal_dir, "reduce", self.config["mapreduce.task.attempt.id"])

    def reducer(self, word, counts):
        yield word, sum(counts)

    def reducer_final(self):
        yield "~reduces-seen-at-once", self.seen


class JobCount(SignalJob):
    """Every map attempt leaves a mark named after its attempt id."""

    def mapper_init(self):
        open(os.path.join(self.options.signal_dir, self.config["mapreduce.task.attempt.id"]), "w").close()

    def mapper(self, key, line):
        for word in line.split():
            yield word, 1

    def reducer(self, word, counts):
        yield word, sum(counts)


class EarlyExit(SignalJob):
    """Word count whose reducer for partition 0 is slow: the job must still wait for it."""

    def mapper(self, key, line):
        for word in line.split():
            yield word, 1

    def reducer_init(self):
        if self.config["mapreduce.task.partition"] == "0":
            time.sleep(1.5)

    def reducer(self, word, counts):
        yield word, sum(counts)


def _maybe_crash():
    """A third of the time exit at once, a third of the time stall a little (as the lab's crash plugin)."""
    roll = random.Random(os.urandom(8)).random()
    if roll < 1 / 3:
        os._exit(1)
    if roll < 2 / 3:
        time.sleep(random.random() * 1.0)


class CrashingWordCount(Job):
    def mapper_init(self):
        _maybe_crash()

    def mapper(self, key, line):
        for word in line.split():
            yield word, 1

    def reducer_init(self):
        _maybe_crash()

    def reducer(self, word, counts):
        yield word, sum(counts)


class Indexer(Job):
    """The lab's indexer: for each word, how many documents contain it, and which."""

    def mapper_init(self):
        self.document = os.path.basename(self.config["mapreduce.map.input.file"])

    def mapper(self, key, line):
        for word in set(line.split()):
            yield word, self.document

    def reducer(self, word, documents):
        names = sorted(set(documents))
        yield word, f"{len(names)} {','.join(names)}"


class FailingMapper(Job):
    def mapper(self, key, line):
        if "fox" in line:
            raise RuntimeError("the fox broke this mapper")
        yield line, 1

    def reducer(self, key, values):
        yield key, sum(values)


class UnorderableKeys(Job):
    def mapper(self, key, line):
        yield float("nan"), 1

    def reducer(self, key, values):
        yield key, sum(values)


class StuckMapper(Job):
    """Never makes progress: the local runner's task timeout must kill it."""

    def mapper(self, key, line):
        time.sleep(3600)
        yield line, 1


class BadYield(Job):
    """Yields bare words instead of (key, value) pairs."""

    def mapper(self, key, line):
        yield from line.split()

    def reducer(self, key, values):
        yield key, sum(values)


class BadReducerYield(Job):
    def mapper(self, key, line):
        yield line, 1

    def reducer(self, key, values):
        yield sum(values)

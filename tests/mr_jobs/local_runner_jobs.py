"""Jobs whose attempts fail, stall or wait on purpose, for the local runner's retry, timeout and kill tests.

An attempt knows who it is from `mapreduce.task.attempt.id`
(attempt_<job>_m_<task>_<attempt>): the jobs below behave by task and attempt number.
"""

import time

from mapreduce import Job

WAIT_S = 60.0  # bounded: a test that goes wrong still ends


def _task_and_attempt(config) -> tuple[int, int]:
    parts = config["mapreduce.task.attempt.id"].split("_")
    return int(parts[-2]), int(parts[-1])


class WordCount(Job):
    def mapper(self, key, line):
        for word in line.split():
            yield word, 1

    def reducer(self, word, counts):
        yield word, sum(counts)


class FailsTwice(WordCount):
    """Every map's first two attempts fail; the third works."""

    def mapper_init(self):
        if _task_and_attempt(self.config)[1] < 2:
            raise RuntimeError("this attempt fails on purpose")


class StallsOnce(WordCount):
    """Every map's first attempt reports no progress for a long while; the second works."""

    def mapper_init(self):
        if _task_and_attempt(self.config)[1] == 0:
            time.sleep(WAIT_S)


class FirstMapFails(WordCount):
    """Map 0 fails at once; every other map waits, and is still running when the job fails."""

    def mapper_init(self):
        if _task_and_attempt(self.config)[0] == 0:
            raise RuntimeError("map 0 fails on purpose")
        time.sleep(WAIT_S)

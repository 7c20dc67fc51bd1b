import re

from mrjob.job import MRJob

from benchmarks.jobs import GREP_PATTERN
from benchmarks.mrjob_jobs.protocols import TabProtocol


class MRGrepLines(MRJob):
    OUTPUT_PROTOCOL = TabProtocol

    def mapper_init(self):
        self.matches = re.compile(GREP_PATTERN).search

    def mapper(self, _, line):
        if self.matches(line):
            yield None, 1

    def combiner(self, key, counts):
        yield None, sum(counts)

    def reducer(self, key, counts):
        yield None, sum(counts)


if __name__ == "__main__":
    MRGrepLines.run()

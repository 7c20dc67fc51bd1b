"""Grep: count the matches of a regular expression, most frequent first.

    emrlab examples grep IN... OUT --pattern 'dfs[a-z.]+'

Like Hadoop's grep example, two steps: the first counts every match (with a
combiner, as word count does); the second sorts the matches by count,
descending, through a single reducer that receives keys already in order.
"""

import re

from mapreduce import Job, Step


class Grep(Job):
    def configure_args(self):
        self.add_passthru_arg("--pattern", default=r"\w+ing\b", help="a Python regular expression")
        self.add_passthru_arg("--group", type=int, default=0, help="which regex group to count (0: the match)")

    def mapper_init(self):
        self.regex = re.compile(self.options.pattern)

    def mapper(self, key, line):
        for match in self.regex.finditer(line):
            yield match.group(self.options.group), 1

    def sum_counts(self, match, counts):
        yield match, sum(counts)

    def mapper_by_count(self, match, count):
        # A negative count as the key: the shuffle's ascending sort gives the largest first.
        yield [-count, match], None

    def reducer_output(self, key, values):
        for _ in values:
            yield key[1], -key[0]

    def steps(self):
        return [
            Step(mapper_init=self.mapper_init, mapper=self.mapper, combiner=self.sum_counts, reducer=self.sum_counts),
            Step(mapper=self.mapper_by_count, reducer=self.reducer_output, jobconf={"mapreduce.job.reduces": "1"}),
        ]


if __name__ == "__main__":
    Grep.run()

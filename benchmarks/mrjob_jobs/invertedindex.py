import json
import os

from mrjob.compat import jobconf_from_env
from mrjob.job import MRJob

from benchmarks.mrjob_jobs.protocols import TabProtocol


class MRInvertedIndex(MRJob):
    OUTPUT_PROTOCOL = TabProtocol

    def mapper_init(self):
        self.file_name = os.path.basename(jobconf_from_env("mapreduce.map.input.file"))

    def mapper(self, _, line):
        for word in set(line.lower().split()):
            yield word, self.file_name

    def combiner(self, word, file_names):
        for file_name in set(file_names):
            yield word, file_name

    def reducer(self, word, file_names):
        yield word, json.dumps(sorted(set(file_names)), ensure_ascii=False, separators=(",", ":"))


if __name__ == "__main__":
    MRInvertedIndex.run()

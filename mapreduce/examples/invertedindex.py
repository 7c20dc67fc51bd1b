"""Inverted index: for every word, the input files it appears in.

    emrlab examples invertedindex IN... OUT

The index behind every search engine. A map task knows which file its split
comes from (`mapreduce.map.input.file`, as on Hadoop); it emits (word, file)
once per word per line; the combiner and reducer keep each file once.
"""

import posixpath

from mapreduce import Job


class InvertedIndex(Job):
    def mapper_init(self):
        self.file_name = posixpath.basename(self.config["mapreduce.map.input.file"])

    def mapper(self, key, line):
        for word in set(line.lower().split()):
            yield word, self.file_name

    def combiner(self, word, file_names):
        for file_name in set(file_names):
            yield word, file_name

    def reducer(self, word, file_names):
        yield word, sorted(set(file_names))


if __name__ == "__main__":
    InvertedIndex.run()

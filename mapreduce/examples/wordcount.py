"""Word count: how many times each word appears in the input.

    emrlab examples wordcount IN... OUT
    python -m mapreduce.examples.wordcount -r local IN -o OUT

The mapper writes (word, 1) for every word; the combiner adds the counts up
within each map task, so that a map sends each word once rather than once per
occurrence; the reducer adds up the maps' partial counts.
"""

from mapreduce import Job


class WordCount(Job):
    def mapper(self, key, line):
        for word in line.split():
            yield word, 1

    def combiner(self, word, counts):
        yield word, sum(counts)

    def reducer(self, word, counts):
        yield word, sum(counts)


if __name__ == "__main__":
    WordCount.run()

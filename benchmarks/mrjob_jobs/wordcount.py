from mrjob.job import MRJob

from benchmarks.mrjob_jobs.protocols import TabProtocol


class MRWordCount(MRJob):
    OUTPUT_PROTOCOL = TabProtocol

    def mapper(self, _, line):
        for word in line.split():
            yield word, 1

    def combiner(self, word, counts):
        yield word, sum(counts)

    def reducer(self, word, counts):
        yield word, sum(counts)


if __name__ == "__main__":
    MRWordCount.run()

from mrjob.job import MRJob

from benchmarks.mrjob_jobs.protocols import LineProtocol


class MRSort(MRJob):
    """mrjob has no range partitioner of its own: one reducer gives the total order."""

    INTERNAL_PROTOCOL = LineProtocol
    OUTPUT_PROTOCOL = LineProtocol
    JOBCONF = {"mapreduce.job.reduces": "1"}

    def mapper(self, _, line):
        yield line, None

    def reducer(self, line, nothings):
        for _ in nothings:
            yield line, None


if __name__ == "__main__":
    MRSort.run()

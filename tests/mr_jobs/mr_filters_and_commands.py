"""An mrjob job with a mapper pre-filter, a reducer command and JSON keys whose order matters."""

from mrjob.job import MRJob
from mrjob.step import MRStep


class MRFiltersAndCommands(MRJob):
    def mapper_pre_filter(self):
        return "grep -v skip"

    def mapper(self, _, line):
        for word in line.split():
            yield word, 1

    def reducer(self, word, ones):
        yield word, sum(ones)

    def steps(self):
        return [MRStep(mapper_pre_filter=self.mapper_pre_filter(), mapper=self.mapper, reducer=self.reducer),
                MRStep(reducer_cmd="sort -r")]


if __name__ == "__main__":
    MRFiltersAndCommands.run()

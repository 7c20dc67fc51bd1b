"""Sort: the input's lines in one total order across all reducers.

    emrlab examples sort IN... OUT --reducers 4

Every reducer's output is sorted, but with hash partitioning part-r-00000 and
part-r-00001 would interleave. For one total order, partition by *range*:
before the job starts, the client samples the input (as Hadoop's InputSampler
does) and picks boundary keys that cut the sample into equal ranges; a
TotalOrderPartitioner sends each line to the range it falls in. Concatenating
the part files in order then gives every line, sorted.
"""

import json

from mapreduce import Job
from mapreduce.api.partitioners import TotalOrderPartitioner, sample_boundaries
from mapreduce.task.sampling import sample_lines

BOUNDARIES_KEY = "emrlab.sort.boundaries"


class Sort(Job):
    def configure_args(self):
        self.add_passthru_arg("--samples", type=int, default=1000, help="lines to sample for the boundaries")

    def step_properties(self, step_index, context):
        sample = sample_lines(context.fs, list(context.input_paths), context.properties, self.options.samples)
        return {BOUNDARIES_KEY: json.dumps(sample_boundaries(sample, context.num_reduces))}

    def partitioner(self):
        return TotalOrderPartitioner(json.loads(self.config[BOUNDARIES_KEY]))

    def mapper(self, key, line):
        yield line, None

    def reducer(self, line, nothings):
        for _ in nothings:  # duplicates stay
            yield line, None


if __name__ == "__main__":
    Sort.run()

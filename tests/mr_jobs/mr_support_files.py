"""An mrjob job that reads support files shipped every way mrjob ships them: FILES (next to
this file), DIRS, ARCHIVES, an add_file_arg switch and --files; a required passthrough
argument; JOBCONF and a step's jobconf; a mapper that counts and returns None."""

import os
import tarfile

from mrjob.compat import jobconf_from_env
from mrjob.job import MRJob
from mrjob.protocol import PickleProtocol, ReprProtocol
from mrjob.step import MRStep


class MRSupportFiles(MRJob):
    FILES = ["mrjob_support/greeting.txt"]
    DIRS = ["mrjob_support/words#wordsdir"]
    INTERNAL_PROTOCOL = PickleProtocol
    OUTPUT_PROTOCOL = ReprProtocol
    JOBCONF = {"lab.colour": "blue", "lab.flag": True}

    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg("--who", required=True)
        self.add_file_arg("--extra", help="a file read by the reducer")

    def load_args(self, args):
        super().load_args(args)
        if self.options.who == "bad":
            self.arg_parser.error("--who must not be bad")

    def mapper_init(self):
        self.lines = 0

    def mapper(self, _, line):
        self.lines += 1
        self.increment_counter("lab", "lines")

    def mapper_final(self):
        with open("greeting.txt") as greeting, open(os.path.join("wordsdir", "w.txt")) as words:
            yield ("greeting", self.options.who), greeting.read().strip()
            yield ("words", self.options.who), words.read().split()
        yield ("lines", self.options.who), self.lines
        yield ("jobconf", "colour"), jobconf_from_env("lab.colour")
        yield ("jobconf", "flag"), jobconf_from_env("lab.flag")
        yield ("jobconf", "step"), jobconf_from_env("lab.step")

    def reducer(self, key, values):
        values = list(values)
        yield key, sum(values) if key[0] == "lines" else values[0]

    def reducer_final(self):
        if self.options.extra:
            with open(self.options.extra) as extra:
                yield ("extra", os.path.basename(self.options.extra)), extra.read().strip()
        if os.path.exists("shipped.txt"):
            with open("shipped.txt") as shipped:
                yield ("files", "shipped.txt"), shipped.read().strip()
        if os.path.isdir("unpacked"):
            yield ("archive", "unpacked"), sorted(os.listdir("unpacked"))

    def steps(self):
        return [MRStep(mapper_init=self.mapper_init, mapper=self.mapper, mapper_final=self.mapper_final,
                       reducer=self.reducer, reducer_final=self.reducer_final, jobconf={"lab.step": "one"})]


if __name__ == "__main__":
    MRSupportFiles.run()

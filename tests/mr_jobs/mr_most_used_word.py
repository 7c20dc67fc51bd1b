import re
from mrjob.job import MRJob
from mrjob.step import MRStep
from mrjob.compat import jobconf_from_env

WORD_RE = re.compile(r"[\w']+")


class MRMostUsedWord(MRJob):
    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg("--min-length", type=int, default=1)

    def steps(self):
        return [MRStep(mapper=self.mapper_get_words, combiner=self.combiner_count_words,
                       reducer=self.reducer_count_words),
                MRStep(reducer=self.reducer_find_max_word)]

    def mapper_get_words(self, _, line):
        assert jobconf_from_env("mapreduce.task.ismap") == "true"
        for word in WORD_RE.findall(line):
            if len(word) >= self.options.min_length:
                self.increment_counter("words", "seen")
                yield (word.lower(), 1)

    def combiner_count_words(self, word, counts):
        yield (word, sum(counts))

    def reducer_count_words(self, word, counts):
        yield None, (sum(counts), word)

    def reducer_find_max_word(self, _, word_count_pairs):
        yield max(word_count_pairs)


if __name__ == "__main__":
    MRMostUsedWord.run()

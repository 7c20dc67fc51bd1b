"""Join: the records of two inputs that share a key (a reduce-side inner join).

    emrlab examples join LEFT RIGHT OUT

Both inputs hold tab-separated lines whose first field is the join key, e.g.
users (`id<TAB>name`) and orders (`id<TAB>item`). Each mapper tags a record
with the input it came from (0 for the first input path, 1 for the second);
the shuffle brings every record of a key to one reducer, which pairs each left
record with each right record: `key<TAB>left fields<TAB>right fields`.
"""

from mapreduce import Job

INPUTS_KEY = "mapreduce.input.fileinputformat.inputdir"


def input_index(file_path: str, input_paths: list[str]) -> int:
    """Which of the job's input paths (a file, or a directory holding it) `file_path` is under."""
    for index, input_path in enumerate(input_paths):
        input_path = input_path.rstrip("/")
        if file_path == input_path or file_path.startswith(input_path + "/"):
            return index
    raise ValueError(f"{file_path} is under none of the inputs {input_paths}")


class Join(Job):
    def mapper_init(self):
        inputs = self.config[INPUTS_KEY].split(",")
        if len(inputs) != 2:
            raise ValueError(f"join takes exactly two inputs, got {len(inputs)}")
        self.side = input_index(self.config["mapreduce.map.input.file"], inputs)

    def mapper(self, key, line):
        join_key, tab, rest = line.partition("\t")
        if tab:
            yield join_key, [self.side, rest]

    def reducer(self, join_key, tagged):
        sides = ([], [])
        for side, rest in tagged:
            sides[side].append(rest)
        for left in sides[0]:
            for right in sides[1]:
                yield join_key, f"{left}\t{right}"


if __name__ == "__main__":
    Join.run()

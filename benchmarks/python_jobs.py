"""The benchmark's jobs in plain Python: one process (`python`), or a multiprocessing pool (`python-mp`).

    python -m benchmarks.python_jobs JOB OUTPUT_DIR INPUT_FILE... [--processes N]

The baseline a MapReduce engine must beat: `collections.Counter` and friends,
which do their inner loops in C. With --processes each file is cut at line
boundaries into pieces that a pool works on, and the parent merges the pieces'
results. Writes OUTPUT_DIR/part-00000.
"""

from __future__ import annotations

import argparse
import collections
import heapq
import json
import os
import re
from multiprocessing import Pool

from benchmarks.jobs import GREP_PATTERN

PIECE_BYTES_MIN = 1 << 20


def _pieces(path: str, count: int) -> list[tuple[str, int, int]]:
    """(path, start, end) ranges of about size/count bytes, each ending after a newline."""
    size = os.path.getsize(path)
    step = max(PIECE_BYTES_MIN, -(-size // count))
    ranges, start = [], 0
    with open(path, "rb") as file:
        while start < size:
            file.seek(min(start + step, size))
            file.readline()
            end = min(file.tell(), size)
            ranges.append((path, start, end))
            start = end
    return ranges


def _read(piece: tuple[str, int, int]) -> bytes:
    path, start, end = piece
    with open(path, "rb") as file:
        file.seek(start)
        return file.read(end - start)


def wordcount(piece):
    return collections.Counter(_read(piece).split())


def grep(piece):
    matches = re.compile(GREP_PATTERN.encode()).search
    return sum(1 for line in _read(piece).splitlines() if matches(line))


def sort(piece):
    return sorted(_read(piece).splitlines())


def invertedindex(piece):
    return os.path.basename(piece[0]), set(_read(piece).lower().split())


WORK = {"wordcount": wordcount, "grep": grep, "sort": sort, "invertedindex": invertedindex}


def merged_lines(job: str, results: list) -> list[bytes]:
    if job == "wordcount":
        total = results[0]
        for counter in results[1:]:
            total.update(counter)
        return [word + b"\t" + str(count).encode() for word, count in total.items()]
    if job == "grep":
        return [str(sum(results)).encode()]
    if job == "sort":
        return list(heapq.merge(*results)) if len(results) > 1 else results[0]
    index = collections.defaultdict(set)
    for file_name, words in results:
        for word in words:
            index[word].add(file_name)
    return [word + b"\t" + json.dumps(sorted(names), separators=(",", ":")).encode() for word, names in index.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("job", choices=list(WORK))
    parser.add_argument("output_dir")
    parser.add_argument("inputs", nargs="+")
    parser.add_argument("--processes", type=int, default=1)
    options = parser.parse_args()
    work = WORK[options.job]
    if options.processes > 1:
        pieces = [piece for path in options.inputs for piece in _pieces(path, options.processes)]
        with Pool(options.processes) as pool:
            results = pool.map(work, pieces, chunksize=1)
    else:
        results = [work((path, 0, os.path.getsize(path))) for path in options.inputs]
    os.makedirs(options.output_dir)
    with open(os.path.join(options.output_dir, "part-00000"), "wb") as output:
        for line in merged_lines(options.job, results):
            output.write(line + b"\n")


if __name__ == "__main__":
    main()

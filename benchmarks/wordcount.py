"""Word count with the local or cluster runner against one plain-Python `collections.Counter` pass.

    python -m benchmarks.wordcount                    # 100 MB corpus, 3 runs
    python -m benchmarks.wordcount --size 1g --runs 5 --runner local
    python -m benchmarks.wordcount --size 1g --runner cluster   # on YARN + HDFS, 2 core nodes

Both sides are the commands a user types, timed end to end in the same run
on the same file (interpreter start-up included):

    baseline   python -c "collections.Counter(open(f, 'rb').read().split())"
    emrlab     emrlab job run mapreduce/examples/wordcount.py -r local CORPUS -o OUT

With `--runner cluster` the benchmark starts a cluster of 2 core nodes in a
temporary directory (Hadoop's 128 MiB blocks, 2 replicas), puts the corpus in
HDFS once (not timed: on EMR the data is already there), and times
`emrlab job run ... -r cluster` from submission to `_SUCCESS`.

The corpus is `emrlab.corpus` (Zipfian words, seeded). Prints the median of
each side and their ratio, and checks that the job's counts equal the
baseline's.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from emrlab import launcher
from emrlab.corpus import write_corpus
from emrlab_common.clusterdir import ClusterDir
from emrlab_common.config import format_size, parse_size

BASELINE = "import collections, sys; collections.Counter(open(sys.argv[1], 'rb').read().split())"
WORDCOUNT = Path(__file__).resolve().parent.parent / "mapreduce" / "examples" / "wordcount.py"


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def check_output(corpus: Path, parts: list[str]) -> None:
    expected = collections.Counter(corpus.read_bytes().decode().split())
    got = {}
    for text in parts:
        for line in text.splitlines():
            word, count = line.split("\t")
            got[word] = int(count)
    if got != expected:
        raise SystemExit("the job's counts differ from collections.Counter's")


class LocalSide:
    """Input and output on the local file system."""

    def __init__(self, work: Path, corpus: Path):
        self.work, self.input = work, str(corpus)
        self.generic_options: list[str] = []

    def output(self, run: int) -> str:
        return str(self.work / f"out-{run}")

    def parts(self, output: str) -> list[str]:
        return [part.read_text() for part in sorted(Path(output).glob("part-r-*"))]

    def remove(self, output: str) -> None:
        shutil.rmtree(output)

    def close(self) -> None:
        pass


class ClusterSide:
    """A cluster in the work directory, with the corpus put into HDFS once."""

    def __init__(self, work: Path, corpus: Path):
        from hdfs import Client

        self.cluster_dir = ClusterDir(work / "cluster")
        launcher.up(self.cluster_dir, core=2, properties={"dfs.replication": "2"})
        self.client = Client.for_cluster(self.cluster_dir)
        self.input = "/bench/corpus.txt"
        self.client.mkdirs("/bench")
        self.client.upload(corpus, self.input)
        self.generic_options = ["--dir", str(self.cluster_dir.root)]

    def output(self, run: int) -> str:
        return f"/bench/out-{run}"

    def parts(self, output: str) -> list[str]:
        return [self.client.read_bytes(path).decode() for path in self.client.glob(f"{output}/part-r-*")]

    def remove(self, output: str) -> None:
        self.client.delete(output, recursive=True)

    def close(self) -> None:
        self.client.close()
        launcher.down(self.cluster_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="100m", help="corpus size (default 100m)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--runner", default="local", choices=["inline", "local", "cluster"])
    parser.add_argument("-D", action="append", default=[], metavar="KEY=VALUE", help="job configuration")
    options = parser.parse_args()
    size = parse_size(options.size)
    work = Path(tempfile.mkdtemp(prefix="emrlab-bench-wordcount-"))
    try:
        corpus = write_corpus(work / "corpus.txt", size)
        side = (ClusterSide if options.runner == "cluster" else LocalSide)(work, corpus)
        baseline, job = [], []
        try:
            for run in range(options.runs):
                baseline.append(timed([sys.executable, "-c", BASELINE, str(corpus)]))
                output = side.output(run)
                definitions = [argument for pair in options.D for argument in ("-D", pair)]
                job.append(timed([sys.executable, "-m", "emrlab", *side.generic_options, *definitions, "job", "run",
                                  str(WORDCOUNT), "-r", options.runner, side.input, "-o", output, "-q"]))
                if run == 0:
                    check_output(corpus, side.parts(output))
                side.remove(output)
        finally:
            side.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    baseline_s, job_s = statistics.median(baseline), statistics.median(job)
    print(f"word count of {format_size(size)}B, median of {options.runs} runs, {os.cpu_count()} CPUs")
    print(f"{'':<36}{'seconds':>9}{'MB/s':>8}")
    print(f"{'collections.Counter, one process':<36}{baseline_s:>9.2f}{size / 1e6 / baseline_s:>8.1f}")
    print(f"{f'emrlab {options.runner} runner':<36}{job_s:>9.2f}{size / 1e6 / job_s:>8.1f}")
    print(f"{'ratio (emrlab / Counter)':<36}{job_s / baseline_s:>9.2f}")


if __name__ == "__main__":
    main()

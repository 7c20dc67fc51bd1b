"""Split sizes come from one TaskConfig with Hadoop's defaults (issue 14): the maps hint of 2 halves a
small input, the cluster's hint of 1 keeps one split per block, and the size bounds hold."""

from __future__ import annotations

from emrlab_common.config import load
from mapreduce.api.fs import LocalFileSystem
from mapreduce.appmaster.plan import RUNNER_DEFAULTS
from mapreduce.task.config import TaskConfig
from mapreduce.task.splits import compute_splits


def lengths(tmp_path, config: TaskConfig, block_size_bytes: int = 1 << 20) -> list[int]:
    path = tmp_path / "in.txt"
    path.write_bytes(b"x" * 999 + b"\n")
    return [split.length for split in compute_splits(LocalFileSystem(block_size_bytes), [str(path)], config)]


def test_hadoops_default_hint_of_two_maps_splits_a_small_file_in_two(tmp_path):
    assert TaskConfig().maps == 2 and TaskConfig().reduces == 1
    assert lengths(tmp_path, TaskConfig()) == [500, 500]


def test_the_clusters_hint_of_one_map_keeps_one_split_per_block(tmp_path):
    cluster = load(TaskConfig, RUNNER_DEFAULTS["cluster"])
    assert lengths(tmp_path, cluster) == [1000]
    assert lengths(tmp_path, cluster, block_size_bytes=400) == [400, 400, 200]
    assert lengths(tmp_path, load(TaskConfig, RUNNER_DEFAULTS["local"])) == [500, 500]


def test_split_bounds_hold_and_a_minimum_of_zero_is_read_as_one(tmp_path):
    assert lengths(tmp_path, TaskConfig(maps=1, split_max_size_bytes=300)) == [300, 300, 300, 100]
    assert lengths(tmp_path, TaskConfig(maps=1, split_min_size_bytes=2000), block_size_bytes=400) == [1000]
    assert TaskConfig().split_min_size_bytes == 0
    assert lengths(tmp_path, TaskConfig(maps=1000, split_min_size_bytes=0)) == [1] * 1000


def test_sampling_reads_the_start_of_each_split_not_the_whole_input_and_is_the_same_every_run(tmp_path):
    from mapreduce.task.sampling import LINES_READ_PER_SAMPLE, sample_lines

    path = tmp_path / "numbers.txt"
    path.write_text("".join(f"{number:09d}\n" for number in range(3_200_000)))  # 32 MB, as 8 splits of 4 MB
    read: list[int] = []

    class CountingFileSystem(LocalFileSystem):
        def open(self, path):
            stream = super().open(path)
            original = stream.read

            def counted(size=-1):
                data = original(size)
                read.append(len(data))
                return data

            stream.read = counted
            return stream

    properties = {"mapreduce.input.fileinputformat.split.maxsize": "4000000"}
    sample = sample_lines(CountingFileSystem(), [str(path)], properties, samples=80)
    assert sample == sample_lines(LocalFileSystem(), [str(path)], properties, samples=80)
    assert len(sample) == 80
    # From every split (its first 10 x 20 lines), and the whole of none of them.
    assert sorted({int(line) // 400_000 for line in sample}) == list(range(8))
    assert all(int(line) % 400_000 < 10 * LINES_READ_PER_SAMPLE for line in sample)
    assert sum(read) < path.stat().st_size / 2

"""Hadoop Streaming jobs written as Hadoop's Streaming documentation writes them.

Each job's output is compared with the same programs run as a pipeline,
`cat INPUT | MAPPER | LC_ALL=C sort | REDUCER` (Hadoop sorts keys by their
bytes), line sets compared since reducers split the keys among part files.
The cluster tests share one small cluster.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from conftest import ClusterPool
from tests.mapreduce_helpers import output_lines
from tests.test_mapreduce_cluster import MR_FAST_PROPERTIES, output_of

JOBS = Path(__file__).parent / "mr_jobs"
TEXT = "the quick brown fox\njumps over the lazy dog\nthe dog barks\n\nfox and dog\n"


def emrlab(*arguments, cwd, check=True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "emrlab", *map(str, arguments)], capture_output=True, text=True,
                          cwd=cwd, timeout=300, env={**os.environ, "EMRLAB_CLUSTER": "/nonexistent-cluster"})
    if check:
        assert done.returncode == 0, done.stderr
    return done


def pipeline(command: str, cwd) -> list[str]:
    done = subprocess.run(["bash", "-c", command], capture_output=True, cwd=cwd, check=True,
                          env={**os.environ, "LC_ALL": "C", "mapreduce_map_input_file": "input.txt"})
    return done.stdout.decode().splitlines()


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """Scripts as a student writes them (executable, with a #! line), an input, an archive."""
    directory = tmp_path_factory.mktemp("streaming")
    for name in ("mapper", "reducer"):
        shutil.copy(JOBS / f"streaming_{name}.py", directory / f"{name}.py")  # executable, with a #! line
    (directory / "input.txt").write_text(TEXT)
    (directory / "stop.txt").write_text("the\nand\n")
    with tarfile.open(directory / "stopwords.tgz", "w:gz") as archive:
        archive.add(directory / "stop.txt", arcname="list.txt")
    return directory


@pytest.mark.parametrize("runner", ["inline", "local"])
def test_word_count_with_files_matches_the_pipeline(work, tmp_path, runner):
    emrlab("streaming", "-files", f"{work / 'mapper.py'},{work / 'reducer.py'}", "-input", work / "input.txt",
           "-output", tmp_path / "out", "-mapper", "mapper.py", "-reducer", "reducer.py",
           "-numReduceTasks", "2", "-r", runner, "-q", cwd=tmp_path)
    expected = pipeline("cat input.txt | ./mapper.py | sort | ./reducer.py", work)
    assert sorted(output_lines(tmp_path / "out")) == sorted(expected)


def test_aliases_archives_and_cmdenv(work, tmp_path):
    reducer = "cut -f1 | grep -v -x -F -f stopwords/list.txt | sed \"s/^/$PREFIX/\""
    emrlab("streaming", "-files", f"{work / 'mapper.py'}#words.py", "-archives", f"{work / 'stopwords.tgz'}#stopwords",
           "-cmdenv", "PREFIX=w:", "-input", work / "input.txt", "-output", tmp_path / "out",
           "-mapper", "words.py", "-reducer", reducer, "-r", "local", "-q", cwd=tmp_path)
    expected = pipeline("cat input.txt | ./mapper.py | sort | cut -f1 | grep -v -x -F -f stop.txt | sed 's/^/w:/'",
                        work)
    got = output_lines(tmp_path / "out")
    assert sorted(got) == sorted(expected) and "w:fox" in got and "w:the" not in got


def test_the_secondary_sort_recipe(work, tmp_path):
    """Hadoop's documented recipe: keys of two '.'-separated fields, partitioned by the first,
    sorted by the first and then the second numerically in reverse."""
    source = tmp_path / "pairs.txt"
    source.write_text("".join(f"{word}.{number}.x{number}\n" for word in ("b", "a", "c")
                              for number in (3, 10, 1, 22, 2)))
    emrlab("streaming", "-D", "stream.map.output.field.separator=.", "-D", "stream.num.map.output.key.fields=2",
           "-D", "mapreduce.map.output.key.field.separator=.",
           "-D", "mapreduce.partition.keypartitioner.options=-k1,1",
           "-D", "mapreduce.job.output.key.comparator.class="
                 "org.apache.hadoop.mapreduce.lib.partition.KeyFieldBasedComparator",
           "-D", "mapreduce.partition.keycomparator.options=-k1,1 -k2,2nr",
           "-partitioner", "org.apache.hadoop.mapred.lib.KeyFieldBasedPartitioner",
           "-input", source, "-output", tmp_path / "out", "-mapper", "cat", "-reducer", "cat",
           "-numReduceTasks", "2", "-r", "local", "-q", cwd=tmp_path)
    parts = [part.read_text().splitlines() for part in sorted((tmp_path / "out").glob("part-r-*"))]
    expected = pipeline(f"sort -t. -k1,1 -k2,2nr {source} | sed 's/\\./\\t/2'", tmp_path)
    assert sorted(line for part in parts for line in part) == sorted(expected)
    for part in parts:  # each part in the comparator's order, each first field in one part only
        assert part == [line for line in expected if line in part]
    firsts = [{line.split(".")[0] for line in part} for part in parts]
    assert sum(len(first) for first in firsts) == 3


def test_old_course_material_names_work_with_hadoops_deprecation_lines(work, tmp_path):
    done = emrlab("streaming", "-jobconf", "mapred.reduce.tasks=3",
                  "-D", "mapred.output.key.comparator.class=org.apache.hadoop.mapred.lib.KeyFieldBasedComparator",
                  "-D", "mapred.text.key.comparator.options=-k1,1r", "-input", work / "input.txt",
                  "-output", tmp_path / "out", "-mapper", "mapper.py", "-file", work / "mapper.py",
                  "-reducer", "uniq -c", "-r", "local", "-q", cwd=tmp_path)
    assert "-jobconf option is deprecated, please use -D instead." in done.stderr
    assert "-file option is deprecated, please use generic option -files instead." in done.stderr
    assert ("Configuration.deprecation: mapred.reduce.tasks is deprecated. Instead, use mapreduce.job.reduces"
            in done.stderr)
    assert ("Configuration.deprecation: mapred.text.key.comparator.options is deprecated. Instead, use "
            "mapreduce.partition.keycomparator.options" in done.stderr)
    parts = [part.read_text().split("\n")[:-1] for part in sorted((tmp_path / "out").glob("part-r-*"))]
    assert len(parts) == 3
    for part in parts:  # reverse order within each reducer
        words = [line.split()[1] for line in part]
        assert words == sorted(words, reverse=True)


def test_empty_inputs_write_what_hadoop_writes(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "empty-dir").mkdir()
    emrlab("streaming", "-input", tmp_path / "empty.txt", "-output", tmp_path / "o1", "-mapper", "cat",
           "-numReduceTasks", "0", "-r", "local", "-q", cwd=tmp_path)
    assert sorted(path.name for path in (tmp_path / "o1").iterdir()) == ["_SUCCESS", "part-m-00000"]
    assert (tmp_path / "o1" / "part-m-00000").read_bytes() == b""
    emrlab("streaming", "-input", tmp_path / "empty-dir", "-output", tmp_path / "o2", "-mapper", "cat",
           "-numReduceTasks", "0", "-r", "local", "-q", cwd=tmp_path)
    assert sorted(path.name for path in (tmp_path / "o2").iterdir()) == ["_SUCCESS"]
    (tmp_path / "one.txt").write_text("just one line\n")
    emrlab("streaming", "-input", tmp_path / "one.txt", "-output", tmp_path / "o3", "-mapper", "cat",
           "-reducer", "cat", "-numReduceTasks", "4", "-lazyOutput", "-r", "local", "-q", cwd=tmp_path)
    assert sorted(path.name for path in (tmp_path / "o3").iterdir())[0] == "_SUCCESS"
    assert len(list((tmp_path / "o3").glob("part-*"))) == 1


def test_bytes_pass_through_untouched(tmp_path):
    data = b"caf\xe9\tv\xff\n\xff\xfe raw\nok\tfine\r\n"
    (tmp_path / "bytes.bin").write_bytes(data)
    emrlab("streaming", "-input", tmp_path / "bytes.bin", "-output", tmp_path / "out", "-mapper", "cat",
           "-reducer", "cat", "-numReduceTasks", "1", "-r", "local", "-q", cwd=tmp_path)
    got = (tmp_path / "out" / "part-r-00000").read_bytes()
    assert got == b"".join(sorted(line + b"\n" for line in data.replace(b"\r\n", b"\n").splitlines()))


@pytest.mark.parametrize("arguments, message", [
    (["-mapper", "org.apache.hadoop.mapred.lib.RegexMapper"], "IdentityMapper"),
    (["-mapper", "cat", "-partitioner", "org.apache.hadoop.mapred.lib.TotalOrderPartitioner"],
     "KeyFieldBasedPartitioner"),
    (["-mapper", "cat", "-inputformat", "org.apache.hadoop.mapred.SequenceFileInputFormat"], "TextInputFormat"),
    (["-mapper", "cat", "-D", "mapreduce.partition.keycomparator.options=-k0"], "invalid key field spec"),
    (["-mapper", "cat", "-numReduceTasks", "-1"], "must be 0 or more"),
    (["-mapper", "cat", "-files", "/nonexistent/x.py"], "no such file"),
])
def test_unsupported_classes_and_bad_options_are_one_clear_line(work, tmp_path, arguments, message):
    done = emrlab("streaming", "-input", work / "input.txt", "-output", tmp_path / "out", *arguments, "-r", "local",
                  cwd=tmp_path, check=False)
    assert done.returncode != 0 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- on the cluster


@pytest.fixture(scope="module")
def streaming_cluster(tmp_path_factory):
    pool = ClusterPool(lambda: tmp_path_factory.mktemp("streamingcluster"))
    cluster = pool.start(core=2, task=0, properties=MR_FAST_PROPERTIES, services=("hdfs", "yarn"))
    cluster.client().write_bytes("/in/input.txt", TEXT.encode())
    yield cluster
    pool.close()


@pytest.mark.cluster
def test_file_keeps_the_execute_bit_and_files_aliases_work_on_the_cluster(streaming_cluster, work, tmp_path):
    directory = str(streaming_cluster.cluster_dir.root)
    emrlab("--dir", directory, "streaming", "-input", "/in/input.txt", "-output", "/out/file", "-mapper", "mapper.py",
           "-reducer", "reducer.py", "-file", work / "mapper.py", "-file", work / "reducer.py", "-r", "cluster", "-q",
           cwd=tmp_path)
    expected = pipeline("cat input.txt | ./mapper.py | sort | ./reducer.py", work)
    client = streaming_cluster.client()
    assert sorted(output_of(client, "/out/file")) == sorted(expected)
    emrlab("--dir", directory, "streaming", "-files", f"{work / 'mapper.py'}#m.py",
           "-archives", f"{work / 'stopwords.tgz'}#stop", "-input", "/in/input.txt", "-output", "/out/alias",
           "-mapper", "m.py", "-reducer", "cut -f1 | grep -v -x -F -f stop/list.txt", "-r", "cluster", "-q",
           cwd=tmp_path)
    assert sorted(output_of(client, "/out/alias")) == sorted(
        pipeline("cat input.txt | ./mapper.py | sort | cut -f1 | grep -v -x -F -f stop.txt", work))


@pytest.mark.cluster
def test_a_container_larger_than_the_maximum_allocation_fails_the_job_with_the_reason(streaming_cluster, tmp_path):
    done = emrlab("--dir", str(streaming_cluster.cluster_dir.root), "streaming", "-D", "mapreduce.map.memory.mb=999999",
                  "-input", "/in/input.txt", "-output", "/out/huge", "-mapper", "cat", "-r", "cluster", "-q",
                  cwd=tmp_path, check=False)
    assert done.returncode != 0 and "maximum allocation" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "refused a container request" in done.stderr, done.stderr


@pytest.mark.cluster
def test_dfs_get_into_a_missing_directory_and_bad_replication_are_one_line(streaming_cluster, tmp_path):
    directory = str(streaming_cluster.cluster_dir.root)
    for destination in (tmp_path / "missing", tmp_path / "missing" / "x"):
        done = emrlab("--dir", directory, "dfs", "-get", "/in/input.txt", f"{destination}/", cwd=tmp_path, check=False)
        assert done.returncode != 0 and "No such file or directory" in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "missing").exists()
    (tmp_path / "local.txt").write_text("x\n")
    for replication in ("-2", "0"):
        done = emrlab("--dir", directory, "dfs", "-D", f"dfs.replication={replication}", "-put", tmp_path / "local.txt",
                      "/in/r.txt", cwd=tmp_path, check=False)
        assert done.returncode != 0 and "less than the required minimum of 1" in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    unknown = emrlab("--dir", directory, "dfs", "-lss", "/", cwd=tmp_path, check=False)
    assert unknown.returncode != 0 and unknown.stderr.strip().splitlines() == [
        "-lss: Unknown command (did you mean -ls? emrlab dfs -help lists the commands)"]


@pytest.mark.cluster
def test_standard_input_and_output_on_the_cluster(streaming_cluster, tmp_path):
    done = subprocess.run([sys.executable, "-m", "emrlab", "--dir", str(streaming_cluster.cluster_dir.root),
                           "streaming", "-input", "-", "-mapper", "tr ' ' '\\n'", "-reducer", "uniq -c", "-r", "cluster",
                           "-q", "-output", "-"], input="b a b\n", capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(line.split() for line in done.stdout.splitlines()) == [["1", "a"], ["2", "b"]]
    assert not [status.name for status in streaming_cluster.client().list("/tmp") if status.name.startswith("emrlab-")]


@pytest.mark.cluster
def test_why_the_application_master_failed_reaches_the_client(streaming_cluster, tmp_path):
    done = emrlab("--dir", str(streaming_cluster.cluster_dir.root), "job", "run", JOBS / "fails_in_containers.py",
                  "/in/input.txt", "-o", "/out/am-fails", "-r", "cluster", "-q", cwd=tmp_path, check=False)
    assert done.returncode != 0 and "this job refuses to load inside a container" in done.stderr, done.stderr

"""MapReduce on a real cluster: HDFS + YARN daemons, the AM and tasks as separate processes.

One cluster (3 core nodes and 1 task node, 1 MiB blocks, fast heartbeats) is
shared by the module's tests; the tests that break nodes run last and use
nodes the others no longer need. Every job's output is compared with a
sequential reference computed here.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import textwrap
import threading

import pytest
from conftest import YARN_FAST_PROPERTIES, ClusterPool, wait_until

from mapreduce.api import counters as names
from mapreduce.api.errors import JobFailed
from mapreduce.api.spec import JobSpec
from mapreduce.appmaster.history import read_history
from mapreduce.runners import runner_class
from mapreduce.runners.monitor import JobMonitor

pytestmark = pytest.mark.cluster

MR_FAST_PROPERTIES = {
    **YARN_FAST_PROPERTIES,
    # Three 256 MB containers per node: tasks spread over the nodes, as on a busy cluster.
    "yarn.nodemanager.resource.memory-mb": "768",
    "yarn.app.mapreduce.am.scheduler.heartbeat.interval-ms": "100",
    "mapreduce.task.progress-report.interval": "200",
    "mapreduce.client.progressmonitor.pollinterval": "200",
    "emrlab.reduce.shuffle.events.poll-ms": "100",
    "mapreduce.reduce.shuffle.fetch.retry.interval-ms": "200",
    "mapreduce.map.memory.mb": "256",
    "mapreduce.reduce.memory.mb": "256",
    "yarn.app.mapreduce.am.resource.mb": "256",
}
WORDS = ["apple", "banana", "cherry", "date", "elder", "fig", "grape", "hazel", "iris", "juniper", "kiwi", "lime"]


@pytest.fixture(scope="module")
def mr_cluster(tmp_path_factory):
    pool = ClusterPool(lambda: tmp_path_factory.mktemp("mrcluster"))
    cluster = pool.start(core=3, task=1, properties=MR_FAST_PROPERTIES, services=("hdfs", "yarn"))
    yield cluster
    pool.close()


def corpus(lines: int, seed: int) -> bytes:
    generator = random.Random(seed)
    return "".join(" ".join(generator.choice(WORDS) for _ in range(generator.randint(1, 12))) + "\n"
                   for _ in range(lines)).encode()


def word_counts(data: bytes) -> dict[str, int]:
    return dict(collections.Counter(data.decode().split()))


def output_of(client, output_dir: str) -> list[str]:
    names_ = sorted(status.path.rsplit("/", 1)[-1] for status in client.list(output_dir))
    assert "_SUCCESS" in names_, names_
    lines = []
    for name in names_:
        if name.startswith("part-"):
            lines += client.read_bytes(f"{output_dir}/{name}").decode().splitlines()
    return lines


def run_on_cluster(cluster, reference: str, inputs: list[str], output_dir: str, properties: dict | None = None,
                   arguments: tuple[str, ...] = ()):
    spec = JobSpec(job_reference=reference, input_paths=tuple(inputs), output_dir=output_dir,
                   job_arguments=arguments, properties=dict(properties or {}),
                   cluster_dir=str(cluster.cluster_dir.root), job_name=reference.rsplit(":", 1)[-1])
    return runner_class("cluster")().run(spec, JobMonitor(quiet=True))


@pytest.fixture(scope="module")
def words_input(mr_cluster):
    """~2.2 MiB of words in HDFS: three 1 MiB blocks, so three maps."""
    client = mr_cluster.client()
    data = corpus(60000, seed=1)
    client.mkdirs("/data")
    client.write_bytes("/data/words.txt", data)
    return "/data/words.txt", data


def test_wordcount_on_the_cluster_matches_the_reference(mr_cluster, words_input):
    path, data = words_input
    assert len(mr_cluster.client().block_locations(path)) == 3
    # The input as a pattern, which the client checks and the AM expands, as FileInputFormat does.
    result = run_on_cluster(mr_cluster, "mapreduce.examples.wordcount:WordCount", ["/data/w*.txt"], "/out/wordcount",
                            {"mapreduce.job.reduces": "2"})
    client = mr_cluster.client()
    lines = output_of(client, "/out/wordcount")
    assert dict((word, int(count)) for word, count in (line.split("\t") for line in lines)) == word_counts(data)
    assert len([name for name in (s.path for s in client.list("/out/wordcount")) if "part-r-" in name]) == 2
    counters = result.counters
    assert counters.get(names.JOB_COUNTER, names.TOTAL_LAUNCHED_MAPS) == 3
    assert counters.get(names.JOB_COUNTER, names.TOTAL_LAUNCHED_REDUCES) == 2
    assert counters.get(names.JOB_COUNTER, names.DATA_LOCAL_MAPS) > 0
    assert counters.task(names.SHUFFLED_MAPS) == 6
    assert counters.task(names.MAP_INPUT_RECORDS) == 60000
    assert counters.get(names.FILE_SYSTEM_COUNTER, "HDFS_BYTES_READ") >= len(data)
    history = read_history(client, result.job_id)
    assert history["state"] == "SUCCEEDED"
    assert {attempt["state"] for attempt in history["attempts"]} == {"SUCCEEDED"}
    assert all(attempt["node_id"] for attempt in history["attempts"])


def test_profiled_tasks_leave_profile_out_in_their_container_logs(mr_cluster, words_input):
    result = run_on_cluster(mr_cluster, "mapreduce.examples.wordcount:WordCount", [words_input[0]], "/out/profiled",
                            {"mapreduce.job.reduces": "2", "mapreduce.task.profile": "true",
                             "mapreduce.task.profile.maps": "1-", "mapreduce.task.profile.reduces": "0"})
    application_id = "application_" + result.job_id.removeprefix("job_")
    logs = mr_cluster.emrlab("logs", "-applicationId", application_id, "-log_files", "profile.out",
                             check=True).stdout.decode()
    profiles = re.split(r"^LogType:profile\.out$", logs, flags=re.MULTILINE)[1:]
    assert len(profiles) == 3  # maps 1 and 2 of 0 to 2, reduce 0 of 0 and 1
    tasks = sorted(re.search(r"attempt_\d+_\d+_([mr]_\d+)_\d+: ", profile).group(1) for profile in profiles)
    assert tasks == ["m_000001", "m_000002", "r_000000"]
    assert all("CPU s from the process's start to its task" in profile and "Ordered by: cumulative time" in profile
               for profile in profiles)
    assert sum("run_map_attempt" in profile for profile in profiles) == 2
    assert sum("run_reduce_attempt" in profile for profile in profiles) == 1


def write_job(tmp_path, name: str, body: str) -> str:
    path = tmp_path / f"{name}.py"
    path.write_text("import os, random, sys, time\nfrom mapreduce import Job\n\n" + textwrap.dedent(body))
    return str(path)


def test_a_failing_mapper_fails_the_job_with_its_stderr_and_leaves_no_output(mr_cluster, words_input, tmp_path):
    job = write_job(tmp_path, "broken", """
        class Broken(Job):
            def mapper(self, key, line):
                print("about to fail on", repr(line[:10]), file=sys.stderr)
                raise ValueError("this mapper is broken")

            def reducer(self, key, values):
                yield key, sum(values)
        """)
    result = mr_cluster.emrlab("job", "run", job, "-r", "cluster", words_input[0], "-o", "/out/broken",
                               "-D", "mapreduce.map.maxattempts=2")
    stderr = result.stderr.decode()
    assert result.returncode != 0
    assert "failed 2 times" in stderr
    assert "ValueError: this mapper is broken" in stderr
    assert "about to fail on" in stderr  # the attempt's stderr tail
    assert "broken.py\", line" in stderr and "mapreduce/task/attempt.py" not in stderr  # the user's frames only
    assert stderr.strip().splitlines()[-1] == "emrlab job: the job failed: ValueError: this mapper is broken (details above)"
    assert not mr_cluster.client().exists("/out/broken")


def test_bad_paths_are_one_clear_line(mr_cluster, words_input):
    missing = mr_cluster.emrlab("job", "run", "mapreduce/examples/wordcount.py", "-r", "cluster", "/no/such/input",
                                "-o", "/out/never")
    assert missing.returncode != 0
    assert missing.stderr.decode().strip().splitlines()[-1] == (
        "emrlab job: Input path does not exist: hdfs:///no/such/input")
    no_match = mr_cluster.emrlab("job", "run", "mapreduce/examples/wordcount.py", "-r", "cluster", "/data/nothing-*",
                                 "-o", "/out/never")
    assert no_match.returncode != 0
    assert no_match.stderr.decode().strip().splitlines()[-1] == (
        "emrlab job: Input Pattern hdfs:///data/nothing-* matches 0 files")
    mr_cluster.client().mkdirs("/out/exists")
    exists = mr_cluster.emrlab("job", "run", "mapreduce/examples/wordcount.py", "-r", "cluster", words_input[0],
                               "-o", "/out/exists")
    assert exists.returncode != 0
    assert "Output directory hdfs:///out/exists already exists" in exists.stderr.decode()


def test_crashing_tasks_still_give_exactly_the_reference_output(mr_cluster, words_input, tmp_path):
    """MIT 6.5840's crash test: tasks that die or stall now and then, with max attempts raised."""
    job = write_job(tmp_path, "crashy", """
        def maybe_crash():
            roll = random.random()
            if roll < 0.33:
                os._exit(1)
            if roll < 0.5:
                time.sleep(random.random())

        class CrashyWordCount(Job):
            def mapper_init(self):
                maybe_crash()

            def mapper(self, key, line):
                for word in line.split():
                    yield word, 1

            def reducer_init(self):
                maybe_crash()

            def reducer(self, word, counts):
                yield word, sum(counts)
        """)
    path, data = words_input
    result = run_on_cluster(mr_cluster, f"{job}:CrashyWordCount", [path], "/out/crashy",
                            {"mapreduce.job.reduces": "2", "mapreduce.map.maxattempts": "20",
                             "mapreduce.reduce.maxattempts": "20"})
    lines = output_of(mr_cluster.client(), "/out/crashy")
    assert dict((word, int(count)) for word, count in (line.split("\t") for line in lines)) == word_counts(data)
    assert len(lines) == len(set(lines))
    assert result.counters.get(names.JOB_COUNTER, names.TOTAL_LAUNCHED_MAPS) >= 3


def test_maps_run_in_parallel_and_none_runs_twice_on_healthy_nodes(mr_cluster, words_input, tmp_path):
    """MIT 6.5840's parallelism and job-count tests, seen from inside the job."""
    markers = tmp_path / "markers"
    markers.mkdir()
    job = write_job(tmp_path, "parallel", f"""
        MARKERS = {str(markers)!r}

        class Parallel(Job):
            def mapper_init(self):
                open(os.path.join(MARKERS, self.config["mapreduce.task.attempt.id"]), "w").close()
                deadline = time.time() + 20
                while len(os.listdir(MARKERS)) < 2 and time.time() < deadline:
                    time.sleep(0.05)
                self.together = len(os.listdir(MARKERS))

            def mapper(self, key, line):
                return iter(())

            def mapper_final(self):
                yield "most maps seen running at once", self.together

            def reducer(self, key, values):
                yield key, max(values)
        """)
    result = run_on_cluster(mr_cluster, f"{job}:Parallel", [words_input[0]], "/out/parallel",
                            {"mapreduce.job.reduces": "1"})
    (line,) = output_of(mr_cluster.client(), "/out/parallel")
    assert int(line.split("\t")[1]) >= 2
    launched = sorted(os.listdir(markers))
    assert len(launched) == 3 and all(attempt_id.endswith("_0") for attempt_id in launched)
    assert result.counters.get(names.JOB_COUNTER, names.TOTAL_LAUNCHED_MAPS) == 3


# ---------------------------------------------------------------- every example on the cluster

@pytest.fixture(scope="module")
def two_files(mr_cluster):
    client = mr_cluster.client()
    data = [corpus(9000, seed=seed) for seed in (2, 3)]
    client.mkdirs("/examples/in")
    for index, part in enumerate(data):
        client.write_bytes(f"/examples/in/part-{index}.txt", part)
    return ["/examples/in/part-0.txt", "/examples/in/part-1.txt"], b"".join(data)


def test_grep_on_the_cluster_runs_two_steps(mr_cluster, two_files):
    paths, data = two_files
    pattern = r"[a-z]*e[a-z]*"
    result = run_on_cluster(mr_cluster, "mapreduce.examples.grep:Grep", paths, "/out/grep",
                            {"mapreduce.job.reduces": "2"}, arguments=("--pattern", pattern))
    counts = collections.Counter(re.findall(pattern, data.decode()))
    expected = sorted(((match, count) for match, count in counts.items() if match), key=lambda item: (-item[1], item[0]))
    got = [(match, int(count)) for match, count in (line.split("\t") for line in output_of(mr_cluster.client(), "/out/grep"))]
    assert got == expected
    assert len(result.job_ids) == 2
    assert result.counters.get(names.JOB_COUNTER, names.TOTAL_LAUNCHED_MAPS) >= 4
    staging = f"/tmp/hadoop-yarn/staging/{mr_cluster.client().user}/.staging/{result.job_ids[0]}"
    wait_until(lambda: not mr_cluster.client().exists(staging), what="the AM to delete the staging dir")


def test_inverted_index_on_the_cluster(mr_cluster, two_files):
    paths, _ = two_files
    client = mr_cluster.client()
    run_on_cluster(mr_cluster, "mapreduce.examples.invertedindex:InvertedIndex", paths, "/out/index",
                   {"mapreduce.job.reduces": "2"})
    expected = collections.defaultdict(set)
    for path in paths:
        for word in client.read_bytes(path).decode().lower().split():
            expected[word].add(path.rsplit("/", 1)[-1])
    got = {word: json.loads(files) for word, files in (line.split("\t") for line in output_of(client, "/out/index"))}
    assert got == {word: sorted(files) for word, files in expected.items()}


def test_sort_on_the_cluster_gives_one_total_order(mr_cluster, two_files):
    paths, data = two_files
    run_on_cluster(mr_cluster, "mapreduce.examples.sort:Sort", paths, "/out/sort",
                   {"mapreduce.job.reduces": "3"}, arguments=("--samples", "200"))
    lines = output_of(mr_cluster.client(), "/out/sort")
    assert lines == sorted(data.decode().splitlines(), key=lambda line: line.encode())


def test_join_on_the_cluster(mr_cluster):
    client = mr_cluster.client()
    users = [f"{user}\tname-{user}" for user in range(60)]
    orders = [f"{order % 80}\titem-{order}" for order in range(200)]
    client.write_bytes("/join/users/a.txt", ("\n".join(users[:30]) + "\n").encode())
    client.write_bytes("/join/users/b.txt", ("\n".join(users[30:]) + "\n").encode())
    client.write_bytes("/join/orders/orders.txt", ("\n".join(orders) + "\n").encode())
    result = run_on_cluster(mr_cluster, "mapreduce.examples.join:Join", ["/join/users", "/join/orders"], "/out/join",
                            {"mapreduce.job.reduces": "2"})
    expected = sorted(f"{u.split(chr(9))[0]}\t{u.split(chr(9))[1]}\t{o.split(chr(9))[1]}"
                      for u in users for o in orders if u.split("\t")[0] == o.split("\t")[0])
    assert sorted(output_of(client, "/out/join")) == expected
    assert result.counters.get(names.JOB_COUNTER, names.TOTAL_LAUNCHED_MAPS) >= 2


def test_a_streaming_job_on_the_cluster_with_its_files(mr_cluster, words_input, tmp_path):
    (tmp_path / "mapper.py").write_text(
        "import sys\nfor line in sys.stdin:\n    for word in line.split():\n        print(f'{word}\\t1')\n")
    (tmp_path / "reducer.py").write_text(textwrap.dedent("""
        import os, sys
        current, total = None, 0
        for line in sys.stdin:
            word, count = line.rstrip("\\n").split("\\t")
            if word != current and current is not None:
                print(f"{current}\\t{total}")
                total = 0
            current, total = word, total + int(count)
        if current is not None:
            print(f"{current}\\t{total}")
        print("reporter:counter:Streaming,Partition-" + os.environ["mapreduce_task_partition"] + ",1", file=sys.stderr)
        """))
    result = mr_cluster.emrlab("streaming", "-r", "cluster", "-input", words_input[0], "-output", "/out/streaming",
                               "-mapper", "python3 mapper.py", "-reducer", "python3 reducer.py",
                               "-file", str(tmp_path / "mapper.py"), "-file", str(tmp_path / "reducer.py"),
                               "-numReduceTasks", "2")
    assert result.returncode == 0, result.stderr.decode()
    stderr = result.stderr.decode()
    assert "Submitted application application_" in stderr and "completed successfully" in stderr
    assert "Partition-0=1" in stderr and "Partition-1=1" in stderr  # Hadoop's env vars reached the command
    lines = output_of(mr_cluster.client(), "/out/streaming")
    assert dict((word, int(count)) for word, count in (line.split("\t") for line in lines)) == word_counts(words_input[1])


def test_a_map_only_streaming_job_commits_its_maps_output(mr_cluster, words_input):
    result = mr_cluster.emrlab("streaming", "-r", "cluster", "-input", words_input[0], "-output", "/out/maponly",
                               "-mapper", "tr a-z A-Z", "-numReduceTasks", "0", "-q")
    assert result.returncode == 0, result.stderr.decode()
    client = mr_cluster.client()
    parts = sorted(status.path.rsplit("/", 1)[-1] for status in client.list("/out/maponly"))
    assert parts == ["_SUCCESS", "part-m-00000", "part-m-00001", "part-m-00002"]
    assert output_of(client, "/out/maponly") == words_input[1].decode().upper().splitlines()


def test_an_unmodified_mrjob_job_on_the_cluster(mr_cluster, words_input):
    pytest.importorskip("mrjob")
    from pathlib import Path

    job = Path(__file__).parent / "mr_jobs" / "mr_word_freq.py"
    run_on_cluster(mr_cluster, f"{job}:MRWordFreqCount", [words_input[0]], "/out/mrjob", {"mapreduce.job.reduces": "2"})
    got = {json.loads(key): json.loads(value)
           for key, value in (line.split("\t") for line in output_of(mr_cluster.client(), "/out/mrjob"))}
    assert got == word_counts(words_input[1])


def test_an_attempt_that_makes_no_progress_times_out(mr_cluster, words_input, tmp_path):
    job = write_job(tmp_path, "stuck", """
        class Stuck(Job):
            def mapper(self, key, line):
                time.sleep(120)
                yield line, 1
        """)
    with pytest.raises(JobFailed, match=r"timed out after 2 secs"):
        run_on_cluster(mr_cluster, f"{job}:Stuck", [words_input[0]], "/out/stuck",
                       {"mapreduce.task.timeout": "2000", "mapreduce.map.maxattempts": "1"})
    assert not mr_cluster.client().exists("/out/stuck")


# ---------------------------------------------------------------- commands and kill

def running_job_id(cluster, name: str, known=()) -> str:
    """The one running job called `name` that is not among `known` (jobs an earlier test may still be ending)."""
    listing = cluster.emrlab("job", "-list", check=True).stdout.decode()
    jobs = [line.split()[0] for line in listing.splitlines() if line.startswith("job_") and line.split()[1] == name
            and line.split()[0] not in known]
    return jobs[0] if len(jobs) == 1 else ""


def listed_job_ids(cluster) -> set[str]:
    listing = cluster.emrlab("job", "-list", check=True).stdout.decode()
    return {line.split()[0] for line in listing.splitlines() if line.startswith("job_")}


SLOW_MAPPER = """
    class {name}(Job):
        def mapper(self, key, line):
            time.sleep(60)
            yield line, 1

        def reducer(self, key, values):
            yield key, sum(values)
    """


@contextlib.contextmanager
def slow_job_client(cluster, tmp_path, name: str, input_path: str):
    """`emrlab job run` of a job whose maps take a minute, in the background; yields (process, job id)
    once a map attempt runs, and kills the client at the end if it is still there."""
    job = write_job(tmp_path, name.lower(), SLOW_MAPPER.format(name=name))
    environment = dict(os.environ, EMRLAB_CLUSTER=str(cluster.cluster_dir.root))
    process = subprocess.Popen([sys.executable, "-m", "emrlab", "job", "run", job, "-r", "cluster", input_path,
                                "-o", f"/out/{name}"], env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        job_id = wait_until(lambda: running_job_id(cluster, name), what=f"{name} in -list")
        wait_until(lambda: "RUNNING" in [a["state"] for a in read_status_attempts(cluster, job_id)],
                   what="a running map")
        yield process, job_id
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_job_list_status_kill_and_history(mr_cluster, words_input, tmp_path):
    with slow_job_client(mr_cluster, tmp_path, "Slow", words_input[0]) as (client_process, job_id):
        assert "Job state: RUNNING" in mr_cluster.emrlab("job", "-status", job_id, check=True).stdout.decode()
        killed = mr_cluster.emrlab("job", "-kill", job_id, check=True)
        assert killed.stdout.decode().strip() == f"Killed job {job_id}"
    assert client_process.returncode != 0
    assert f"Job {job_id} was killed" in client_process.stderr.read().decode()
    assert not mr_cluster.client().exists("/out/Slow")
    history = mr_cluster.emrlab("job", "-history", job_id, check=True).stdout.decode()
    assert "Status: KILLED" in history
    assert "KILLED" in history.split("Task attempt", 1)[1]
    status = mr_cluster.emrlab("job", "-status", job_id, check=True).stdout.decode()
    assert "Job state: KILLED" in status
    finished = mr_cluster.emrlab("job", "-kill", job_id)
    assert finished.returncode != 0 and "already finished" in finished.stderr.decode()
    bad = mr_cluster.emrlab("job", "-status", "nonsense")
    assert bad.returncode != 0 and bad.stderr.decode().count("\n") == 1


def test_ctrl_c_in_the_client_kills_the_job(mr_cluster, words_input, tmp_path):
    with slow_job_client(mr_cluster, tmp_path, "Interrupted", words_input[0]) as (client_process, job_id):
        client_process.send_signal(signal.SIGINT)
    assert client_process.returncode == 130
    assert f"Killed job {job_id}" in client_process.stderr.read().decode()
    history = wait_until(lambda: read_history(mr_cluster.client(), job_id), what="the job's history")
    assert history["state"] == "KILLED"
    assert not mr_cluster.client().exists("/out/Interrupted")


def read_status_attempts(cluster, job_id: str) -> list[dict]:
    from mapreduce.commands.jobstatus import job_summary

    return job_summary(cluster.client(), cluster.yarn(), job_id)["attempts"]


# ---------------------------------------------------------------- a lost node (breaks the cluster: runs last)

def test_maps_whose_node_is_lost_run_again_only_if_a_reducer_still_needs_them(mr_cluster, words_input, tmp_path):
    marker = tmp_path / "go"
    job = write_job(tmp_path, "waiting", f"""
        class WaitingWordCount(Job):
            def mapper(self, key, line):
                for word in line.split():
                    yield word, 1

            def reducer_init(self):
                deadline = time.time() + 120
                while not os.path.exists({str(marker)!r}) and time.time() < deadline:
                    time.sleep(0.1)

            def reducer(self, word, counts):
                yield word, sum(counts)
        """)
    outcome = {}

    def run() -> None:
        try:
            outcome["result"] = run_on_cluster(mr_cluster, f"{job}:WaitingWordCount", [words_input[0]], "/out/lost",
                                               {"mapreduce.job.reduces": "2"})
        except Exception as error:  # reported by the assertions below
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    try:
        job_id = wait_until(lambda: running_job_id(mr_cluster, "WaitingWordCount"), what="the job in -list")

        def maps_done_reducers_running():
            attempts = read_status_attempts(mr_cluster, job_id)
            maps = [a for a in attempts if a["kind"] == "map" and a["state"] == "SUCCEEDED"]
            # Past the copy phase (a third of a reduce's progress): the reducers hold every map's output.
            reduces = [a for a in attempts if a["kind"] == "reduce" and a["state"] == "RUNNING"
                       and a["progress"] >= 0.33]
            return maps if len(maps) == 3 and len(reduces) == 2 else None

        maps = wait_until(maps_done_reducers_running, timeout_s=120, what="maps done and reducers waiting in reducer_init")
        attempts = read_status_attempts(mr_cluster, job_id)
        am_node = mr_cluster.yarn().application_report("application_" + job_id.removeprefix("job_")).am_node_id
        victims = sorted({a["node_id"] for a in maps} - {am_node})
        assert victims, f"every map ran on the AM's node {am_node}"
        victim = victims[0]
        lost_maps = {a["attempt_id"] for a in maps if a["node_id"] == victim}
        # A reducer lost with the node starts again from its copy phase: then the maps must run again.
        lost_reducers = {a["attempt_id"] for a in attempts if a["kind"] == "reduce" and a["node_id"] == victim
                         and a["state"] == "RUNNING"}
        mr_cluster.kill(f"nodemanager-{victim}")

        def handled():
            attempts = {a["attempt_id"]: a for a in read_status_attempts(mr_cluster, job_id)}
            if lost_reducers:
                return all(attempts[lost]["state"] == "KILLED" for lost in lost_maps) and all(
                    any(a["task_index"] == attempts[lost]["task_index"] and a["kind"] == "map"
                        and a["state"] == "SUCCEEDED" and a["node_id"] != victim for a in attempts.values())
                    for lost in lost_maps)
            # Every reducer left holds every map's output already: nothing runs again.
            return all(attempts[lost]["state"] == "SUCCEEDED" and attempts[lost]["output_lost"] for lost in lost_maps)

        wait_until(handled, timeout_s=120, what=f"the AM to handle the map output lost with {victim}")
    finally:
        marker.touch()
        thread.join(timeout=120)
    assert "error" not in outcome, outcome.get("error")
    result = outcome["result"]
    lines = output_of(mr_cluster.client(), "/out/lost")
    assert dict((word, int(count)) for word, count in (line.split("\t") for line in lines)) == word_counts(words_input[1])
    history = read_history(mr_cluster.client(), result.job_id)
    rerun = result.counters.get(names.JOB_COUNTER, names.NUM_MAPS_RERUN_OUTPUT_LOST)
    if lost_reducers:
        killed = [a for a in history["attempts"] if a["attempt_id"] in lost_maps]
        assert all(a["state"] == "KILLED" and victim in a["diagnostics"] for a in killed)
        assert result.counters.get(names.JOB_COUNTER, names.NUM_KILLED_MAPS) >= len(lost_maps) == rerun
    else:
        assert rerun == 0 and result.counters.get(names.JOB_COUNTER, names.NUM_KILLED_MAPS) == 0

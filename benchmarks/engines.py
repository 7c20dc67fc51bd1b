"""The engines the suite compares, each running a job the way its users would.

    emrlab-cluster  emrlab job run JOB -r cluster, on a cluster the suite starts (the corpus in HDFS first)
    emrlab-local    emrlab job run JOB -r local
    spark-rdd       PySpark's RDD API, local[CPUs]    (benchmarks/spark_jobs.py)
    spark-df        PySpark's DataFrame API           (benchmarks/spark_jobs.py)
    python          one process: collections.Counter and friends (benchmarks/python_jobs.py)
    python-mp       a multiprocessing pool of CPUs processes (benchmarks/python_jobs.py)
    mrjob           mrjob's own local runner          (benchmarks/mrjob_jobs/)

Each engine is a small class: `missing()` says why it cannot run here (or None),
`start()` does and times any start-up (the cluster's `up`), `run()` measures one
job, `output_lines()` reads its output's part files in order.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

from benchmarks.jobs import emrlab_job
from benchmarks.measure import Measurement, measure

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
EMRLAB_REDUCERS = "2"


def _environment() -> dict:
    """Tasks of every engine can import `benchmarks` (the job files live there)."""
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(paths), SPARK_LOCAL_IP="127.0.0.1")


def _local_parts(output: str) -> Iterator[bytes]:
    for part in sorted(Path(output).glob("part-*")):
        with open(part, "rb") as file:
            for line in file:
                yield line.rstrip(b"\n")


class Engine:
    name = ""
    startup_s: float | None = None  # measured by start(), reported apart from the jobs

    def missing(self) -> str | None:
        return None

    def start(self, corpora: dict[str, list[Path]], work: Path) -> None:
        self.work = work

    def output(self, label: str) -> str:
        return str(self.work / f"{self.name}-{label}")

    def command(self, job: str, inputs: list[str], output: str) -> list[str]:
        raise NotImplementedError

    def inputs(self, size_label: str, files: list[Path]) -> list[str]:
        return [str(path) for path in files]

    def run(self, job: str, size_label: str, files: list[Path], output: str) -> Measurement:
        return measure(self.command(job, self.inputs(size_label, files), output), environment=_environment(),
                       cwd=str(ROOT))

    def output_lines(self, output: str) -> Iterator[bytes]:
        return _local_parts(output)

    def remove(self, output: str) -> None:
        shutil.rmtree(output, ignore_errors=True)

    def stop(self) -> None:
        pass


def first_task_s(summaries: list[dict], started_s: float) -> float | None:
    """From `started_s` (the wall clock when the command started) to the first task attempt's start in the
    job histories of its steps: the issue's t0, a job's fixed cost before any work."""
    starts = [attempt["start_time_s"] for summary in summaries for attempt in summary["attempts"]
              if attempt["start_time_s"]]
    return min(starts) - started_s if starts else None


class EmrlabLocal(Engine):
    """Its job histories (-D mapreduce.local.jobhistory.dir) give the first task's start."""

    name = "emrlab-local"
    runner = "local"
    global_options: list[str] = []
    job_options: tuple[str, ...] = ()
    runs = 0

    def command(self, job, inputs, output, options: tuple[str, ...] = ()):
        """`options`: runner options for this run only, after the engine's own `job_options`."""
        job_file, arguments = emrlab_job(job)
        return [PYTHON, "-m", "emrlab", *self.global_options, "job", "run", job_file, "-r", self.runner, *inputs,
                "-o", output, "--reducers", EMRLAB_REDUCERS, "-q", *self.job_options, *options, *arguments]

    def run(self, job, size_label, files, output):
        import json
        import time
        from dataclasses import replace

        self.runs += 1
        history = self.work / f"{self.name}-history-{self.runs}"
        command = self.command(job, self.inputs(size_label, files), output,
                               ("-D", f"mapreduce.local.jobhistory.dir={history}"))
        started_s = time.time()
        measured = measure(command, environment=_environment(), cwd=str(ROOT))
        summaries = [json.loads(path.read_text()) for path in sorted(history.glob("*.json"))]
        shutil.rmtree(history, ignore_errors=True)
        return replace(measured, first_task_s=first_task_s(summaries, started_s))


class EmrlabCluster(EmrlabLocal):
    """A cluster of `core_nodes` in the work directory; its start-up is timed, the corpus put in HDFS untimed."""

    name = "emrlab-cluster"
    runner = "cluster"
    # Reducers start when the maps are done, as Spark's reduce stage starts when its map stage is (and as
    # the local runner does). Hadoop's 0.05 starts them after the first map: on a cluster of two task
    # slots a reducer then holds one idle until the AM preempts it for a map (README, "Reducers wait").
    job_options = ("-D", "mapreduce.job.reduce.slowstart.completedmaps=1.0")

    def __init__(self, core_nodes: int = 3, block_size: str = "64m", replication: int = 1,
                 instance_type: str | None = None):
        self.core_nodes, self.block_size, self.replication = core_nodes, block_size, replication
        self.instance_type = instance_type

    def start(self, corpora, work):
        import time

        from emrlab import launcher
        from emrlab_common.clusterdir import ClusterDir
        from hdfs import Client

        super().start(corpora, work)
        self.cluster_dir = ClusterDir(work / "cluster")
        offers = node_offers(self.instance_type, self.core_nodes) if self.instance_type else {}
        started = time.perf_counter()
        launcher.up(self.cluster_dir, core=self.core_nodes, properties={
            "dfs.blocksize": self.block_size, "dfs.replication": str(self.replication)},
            placement=lambda node_id: launcher.Placement(arguments=offers.get(node_id, ())))
        self.startup_s = time.perf_counter() - started
        self.client = Client.for_cluster(self.cluster_dir)
        for label, files in corpora.items():
            self.client.mkdirs(f"/bench/corpus-{label}")
            for path in files:
                self.client.upload(path, f"/bench/corpus-{label}/{path.name}")
        self.global_options = ["--dir", str(self.cluster_dir.root)]
        self.daemon_pids = tuple(record.pid for record in launcher.running_daemons(self.cluster_dir))

    def inputs(self, size_label, files):
        return [f"/bench/corpus-{size_label}/{path.name}" for path in files]

    def output(self, label):
        return f"/bench/out-{label}"

    def run(self, job, size_label, files, output):
        import time
        from dataclasses import replace

        from mapreduce.appmaster.history import HISTORY_DONE_DIR, read_history

        def job_ids() -> set[str]:
            if not self.client.exists(HISTORY_DONE_DIR):
                return set()
            return {Path(path).stem for path in self.client.glob(f"{HISTORY_DONE_DIR}/job_*.json")}

        before = job_ids()
        started_s = time.time()
        measured = measure(self.command(job, self.inputs(size_label, files), output), daemon_pids=self.daemon_pids,
                           environment=_environment(), cwd=str(ROOT))
        summaries = [read_history(self.client, job_id) for job_id in sorted(job_ids() - before)]
        return replace(measured, first_task_s=first_task_s(summaries, started_s))

    def output_lines(self, output):
        for path in sorted(self.client.glob(f"{output}/part-*")):
            yield from self.client.read_bytes(path).split(b"\n")[:-1]

    def remove(self, output):
        if self.client.exists(output):
            self.client.delete(output, recursive=True)

    def stop(self):
        from emrlab import launcher

        if hasattr(self, "client"):
            self.client.close()
        if hasattr(self, "cluster_dir"):
            launcher.down(self.cluster_dir)


def node_offers(type_name: str, core_nodes: int, capacity: tuple[int, int] | None = None) -> dict[str, tuple]:
    """Each core node's NodeManager -D arguments when it offers `type_name` scaled to this machine
    (`capacity`: cores and memory MB, this machine's by default), as `emrlab cluster up` scales a
    cluster definition; without it the suite's nodes offer launcher.up's Hadoop defaults."""
    from emrlab.controller.instancetypes import instance_type, machine_capacity, scaled_resources

    cores, memory_mb = capacity or machine_capacity()
    resources, _ = scaled_resources([instance_type(type_name)] * core_nodes, cores, memory_mb)
    return {f"core-{index}": tuple(item for key, value in resource.properties().items()
                                   for item in ("-D", f"{key}={value}"))
            for index, resource in enumerate(resources, start=1)}


class Spark(Engine):
    """The job's wall time is the job's own (timed inside the script); the SparkContext's start is apart."""

    def __init__(self, api: str):
        self.api = api
        self.name = f"spark-{api}"
        self.startups: list[float] = []

    def missing(self):
        from mapreduce.runners.spark import spark_missing

        return spark_missing()

    def command(self, job, inputs, output):
        return [PYTHON, "-m", "benchmarks.spark_jobs", self.api, job, output, *inputs]

    def run(self, job, size_label, files, output):
        import json
        from dataclasses import replace

        measured = super().run(job, size_label, files, output)
        times = json.loads(measured.stdout.strip().splitlines()[-1])
        self.startups.append(times["startup_s"])
        self.startup_s = sorted(self.startups)[len(self.startups) // 2]
        return replace(measured, wall_s=times["job_s"])


class PlainPython(Engine):
    def __init__(self, processes: int = 1):
        self.processes = processes
        self.name = "python-mp" if processes > 1 else "python"

    def command(self, job, inputs, output):
        return [PYTHON, "-m", "benchmarks.python_jobs", job, output, *inputs, "--processes", str(self.processes)]


class MRJob(Engine):
    name = "mrjob"

    def missing(self):
        try:
            import mrjob  # noqa: F401
        except ImportError:
            return "mrjob is not installed (pip install 'emrlab[mrjob]')"
        return None

    def command(self, job, inputs, output):
        # mrjob is installed for the tasks already; bootstrapping it would add a setup wrapper
        # that leaves a lock file in /tmp per run.
        scratch = self.work / "mrjob-tmp"
        scratch.mkdir(exist_ok=True)
        return [PYTHON, str(ROOT / "benchmarks" / "mrjob_jobs" / f"{job}.py"), "-r", "local", "--no-bootstrap-mrjob",
                "--local-tmp-dir", str(scratch), "--output-dir", output, "--no-output", *inputs]


def make_engines(names: list[str], core_nodes: int, block_size: str, instance_type: str | None = None,
                 defines: list[str] = ()) -> list[Engine]:
    """`defines`: KEY=VALUE job properties for the emrlab engines' runs (`emrlab job run -D`)."""
    factories = {
        "emrlab-cluster": lambda: EmrlabCluster(core_nodes, block_size, instance_type=instance_type),
        "emrlab-local": EmrlabLocal,
        "spark-rdd": lambda: Spark("rdd"),
        "spark-df": lambda: Spark("df"),
        "python": PlainPython,
        "python-mp": lambda: PlainPython(os.cpu_count() or 2),
        "mrjob": MRJob,
    }
    unknown = [name for name in names if name not in factories]
    if unknown:
        raise ValueError(f"unknown engine {unknown[0]!r} (choose from {', '.join(factories)})")
    malformed = [define for define in defines if "=" not in define or define.startswith("=")]
    if malformed:
        raise ValueError(f"-D {malformed[0]!r}: expected KEY=VALUE")
    engines = [factories[name]() for name in names]
    for engine in engines:
        if isinstance(engine, EmrlabLocal):
            engine.job_options = (*engine.job_options, *(part for define in defines for part in ("-D", define)))
    return engines


ENGINES = ("emrlab-cluster", "emrlab-local", "spark-rdd", "spark-df", "python", "python-mp", "mrjob")

"""The spark runner: an unchanged emrlab (or mrjob) job on Apache Spark, through PySpark.

    emrlab job run wordcount.py -r spark books/ -o counts                 # local[N], N = CPUs
    emrlab job run wordcount.py -r spark --spark-master spark://host:7077 hdfs:///books -o hdfs:///counts
    emrlab job run wordcount.py -r spark -D spark.executor.memory=2g ...  # any spark.* key

Each step of the job is one Spark job of two stages that do what a MapReduce
step does, with emrlab's own task code inside Spark's tasks:

- map stage: one Spark task per input split (the splits every runner computes,
  so `mapreduce.map.input.file`, `mapreduce.task.partition`, ... are the same
  as elsewhere). It runs emrlab's map attempt (`task.run_map_attempt`): the
  mapper, then the combiner in the sort buffer, which is Spark's map-side
  combine per partition. The job's partitioner has already chosen each
  record's reduce partition, so the records enter Spark's shuffle keyed by
  (partition, encoded key).
- shuffle: `repartitionAndSortWithinPartitions` sends each record to its
  partition and sorts it there by encoded key: the job's key order (keys.py),
  and with `SORT_VALUES` by the encoded value too.
- reduce stage: one Spark task per reduce partition runs emrlab's reduce
  attempt over that sorted stream and commits `part-r-NNNNN` through the
  FileOutputCommitter; the driver commits the job (`_SUCCESS`). A map-only
  step commits `part-m-NNNNN` from the map stage.

Counters travel back through a Spark accumulator (a failed attempt adds
nothing; a stage Spark recomputes would add twice). A multi-step job chains
its steps through msgpack files in the job's scratch directory, as the other
runners do. On a real Spark cluster every executor needs emrlab installed and
the job's input and output on a file system they all see (hdfs://); the job
file is shipped to them with `SparkContext.addFile`.

Nothing is durable here beyond the committed output: the driver's SparkContext
lives for the job (or is the one already running in this process, which is
reused and left running).
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import replace
from functools import partial

from emrlab_common.config import load
from emrlab_common.errors import Unavailable
from mapreduce.api import counters as names
from mapreduce.api.counters import Counters
from mapreduce.api.errors import JobFailed, user_traceback
from mapreduce.api.fs import filesystem_for
from mapreduce.api.keys import encode_key
from mapreduce.api.spec import JobResult, JobSpec
from mapreduce.appmaster.plan import StepPlan
from mapreduce.runners.engine import LocalEngine
from mapreduce.runners.monitor import JobMonitor
from mapreduce.task.attempt import CLUSTER_DIR_KEY, NullReporter, TaskAttempt, run_map_attempt, run_reduce_attempt
from mapreduce.task.config import TaskConfig
from mapreduce.task.output import FileOutputCommitter
from mapreduce.task.segments import MAP_OUTPUT_INDEX_FILE, Segment, read_index, write_segment_file
from mapreduce.task.splits import compute_splits

SPARK_MASTER_KEY = "spark.master"
JAVA_VERSION_MIN = 17
INSTALL_PYSPARK = "the spark runner needs PySpark: pip install 'emrlab[spark]'"
INSTALL_JAVA = "e.g. apt-get install openjdk-17-jre-headless, or set JAVA_HOME"
# What our tasks put before the user's traceback, so that the driver can find it in Spark's error.
FAILURE_MARKER = "emrlab task failed: "
PROGRESS_INTERVAL_S = 0.5
JVM_EXIT_WAIT_S = 30.0  # the JVM ends a moment after its input closes; past this it is killed
LOG_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "spark-log4j2.properties")
SPARK_DEFAULTS = {
    "spark.ui.enabled": "false",            # no web server per job unless asked (-D spark.ui.enabled=true)
    "spark.ui.showConsoleProgress": "false",  # the monitor prints Hadoop's map/reduce lines instead
}


def check_java() -> None:
    """One clear line unless a Java of at least JAVA_VERSION_MIN is where PySpark looks for it."""
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not java or not os.path.exists(java):
        raise Unavailable(f"the spark runner needs Java {JAVA_VERSION_MIN}+ and found none ({INSTALL_JAVA})")
    done = subprocess.run([java, "-XX:-UsePerfData", "-version"], capture_output=True, text=True, timeout=60)
    found = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr + done.stdout)
    major = int(found.group(1)) if found else 0
    if major == 1 and found.group(2):  # "1.8.0_392" is Java 8
        major = int(found.group(2))
    if major < JAVA_VERSION_MIN:
        raise Unavailable(f"the spark runner needs Java {JAVA_VERSION_MIN}+, found {major or 'an unknown version'} "
                          f"at {java} ({INSTALL_JAVA})")


def spark_missing() -> str | None:
    """Why the spark runner cannot run here (PySpark or Java missing), or None."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return INSTALL_PYSPARK
    try:
        check_java()
    except Unavailable as error:
        return error.message
    return None


def spark_context(properties: dict):
    """(SparkContext, whether we started it): the one running in this process, or a new one
    with the job's spark.* keys (local[CPUs] unless spark.master says otherwise)."""
    try:
        from pyspark import SparkConf, SparkContext
    except ImportError:
        raise Unavailable(INSTALL_PYSPARK) from None
    active = SparkContext._active_spark_context
    if active is not None:
        return active, False
    check_java()
    master = properties.get(SPARK_MASTER_KEY, f"local[{os.cpu_count() or 1}]")
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # the driver binds loopback only
    conf = SparkConf().setAppName("emrlab").setMaster(master)
    conf.set("spark.pyspark.python", sys.executable).set("spark.pyspark.driver.python", sys.executable)
    # The JVM's scratch goes where emrlab's does (TMPDIR honoured, as Python does), and no hsperfdata file.
    scratch = os.environ.get("TMPDIR") or tempfile.gettempdir()
    defaults = {**SPARK_DEFAULTS, "spark.local.dir": scratch,
                "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{LOG_CONFIG} "
                                                 f"-Djava.io.tmpdir={scratch} -XX:-UsePerfData"}
    for key, value in {**defaults, **{k: v for k, v in properties.items() if k.startswith("spark.")}}.items():
        conf.set(key, value)
    launched = SparkContext._gateway is None
    context = SparkContext(conf=conf)
    context.setLogLevel("FATAL")  # a failed task's story is told once, by the monitor
    if launched:
        atexit.register(_end_jvm, SparkContext._gateway)
    return context, True


def _end_jvm(gateway) -> None:
    """At exit, end the JVM this process launched and wait for it. PySpark's JVM only notices
    its Python has gone when its stdin closes, and then takes a moment: without this, an
    `emrlab job -r spark` (or a test session) returns with its JVM still running."""
    process = getattr(gateway, "proc", None)
    if process is None or process.poll() is not None:
        return
    try:
        process.stdin.close()  # PythonGatewayServer exits on end of input
        process.wait(timeout=JVM_EXIT_WAIT_S)
    except (OSError, subprocess.TimeoutExpired):
        process.kill()
        process.wait()


def _counters_accumulator(context):
    from pyspark.accumulators import AccumulatorParam

    class CountersParam(AccumulatorParam):
        def zero(self, value):
            return Counters()

        def addInPlace(self, total, more):
            return total.add(more)

    return context.accumulator(Counters(), CountersParam())


def _failure(error: BaseException, attempt: TaskAttempt) -> RuntimeError:
    return RuntimeError(f"{FAILURE_MARKER}Task failed {attempt.task_id}: {attempt.attempt_id} failed: "
                        f"{user_traceback(error)}")


def _in_spark_task(attempt: TaskAttempt, job_file: str | None) -> TaskAttempt:
    """The attempt as this Spark task runs it: Spark's attempt number, a local directory of its
    own, and the job file where Spark shipped it (on a real cluster)."""
    from pyspark import SparkFiles, TaskContext

    reference = attempt.job_reference
    if job_file is not None:
        reference = f"{SparkFiles.get(os.path.basename(job_file))}:{reference.rpartition(':')[2]}"
    return replace(attempt, attempt_index=TaskContext.get().attemptNumber(), job_reference=reference,
                   local_dir=tempfile.mkdtemp(prefix="emrlab-spark-"))


def _map_task(accumulator, sort_values: bool, job_file: str | None, wires):
    """One map attempt per Spark partition (each holds one attempt's wire form); yields
    ((partition, encoded key[, encoded value]), value) for the shuffle."""
    for wire in wires:
        attempt = _in_spark_task(TaskAttempt.from_wire(wire), job_file)
        cluster_dir = attempt.properties.get(CLUSTER_DIR_KEY)
        try:
            fs = filesystem_for(attempt.split.path, cluster_dir)
            try:
                result = run_map_attempt(attempt, fs, NullReporter())
            finally:
                fs.close()
            if result.map_output_path is None:  # map-only: the part file is the output
                output_fs = filesystem_for(attempt.output_dir, cluster_dir)
                try:
                    FileOutputCommitter(output_fs, attempt.output_dir).commit_task(attempt)
                finally:
                    output_fs.close()
            else:
                yield from _map_output_records(result.map_output_path, sort_values)
            accumulator.add(result.counters)
        except Exception as error:
            raise _failure(error, attempt) from None
        finally:
            shutil.rmtree(attempt.local_dir, ignore_errors=True)


def _map_output_records(path: str, sort_values: bool):
    index = read_index(os.path.join(os.path.dirname(path), MAP_OUTPUT_INDEX_FILE))
    for partition, entry in enumerate(index):
        for encoded, value in Segment.from_file(path, entry.offset, entry.length).records_iter():
            key = (partition, encoded, encode_key(value)) if sort_values else (partition, encoded)
            yield key, value


class _ShuffledPartition:
    """The reduce attempt's map output source: Spark's sorted partition as one local segment."""

    def __init__(self, records, local_dir: str):
        self.records = records
        self.local_dir = local_dir

    def fetch(self, partition: int, counters: Counters) -> list[Segment]:
        path = os.path.join(self.local_dir, "shuffled.out")
        segment = write_segment_file(path, ((key[1], value) for key, value in self.records))
        counters.increment(names.TASK_COUNTER, names.REDUCE_SHUFFLE_BYTES, segment.length)
        return [segment]


def _reduce_task(accumulator, wires: list[bytes], job_file: str | None, partition: int, records):
    attempt = _in_spark_task(TaskAttempt.from_wire(wires[partition]), job_file)
    try:
        fs = filesystem_for(attempt.output_dir, attempt.properties.get(CLUSTER_DIR_KEY))
        try:
            result = run_reduce_attempt(attempt, fs, _ShuffledPartition(records, attempt.local_dir), NullReporter())
            FileOutputCommitter(fs, attempt.output_dir).commit_task(attempt)
        finally:
            fs.close()
        accumulator.add(result.counters)
    except Exception as error:
        raise _failure(error, attempt) from None
    finally:
        shutil.rmtree(attempt.local_dir, ignore_errors=True)
    return iter(())


def _partition_of(key: tuple) -> int:
    return key[0]


def failure_message(error: BaseException) -> str:
    """The task's own message out of Spark's (a Java stack trace around a Python one)."""
    text = str(error)
    start = text.find(FAILURE_MARKER)
    if start < 0:
        lines = [line for line in text.splitlines() if line.strip()]
        return lines[0][:500] if lines else type(error).__name__
    message = []
    for line in text[start + len(FAILURE_MARKER):].splitlines():
        if not line.strip() or line.startswith("\tat ") or line.strip().startswith("SQLSTATE"):
            break
        message.append(line)
    return "\n".join(message).rstrip()


class _StageProgress:
    """Hadoop's ` map X% reduce Y%` from Spark's status tracker: a step's Spark job has a map
    stage and (unless map-only) a reduce stage, the map stage first."""

    def __init__(self, context, group: str, monitor: JobMonitor):
        self.context, self.group, self.monitor = context, group, monitor
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._poll, name="spark-progress", daemon=True)

    def __enter__(self):
        self.context.setJobGroup(self.group, self.group)
        self.thread.start()
        return self

    def __exit__(self, *exception):
        self.done.set()
        self.thread.join()

    def _poll(self) -> None:
        tracker = self.context.statusTracker()
        while not self.done.wait(PROGRESS_INTERVAL_S):
            stages = []
            for job_id in tracker.getJobIdsForGroup(self.group):
                job = tracker.getJobInfo(job_id)
                stages += list(job.stageIds) if job is not None else []
            fractions = []
            for stage_id in sorted(stages):
                stage = tracker.getStageInfo(stage_id)
                fractions.append(stage.numCompletedTasks / stage.numTasks if stage and stage.numTasks else 0.0)
            if fractions:
                self.monitor.progress(fractions[0], fractions[1] if len(fractions) > 1 else 0.0)


class SparkRunner(LocalEngine):
    name = "spark"

    def run(self, spec: JobSpec, monitor: JobMonitor | None = None) -> JobResult:
        self.context, started = spark_context(spec.properties)
        self.job_file = None
        location = spec.job_reference.rpartition(":")[0]
        if location.endswith(".py"):
            spec = replace(spec, job_reference=os.path.abspath(location) + spec.job_reference[len(location):])
            if not self.context.master.startswith("local"):
                self.job_file = os.path.abspath(location)
                self.context.addFile(self.job_file)
        try:
            return super().run(spec, monitor)
        finally:
            if started:
                self.context.stop()

    def _run_step(self, spec: JobSpec, plan: StepPlan, job_id: str, input_fs, fs, scratch_dir: str,
                  monitor: JobMonitor) -> Counters:
        splits = compute_splits(input_fs, list(plan.input_paths), load(TaskConfig, plan.properties),
                                splittable=plan.step_index == 0)
        committer = FileOutputCommitter(fs, plan.output_dir)
        committer.setup_job()
        counters = Counters()

        def attempt(kind: str, task_index: int) -> bytes:
            return TaskAttempt(
                job_id=job_id, step_index=plan.step_index, kind=kind, task_index=task_index, attempt_index=0,
                job_reference=spec.job_reference, job_arguments=tuple(spec.job_arguments),
                properties=plan.properties, split=splits[task_index] if kind == "map" else None,
                num_reduces=plan.num_reduces, num_maps=len(splits), output_dir=plan.output_dir).to_wire()

        accumulator = _counters_accumulator(self.context)
        sort_values = self._sort_values(spec)
        maps = self.context.parallelize([attempt("map", index) for index in range(len(splits))],
                                        max(1, len(splits)))
        mapped = maps.mapPartitions(partial(_map_task, accumulator, sort_values, self.job_file))
        counters.increment(names.JOB_COUNTER, names.TOTAL_LAUNCHED_MAPS, len(splits))
        monitor.progress(0.0, 0.0)
        try:
            with _StageProgress(self.context, job_id, monitor):
                if plan.map_only:
                    mapped.count()
                else:
                    reduces = [attempt("reduce", index) for index in range(plan.num_reduces)]
                    counters.increment(names.JOB_COUNTER, names.TOTAL_LAUNCHED_REDUCES, plan.num_reduces)
                    mapped.repartitionAndSortWithinPartitions(plan.num_reduces, _partition_of) \
                        .mapPartitionsWithIndex(partial(_reduce_task, accumulator, reduces, self.job_file)).count()
            counters.add(accumulator.value)
            monitor.progress(1.0, 1.0)
            committer.commit_job()
        except Exception as error:
            committer.abort_job()
            raise JobFailed(failure_message(error)) from None
        except BaseException:
            committer.abort_job()
            raise
        return counters

    def _sort_values(self, spec: JobSpec) -> bool:
        from mapreduce.appmaster.plan import client_job

        return bool(getattr(client_job(spec), "SORT_VALUES", False))

"""The engine behind the `inline` and `local` runners: steps, tasks, commit, counters.

Both runners do the same work in the same order, as a cluster would: compute
splits, run every map attempt, give each reduce attempt its partition of every
map's output, commit the tasks and then the job, and add up counters. They
differ only in how attempts run (`run_attempts`): one after another in this
process (inline), or in parallel child processes with retries (local).
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

from emrlab_common.clusterdir import ClusterDir
from mapreduce.api import counters as names
from mapreduce.api.counters import Counters
from mapreduce.api.errors import JobFailed
from mapreduce.runners.monitor import JobMonitor
from mapreduce.runners.plan import (StepPlan, check_output_absent, client_job, plan_step, scratch_uri,
                                   with_support_files)
from mapreduce.runners.spec import JobResult, JobSpec
from mapreduce.runners.submission import check_job
from mapreduce.task.attempt import CLUSTER_DIR_KEY, AttemptResult, TaskAttempt
from mapreduce.task.fs import filesystem_for, is_hdfs, same_kind
from mapreduce.task.output import FileOutputCommitter
from mapreduce.task.segments import Segment, read_index
from mapreduce.task.splits import compute_splits, input_files

# At least two maps and two reducers by default, so that a job that only works with one
# (a global count kept in a mapper, an assumption about which reducer sees what) fails early.
LOCAL_DEFAULTS = {"mapreduce.job.reduces": "2", "mapreduce.job.maps": "2"}



@dataclass(frozen=True)
class LocalMapOutputs:
    """The shuffle for runners on one machine: map outputs are files the reducer reads in place."""

    map_output_paths: tuple[str, ...]

    def fetch(self, partition: int, counters: Counters) -> list[Segment]:
        segments = []
        for path in self.map_output_paths:
            entry = read_index(path + ".index")[partition]
            segments.append(Segment.from_file(path, entry.offset, entry.length, entry.records))
            counters.increment(names.TASK_COUNTER, names.SHUFFLED_MAPS)
            counters.increment(names.TASK_COUNTER, names.REDUCE_SHUFFLE_BYTES, entry.length)
        return segments


# task index, attempt index -> the attempt to run
AttemptFactory = Callable[[int, int], TaskAttempt]


class LocalEngine:
    """Subclasses define `run_attempts(kind, count, attempt_for, source, progress) -> results`."""

    name = "local"

    def run_attempts(self, kind: str, count: int, attempt_for: AttemptFactory, fs, source,
                     progress: Callable[[float], None], job_counters: Counters,
                     commit: Callable[[TaskAttempt], None] | None) -> list[AttemptResult]:
        """Run tasks 0..count-1 until each has a successful attempt (committed with `commit`
        if given); the successful results by task index. Counts launched and failed attempts
        into `job_counters`; raises JobFailed when a task runs out of attempts."""
        raise NotImplementedError

    def run(self, spec: JobSpec, monitor: JobMonitor | None = None) -> JobResult:
        fs = filesystem_for(spec.output_dir, spec.cluster_dir)
        input_fs = fs if same_kind(fs, spec.input_paths[0]) else filesystem_for(spec.input_paths[0], spec.cluster_dir)
        try:
            return self._run_job(spec, monitor or JobMonitor(), input_fs, fs)
        finally:
            fs.close()
            if input_fs is not fs:
                input_fs.close()

    def _run_job(self, spec: JobSpec, monitor: JobMonitor, input_fs, fs) -> JobResult:
        started = time.monotonic()
        job = client_job(spec)
        check_job(job, spec)
        spec = with_support_files(job, spec)
        check_output_absent(fs, spec.output_dir)
        input_files(input_fs, list(spec.input_paths))
        defaults = dict(LOCAL_DEFAULTS)
        if any(is_hdfs(path) for path in (spec.output_dir, *spec.input_paths)):
            defaults[CLUSTER_DIR_KEY] = str(ClusterDir.resolve(spec.cluster_dir).root)
        scratch_dir = tempfile.mkdtemp(prefix="emrlab-job-")
        token = f"{int(time.time())}{secrets.randbelow(1000):03d}"
        job_ids, step_counters = [], []
        try:
            for step_index in range(len(job.steps())):
                plan = plan_step(job, spec, step_index, fs, scratch_dir, defaults)
                job_id = f"job_{self.name}{token}_{step_index + 1:04d}"
                job_ids.append(job_id)
                monitor.job_started(job_id)
                step_input_fs = input_fs if step_index == 0 else fs
                step_counters.append(self._run_step(spec, plan, job_id, step_input_fs, fs, scratch_dir, monitor))
                monitor.job_succeeded(job_id, step_counters[-1])
        except JobFailed as error:
            monitor.job_failed(job_ids[-1] if job_ids else "job", error.message)
            raise
        finally:
            fs.delete(scratch_uri(fs, scratch_dir), recursive=True)  # intermediate outputs, perhaps in HDFS
            shutil.rmtree(scratch_dir, ignore_errors=True)
        total = Counters()
        for counters in step_counters:
            total.add(counters)
        return JobResult(tuple(job_ids), spec.output_dir, total, tuple(step_counters), time.monotonic() - started)

    def _run_step(self, spec: JobSpec, plan: StepPlan, job_id: str, input_fs, fs, scratch_dir: str,
                  monitor: JobMonitor) -> Counters:
        splits = compute_splits(input_fs, list(plan.input_paths), plan.properties, splittable=plan.step_index == 0)
        committer = FileOutputCommitter(fs, plan.output_dir)
        committer.setup_job()
        counters = Counters()
        local_root = os.path.join(scratch_dir, job_id)

        def attempt_for(kind: str):
            def make(task_index: int, attempt_index: int) -> TaskAttempt:
                attempt = TaskAttempt(
                    job_id=job_id, step_index=plan.step_index, kind=kind, task_index=task_index,
                    attempt_index=attempt_index, job_reference=spec.job_reference,
                    job_arguments=tuple(spec.job_arguments), properties=plan.properties,
                    split=splits[task_index] if kind == "map" else None, num_reduces=plan.num_reduces,
                    num_maps=len(splits), output_dir=plan.output_dir)
                return _with_local_dir(attempt, local_root)
            return make

        def commit(attempt: TaskAttempt) -> None:
            committer.commit_task(attempt)

        try:
            map_results = self.run_attempts(
                "map", len(splits), attempt_for("map"), input_fs, None,
                lambda fraction: monitor.progress(fraction, 0.0), counters,
                commit if plan.map_only else None)
            for result in map_results:
                counters.add(result.counters)
            monitor.progress(1.0, 0.0)
            if not plan.map_only:
                source = LocalMapOutputs(tuple(result.map_output_path for result in map_results))
                reduce_results = self.run_attempts(
                    "reduce", plan.num_reduces, attempt_for("reduce"), fs, source,
                    lambda fraction: monitor.progress(1.0, fraction), counters, commit)
                for result in reduce_results:
                    counters.add(result.counters)
            monitor.progress(1.0, 1.0)
            committer.commit_job()
        except BaseException:
            committer.abort_job()
            raise
        return counters


def _with_local_dir(attempt: TaskAttempt, local_root: str) -> TaskAttempt:
    from dataclasses import replace

    return replace(attempt, local_dir=os.path.join(local_root, attempt.attempt_id))

"""The engine behind the `inline` and `local` runners: steps, tasks, commit, counters.

Both runners do the same work in the same order, as a cluster would: compute
splits, run every map attempt, give each reduce attempt its partition of every
map's output, commit the tasks and then the job, and add up counters. What
runs when, retries, timeouts and counters are decided by the cluster's own
job state machine (driver.py); the runners differ only in the executor that
runs attempts: one after another in this process (inline), or in parallel
child processes (local).
"""

from __future__ import annotations

import getpass
import os
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from emrlab_common.clusterdir import ClusterDir, write_json_atomically
from emrlab_common.config import load, setting
from mapreduce.api.counters import Counters
from mapreduce.api.errors import JobFailed
from mapreduce.api.fs import filesystem_for, is_hdfs, same_kind
from mapreduce.api.spec import JobResult, JobSpec
from mapreduce.appmaster.config import AppMasterConfig
from mapreduce.appmaster.history import job_summary
from mapreduce.appmaster.plan import (
    RUNNER_DEFAULTS,
    StepPlan,
    check_output_absent,
    client_job,
    plan_step,
    scratch_uri,
    with_support_files,
)
from mapreduce.appmaster.records import MAP
from mapreduce.runners.driver import AttemptExecutor, LocalJobDriver
from mapreduce.runners.monitor import JobMonitor
from mapreduce.runners.submission import check_job
from mapreduce.task.attempt import CLUSTER_DIR_KEY, TaskAttempt
from mapreduce.task.config import TaskConfig
from mapreduce.task.output import FileOutputCommitter
from mapreduce.task.splits import compute_splits, input_files


@dataclass(frozen=True)
class LocalHistoryConfig:
    history_dir: str = setting(
        "mapreduce.local.jobhistory.dir", "", str,
        "A local directory where the runners on this machine write each job's history file (JOB_ID.json, the "
        "cluster's shape: every attempt's node, start and finish; `emrlab job -history FILE` prints it). "
        "Empty: none, as Hadoop's LocalJobRunner writes none.")


def write_local_history(directory: str, driver: LocalJobDriver, name: str) -> str:
    """The step's history file in `directory`, its times on the wall clock as on a cluster; returns its path."""
    summary = job_summary(driver.machine, name, getpass.getuser())
    offset_s = driver.wall_offset_s
    for record in (summary, *summary["attempts"]):
        for key in ("start_time_s", "finish_time_s"):
            if record[key]:
                record[key] += offset_s
    path = Path(directory, f"{summary['job_id']}.json")
    write_json_atomically(path, summary)
    return str(path)


class LocalEngine:
    """A runner on this machine; subclasses give the executor its attempts run in (`executor`), and may
    change the settings the job state machine decides with (`config`)."""

    name = "local"

    def executor(self, properties: dict) -> AttemptExecutor:
        raise NotImplementedError

    def config(self, properties: dict) -> AppMasterConfig:
        """The cluster AM's settings, from the job's properties (mapreduce.map.maxattempts, ...)."""
        return load(AppMasterConfig, properties)

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
        defaults = dict(RUNNER_DEFAULTS["local"])
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
        splits = compute_splits(input_fs, list(plan.input_paths), load(TaskConfig, plan.properties),
                                splittable=plan.step_index == 0)
        config, executor = self.config(plan.properties), self.executor(plan.properties)
        committer = FileOutputCommitter(fs, plan.output_dir)
        committer.setup_job()
        local_root = os.path.join(scratch_dir, job_id)

        def attempt_for(kind: str, task_index: int, attempt_index: int) -> TaskAttempt:
            attempt = TaskAttempt(
                job_id=job_id, step_index=plan.step_index, kind=kind, task_index=task_index,
                attempt_index=attempt_index, job_reference=spec.job_reference,
                job_arguments=tuple(spec.job_arguments), properties=plan.properties,
                split=splits[task_index] if kind == MAP else None, num_reduces=plan.num_reduces,
                num_maps=len(splits), output_dir=plan.output_dir)
            return replace(attempt, local_dir=os.path.join(local_root, attempt.attempt_id))

        driver = LocalJobDriver(job_id, plan, splits, attempt_for, input_fs, fs, committer, executor, config,
                                monitor.progress)
        history_dir = load(LocalHistoryConfig, plan.properties).history_dir
        try:
            return driver.run()
        except BaseException:
            committer.abort_job()
            raise
        finally:
            if history_dir:
                try:
                    write_local_history(history_dir, driver, spec.job_name or job_id)
                except OSError as error:  # the job's own outcome stands; the history is a by-product
                    monitor.warning(f"could not write the job history to {history_dir}: {error.strerror or error}")

"""FileOutputCommitter: no reader ever sees a failed or half-written attempt's output.

Hadoop's protocol, on any `FileSystem`:

    <output>/_temporary/<attempt id>/part-r-00003    an attempt writes here
    <output>/_temporary/task_..._r_000003/           commit_task: one rename, first attempt wins
    <output>/part-r-00003, <output>/_SUCCESS          commit_job: promote, then mark success

A task attempt writes only inside its own directory; committing a task is one
rename of that directory, which refuses an existing destination, so a second
(retried or speculative) attempt of the same task can never commit twice. The
job commit moves the committed files into place and writes `_SUCCESS` last:
readers (and the next step of a job) wait for it.

A job that fails or is killed is aborted: its output directory goes, with
`_temporary` (Hadoop's abortJob removes `_temporary`; here nothing a failed
job wrote stays, so the same output path can be used again at once). A
later ApplicationMaster attempt sets the same job up again
(`setup_job(recovering=True)`) and keeps the tasks committed under
`_temporary/task_...` (appmaster/recovery.py decides which).
"""

from __future__ import annotations

import logging

from emrlab_common.errors import AlreadyExists

TEMPORARY_DIR = "_temporary"
SUCCESS_FILE = "_SUCCESS"

# -lazyOutput: a task that writes nothing leaves no part file (Hadoop's LazyOutputFormat wraps this class).
LAZY_OUTPUT_KEY = "mapreduce.output.lazyoutputformat.outputformat"

logger = logging.getLogger(__name__)


def part_file_name(kind: str, task_index: int) -> str:
    """part-r-00003 for a reduce task's output, part-m-00003 for a map-only job's map task."""
    return f"part-{'m' if kind == 'map' else 'r'}-{task_index:05d}"


def task_id_of(attempt_id: str) -> str:
    """task_X_Y_r_000003 from attempt_X_Y_r_000003_0."""
    return "task_" + attempt_id[len("attempt_"):].rsplit("_", 1)[0]


class FileOutputCommitter:
    def __init__(self, fs, output_dir: str):
        self.fs = fs
        self.output_dir = output_dir.rstrip("/") or "/"
        self.temporary_dir = fs.join(self.output_dir, TEMPORARY_DIR)

    def setup_job(self, recovering: bool = False) -> None:
        """`recovering`: a previous attempt of this job's AM set this output up; keep what it committed."""
        if self.fs.exists(self.output_dir) and not (recovering and not self.succeeded()):
            raise AlreadyExists(f"output directory {self.output_dir} already exists")
        self.fs.mkdirs(self.temporary_dir)

    def succeeded(self) -> bool:
        return self.fs.exists(self.fs.join(self.output_dir, SUCCESS_FILE))

    def committed_task_ids(self) -> set[str]:
        """The tasks whose output is committed (`_temporary/task_...`), not yet promoted."""
        if not self.fs.exists(self.temporary_dir):
            return set()
        return {entry.name for entry in self.fs.list(self.temporary_dir)
                if entry.is_directory and entry.name.startswith("task_")}

    def discard_committed_task(self, task_id: str) -> None:
        """Drop a committed task's output (its task runs again)."""
        self.fs.delete(self.fs.join(self.temporary_dir, task_id), recursive=True)

    def task_attempt_dir(self, attempt) -> str:
        return self.fs.join(self.temporary_dir, attempt.attempt_id)

    def committed_task_dir(self, attempt) -> str:
        return self.fs.join(self.temporary_dir, task_id_of(attempt.attempt_id))

    def commit_task(self, attempt) -> bool:
        """Make an attempt's output the task's; False if another attempt already committed."""
        attempt_dir = self.task_attempt_dir(attempt)
        if not self.fs.exists(attempt_dir):
            self.fs.mkdirs(attempt_dir)  # an attempt that wrote nothing still commits (empty part)
        try:
            self.fs.rename(attempt_dir, self.committed_task_dir(attempt))
        except AlreadyExists:
            logger.info("%s: task already committed by another attempt", attempt.attempt_id)
            self.abort_task(attempt)
            return False
        return True

    def abort_task(self, attempt) -> None:
        self.fs.delete(self.task_attempt_dir(attempt), recursive=True)

    def commit_job(self) -> list[str]:
        """Promote every committed task's files into the output dir, then write _SUCCESS."""
        promoted = []
        for task_dir in self.fs.list(self.temporary_dir):
            if not task_dir.is_directory or not task_dir.name.startswith("task_"):
                continue
            for entry in self.fs.list(task_dir.path):
                destination = self.fs.join(self.output_dir, entry.name)
                self.fs.rename(entry.path, destination)
                promoted.append(destination)
        self.fs.delete(self.temporary_dir, recursive=True)
        with self.fs.create(self.fs.join(self.output_dir, SUCCESS_FILE)):
            pass
        return sorted(promoted)

    def abort_job(self) -> None:
        """Leave no output at all: a failed job's output dir is removed entirely, `_temporary` and all.
        A committed output (`_SUCCESS`) is never touched: that job did not fail."""
        if self.fs.exists(self.output_dir) and not self.succeeded():
            self.fs.delete(self.output_dir, recursive=True)

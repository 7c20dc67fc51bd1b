"""The recovery log: what one ApplicationMaster attempt leaves for the next.

YARN starts the AM again when its container dies (`mapreduce.am.max-attempts`,
default 2). The new attempt reads what the old one wrote here, in the job's
staging dir, as it went (Hadoop's AM reads the previous attempt's .jhist the
same way):

    <staging>/recovery/step-0.setup            the step's output was set up (content: its directory)
    <staging>/recovery/tasks-001-000004.json   tasks that succeeded: their attempts (id, node, shuffle address,
                                               counters), one file per AM attempt and main-loop turn
    <staging>/recovery/step-0.commit-started   the step's job commit began
    <staging>/recovery/step-0.committed        ... and ended
    <staging>/recovery/job.ended               the job failed or was killed (content: state, diagnostics)

Step files are written aside and renamed into place, so a reader sees all
of one or none; a task file has a name of its own and is written directly (a
torn one does not parse and is skipped: its tasks run again). Batching the
tasks that finished in one turn of the AM's loop keeps the cost of the log
to one small HDFS file per turn, not per task. A task in the log is taken as SUCCEEDED without running again,
if its output is still there: a reduce (or a map of a map-only step) only if
its committed directory `_temporary/task_...` exists (FileOutputCommitter
algorithm 1: the commit is one rename); a map of a step with reducers keeps
its output on its node's local disk until the application ends, and if that
is gone the reducers' fetch failures run it again. A step whose commit began
but never ended (and wrote no `_SUCCESS`) fails the job (its output is half
promoted), as Hadoop's AM does when it finds COMMIT_STARTED without
COMMIT_SUCCESS. A job that had
already failed or been killed (the AM died while cleaning up) ends the same
way again, without running anything.
"""

from __future__ import annotations

import enum
import json
import logging
from dataclasses import asdict, dataclass, field

from emrlab_common.errors import EmrlabError
from mapreduce.appmaster.records import JobState, RecoveredAttempt
from mapreduce.task.output import task_id_of

logger = logging.getLogger(__name__)

RECOVERY_DIR = "recovery"


class StepMark(enum.Enum):
    """How far a step got; the value is the file name's suffix (`step-0.commit-started`)."""

    SETUP = "setup"                    # its output directory is made; the file holds its path
    COMMIT_STARTED = "commit-started"  # the job commit of the step began
    COMMITTED = "committed"            # ... and ended

ENDED_FILE = "job.ended"
TASKS_PREFIX = "tasks-"


@dataclass(frozen=True)
class RecoveredJob:
    """What the previous AM attempts recorded."""

    tasks: dict[str, RecoveredAttempt] = field(default_factory=dict)  # task id -> its succeeded attempt
    set_up: dict[int, str] = field(default_factory=dict)              # step -> its output directory
    commit_started: frozenset[int] = frozenset()
    committed: frozenset[int] = frozenset()
    ended: tuple[JobState, str] | None = None  # (FAILED or KILLED, diagnostics): the job had already ended

    def committed_steps(self) -> int:
        """How many steps, from the first, were committed (the next attempt starts after them)."""
        count = 0
        while count in self.committed:
            count += 1
        return count

    def commit_interrupted(self) -> int | None:
        """A step whose commit began and did not end, if any."""
        return min(self.commit_started - self.committed, default=None)

    def step_attempts(self, step_index: int) -> list[RecoveredAttempt]:
        return [attempt for attempt in self.tasks.values() if attempt.step_index == step_index]


class RecoveryLog:
    def __init__(self, fs, staging_dir: str, am_attempt: int = 1):
        self.fs = fs
        self.directory = fs.join(staging_dir, RECOVERY_DIR)
        self.am_attempt = am_attempt
        self._batches = 0

    def _write(self, name: str, data: bytes) -> None:
        path = self.fs.join(self.directory, name)
        # Aside under this AM attempt's name: a killed attempt's half-written file keeps its lease for a while.
        aside = self.fs.join(self.directory, f".{name}.{self.am_attempt}.tmp")
        self.fs.mkdirs(self.directory)
        with self.fs.create(aside) as file:
            file.write(data)
        if self.fs.exists(path):
            self.fs.delete(path)
        self.fs.rename(aside, path)

    def record_tasks(self, attempts: list[RecoveredAttempt]) -> None:
        """Succeeded tasks' attempts, in one new file (a later one wins for a task that ran again)."""
        self._batches += 1
        self.fs.mkdirs(self.directory)
        name = f"{TASKS_PREFIX}{self.am_attempt:03d}-{self._batches:06d}.json"
        with self.fs.create(self.fs.join(self.directory, name)) as file:
            file.write(json.dumps([asdict(attempt) for attempt in attempts], sort_keys=True).encode())

    def record_end(self, state: JobState, diagnostics: str) -> None:
        # On disk the state is its name, as in the job history.
        self._write(ENDED_FILE, json.dumps({"state": state.value, "diagnostics": diagnostics}).encode())

    def record_step(self, step_index: int, mark: StepMark, content: str = "") -> None:
        self._write(f"step-{step_index}.{mark.value}", content.encode())

    def load(self) -> RecoveredJob:
        """Everything recorded so far; an unreadable entry is skipped (its task runs again)."""
        if not self.fs.exists(self.directory):
            return RecoveredJob()
        tasks, set_up, started, committed, ended = {}, {}, set(), set(), None
        for entry in sorted(self.fs.list(self.directory), key=lambda entry: entry.name):  # batches in order
            name = entry.name
            if name.startswith("."):
                continue
            try:
                with self.fs.open(entry.path) as file:
                    data = file.read()
                if name == ENDED_FILE:
                    end = json.loads(data)
                    ended = (JobState(end["state"]), str(end["diagnostics"]))
                elif name.startswith(TASKS_PREFIX) and name.endswith(".json"):
                    for attempt in [RecoveredAttempt(**fields) for fields in json.loads(data)]:
                        tasks[task_id_of(attempt.attempt_id)] = attempt
                elif name.startswith("step-"):
                    step_text, _, mark_text = name.removeprefix("step-").partition(".")
                    step_index, mark = int(step_text), StepMark(mark_text)
                    if mark is StepMark.SETUP:
                        set_up[step_index] = data.decode()
                    elif mark is StepMark.COMMIT_STARTED:
                        started.add(step_index)
                    elif mark is StepMark.COMMITTED:
                        committed.add(step_index)
            except (EmrlabError, ValueError, TypeError, KeyError) as error:
                logger.warning("recovery log: skipping %s: %s", entry.path, error)
        return RecoveredJob(tasks, set_up, frozenset(started), frozenset(committed), ended)

"""A second ApplicationMaster attempt recovers what the first finished: the shell on the local file system.

AM attempt 1 runs part of a job and "dies" (the test drops it); attempt 2 is a
new MRAppMaster on the same staging dir and output, as YARN would start it.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from test_appmaster_shell import PretendHdfs, PretendNM, PretendRM, step

from emrlab_common.errors import NotFound
from mapreduce.api.fs import LocalFileSystem
from mapreduce.appmaster.config import AppMasterConfig
from mapreduce.appmaster.containers import NoLongerCurrent
from mapreduce.appmaster.description import DESCRIPTION_FILE, JobDescription, staging_dir
from mapreduce.appmaster.job import JobStateMachine
from mapreduce.appmaster.master import MRAppMaster
from mapreduce.appmaster.records import (
    AttemptStarted,
    AttemptSucceeded,
    CommitRequested,
    ContainerAllocated,
    FinishJob,
    JobState,
    PlanStep,
    RecordTask,
    RecoveredAttempt,
    StartJob,
    StepPlanned,
)
from mapreduce.appmaster.recovery import RecoveryLog, StepMark
from mapreduce.runners.cluster import kill_job
from mapreduce.task.output import FileOutputCommitter

JOB_ID = "job_1700000000000_0042"


def attempt(kind: str, index: int, number: int = 0) -> str:
    return f"attempt_1700000000000_0042_{kind}_{index:06d}_{number}"


def start(tmp_path, am_attempt: int, hdfs=None, **config) -> MRAppMaster:
    (tmp_path / "in").mkdir(exist_ok=True)
    for index in range(2):
        (tmp_path / "in" / f"part-{index}.txt").write_text("a b a\nc a\n" * 10)
    (tmp_path / "staging").mkdir(exist_ok=True)
    description = JobDescription(
        job_id=JOB_ID, name="WordCount", user="alice", job_reference="mapreduce.examples.wordcount:WordCount",
        input_paths=(str(tmp_path / "in"),), output_dir=str(tmp_path / "out"), staging_dir=str(tmp_path / "staging"),
        properties={"mapreduce.job.reduces": "2"})
    master = MRAppMaster(description, AppMasterConfig(reduce_slowstart_completed_maps=1.0, **config),
                         amrm=PretendRM(), nm=PretendNM(), fs=LocalFileSystem(), hdfs_client=hdfs or PretendHdfs(),
                         task_launch_context=lambda attempt_id: None, sleep=lambda seconds: None,
                         am_attempt=am_attempt)
    master.start()
    master._execute_pending()
    return master


def run_attempt(master, attempt_id: str, node_id: str, commit_dir=None, report: bool = True) -> None:
    """Give the attempt's request a container, run it; a committing task writes its part file as the
    task process would (FileOutputCommitter.commit_task) before it reports success."""
    request_id = master.machine.requests.request_of(attempt_id)
    master.yarn.amrm.give(f"c-{attempt_id}", node_id, request_id)
    step(master)
    master.handle(AttemptStarted(attempt_id))
    if commit_dir is not None:
        master.handle(CommitRequested(attempt_id))
        assert master.commit_granted(attempt_id)
        commit_dir.mkdir(parents=True)
        (commit_dir / f"part-r-{commit_dir.name[-5:]}").write_text(f"from {attempt_id}\n")
    if report:
        master.handle(AttemptSucceeded(attempt_id, {"g": {"n": 1}}))
    master._execute_pending()


def committed_dir(tmp_path, reduce_index: int):
    return tmp_path / "out" / "_temporary" / f"task_1700000000000_0042_r_{reduce_index:06d}"


def first_attempt_dies_after(tmp_path):
    """Attempt 1: both maps and reduce 0 finish; reduce 1 commits but the AM dies before it hears so."""
    first = start(tmp_path, am_attempt=1)
    run_attempt(first, attempt("m", 0), "core-1")
    run_attempt(first, attempt("m", 1), "core-2")
    run_attempt(first, attempt("r", 0), "core-1", committed_dir(tmp_path, 0))
    run_attempt(first, attempt("r", 1), "core-2", committed_dir(tmp_path, 1), report=False)
    assert first.final_state is None
    return first


def test_a_second_am_attempt_keeps_what_the_first_finished_and_runs_only_the_rest(tmp_path):
    first_attempt_dies_after(tmp_path)
    second = start(tmp_path, am_attempt=2)
    machine = second.machine
    recovered = {a.attempt_id for a in machine.attempts.values() if a.recovered}
    assert recovered == {attempt("m", 0), attempt("m", 1), attempt("r", 0)}
    # Reduce 1's committed output was never recorded: dropped, and only that task runs again, numbered
    # from 1000 so that it shares nothing with attempt 1's attempts.
    assert not committed_dir(tmp_path, 1).exists() and committed_dir(tmp_path, 0).exists()
    assert machine.requests.attempts() == {attempt("r", 1, 1000)}
    assert len(second.yarn.amrm.pending) == 1
    # Reducers of the new attempt find the recovered maps' output where attempt 1 left it.
    events = machine.map_completion_events(0, 0, 10)
    assert [(e.attempt_id, e.shuffle_address) for e in events] == [(attempt("m", 0), "core-1:9"),
                                                                  (attempt("m", 1), "core-2:9")]
    run_attempt(second, attempt("r", 1, 1000), "core-3", committed_dir(tmp_path, 1))
    assert second.final_state is JobState.SUCCEEDED
    output = tmp_path / "out"
    assert sorted(path.name for path in output.iterdir()) == ["_SUCCESS", "part-r-00000", "part-r-00001"]
    assert (output / "part-r-00000").read_text() == f"from {attempt('r', 0)}\n"
    history = json.loads(second.hdfs_client.files[f"/tmp/hadoop-yarn/staging/history/done/{JOB_ID}.json"])
    assert history["state"] == "SUCCEEDED"
    assert history["counters"]["g"] == {"n": 4}  # the recovered attempts' counters count
    assert {a["attempt_id"] for a in history["attempts"] if a["recovered"]} == recovered
    assert not (tmp_path / "staging").exists()


def test_an_am_attempt_that_died_while_committing_fails_the_job_and_leaves_no_output(tmp_path):
    first_attempt_dies_after(tmp_path)
    RecoveryLog(LocalFileSystem(), str(tmp_path / "staging")).record_step(0, StepMark.COMMIT_STARTED)
    second = start(tmp_path, am_attempt=2)
    assert second.final_state is JobState.FAILED
    assert "died while committing step 0" in second.machine.diagnostics
    assert not (tmp_path / "out").exists() and not (tmp_path / "staging").exists()


def test_without_recovery_the_second_attempt_runs_every_task_again_on_the_same_output(tmp_path):
    first_attempt_dies_after(tmp_path)
    second = start(tmp_path, am_attempt=2, recovery_enabled=False)
    assert not any(a.recovered for a in second.machine.attempts.values())
    assert second.machine.requests.attempts() == {attempt("m", 0, 1000), attempt("m", 1, 1000)}
    assert FileOutputCommitter(LocalFileSystem(), str(tmp_path / "out")).committed_task_ids() == set()


def test_a_failed_job_aborts_its_output_and_a_committed_one_is_never_aborted(tmp_path):
    fs = LocalFileSystem()
    committer = FileOutputCommitter(fs, str(tmp_path / "out"))
    committer.setup_job()
    assert (tmp_path / "out" / "_temporary").is_dir()
    committer.abort_job()
    assert not (tmp_path / "out").exists()
    committer.setup_job()  # the same path can be used again
    committer.commit_job()
    committer.abort_job()
    assert (tmp_path / "out" / "_SUCCESS").exists()


def test_the_machine_records_each_success_and_resumes_after_the_committed_steps():
    machine = JobStateMachine(JOB_ID, 2, AppMasterConfig(), am_attempt=2, first_step_index=1)
    assert machine.handle(StartJob(), 0.0) == [PlanStep(1)]
    commands = machine.handle(StepPlanned(1, (("core-1",),), 0), 0.0)
    (request,) = [command for command in commands if type(command).__name__ == "RequestContainer"]
    assert request.attempt_id == "attempt_1700000000000_0042_step1_m_000000_1000"
    done = JobStateMachine(JOB_ID, 2, AppMasterConfig(), am_attempt=2, first_step_index=2)
    assert done.handle(StartJob(), 0.0) == [FinishJob(JobState.SUCCEEDED)]
    fresh = JobStateMachine(JOB_ID, 1, AppMasterConfig())
    fresh.handle(StartJob(), 0.0)
    (ask,) = [c for c in fresh.handle(StepPlanned(0, (("core-1",),), 1), 0.0) if type(c).__name__ == "RequestContainer"]
    fresh.handle(ContainerAllocated("c1", "core-1", "core-1:9", ask.priority, ask.request_id), 0.0)
    map_attempt = attempt("m", 0)
    fresh.handle(AttemptStarted(map_attempt), 0.0)
    recorded = [c for c in fresh.handle(AttemptSucceeded(map_attempt, {"g": {"n": 2}}), 1.0) if isinstance(c, RecordTask)]
    assert [(c.attempt.attempt_id, c.attempt.counters) for c in recorded] == [(map_attempt, {"g": {"n": 2}})]
    fresh.validate_state()


def test_a_job_whose_am_died_while_cleaning_up_after_a_kill_ends_killed_again_without_running(tmp_path):
    first = first_attempt_dies_after(tmp_path)
    first.recovery_log.record_end(JobState.KILLED, "Kill job received from client")  # then it died
    second = start(tmp_path, am_attempt=2)
    assert second.final_state is JobState.KILLED and second.machine.diagnostics == "Kill job received from client"
    assert second.yarn.amrm.pending == {}
    assert not (tmp_path / "out").exists() and not (tmp_path / "staging").exists()


def test_an_am_that_is_no_longer_the_current_attempt_stops_at_once(tmp_path):
    first = start(tmp_path, am_attempt=1)

    def allocate(progress):
        raise NotFound("appattempt_1700000000000_0042_000001 is not the current attempt of a running application")

    first.yarn.amrm.allocate = allocate
    with pytest.raises(NoLongerCurrent):
        first._heartbeat()
    assert (tmp_path / "out" / "_temporary").is_dir()  # left for the attempt that replaced it


class PathsClient:
    """The few hdfs.Client calls the job client's cleanup makes, on a set of paths."""

    user = "alice"

    def __init__(self, paths: set[str], files: dict[str, bytes]):
        self.paths, self.files = paths, files

    def read_bytes(self, path: str) -> bytes:
        if path not in self.files:
            raise NotFound(path)
        return self.files[path]

    def exists(self, path: str) -> bool:
        path = path.removeprefix("hdfs://")
        return any(p == path or p.startswith(path + "/") for p in [*self.paths, *self.files])

    def delete(self, path: str, recursive: bool = False) -> None:
        path = path.removeprefix("hdfs://")
        self.paths = {p for p in self.paths if p != path and not p.startswith(path + "/")}
        self.files = {p: d for p, d in self.files.items() if p != path and not p.startswith(path + "/")}


def test_a_kill_with_no_am_to_ask_kills_the_application_and_aborts_the_output_itself():
    staging = staging_dir("alice", JOB_ID)
    description = JobDescription(job_id=JOB_ID, name="WordCount", user="alice", job_reference="x.py:X",
                                 input_paths=("hdfs:///in",), output_dir="hdfs:///out", staging_dir=staging)
    hdfs = PathsClient({"/out", "/out/_temporary", "/out/_temporary/task_x"},
                       {f"{staging}/{DESCRIPTION_FILE}": description.to_json().encode()})
    killed = []
    yarn = SimpleNamespace(application_report=lambda app: SimpleNamespace(state=SimpleNamespace(is_final=False),
                                                                          am_address=""),
                           kill_application=lambda app, why: killed.append(app))
    kill_job(yarn, "application_1700000000000_0042", JOB_ID, hdfs)
    assert killed == ["application_1700000000000_0042"]
    assert not hdfs.exists("/out/_temporary") and not hdfs.exists("/out") and hdfs.files == {}


def test_a_commit_that_wrote_its_success_marker_counts_though_its_attempt_died_before_recording_it(tmp_path):
    first = first_attempt_dies_after(tmp_path)
    first.handle(AttemptSucceeded(attempt("r", 1), {"g": {"n": 1}}))
    first.recovery_log.record_step = lambda step_index, mark, content="": (
        None if mark is StepMark.COMMITTED else RecoveryLog.record_step(first.recovery_log, step_index, mark, content))
    first.sleep = lambda seconds: (_ for _ in ()).throw(SystemExit("the AM dies after the job commit"))
    with pytest.raises(SystemExit):
        first._execute_pending()  # commits the job, then "dies" before its history and unregister
    assert (tmp_path / "out" / "_SUCCESS").exists()
    second = start(tmp_path, am_attempt=2)
    assert second.final_state is JobState.SUCCEEDED and second.yarn.amrm.pending == {}
    assert (tmp_path / "out" / "_SUCCESS").exists() and not (tmp_path / "staging").exists()


def drive(master, tmp_path, die_at: tuple[int, bool] | None = None) -> None:
    """Run every attempt the AM asks for, one at a time, until the job ends; with `die_at` = (n, partly),
    stop (the AM "dies") after n attempts, the next one having committed but not reported if `partly`."""
    done = 0
    while master.final_state is None:
        attempt_id = sorted(master.machine.requests.attempts())[0]
        reduce_index = int(attempt_id.split("_")[-2]) if "_r_" in attempt_id else None
        commit_dir = committed_dir(tmp_path, reduce_index) if reduce_index is not None else None
        if die_at is not None and done == die_at[0]:
            if die_at[1] and commit_dir is not None:
                run_attempt(master, attempt_id, "core-1", commit_dir, report=False)
            return
        run_attempt(master, attempt_id, f"core-{done % 3 + 1}", commit_dir)
        done += 1


@pytest.mark.parametrize("first_dies_at", [(n, partly) for n in range(4) for partly in (False, True)])
@pytest.mark.parametrize("second_dies_at", [None, (0, True), (1, False)])
def test_wherever_two_am_attempts_die_the_third_finishes_the_job_once(tmp_path, first_dies_at, second_dies_at):
    drive(start(tmp_path, am_attempt=1), tmp_path, first_dies_at)
    second = start(tmp_path, am_attempt=2)
    drive(second, tmp_path, second_dies_at)
    last = second if second.final_state is not None else start(tmp_path, am_attempt=3)
    drive(last, tmp_path)
    assert last.final_state is JobState.SUCCEEDED
    output = tmp_path / "out"
    assert sorted(path.name for path in output.iterdir()) == ["_SUCCESS", "part-r-00000", "part-r-00001"]
    history = json.loads(last.hdfs_client.files[f"/tmp/hadoop-yarn/staging/history/done/{JOB_ID}.json"])
    succeeded = [a for a in history["attempts"] if a["state"] == "SUCCEEDED"]
    assert sorted(a["task_index"] for a in succeeded if a["kind"] == "map") == [0, 1]
    assert sorted(a["task_index"] for a in succeeded if a["kind"] == "reduce") == [0, 1]
    assert history["counters"]["g"] == {"n": 4}  # each task's one succeeded attempt counts, once
    for a in succeeded:
        assert (output / f"part-r-{a['task_index']:05d}").read_text() == f"from {a['attempt_id']}\n" \
            or a["kind"] == "map"
    assert not (tmp_path / "staging").exists()


def test_a_torn_batch_in_the_recovery_log_is_skipped_and_a_later_batch_wins(tmp_path):
    fs = LocalFileSystem()
    log = RecoveryLog(fs, str(tmp_path), am_attempt=1)
    first = RecoveredAttempt(attempt("m", 0), 0, "map", 0, 0, "core-1", "core-1:9")
    log.record_tasks([first, RecoveredAttempt(attempt("m", 1), 0, "map", 1, 0, "core-2", "core-2:9")])
    again = RecoveredAttempt(attempt("m", 0, 1), 0, "map", 0, 1, "core-3", "core-3:9")  # its output was lost
    log.record_tasks([again])
    (tmp_path / "recovery" / "tasks-001-000003.json").write_text('[{"attempt_id": "attempt_170')  # died writing
    tasks = log.load().tasks
    assert sorted(tasks) == ["task_1700000000000_0042_m_000000", "task_1700000000000_0042_m_000001"]
    assert tasks["task_1700000000000_0042_m_000000"] == again

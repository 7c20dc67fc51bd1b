"""The ApplicationMaster's job state machine, driven by hand: no processes, no clock."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from mapreduce.appmaster.config import AppMasterConfig
from mapreduce.appmaster.job import JOB_COUNTER_GROUP, JobStateMachine
from mapreduce.appmaster.records import (
    MAP,
    REDUCE,
    AttemptFailed,
    AttemptStarted,
    AttemptState,
    AttemptStatus,
    AttemptSucceeded,
    CancelRequest,
    CommitRequested,
    CommitStep,
    ContainerAllocated,
    ContainerCompleted,
    FetchFailed,
    FinishJob,
    JobState,
    KillJob,
    LaunchAttempt,
    NodesLost,
    PlanStep,
    ReleaseContainer,
    RequestContainer,
    StartJob,
    StepCommitted,
    StepPlanned,
    StopContainer,
    TaskKey,
    Tick,
    attempt_id_text,
)
from mapreduce.appmaster.tasks import Locality
from mapreduce.task.umbilical import MapCompletionStatus

JOB_ID = "job_1700000000000_0001"
NODES = ("core-1", "core-2", "core-3")


class Harness:
    """A job and a pretend YARN: grants each container request on a node of its choosing."""

    def __init__(self, config: AppMasterConfig | None = None, step_count: int = 1):
        self.machine = JobStateMachine(JOB_ID, step_count, config or AppMasterConfig())
        self.now_s = 0.0
        self.asked: dict[int, RequestContainer] = {}  # what YARN holds, by allocation request id
        self.launched: dict[str, str] = {}  # attempt id -> container id
        self.stopped: list[str] = []
        self.released: list[str] = []
        self.finished: list[FinishJob] = []
        self.commit_steps: list[CommitStep] = []
        self.plan_steps: list[int] = []
        self._container_ids = itertools.count(1)

    def send(self, event) -> list:
        commands = self.machine.handle(event, self.now_s)
        for command in commands:
            match command:
                case RequestContainer():
                    assert command.request_id > 0 and command.request_id not in self.asked
                    self.asked[command.request_id] = command
                case CancelRequest():
                    del self.asked[command.request_id]
                case LaunchAttempt():
                    self.launched[command.attempt_id] = command.container_id
                case StopContainer():
                    self.stopped.append(command.attempt_id)
                case ReleaseContainer():
                    self.released.append(command.container_id)
                case FinishJob():
                    self.finished.append(command)
                case CommitStep():
                    self.commit_steps.append(command)
                case PlanStep():
                    self.plan_steps.append(command.step_index)
        self.machine.validate_state()
        assert set(self.asked) == {self.machine.requests.request_of(a) for a in self.machine.requests.attempts()}
        return commands

    @property
    def requests(self) -> dict[str, RequestContainer]:
        """The requests YARN holds, by the attempt each now serves."""
        return {self.machine.requests._attempt_of[request_id]: request for request_id, request in self.asked.items()}

    def start(self, map_hosts=(("core-1",), ("core-2",)), reduces=2):
        self.send(StartJob())
        self.send(StepPlanned(0, tuple(map_hosts), reduces))

    def allocate(self, attempt_id: str, node_id: str | None = None) -> str:
        request_id = self.machine.requests.request_of(attempt_id)
        request = self.asked.pop(request_id)  # YARN forgets a request it satisfied
        node_id = node_id or (request.hosts[0] if request.hosts else NODES[0])
        container_id = f"container_{next(self._container_ids):06d}"
        self.send(ContainerAllocated(container_id, node_id, f"{node_id}:9", request.priority, request_id))
        return container_id

    def run_to_success(self, attempt_id: str, node_id: str | None = None, counters=None):
        self.allocate(attempt_id, node_id)
        launched = [a for a in self.launched if self.machine.attempts[a].key == self.machine.attempts[attempt_id].key
                    and self.machine.attempts[a].state is AttemptState.ASSIGNED]
        (started,) = launched
        self.send(AttemptStarted(started))
        self.send(CommitRequested(started))
        self.send(AttemptSucceeded(started, counters or {"Map-Reduce Framework": {"RECORDS": 1}}))
        return started

    def pending(self, kind: str) -> list[str]:
        return sorted(a for a, request in self.requests.items() if request.kind == kind)


def attempt(kind: str, index: int, number: int = 0) -> str:
    return attempt_id_text(JOB_ID, TaskKey(0, kind, index), number)


def test_attempt_ids_are_hadoops():
    assert attempt(MAP, 3) == "attempt_1700000000000_0001_m_000003_0"
    assert attempt_id_text(JOB_ID, TaskKey(1, REDUCE, 0), 2) == "attempt_1700000000000_0001_step1_r_000000_2"


def test_a_job_runs_maps_then_reduces_then_commits_and_sums_counters():
    harness = Harness(AppMasterConfig(reduce_slowstart_completed_maps=1.0))
    harness.start()
    assert harness.pending(MAP) == [attempt(MAP, 0), attempt(MAP, 1)]
    assert harness.pending(REDUCE) == []  # slow start: every map first
    assert harness.requests[attempt(MAP, 0)].hosts == ("core-1",)
    harness.run_to_success(attempt(MAP, 0))
    assert harness.pending(REDUCE) == []
    harness.run_to_success(attempt(MAP, 1), node_id="core-3")
    assert harness.pending(REDUCE) == [attempt(REDUCE, 0), attempt(REDUCE, 1)]
    events = harness.machine.map_completion_events(0, 0, 10)
    assert [(event.map_index, event.status, event.shuffle_address) for event in events] == [
        (0, MapCompletionStatus.SUCCEEDED, "core-1:9"), (1, MapCompletionStatus.SUCCEEDED, "core-3:9")]
    harness.run_to_success(attempt(REDUCE, 0))
    assert harness.commit_steps == []
    harness.run_to_success(attempt(REDUCE, 1))
    assert harness.commit_steps == [CommitStep(0, last=True)]
    assert harness.machine.state is JobState.COMMITTING
    harness.send(StepCommitted(0))
    assert harness.finished == [FinishJob(JobState.SUCCEEDED)]
    counters = harness.machine.counters()
    assert counters["Map-Reduce Framework"]["RECORDS"] == 4
    assert counters[JOB_COUNTER_GROUP] == {"TOTAL_LAUNCHED_MAPS": 2, "TOTAL_LAUNCHED_REDUCES": 2,
                                           "DATA_LOCAL_MAPS": 1, "OTHER_LOCAL_MAPS": 1}


def test_slow_start_requests_reducers_after_the_configured_fraction_of_maps():
    harness = Harness(AppMasterConfig(reduce_slowstart_completed_maps=0.5))
    harness.start(map_hosts=[("core-1",)] * 4, reduces=1)
    harness.run_to_success(attempt(MAP, 0))
    assert harness.pending(REDUCE) == []
    harness.run_to_success(attempt(MAP, 1))
    assert harness.pending(REDUCE) == [attempt(REDUCE, 0)]


def test_a_container_goes_to_the_map_whose_split_is_on_its_node():
    harness = Harness()
    harness.start(map_hosts=[("core-1",), ("core-2",)])
    request_id = harness.machine.requests.request_of(attempt(MAP, 0))
    request = harness.asked.pop(request_id)  # YARN satisfies map 0's request on core-2
    harness.send(ContainerAllocated("c1", "core-2", "core-2:9", request.priority, request_id))
    assert harness.launched == {attempt(MAP, 1): "c1"}
    assert harness.machine.attempts[attempt(MAP, 1)].locality is Locality.DATA_LOCAL
    # Map 0 waits on, under the request map 1 no longer needs: nothing cancelled, nothing asked again.
    assert list(harness.requests) == [attempt(MAP, 0)]


def test_an_unneeded_container_is_released():
    harness = Harness()
    harness.start(map_hosts=[("core-1",)], reduces=0)
    harness.allocate(attempt(MAP, 0))
    harness.send(ContainerAllocated("extra", "core-2", "core-2:9", 20))
    assert harness.released == ["extra"]


def test_failed_attempts_are_retried_until_maxattempts_then_the_job_fails():
    harness = Harness(AppMasterConfig(map_attempts_max=2))
    harness.start(reduces=1)
    harness.allocate(attempt(MAP, 0))
    harness.send(AttemptFailed(attempt(MAP, 0), "Traceback: boom"))
    assert attempt(MAP, 0, 1) in harness.pending(MAP)
    assert harness.requests[attempt(MAP, 0, 1)].priority == 5  # failed maps go first, as in Hadoop
    harness.allocate(attempt(MAP, 0, 1))
    harness.send(AttemptFailed(attempt(MAP, 0, 1), "Traceback: boom again"))
    assert harness.machine.state is JobState.FAILED
    (finish,) = harness.finished
    assert finish.state is JobState.FAILED
    assert "task_1700000000000_0001_m_000000 failed 2 times" in finish.diagnostics
    assert "boom again" in finish.diagnostics
    # Everything else is given up: requests cancelled, containers stopped.
    assert harness.requests == {}
    assert harness.machine.counters()[JOB_COUNTER_GROUP]["NUM_FAILED_MAPS"] == 2


def test_killed_attempts_do_not_use_up_retries():
    harness = Harness(AppMasterConfig(map_attempts_max=1))
    harness.start(reduces=0)
    container = harness.allocate(attempt(MAP, 0))
    harness.send(ContainerCompleted(container, -100, "node lost", lost=True))
    assert harness.machine.attempts[attempt(MAP, 0)].state is AttemptState.KILLED
    assert harness.machine.state is JobState.RUNNING
    assert attempt(MAP, 0, 1) in harness.pending(MAP)


def test_a_container_that_exits_without_reporting_done_fails_its_attempt():
    harness = Harness()
    harness.start(reduces=0)
    container = harness.allocate(attempt(MAP, 0))
    harness.send(ContainerCompleted(container, 1, "killed by signal 9"))
    failed = harness.machine.attempts[attempt(MAP, 0)]
    assert failed.state is AttemptState.FAILED
    assert "exited with status 1" in failed.diagnostics


def test_a_silent_attempt_times_out_and_is_stopped():
    harness = Harness(AppMasterConfig(task_timeout_s=10))
    harness.start(reduces=0)
    harness.allocate(attempt(MAP, 0))
    harness.send(AttemptStarted(attempt(MAP, 0)))
    harness.now_s = 8
    harness.send(AttemptStatus(attempt(MAP, 0), 0.5, "map"))
    harness.now_s = 17
    harness.send(Tick())
    assert harness.machine.attempts[attempt(MAP, 0)].state is AttemptState.RUNNING
    harness.now_s = 19
    harness.send(Tick())
    timed_out = harness.machine.attempts[attempt(MAP, 0)]
    assert timed_out.state is AttemptState.FAILED
    assert timed_out.diagnostics == f"Task attempt {attempt(MAP, 0)} timed out after 10 secs"
    assert harness.stopped == [attempt(MAP, 0)]
    assert harness.machine.attempt_should_stop(attempt(MAP, 0))


def test_only_one_attempt_of_a_task_may_commit():
    harness = Harness(AppMasterConfig(task_timeout_s=10))
    harness.start(map_hosts=[], reduces=1)
    harness.allocate(attempt(REDUCE, 0))
    harness.send(AttemptStarted(attempt(REDUCE, 0)))
    harness.now_s = 20
    harness.send(Tick())  # the first attempt times out but its process may still be alive
    harness.allocate(attempt(REDUCE, 0, 1))
    harness.send(AttemptStarted(attempt(REDUCE, 0, 1)))
    harness.send(CommitRequested(attempt(REDUCE, 0)))
    harness.send(CommitRequested(attempt(REDUCE, 0, 1)))
    assert not harness.machine.commit_granted(attempt(REDUCE, 0))
    assert harness.machine.commit_granted(attempt(REDUCE, 0, 1))
    harness.send(AttemptSucceeded(attempt(REDUCE, 0)))  # late: ignored
    assert harness.machine.attempts[attempt(REDUCE, 0)].state is AttemptState.FAILED


def test_maps_on_a_lost_node_run_again_while_reducers_need_them():
    harness = Harness(AppMasterConfig(reduce_slowstart_completed_maps=1.0))
    harness.start(map_hosts=[("core-1",), ("core-2",)], reduces=1)
    harness.run_to_success(attempt(MAP, 0))
    harness.run_to_success(attempt(MAP, 1))
    harness.allocate(attempt(REDUCE, 0), node_id="core-2")
    harness.send(NodesLost(("core-1",)))
    lost = harness.machine.attempts[attempt(MAP, 0)]
    assert lost.state is AttemptState.KILLED
    assert harness.pending(MAP) == [attempt(MAP, 0, 1)]
    events = harness.machine.map_completion_events(0, 0, 10)
    assert [(event.attempt_id, event.status) for event in events][-1] == (attempt(MAP, 0), MapCompletionStatus.OBSOLETE)
    harness.run_to_success(attempt(MAP, 0, 1), node_id="core-3")
    assert harness.machine.map_completion_events(0, 3, 10)[0].shuffle_address == "core-3:9"
    harness.send(AttemptStarted(attempt(REDUCE, 0)))
    harness.send(CommitRequested(attempt(REDUCE, 0)))
    harness.send(AttemptSucceeded(attempt(REDUCE, 0)))
    harness.send(StepCommitted(0))
    assert harness.machine.state is JobState.SUCCEEDED
    assert harness.machine.counters()[JOB_COUNTER_GROUP]["NUM_KILLED_MAPS"] == 1


def test_a_lost_node_after_the_reducers_finished_changes_nothing():
    harness = Harness()
    harness.start(map_hosts=[("core-1",)], reduces=1)
    harness.run_to_success(attempt(MAP, 0))
    harness.run_to_success(attempt(REDUCE, 0))
    harness.send(NodesLost(("core-1",)))
    assert harness.machine.attempts[attempt(MAP, 0)].state is AttemptState.SUCCEEDED


def test_repeated_fetch_failures_fail_the_map_and_run_it_again():
    harness = Harness(AppMasterConfig(reduce_slowstart_completed_maps=1.0))
    harness.start(map_hosts=[("core-1",)], reduces=1)
    harness.run_to_success(attempt(MAP, 0))
    harness.allocate(attempt(REDUCE, 0))
    for _ in range(2):
        harness.send(FetchFailed(attempt(REDUCE, 0), attempt(MAP, 0)))
    assert harness.machine.attempts[attempt(MAP, 0)].state is AttemptState.SUCCEEDED
    harness.send(FetchFailed(attempt(REDUCE, 0), attempt(MAP, 0)))
    assert harness.machine.attempts[attempt(MAP, 0)].state is AttemptState.FAILED
    assert harness.pending(MAP) == [attempt(MAP, 0, 1)]


def test_killing_the_job_stops_every_attempt():
    harness = Harness()
    harness.start(reduces=1)
    harness.allocate(attempt(MAP, 0))
    harness.send(KillJob())
    assert harness.machine.state is JobState.KILLED
    assert harness.stopped == [attempt(MAP, 0)]
    assert harness.requests == {}
    assert harness.finished == [FinishJob(JobState.KILLED, "Kill job received from client")]
    assert harness.machine.attempt_should_stop(attempt(MAP, 0))


def test_steps_run_in_order():
    harness = Harness(step_count=2)
    harness.start(map_hosts=[("core-1",)], reduces=1)
    harness.run_to_success(attempt(MAP, 0))
    harness.run_to_success(attempt(REDUCE, 0))
    assert harness.commit_steps == [CommitStep(0, last=False)]
    harness.send(StepCommitted(0))
    assert harness.plan_steps == [0, 1]
    harness.send(StepPlanned(1, (("core-2",),), 1))
    second_map = attempt_id_text(JOB_ID, TaskKey(1, MAP, 0), 0)
    assert harness.pending(MAP) == [second_map]
    harness.run_to_success(second_map)
    harness.run_to_success(attempt_id_text(JOB_ID, TaskKey(1, REDUCE, 0), 0))
    harness.send(StepCommitted(1))
    assert harness.machine.state is JobState.SUCCEEDED


# ---------------------------------------------------------------- random event sequences

# Weighted towards progress, so that many sequences end with the job done.
ACTIONS = ("allocate",) * 4 + ("start", "status", "commit", "succeed") + ("finish",) * 4 + (
    "fail", "exit", "lose_container", "lose_node", "fetch_failure", "tick", "commit_step")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(ACTIONS), st.integers(0, 50), st.sampled_from(NODES)), max_size=120),
       st.integers(1, 3), st.integers(0, 2))
def test_random_event_sequences_keep_the_invariants(actions, map_count, reduce_count):
    config = AppMasterConfig(map_attempts_max=3, reduce_attempts_max=3, task_timeout_s=5,
                             reduce_slowstart_completed_maps=0.5)
    harness = Harness(config)
    harness.start(map_hosts=[(NODES[index % 3],) for index in range(map_count)], reduces=reduce_count)
    machine = harness.machine
    committed: dict[TaskKey, set[str]] = {}  # attempts that committed output, per task
    for action, number, node_id in actions:
        live = sorted(a.attempt_id for a in machine.attempts.values() if a.active and a.container_id)
        chosen = live[number % len(live)] if live else None
        harness.now_s += 1
        match action:
            case "allocate" if harness.requests:
                pending = sorted(harness.requests)
                harness.allocate(pending[number % len(pending)], node_id)
            case "start" if chosen:
                harness.send(AttemptStarted(chosen))
            case "status" if chosen:
                harness.send(AttemptStatus(chosen, 0.5, "working"))
            case "commit" if chosen:
                harness.send(CommitRequested(chosen))
            case "succeed" if chosen:
                key = machine.attempts[chosen].key
                if machine.commit_granted(chosen) or key.kind == MAP:
                    committed.setdefault(key, set()).add(chosen)
                    harness.send(AttemptSucceeded(chosen, {"g": {"n": 1}}))
            case "finish" if chosen:
                harness.send(AttemptStarted(chosen))
                harness.send(CommitRequested(chosen))
                if machine.commit_granted(chosen):
                    committed.setdefault(machine.attempts[chosen].key, set()).add(chosen)
                    harness.send(AttemptSucceeded(chosen, {"g": {"n": 1}}))
            case "fail" if chosen:
                harness.send(AttemptFailed(chosen, "boom"))
            case "exit" if chosen:
                harness.send(ContainerCompleted(harness.launched[chosen], 1))
            case "lose_container" if chosen:
                harness.send(ContainerCompleted(harness.launched[chosen], -100, lost=True))
            case "lose_node":
                harness.send(NodesLost((node_id,)))
            case "fetch_failure" if chosen:
                maps = sorted(a.attempt_id for a in machine.attempts.values()
                              if a.key.kind == MAP and a.state is AttemptState.SUCCEEDED)
                if maps:
                    harness.send(FetchFailed(chosen, maps[number % len(maps)]))
            case "tick":
                harness.now_s += number % 8
                harness.send(Tick())
            case "commit_step" if harness.commit_steps:
                harness.send(StepCommitted(0))
        # Every live attempt of a task holds at most one container request or container.
        for task in machine.tasks.values():
            assert sum(1 for a in task.attempts if a.attempt_id in harness.requests) <= 1
    # When the faults stop, every job that has not failed finishes (liveness).
    for _ in range(3 * (map_count + reduce_count) + 3):
        for _ in range(len(harness.requests)):  # a container may go to another waiting attempt
            if harness.requests:
                harness.allocate(sorted(harness.requests)[0])
        for running in sorted(a.attempt_id for a in machine.attempts.values() if a.active and a.container_id):
            harness.send(AttemptStarted(running))
            harness.send(CommitRequested(running))
            if machine.commit_granted(running):
                committed.setdefault(machine.attempts[running].key, set()).add(running)
                harness.send(AttemptSucceeded(running, {"g": {"n": 1}}))
        if machine.state is JobState.COMMITTING:
            harness.send(StepCommitted(0))
    assert machine.state in (JobState.SUCCEEDED, JobState.FAILED)
    assert len(harness.finished) == 1
    if machine.state is JobState.SUCCEEDED:
        for task in machine.tasks.values():
            succeeded = [a for a in task.attempts if a.state is AttemptState.SUCCEEDED]
            assert len(succeeded) == 1
            if task.key.kind == REDUCE:
                # The committed output is exactly that attempt's.
                assert committed[task.key] == {succeeded[0].attempt_id}
        assert machine.counters()["g"]["n"] == map_count + reduce_count
    if machine.state is JobState.FAILED:
        assert all(not a.active for a in machine.attempts.values())
        assert harness.requests == {}


def test_the_job_report_and_the_history_describe_a_job_the_same_way():
    from mapreduce.appmaster.history import job_summary, report_from_summary, summary_from_report

    harness = Harness()
    harness.start(map_hosts=[("core-1",)], reduces=1)
    harness.run_to_success(attempt(MAP, 0), counters={"g": {"n": 3}})
    summary = job_summary(harness.machine, "wordcount", "alice")
    assert summary["map_progress"] == 1.0 and summary["state"] == "RUNNING"
    assert [(a["attempt_id"], a["state"], a["node_id"]) for a in summary["attempts"]] == [
        (attempt(MAP, 0), "SUCCEEDED", "core-1"), (attempt(REDUCE, 0), "UNASSIGNED", "")]
    again = summary_from_report(report_from_summary(summary, include_attempts=True))
    assert again["counters"] == summary["counters"] == {"g": {"n": 3},
                                                        JOB_COUNTER_GROUP: {"TOTAL_LAUNCHED_MAPS": 1, "DATA_LOCAL_MAPS": 1}}
    assert [{k: v for k, v in a.items() if k != "task_id"} for a in summary["attempts"]] == again["attempts"]

"""The job state machine when nodes go away (spot interruptions, graceful decommission): by hand, no processes.

Lost and decommissioned nodes kill attempts, never fail them; finished map
output that went with a node runs again only while a reducer still has to
copy it; a job with one attempt per task survives any number of such losses.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mapreduce.appmaster.config import AppMasterConfig
from mapreduce.appmaster.job import JOB_COUNTER_GROUP
from mapreduce.appmaster.records import (
    MAP,
    REDUCE,
    AttemptStarted,
    AttemptState,
    AttemptStatus,
    AttemptSucceeded,
    CancelRequest,
    CommitRequested,
    ContainerCompleted,
    EndCause,
    FetchFailed,
    JobState,
    KillJob,
    NodesDecommissioning,
    NodesLost,
    NodesRecommissioned,
    StepCommitted,
    StopContainer,
)
from mapreduce.task.umbilical import MapCompletionStatus
from mapreduce.appmaster.tasks import AttemptPhase
from test_appmaster_job import Harness, attempt

ONE_ATTEMPT = AppMasterConfig(map_attempts_max=1, reduce_attempts_max=1, reduce_slowstart_completed_maps=1.0,
                              killed_attempts_max=2)


def running(harness: Harness, attempt_id: str, node_id: str, progress: float = 0.1) -> None:
    harness.allocate(attempt_id, node_id)
    harness.send(AttemptStarted(attempt_id))
    harness.send(AttemptStatus(attempt_id, progress, "working"))


def finish(harness: Harness, attempt_id: str) -> None:
    harness.send(CommitRequested(attempt_id))
    harness.send(harness_succeeded(attempt_id))


def harness_succeeded(attempt_id: str) -> AttemptSucceeded:
    return AttemptSucceeded(attempt_id, {"g": {"n": 1}})


def counters(harness: Harness) -> dict:
    return harness.machine.counters().get(JOB_COUNTER_GROUP, {})


def test_a_decommissioning_node_gives_up_its_running_maps_at_once_and_keeps_its_reducers():
    harness = Harness(AppMasterConfig(map_attempts_max=1, reduce_slowstart_completed_maps=0.0))
    harness.start(map_hosts=[("core-1",), ("core-1",)], reduces=1)
    running(harness, attempt(MAP, 0), "task-1")
    running(harness, attempt(MAP, 1), "core-1")
    running(harness, attempt(REDUCE, 0), "task-1")
    commands = harness.send(NodesDecommissioning(("task-1",)))
    moved = harness.machine.attempts[attempt(MAP, 0)]
    assert moved.state is AttemptState.KILLED and moved.end_cause is EndCause.NODE_DECOMMISSIONING
    assert moved.end_phase is AttemptPhase.MAP
    assert StopContainer(harness.launched[attempt(MAP, 0)], attempt(MAP, 0)) in commands
    assert attempt(MAP, 0, 1) in harness.pending(MAP)  # asked for again, not waiting for the kill
    assert "was killed (NODE_DECOMMISSIONING on task-1, in map)" in harness.machine.attempts[attempt(MAP, 0, 1)].cause
    assert harness.machine.attempts[attempt(REDUCE, 0)].state is AttemptState.RUNNING  # may finish in time
    assert harness.machine.attempts[attempt(MAP, 1)].state is AttemptState.RUNNING
    assert harness.machine.state is JobState.RUNNING
    assert counters(harness)["NUM_KILLED_MAPS"] == 1 and counters(harness)["NUM_PREEMPTED_ATTEMPTS"] == 1
    harness.send(NodesDecommissioning(("task-1",)))  # told again: nothing more happens
    assert counters(harness)["NUM_KILLED_MAPS"] == 1


def test_output_on_a_decommissioning_node_runs_again_at_the_first_fetch_failure_as_killed():
    harness = Harness(ONE_ATTEMPT)
    harness.start(map_hosts=[("core-1",), ("core-1",)], reduces=1)
    harness.run_to_success(attempt(MAP, 0), node_id="task-1")
    harness.run_to_success(attempt(MAP, 1), node_id="core-1")
    running(harness, attempt(REDUCE, 0), "core-2")
    harness.send(NodesDecommissioning(("task-1",)))
    assert harness.machine.attempts[attempt(MAP, 0)].state is AttemptState.SUCCEEDED  # still served until it goes
    harness.send(FetchFailed(attempt(REDUCE, 0), attempt(MAP, 0), node_unreachable=True))
    gone = harness.machine.attempts[attempt(MAP, 0)]
    assert gone.state is AttemptState.KILLED and gone.end_cause is EndCause.NODE_DECOMMISSIONING
    assert gone.end_phase is AttemptPhase.MAP_OUTPUT
    # The reducer hears that the output is gone, then where its re-run is.
    harness.run_to_success(attempt(MAP, 0, 1), node_id="core-2")
    events = [(event.attempt_id, event.status) for event in harness.machine.map_completion_events(0, 0, 10)]
    assert events[-2:] == [(attempt(MAP, 0), MapCompletionStatus.OBSOLETE),
                           (attempt(MAP, 0, 1), MapCompletionStatus.SUCCEEDED)]
    finish(harness, attempt(REDUCE, 0))
    harness.send(StepCommitted(0))
    assert harness.machine.state is JobState.SUCCEEDED
    assert counters(harness)["NUM_MAPS_RERUN_OUTPUT_LOST"] == 1 and "NUM_FAILED_MAPS" not in counters(harness)


def test_lost_output_runs_again_only_when_a_reducer_still_has_to_copy_it():
    harness = Harness(ONE_ATTEMPT)
    harness.start(map_hosts=[("core-1",), ("core-1",)], reduces=2)
    harness.run_to_success(attempt(MAP, 0), node_id="task-1")
    harness.run_to_success(attempt(MAP, 1), node_id="core-1")
    running(harness, attempt(REDUCE, 0), "core-2", progress=0.5)  # past the copy phase: has all it needs
    running(harness, attempt(REDUCE, 1), "task-2", progress=0.7)
    harness.send(NodesLost(("task-1",)))
    kept = harness.machine.attempts[attempt(MAP, 0)]
    assert kept.state is AttemptState.SUCCEEDED and kept.output_lost
    assert harness.pending(MAP) == [] and "NUM_MAPS_RERUN_OUTPUT_LOST" not in counters(harness)
    # A reducer lost with its node starts again from its copy: now the map must run again.
    harness.send(NodesLost(("task-2",)))
    lost_reduce = harness.machine.attempts[attempt(REDUCE, 1)]
    assert lost_reduce.state is AttemptState.KILLED and lost_reduce.end_phase is AttemptPhase.REDUCE
    assert harness.machine.attempts[attempt(MAP, 0)].state is AttemptState.KILLED
    assert harness.pending(MAP) == [attempt(MAP, 0, 1)]
    assert harness.machine.attempts[attempt(MAP, 0, 1)].cause.startswith(f"map output of {attempt(MAP, 0)} lost")
    harness.run_to_success(attempt(MAP, 0, 1), node_id="core-1")
    finish(harness, attempt(REDUCE, 0))
    harness.run_to_success(attempt(REDUCE, 1, 1), node_id="core-2")
    harness.send(StepCommitted(0))
    assert harness.machine.state is JobState.SUCCEEDED
    assert counters(harness)["NUM_MAPS_RERUN_OUTPUT_LOST"] == 1
    assert counters(harness)["NUM_KILLED_REDUCES"] == 1 and "NUM_FAILED_REDUCES" not in counters(harness)


def test_lost_output_needed_by_a_reducer_still_copying_runs_again_at_once():
    harness = Harness(ONE_ATTEMPT)
    harness.start(map_hosts=[("core-1",)], reduces=1)
    harness.run_to_success(attempt(MAP, 0), node_id="task-1")
    running(harness, attempt(REDUCE, 0), "core-2", progress=0.1)
    harness.send(NodesLost(("task-1",)))
    assert harness.machine.attempts[attempt(MAP, 0)].end_cause is EndCause.NODE_LOST
    assert harness.pending(MAP) == [attempt(MAP, 0, 1)]


def test_any_number_of_node_losses_never_use_up_attempts_or_the_killed_attempts_cap():
    harness = Harness(ONE_ATTEMPT)  # killed_attempts_max=2: only kills that are not preemptions count
    harness.start(map_hosts=[("core-1",)], reduces=1)
    for number in range(6):
        running(harness, attempt(MAP, 0, number), f"task-{number}")
        harness.send(NodesDecommissioning((f"task-{number}",)) if number % 2 else NodesLost((f"task-{number}",)))
    assert harness.machine.state is JobState.RUNNING
    harness.run_to_success(attempt(MAP, 0, 6), node_id="core-1")
    for number in range(4):
        running(harness, attempt(REDUCE, 0, number), f"spot-{number}")
        container = harness.launched[attempt(REDUCE, 0, number)]
        harness.send(ContainerCompleted(container, -100, "Container released on a *lost* node", lost=True))
    harness.run_to_success(attempt(REDUCE, 0, 4), node_id="core-2")
    harness.send(StepCommitted(0))
    assert harness.machine.state is JobState.SUCCEEDED
    assert counters(harness)["NUM_PREEMPTED_ATTEMPTS"] == 10
    assert counters(harness)["NUM_KILLED_MAPS"] == 6 and counters(harness)["NUM_KILLED_REDUCES"] == 4


def test_fetch_failures_from_an_unreachable_node_run_the_map_again_as_killed():
    harness = Harness(ONE_ATTEMPT)
    harness.start(map_hosts=[("core-1",)], reduces=1)
    harness.run_to_success(attempt(MAP, 0), node_id="task-1")
    running(harness, attempt(REDUCE, 0), "core-2")
    for _ in range(3):  # mapreduce.reduce.shuffle.notify.readerror.max: the node died without notice
        harness.send(FetchFailed(attempt(REDUCE, 0), attempt(MAP, 0), node_unreachable=True))
    gone = harness.machine.attempts[attempt(MAP, 0)]
    assert gone.state is AttemptState.KILLED and gone.end_cause is EndCause.NODE_UNREACHABLE
    assert harness.machine.state is JobState.RUNNING and harness.pending(MAP) == [attempt(MAP, 0, 1)]


def test_fetch_failures_from_a_live_node_still_fail_the_map():
    harness = Harness(ONE_ATTEMPT)
    harness.start(map_hosts=[("core-1",)], reduces=1)
    harness.run_to_success(attempt(MAP, 0), node_id="core-1")
    running(harness, attempt(REDUCE, 0), "core-2")
    harness.send(NodesDecommissioning(("core-1",)))
    harness.send(NodesRecommissioned(("core-1",)))  # no longer about to vanish
    harness.send(FetchFailed(attempt(REDUCE, 0), attempt(MAP, 0), node_unreachable=True))
    for _ in range(2):
        harness.send(FetchFailed(attempt(REDUCE, 0), attempt(MAP, 0)))  # the output itself is bad
    assert harness.machine.attempts[attempt(MAP, 0)].end_cause is EndCause.FETCH_FAILURES
    assert harness.machine.state is JobState.FAILED  # maxattempts=1: a real failure still counts


def test_a_killed_attempts_request_is_cancelled_by_its_id():
    harness = Harness(ONE_ATTEMPT)
    harness.start(map_hosts=[("core-1",)], reduces=1)
    request_id = harness.machine.requests.request_of(attempt(MAP, 0))
    commands = harness.send(KillJob())
    assert CancelRequest(attempt(MAP, 0), request_id) in commands and harness.asked == {}


# ---------------------------------------------------------------- random node losses

NODE_FAULTS = ("lose_node", "decommission", "lose_container", "unreachable")
NODES = ("core-1", "task-1", "task-2")


@settings(max_examples=120, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(("allocate", "allocate", "start", "finish", "finish", "copy")
                                          + NODE_FAULTS), st.integers(0, 50), st.sampled_from(NODES)),
                max_size=100),
       st.integers(1, 3), st.integers(1, 2))
def test_with_one_attempt_per_task_a_job_survives_any_node_losses(actions, map_count, reduce_count):
    """maxattempts=1 everywhere, nodes lost or decommissioned at any moment: the job never fails."""
    config = AppMasterConfig(map_attempts_max=1, reduce_attempts_max=1, reduce_slowstart_completed_maps=0.5,
                             task_timeout_s=0, fetch_failures_max=1)
    harness = Harness(config)
    harness.start(map_hosts=[("core-1",)] * map_count, reduces=reduce_count)
    machine = harness.machine
    for action, number, node_id in actions:
        live = sorted(a.attempt_id for a in machine.attempts.values() if a.active and a.container_id)
        chosen = live[number % len(live)] if live else None
        match action:
            case "allocate" if harness.requests:
                pending = sorted(harness.requests)
                harness.allocate(pending[number % len(pending)], node_id)
            case "start" if chosen:
                harness.send(AttemptStarted(chosen))
            case "copy" if chosen:
                harness.send(AttemptStatus(chosen, 0.5, "reduce > sort"))
            case "finish" if chosen:
                harness.send(AttemptStarted(chosen))
                harness.send(CommitRequested(chosen))
                if machine.commit_granted(chosen):
                    harness.send(harness_succeeded(chosen))
            case "lose_node":
                harness.send(NodesLost((node_id,)))
            case "decommission":
                harness.send(NodesDecommissioning((node_id,)))
            case "lose_container" if chosen:
                harness.send(ContainerCompleted(harness.launched[chosen], -100, lost=True))
            case "unreachable" if chosen:
                maps = sorted(a.attempt_id for a in machine.attempts.values()
                              if a.key.kind == MAP and a.state is AttemptState.SUCCEEDED
                              and a.node_id in machine.decommissioning_nodes)
                if maps:
                    harness.send(FetchFailed(chosen, maps[number % len(maps)], node_unreachable=True))
        assert machine.state is not JobState.FAILED, machine.diagnostics
    # The faults stop; the core node stays: the job finishes.
    for _ in range(4 * (map_count + reduce_count) + 4):
        for _ in range(len(harness.requests)):
            if harness.requests:
                harness.allocate(sorted(harness.requests)[0], "core-1")
        for live in sorted(a.attempt_id for a in machine.attempts.values() if a.active and a.container_id):
            harness.send(AttemptStarted(live))
            harness.send(CommitRequested(live))
            if machine.commit_granted(live):
                harness.send(harness_succeeded(live))
        if machine.state is JobState.COMMITTING:
            harness.send(StepCommitted(0))
    assert machine.state is JobState.SUCCEEDED, machine.diagnostics
    assert "NUM_FAILED_MAPS" not in counters(harness) and "NUM_FAILED_REDUCES" not in counters(harness)


def test_the_history_shows_each_preemption_and_each_rerun_with_its_cause(capsys):
    from mapreduce.appmaster.history import job_summary, preemptions, reruns, report_from_summary, summary_from_report
    from mapreduce.commands.jobstatus import _print_preemptions_and_reruns

    harness = Harness(AppMasterConfig(map_attempts_max=1, reduce_attempts_max=1, reduce_slowstart_completed_maps=0))
    harness.start(map_hosts=[("core-1",), ("core-1",)], reduces=1)
    harness.run_to_success(attempt(MAP, 0), node_id="task-1")
    running(harness, attempt(MAP, 1), "task-2")
    harness.send(NodesDecommissioning(("task-2",)))
    running(harness, attempt(REDUCE, 0), "core-2")
    harness.send(NodesLost(("task-1",)))
    summary = job_summary(harness.machine, "wordcount", "alice")
    assert summary_from_report(report_from_summary(summary, include_attempts=True))["attempts"] == [
        {key: value for key, value in item.items() if key != "task_id"} for item in summary["attempts"]]
    assert [(a["attempt_id"], a["node_id"], a["end_phase"], a["end_cause"]) for a in preemptions(summary)] == [
        (attempt(MAP, 0), "task-1", "map output", "NODE_LOST"),
        (attempt(MAP, 1), "task-2", "map", "NODE_DECOMMISSIONING")]
    assert {a["attempt_id"] for a in reruns(summary)} == {attempt(MAP, 0, 1), attempt(MAP, 1, 1)}
    _print_preemptions_and_reruns(summary)
    printed = capsys.readouterr().out
    assert "Preemptions (2)" in printed and "Re-runs (2)" in printed
    assert f"map output of {attempt(MAP, 0)} lost (NODE_LOST on task-1)" in printed
    assert counters(harness)["NUM_MAPS_RERUN_OUTPUT_LOST"] == 1


def test_a_fetch_failure_for_output_kept_as_lost_runs_the_map_again_as_node_lost():
    harness = Harness(ONE_ATTEMPT)
    harness.start(map_hosts=[("core-1",)], reduces=1)
    harness.run_to_success(attempt(MAP, 0), node_id="task-1")
    running(harness, attempt(REDUCE, 0), "core-2", progress=0.5)
    harness.send(NodesLost(("task-1",)))
    assert harness.machine.attempts[attempt(MAP, 0)].output_lost
    harness.send(FetchFailed(attempt(REDUCE, 0), attempt(MAP, 0), node_unreachable=True))
    gone = harness.machine.attempts[attempt(MAP, 0)]
    assert (gone.state, gone.end_cause) == (AttemptState.KILLED, EndCause.NODE_LOST)
    assert harness.pending(MAP) == [attempt(MAP, 0, 1)]


def test_the_am_client_keeps_the_allocation_request_ids_its_caller_chose():
    from emrlab_common.errors import FailedPrecondition
    from yarn.amclient import AMRMClient, ContainerRequest
    from yarn.records import Resource

    client = AMRMClient("127.0.0.1:1", "appattempt_1700000000000_0001_000001", user="alice")
    try:
        assert client.add_request(ContainerRequest(Resource(256, 1), allocation_request_id=7)).allocation_request_id == 7
        assert client.add_request(ContainerRequest(Resource(256, 1))).allocation_request_id == 1  # chosen for it
        with pytest.raises(FailedPrecondition, match="already pending"):
            client.add_request(ContainerRequest(Resource(256, 1), allocation_request_id=7))
    finally:
        client.close()

"""Reducer preemption in the job state machine (Hadoop's preemptReducesIfNeeded): by hand, a fake clock.

Reducers that hold every container while maps still have to run would wait
for those maps for good; the AM kills reducers (KILLED, REDUCER_PREEMPTED,
using up no attempt) so that the maps get containers, holds the reducers
back until every map has one, then asks for them again.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mapreduce.appmaster.config import AppMasterConfig
from mapreduce.appmaster.history import job_summary, reruns
from mapreduce.appmaster.records import (
    MAP,
    REDUCE,
    AttemptStarted,
    AttemptState,
    AttemptStatus,
    CancelRequest,
    CommitRequested,
    EndCause,
    JobState,
    NodesLost,
    StepCommitted,
    StopContainer,
    TaskState,
    Tick,
)
from mapreduce.appmaster.tasks import AttemptPhase
from test_appmaster_job import Harness, attempt
from test_appmaster_preemption import counters, finish, harness_succeeded, running

SLOW_START_0 = AppMasterConfig(reduce_slowstart_completed_maps=0.0, reduce_attempts_max=1, task_timeout_s=0)


def tick(harness: Harness, now_s: float, headroom_maps: int = 0) -> list:
    harness.now_s = now_s
    return harness.send(Tick(headroom_maps))


def reducers_hold_the_only_containers(config: AppMasterConfig = SLOW_START_0, maps: int = 1) -> Harness:
    """Slow start 0: both reducers asked for with the maps, at a higher priority; YARN gives them the room."""
    harness = Harness(config)
    harness.start(map_hosts=[("core-1",)] * maps, reduces=2)
    assert harness.pending(REDUCE) == [attempt(REDUCE, 0), attempt(REDUCE, 1)]
    running(harness, attempt(REDUCE, 0), "core-1")
    harness.now_s = 0.5
    running(harness, attempt(REDUCE, 1), "core-2")
    return harness


def test_a_map_without_headroom_gets_a_reducers_container_after_the_delay_and_the_reducer_comes_back():
    harness = reducers_hold_the_only_containers()
    assert tick(harness, 2.9) == []  # mapreduce.job.reducer.preempt.delay.sec: 3 s
    assert tick(harness, 5.0, headroom_maps=1) == []  # room for the map: YARN will give it
    commands = tick(harness, 5.0)
    preempted = harness.machine.attempts[attempt(REDUCE, 1)]  # the one started last
    assert (preempted.state, preempted.end_cause, preempted.end_phase) == (
        AttemptState.KILLED, EndCause.REDUCER_PREEMPTED, AttemptPhase.SHUFFLE)
    assert f"to make room for {attempt(MAP, 0)}, which waited 5 s" in preempted.diagnostics
    assert StopContainer(harness.launched[attempt(REDUCE, 1)], attempt(REDUCE, 1)) in commands
    assert harness.machine.attempts[attempt(REDUCE, 0)].state is AttemptState.RUNNING  # one per waiting map
    again = harness.machine.attempts[attempt(REDUCE, 1, 1)]
    assert again.state is AttemptState.UNASSIGNED and again.held
    assert harness.pending(REDUCE) == []  # held back: not asked for while the map waits
    assert tick(harness, 6.0) == []  # the same map: another reducer only after another delay
    harness.allocate(attempt(MAP, 0), "core-2")
    tick(harness, 6.5)
    assert harness.pending(REDUCE) == [attempt(REDUCE, 1, 1)] and not again.held
    task = harness.machine.tasks[again.key]
    assert task.failed_attempts == task.killed_attempts == 0  # no attempt used up (reduce maxattempts is 1)
    assert counters(harness)["NUM_REDUCES_PREEMPTED"] == 1 and counters(harness)["NUM_PREEMPTED_ATTEMPTS"] == 1
    assert {a["attempt_id"]: a["cause"] for a in reruns(job_summary(harness.machine, "wordcount", "alice"))} == {
        attempt(REDUCE, 1, 1): f"after {attempt(REDUCE, 1)} was killed (REDUCER_PREEMPTED on core-2, in shuffle)"}
    harness.send(AttemptStarted(attempt(MAP, 0)))
    finish(harness, attempt(MAP, 0))
    finish(harness, attempt(REDUCE, 0))
    harness.run_to_success(attempt(REDUCE, 1, 1))
    harness.send(StepCommitted(0))
    assert harness.machine.state is JobState.SUCCEEDED


def test_reducers_still_waiting_give_up_their_requests_too():
    harness = Harness(SLOW_START_0)
    harness.start(map_hosts=[("core-1",)], reduces=2)
    running(harness, attempt(REDUCE, 0), "core-1")
    commands = tick(harness, 4.0)
    assert harness.machine.attempts[attempt(REDUCE, 0)].end_cause is EndCause.REDUCER_PREEMPTED
    waiting = harness.machine.attempts[attempt(REDUCE, 1)]
    assert waiting.state is AttemptState.UNASSIGNED and waiting.held  # the same attempt, its request withdrawn
    assert any(isinstance(c, CancelRequest) and c.attempt_id == attempt(REDUCE, 1) for c in commands)
    assert harness.pending(REDUCE) == [] and harness.pending(MAP) == [attempt(MAP, 0)]


def test_a_running_map_will_free_a_container_so_only_the_unconditional_delay_preempts():
    harness = reducers_hold_the_only_containers(maps=2)
    running(harness, attempt(MAP, 0), "core-3")
    assert tick(harness, 59.0) == []  # no headroom, but a map runs: it will give its container back
    tick(harness, 60.5)  # mapreduce.job.reducer.unconditional-preempt.delay.sec: 60 s
    preempted = harness.machine.attempts[attempt(REDUCE, 1)]
    assert preempted.end_cause is EndCause.REDUCER_PREEMPTED
    assert "unconditional-preempt.delay.sec" in preempted.diagnostics
    disabled = reducers_hold_the_only_containers(
        AppMasterConfig(reduce_slowstart_completed_maps=0.0, reducer_unconditional_preempt_delay_s=-1, task_timeout_s=0),
        maps=2)
    running(disabled, attempt(MAP, 0), "core-3")
    assert tick(disabled, 1000.0) == []


def test_the_reducer_preempted_is_the_latest_still_copying_else_the_latest():
    harness = reducers_hold_the_only_containers()
    harness.send(AttemptStatus(attempt(REDUCE, 1), 0.5, "reduce > sort"))  # past its copy: loses more
    tick(harness, 4.0)
    assert harness.machine.attempts[attempt(REDUCE, 0)].end_cause is EndCause.REDUCER_PREEMPTED
    assert harness.machine.attempts[attempt(REDUCE, 1)].state is AttemptState.RUNNING
    both = reducers_hold_the_only_containers()
    for index in (0, 1):
        both.send(AttemptStatus(attempt(REDUCE, index), 0.5, "reduce > sort"))
    tick(both, 4.0)
    assert both.machine.attempts[attempt(REDUCE, 1)].end_cause is EndCause.REDUCER_PREEMPTED


def test_lost_maps_that_cannot_run_preempt_a_reducer_per_map_and_never_use_up_attempts():
    """The hang seen: a resize lost a node; the AM's reducers held every container; its maps waited."""
    config = AppMasterConfig(map_attempts_max=1, reduce_attempts_max=1, reduce_slowstart_completed_maps=0.5,
                             killed_attempts_max=1, task_timeout_s=0)
    harness = Harness(config)
    harness.start(map_hosts=[("core-1",), ("core-1",)], reduces=2)
    harness.run_to_success(attempt(MAP, 0), "core-3")
    harness.run_to_success(attempt(MAP, 1), "core-3")
    running(harness, attempt(REDUCE, 0), "core-1")
    running(harness, attempt(REDUCE, 1), "core-2")
    for round_index in range(3):  # any number of times
        harness.now_s += 1
        harness.send(NodesLost(("core-3",)))
        assert len(harness.pending(MAP)) == 2
        tick(harness, harness.now_s + 3.5)
        assert harness.pending(REDUCE) == []
        for waiting in harness.pending(MAP):
            harness.run_to_success(waiting, "core-3")
        tick(harness, harness.now_s + 0.1)
        assert len(harness.pending(REDUCE)) == 2
        for waiting in harness.pending(REDUCE):
            running(harness, waiting, "core-2")
    assert counters(harness)["NUM_REDUCES_PREEMPTED"] == 6
    assert harness.machine.state is JobState.RUNNING
    for live in [a.attempt_id for a in harness.machine.attempts.values() if a.active and a.key.kind == REDUCE]:
        finish(harness, live)
    harness.send(StepCommitted(0))
    assert harness.machine.state is JobState.SUCCEEDED


def run_on_slots(harness: Harness, slots: int) -> None:
    """Pretend YARN with `slots` containers: the highest priority (lowest number), oldest request first."""
    machine = harness.machine
    while harness.requests and sum(1 for a in machine.attempts.values() if a.active and a.container_id) < slots:
        requests = harness.requests
        harness.allocate(min(requests, key=lambda a: (requests[a].priority, requests[a].request_id)), "core-1")


def free_slots(harness: Harness, slots: int) -> int:
    return slots - sum(1 for a in harness.machine.attempts.values() if a.active and a.container_id)


def work(harness: Harness, attempt_id: str) -> None:
    """A map finishes; a reducer copies, and can finish only once every map is done (it needs their output)."""
    machine = harness.machine
    harness.send(AttemptStarted(attempt_id))
    if machine.attempts[attempt_id].key.kind == REDUCE:
        harness.send(AttemptStatus(attempt_id, 0.2, "reduce > copy"))
        if any(task.state is not TaskState.SUCCEEDED for task in machine.step_tasks(MAP)):
            return
    harness.send(CommitRequested(attempt_id))
    if machine.commit_granted(attempt_id):
        harness.send(AttemptStatus(attempt_id, 1.0, "done"))
        harness.send(harness_succeeded(attempt_id))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(("allocate", "work", "work", "tick", "tick", "lose_node")),
                          st.integers(0, 50), st.floats(0, 8)), max_size=60),
       st.integers(1, 3), st.integers(1, 4), st.integers(1, 3), st.sampled_from((0.0, 0.5, 1.0)))
def test_on_few_containers_a_job_whose_reducers_wait_for_maps_always_finishes(actions, slots, map_count,
                                                                               reduce_count, slowstart):
    """However the containers went, reducers never hold them for good: with a tick now and then, it ends."""
    config = AppMasterConfig(map_attempts_max=1, reduce_attempts_max=1, reduce_slowstart_completed_maps=slowstart,
                             task_timeout_s=0)
    harness = Harness(config)
    harness.start(map_hosts=[("core-1",)] * map_count, reduces=reduce_count)
    machine = harness.machine
    for action, number, seconds in actions:
        live = sorted(a.attempt_id for a in machine.attempts.values() if a.active and a.container_id)
        match action:
            case "allocate":
                run_on_slots(harness, slots)
            case "work" if live:
                work(harness, live[number % len(live)])
            case "tick":
                tick(harness, harness.now_s + seconds, max(free_slots(harness, slots), 0))
            case "lose_node":  # its containers are gone; a new node of the same size replaces it
                harness.send(NodesLost(("core-1",)))
        assert machine.state is not JobState.FAILED, machine.diagnostics
    for _ in range(40 * (map_count + reduce_count)):
        run_on_slots(harness, slots)
        for live in sorted(a.attempt_id for a in machine.attempts.values() if a.active and a.container_id):
            work(harness, live)
        if machine.state is JobState.COMMITTING:
            harness.send(StepCommitted(0))
        if machine.state is JobState.SUCCEEDED:
            break
        tick(harness, harness.now_s + 1.0, max(free_slots(harness, slots), 0))
    assert machine.state is JobState.SUCCEEDED, machine.diagnostics
    assert "NUM_FAILED_MAPS" not in counters(harness) and "NUM_FAILED_REDUCES" not in counters(harness)

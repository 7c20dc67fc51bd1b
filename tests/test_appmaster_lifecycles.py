"""The AM's lifecycle tables (records.py): every state reachable, final states final, bad moves loud;
how attempts end when their job does."""

from __future__ import annotations

import pytest

from emrlab_common.lifecycle import InvalidTransition
from mapreduce.appmaster.config import AppMasterConfig
from mapreduce.appmaster.job import JOB_COUNTER_GROUP, JobStateMachine
from mapreduce.appmaster.records import (
    ATTEMPT_TRANSITIONS,
    JOB_TRANSITIONS,
    TASK_TRANSITIONS,
    AttemptEventType,
    AttemptFailed,
    AttemptState,
    ContainerAllocated,
    JobState,
    RequestContainer,
    StartJob,
    StepPlanned,
    TaskState,
)

TABLES = [
    (ATTEMPT_TRANSITIONS, AttemptState, {AttemptState.FAILED, AttemptState.KILLED}),
    (TASK_TRANSITIONS, TaskState, {TaskState.FAILED, TaskState.KILLED}),
    (JOB_TRANSITIONS, JobState, {JobState.SUCCEEDED, JobState.FAILED, JobState.KILLED}),
]


@pytest.mark.parametrize("table, states, finals", TABLES)
def test_every_state_is_reachable_from_new_and_final_states_have_no_way_out(table, states, finals):
    reachable, frontier = {states.NEW}, [states.NEW]
    while frontier:
        state = frontier.pop()
        for (source, _), target in table.items():
            if source is state and target not in reachable:
                reachable.add(target)
                frontier.append(target)
    assert reachable == set(states)
    assert not [source for source, _ in table if source in finals]


def test_a_move_the_table_lacks_fails_loudly():
    machine = JobStateMachine("job_1700000000000_0001", 1, AppMasterConfig())
    machine.handle(StartJob(), 0.0)
    machine.handle(StepPlanned(0, (("core-1",),), 0), 0.0)
    (attempt,) = machine.attempts.values()
    assert attempt.state is AttemptState.UNASSIGNED
    with pytest.raises(InvalidTransition, match="DONE in state UNASSIGNED"):
        machine._move_attempt(attempt, AttemptEventType.DONE, "a container it never had")
    machine.validate_state()


def test_a_failing_job_kills_its_launched_attempts_and_counts_them_killed_not_failed():
    machine = JobStateMachine("job_1700000000000_0001", 1, AppMasterConfig(map_attempts_max=1))
    machine.handle(StartJob(), 0.0)
    commands = machine.handle(StepPlanned(0, (("core-1",), ("core-1",), ("core-1",)), 1), 0.0)
    first, second, _ = [command for command in commands if isinstance(command, RequestContainer)]
    for number, request in enumerate((first, second)):
        machine.handle(ContainerAllocated(f"c{number}", "core-1", "core-1:9", request.priority, request.request_id),
                       1.0)
    machine.handle(AttemptFailed(first.attempt_id, "boom"), 2.0)
    assert machine.state is JobState.FAILED
    counters = machine.counters()[JOB_COUNTER_GROUP]
    # The second map was launched: killed. The third never had a container: not counted (as in Hadoop).
    assert (counters["NUM_FAILED_MAPS"], counters["NUM_KILLED_MAPS"]) == (1, 1)
    assert [attempt.state for attempt in machine.attempts.values()] == [
        AttemptState.FAILED, AttemptState.KILLED, AttemptState.KILLED]
    machine.validate_state()

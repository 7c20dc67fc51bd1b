"""The AM's lifecycle tables (records.py): every state reachable, final states final, bad moves loud."""

from __future__ import annotations

import pytest

from emrlab_common.lifecycle import InvalidTransition
from mapreduce.appmaster.config import AppMasterConfig
from mapreduce.appmaster.job import JobStateMachine
from mapreduce.appmaster.records import (
    ATTEMPT_TRANSITIONS,
    JOB_TRANSITIONS,
    TASK_TRANSITIONS,
    AttemptEventType,
    AttemptState,
    JobState,
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

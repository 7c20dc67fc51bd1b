"""The reducer's shuffle scheduler, alone: no network, the time passed by hand."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mapreduce.task.reduce.scheduler import (
    CopyFailed,
    CopySucceeded,
    Done,
    FetchFrom,
    GiveUp,
    MapCompletion,
    MapOutputLocation,
    ReportFetchFailure,
    ShuffleConfig,
    ShuffleScheduler,
    Tick,
)
from mapreduce.task.umbilical import MapCompletionStatus

CONFIG = ShuffleConfig(parallel_copies=3, retry_interval_s=1.0, retry_interval_max_s=4.0, failures_max=5)


def scheduler_with(outputs: dict[int, str], config: ShuffleConfig = CONFIG) -> ShuffleScheduler:
    scheduler = ShuffleScheduler(len(outputs), config)
    for map_index, host in outputs.items():
        scheduler.handle(MapCompletion(map_index, f"m{map_index}_0", MapCompletionStatus.SUCCEEDED, host), 0.0)
    return scheduler


def copies(scheduler: ShuffleScheduler, now_s: float) -> list[MapOutputLocation]:
    """The copies a Tick starts now, as its FetchFrom commands list them (a Tick says Done once all are copied)."""
    commands = scheduler.handle(Tick(), now_s)
    assert commands == [Done()] if scheduler.done else all(isinstance(command, FetchFrom) for command in commands)
    commands = [command for command in commands if isinstance(command, FetchFrom)]
    assert all(location.address == command.host for command in commands for location in command.maps)
    return [location for command in commands for location in command.maps]


def test_copies_go_up_to_parallelcopies_taking_hosts_in_turn():
    scheduler = scheduler_with({0: "a:1", 1: "a:1", 2: "a:1", 3: "b:1", 4: "c:1"})
    first = copies(scheduler, 0.0)
    assert sorted(location.address for location in first) == ["a:1", "b:1", "c:1"]  # not three from a
    assert copies(scheduler, 0.0) == []  # every copier busy
    for location in first:
        scheduler.handle(CopySucceeded(location), 0.0)
    assert [location.map_index for location in copies(scheduler, 0.0)] == [1, 2]
    scheduler.validate_state()


def test_a_failing_host_is_penalized_with_a_doubling_backoff_and_others_go_on():
    scheduler = scheduler_with({0: "dead:1", 1: "live:1"})
    by_address = {location.address: location for location in copies(scheduler, 10.0)}
    assert scheduler.handle(CopyFailed(by_address["dead:1"], "refused", True), 10.0) == [
        ReportFetchFailure("m0_0", "refused", True)]
    scheduler.handle(CopySucceeded(by_address["live:1"]), 10.0)
    assert copies(scheduler, 10.5) == [] and scheduler.wait_s(10.5) == pytest.approx(0.5)
    for now_s, backoff_s in ((11.0, 2.0), (13.0, 4.0), (17.0, 4.0)):  # 1, 2, 4, then the 4 s limit
        (again,) = copies(scheduler, now_s)
        scheduler.handle(CopyFailed(again), now_s)
        assert copies(scheduler, now_s + backoff_s - 0.01) == []
        assert scheduler.wait_s(now_s) == pytest.approx(backoff_s)
    assert scheduler.attempt_failures("m0_0") == scheduler.failures_total == 4
    scheduler.validate_state()


def test_a_success_ends_the_hosts_penalty():
    scheduler = scheduler_with({0: "a:1", 1: "a:1"}, ShuffleConfig(parallel_copies=1, failures_max=9))
    (first,) = copies(scheduler, 0.0)
    scheduler.handle(CopyFailed(first), 0.0)
    (retry,) = copies(scheduler, 5.0)
    scheduler.handle(CopySucceeded(retry), 0.0)
    assert len(copies(scheduler, 5.0)) == 1 and scheduler.wait_s(5.0) is None


def test_failures_of_an_output_declared_obsolete_are_forgiven_and_its_rerun_copied():
    scheduler = scheduler_with({0: "lost:1", 1: "b:1"})
    for now_s in (0.0, 1.0, 3.0, 7.0):
        for location in copies(scheduler, now_s):
            if location.address == "lost:1":
                scheduler.handle(CopyFailed(location), now_s)
            else:
                scheduler.handle(CopySucceeded(location), now_s)
    assert scheduler.failures_total == 4
    scheduler.handle(MapCompletion(0, "m0_0", MapCompletionStatus.OBSOLETE, "lost:1"), 0.0)
    assert scheduler.failures_total == 0 and copies(scheduler, 100.0) == []
    scheduler.handle(MapCompletion(0, "m0_1", MapCompletionStatus.SUCCEEDED, "c:1"), 0.0)
    (rerun,) = copies(scheduler, 100.0)
    assert rerun == MapOutputLocation(0, "m0_1", "c:1")
    assert scheduler.handle(CopySucceeded(rerun), 100.0) == [Done()]
    assert scheduler.done and scheduler.progress == 1.0
    assert scheduler.handle(MapCompletion(0, "m0_2", MapCompletionStatus.SUCCEEDED, "d:1"), 100.0) == []  # copied already
    assert copies(scheduler, 100.0) == []
    scheduler.validate_state()


def test_a_copy_in_flight_when_its_output_goes_obsolete_does_not_count_against_the_reducer():
    scheduler = scheduler_with({0: "lost:1"})
    (copy,) = copies(scheduler, 0.0)
    scheduler.handle(MapCompletion(0, "m0_0", MapCompletionStatus.OBSOLETE, "lost:1"), 0.0)
    scheduler.handle(CopyFailed(copy), 0.0)
    assert scheduler.failures_total == 0
    scheduler.validate_state()


def test_the_reducer_gives_up_after_failures_max():
    scheduler = scheduler_with({0: "dead:1"}, ShuffleConfig(failures_max=3, retry_interval_s=0.0))
    for _ in range(2):
        (copy,) = copies(scheduler, 0.0)
        scheduler.handle(CopyFailed(copy), 0.0)
    (copy,) = copies(scheduler, 0.0)
    assert scheduler.handle(CopyFailed(copy, "refused"), 0.0) == [
        ReportFetchFailure("m0_0", "refused", False), GiveUp("shuffle failed 3 times; last from dead:1 (m0_0)")]


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 6), st.lists(st.tuples(st.sampled_from(("copy", "succeed", "fail", "obsolete", "rerun", "wait")),
                                             st.integers(0, 20)), max_size=80))
def test_random_schedules_keep_the_books_and_finish_when_hosts_answer(map_count, actions):
    config = ShuffleConfig(parallel_copies=2, retry_interval_s=1.0, retry_interval_max_s=3.0, failures_max=10_000)
    scheduler = ShuffleScheduler(map_count, config)
    runs = {index: 0 for index in range(map_count)}
    for index in range(map_count):
        scheduler.handle(MapCompletion(index, f"m{index}_0", MapCompletionStatus.SUCCEEDED, f"h{index % 3}:1"), 0.0)
    in_flight: list[MapOutputLocation] = []
    now_s = 0.0
    for action, number in actions:
        match action:
            case "copy":
                in_flight += copies(scheduler, now_s)
            case "succeed" | "fail" if in_flight:
                location = in_flight.pop(number % len(in_flight))
                if action == "succeed":
                    scheduler.handle(CopySucceeded(location), now_s)
                else:
                    scheduler.handle(CopyFailed(location), now_s)
            case "obsolete" | "rerun":
                index = number % map_count
                if index not in scheduler.copied:
                    scheduler.handle(MapCompletion(index, f"m{index}_{runs[index]}", MapCompletionStatus.OBSOLETE, ""),
                                     now_s)
                    runs[index] += 1
                    if action == "rerun":
                        scheduler.handle(MapCompletion(index, f"m{index}_{runs[index]}", MapCompletionStatus.SUCCEEDED,
                                                       f"h{number % 3}:1"), now_s)
            case "wait":
                now_s += number / 4
        scheduler.validate_state()
        assert len(in_flight) <= config.parallel_copies
    # Every map's latest run is served and every host answers from now on: the shuffle completes.
    for location in in_flight:
        scheduler.handle(CopySucceeded(location), now_s)
    for index in range(map_count):
        scheduler.handle(MapCompletion(index, f"m{index}_{runs[index]}", MapCompletionStatus.SUCCEEDED, "h9:1"), 0.0)
    for _ in range(map_count + 1):
        now_s += 10
        for location in copies(scheduler, now_s):
            scheduler.handle(CopySucceeded(location), now_s)
    assert scheduler.done and len(scheduler.copied) == map_count
    assert scheduler.handle(Tick(), now_s) == [Done()]

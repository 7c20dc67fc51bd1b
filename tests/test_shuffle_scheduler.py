"""The reducer's shuffle scheduler, alone: no network, the time passed by hand."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mapreduce.appmaster.records import MapCompletionStatus
from mapreduce.shuffle.scheduler import MapOutputLocation, ShuffleConfig, ShuffleError, ShuffleScheduler

CONFIG = ShuffleConfig(parallel_copies=3, retry_interval_s=1.0, retry_interval_max_s=4.0, failures_max=5)


def scheduler_with(outputs: dict[int, str], config: ShuffleConfig = CONFIG) -> ShuffleScheduler:
    scheduler = ShuffleScheduler(len(outputs), config)
    for map_index, host in outputs.items():
        scheduler.on_event(map_index, f"m{map_index}_0", MapCompletionStatus.SUCCEEDED, host)
    return scheduler


def test_copies_go_up_to_parallelcopies_taking_hosts_in_turn():
    scheduler = scheduler_with({0: "a:1", 1: "a:1", 2: "a:1", 3: "b:1", 4: "c:1"})
    first = scheduler.next_copies(0.0)
    assert sorted(location.address for location in first) == ["a:1", "b:1", "c:1"]  # not three from a
    assert scheduler.next_copies(0.0) == []  # every copier busy
    for location in first:
        scheduler.copy_succeeded(location)
    assert [location.map_index for location in scheduler.next_copies(0.0)] == [1, 2]
    scheduler.validate_state()


def test_a_failing_host_is_penalized_with_a_doubling_backoff_and_others_go_on():
    scheduler = scheduler_with({0: "dead:1", 1: "live:1"})
    copies = {location.address: location for location in scheduler.next_copies(10.0)}
    scheduler.copy_failed(copies["dead:1"], 10.0)
    scheduler.copy_succeeded(copies["live:1"])
    assert scheduler.next_copies(10.5) == [] and scheduler.wait_s(10.5) == pytest.approx(0.5)
    for now_s, backoff_s in ((11.0, 2.0), (13.0, 4.0), (17.0, 4.0)):  # 1, 2, 4, then the 4 s limit
        (again,) = scheduler.next_copies(now_s)
        scheduler.copy_failed(again, now_s)
        assert scheduler.next_copies(now_s + backoff_s - 0.01) == []
        assert scheduler.wait_s(now_s) == pytest.approx(backoff_s)
    assert scheduler.attempt_failures("m0_0") == scheduler.failures_total == 4
    scheduler.validate_state()


def test_a_success_ends_the_hosts_penalty():
    scheduler = scheduler_with({0: "a:1", 1: "a:1"}, ShuffleConfig(parallel_copies=1, failures_max=9))
    (first,) = scheduler.next_copies(0.0)
    scheduler.copy_failed(first, 0.0)
    (retry,) = scheduler.next_copies(5.0)
    scheduler.copy_succeeded(retry)
    assert len(scheduler.next_copies(5.0)) == 1 and scheduler.wait_s(5.0) is None


def test_failures_of_an_output_declared_obsolete_are_forgiven_and_its_rerun_copied():
    scheduler = scheduler_with({0: "lost:1", 1: "b:1"})
    for now_s in (0.0, 1.0, 3.0, 7.0):
        for location in scheduler.next_copies(now_s):
            if location.address == "lost:1":
                scheduler.copy_failed(location, now_s)
            else:
                scheduler.copy_succeeded(location)
    assert scheduler.failures_total == 4
    scheduler.on_event(0, "m0_0", MapCompletionStatus.OBSOLETE, "lost:1")
    assert scheduler.failures_total == 0 and scheduler.next_copies(100.0) == []
    scheduler.on_event(0, "m0_1", MapCompletionStatus.SUCCEEDED, "c:1")
    (rerun,) = scheduler.next_copies(100.0)
    assert rerun == MapOutputLocation(0, "m0_1", "c:1")
    scheduler.copy_succeeded(rerun)
    assert scheduler.done and scheduler.progress == 1.0
    scheduler.on_event(0, "m0_2", MapCompletionStatus.SUCCEEDED, "d:1")  # copied already: nothing to do
    assert scheduler.next_copies(100.0) == []
    scheduler.validate_state()


def test_a_copy_in_flight_when_its_output_goes_obsolete_does_not_count_against_the_reducer():
    scheduler = scheduler_with({0: "lost:1"})
    (copy,) = scheduler.next_copies(0.0)
    scheduler.on_event(0, "m0_0", MapCompletionStatus.OBSOLETE, "lost:1")
    scheduler.copy_failed(copy, 0.0)
    assert scheduler.failures_total == 0
    scheduler.validate_state()


def test_the_reducer_gives_up_after_failures_max():
    scheduler = scheduler_with({0: "dead:1"}, ShuffleConfig(failures_max=3, retry_interval_s=0.0))
    for _ in range(2):
        (copy,) = scheduler.next_copies(0.0)
        scheduler.copy_failed(copy, 0.0)
    (copy,) = scheduler.next_copies(0.0)
    with pytest.raises(ShuffleError, match="failed 3 times"):
        scheduler.copy_failed(copy, 0.0)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 6), st.lists(st.tuples(st.sampled_from(("copy", "succeed", "fail", "obsolete", "rerun", "wait")),
                                             st.integers(0, 20)), max_size=80))
def test_random_schedules_keep_the_books_and_finish_when_hosts_answer(map_count, actions):
    config = ShuffleConfig(parallel_copies=2, retry_interval_s=1.0, retry_interval_max_s=3.0, failures_max=10_000)
    scheduler = ShuffleScheduler(map_count, config)
    runs = {index: 0 for index in range(map_count)}
    for index in range(map_count):
        scheduler.on_event(index, f"m{index}_0", MapCompletionStatus.SUCCEEDED, f"h{index % 3}:1")
    in_flight: list[MapOutputLocation] = []
    now_s = 0.0
    for action, number in actions:
        match action:
            case "copy":
                in_flight += scheduler.next_copies(now_s)
            case "succeed" | "fail" if in_flight:
                location = in_flight.pop(number % len(in_flight))
                if action == "succeed":
                    scheduler.copy_succeeded(location)
                else:
                    scheduler.copy_failed(location, now_s)
            case "obsolete" | "rerun":
                index = number % map_count
                if index not in scheduler.copied:
                    scheduler.on_event(index, f"m{index}_{runs[index]}", MapCompletionStatus.OBSOLETE, "")
                    runs[index] += 1
                    if action == "rerun":
                        scheduler.on_event(index, f"m{index}_{runs[index]}", MapCompletionStatus.SUCCEEDED, f"h{number % 3}:1")
            case "wait":
                now_s += number / 4
        scheduler.validate_state()
        assert len(in_flight) <= config.parallel_copies
    # Every map's latest run is served and every host answers from now on: the shuffle completes.
    for location in in_flight:
        scheduler.copy_succeeded(location)
    for index in range(map_count):
        scheduler.on_event(index, f"m{index}_{runs[index]}", MapCompletionStatus.SUCCEEDED, "h9:1")
    for _ in range(map_count + 1):
        now_s += 10
        for location in scheduler.next_copies(now_s):
            scheduler.copy_succeeded(location)
    assert scheduler.done and len(scheduler.copied) == map_count

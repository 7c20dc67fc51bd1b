"""The reducer's shuffle scheduler: which map output to copy next, from which host, and when to give up.

As Hadoop's ShuffleSchedulerImpl: map completion events from the AM say where
each finished map's output is (SUCCEEDED) or that it is gone (OBSOLETE, when
its node was lost or the AM ran the map again); the scheduler hands out
copies up to `parallelcopies` at a time, taking hosts in turn; a failed copy
penalizes its host with a backoff that doubles up to a limit (computed from
`now_s`, so a test passes the time) and is reported to the AM. A reducer
gives up after `failures_max` failed copies, not counting those of outputs
the AM has since declared OBSOLETE: a node that went away is not the
reducer's fault.

A pure state machine, as every daemon's: the events below go in, the
commands below come out, and the fetcher (fetcher.py) is its shell, doing
the copies and the RPCs:

    scheduler = ShuffleScheduler(map_count, config)
    scheduler.handle(MapCompletion(map_index, attempt_id, MapCompletionStatus.SUCCEEDED, address), now_s)
    for command in scheduler.handle(Tick(), now_s): ...   # FetchFrom(host, maps): copy them
    scheduler.handle(CopySucceeded(location), now_s)      # [Done()] after the last one
    scheduler.handle(CopyFailed(location, diagnostics, node_unreachable), now_s)  # [ReportFetchFailure, ...]

No network, no threads, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from emrlab_common.config import parse_float, parse_int, parse_milliseconds, setting
from emrlab_common.errors import EmrlabError
from mapreduce.task.config import (
    heap_ratio_setting,
    output_block_setting,
    reduce_data_memory_bytes,
    reduce_memory_mb_setting,
    shuffle_input_buffer_setting,
)
from mapreduce.task.umbilical import MapCompletionStatus


@dataclass(frozen=True)
class ShuffleConfig:
    parallel_copies: int = setting(
        "mapreduce.reduce.shuffle.parallelcopies", 5, parse_int, "Map outputs a reducer copies at once.")
    reduce_memory_mb: int = reduce_memory_mb_setting()
    input_buffer_fraction: float = shuffle_input_buffer_setting()
    heap_ratio: float = heap_ratio_setting()
    output_block_bytes: int = output_block_setting()
    memory_limit_fraction: float = setting(
        "mapreduce.reduce.shuffle.memory.limit.percent", 0.25, parse_float,
        "Largest single map output kept in memory, as a fraction of that buffer; larger ones go to disk.")
    retry_interval_s: float = setting(
        "mapreduce.reduce.shuffle.fetch.retry.interval-ms", 1.0, parse_milliseconds,
        "First wait before copying from a host again after a failure (doubles each time).")
    retry_interval_max_s: float = setting(
        "emrlab.reduce.shuffle.fetch.retry.interval-max-ms", 10.0, parse_milliseconds,
        "Longest wait before copying from a failing host again.")
    failures_max: int = setting(
        "emrlab.reduce.shuffle.failures.max", 30, parse_int,
        "Failed copies (all maps together, not counting outputs the AM declared lost) after which the "
        "reduce attempt gives up.")
    events_poll_interval_s: float = setting(
        "emrlab.reduce.shuffle.events.poll-ms", 0.5, parse_milliseconds,
        "How often the reducer asks the AM for newly finished maps.")

    @property
    def memory_budget_bytes(self) -> int:
        return reduce_data_memory_bytes(self.reduce_memory_mb, self.heap_ratio, self.output_block_bytes,
                                        self.input_buffer_fraction)

    @property
    def segment_in_memory_max_bytes(self) -> int:
        return int(self.memory_budget_bytes * self.memory_limit_fraction)


class ShuffleError(EmrlabError):
    """The reducer could not copy its input."""


@dataclass(frozen=True)
class MapOutputLocation:
    map_index: int
    attempt_id: str
    address: str  # the shuffle service of the NodeManager where the map ran


# Events in.

@dataclass(frozen=True)
class MapCompletion:
    """A map completion event from the AM: SUCCEEDED says where the output is; anything else that it is gone."""

    map_index: int
    attempt_id: str
    status: MapCompletionStatus
    address: str


@dataclass(frozen=True)
class Tick:
    """The fetcher's loop came round: start the copies that may start now."""


@dataclass(frozen=True)
class CopySucceeded:
    location: MapOutputLocation


@dataclass(frozen=True)
class CopyFailed:
    location: MapOutputLocation
    diagnostics: str = ""
    node_unreachable: bool = False  # the map's node did not answer at all (it may be gone)


Event = MapCompletion | Tick | CopySucceeded | CopyFailed


# Commands out.

@dataclass(frozen=True)
class FetchFrom:
    """Copy these map outputs from this host (they are in flight until CopySucceeded or CopyFailed)."""

    host: str
    maps: tuple[MapOutputLocation, ...]


@dataclass(frozen=True)
class ReportFetchFailure:
    """Tell the AM that a copy of this map's output failed (enough reports and it runs the map again)."""

    map_attempt_id: str
    diagnostics: str
    node_unreachable: bool


@dataclass(frozen=True)
class GiveUp:
    """The reducer failed too many copies: the reduce attempt fails."""

    diagnostics: str


@dataclass(frozen=True)
class Done:
    """Every map's output is copied."""


Command = FetchFrom | ReportFetchFailure | GiveUp | Done


class ShuffleScheduler:
    def __init__(self, map_count: int, config: ShuffleConfig):
        self.map_count = map_count
        self.config = config
        self.copied: set[int] = set()
        self.failures_total = 0  # of outputs still current
        self._latest: dict[int, MapOutputLocation] = {}  # map index -> where its output is now, until copied
        self._in_flight: dict[int, MapOutputLocation] = {}
        self._attempt_failures: dict[str, int] = {}
        self._host_failures: dict[str, int] = {}
        self._penalized_until_s: dict[str, float] = {}
        self._last_host = ""

    @property
    def done(self) -> bool:
        return len(self.copied) == self.map_count

    @property
    def progress(self) -> float:
        return len(self.copied) / self.map_count if self.map_count else 1.0

    def handle(self, event: Event, now_s: float) -> list[Command]:
        match event:
            case MapCompletion():
                self._map_completion(event)
                return []
            case Tick():
                return self._next_copies(now_s) if not self.done else [Done()]
            case CopySucceeded():
                self._copy_succeeded(event.location)
                return [Done()] if self.done else []
            case CopyFailed():
                return self._copy_failed(event, now_s)
        raise AssertionError(f"unknown event {event!r}")

    def _map_completion(self, event: MapCompletion) -> None:
        if event.status is MapCompletionStatus.SUCCEEDED:
            if event.map_index not in self.copied:
                self._latest[event.map_index] = MapOutputLocation(event.map_index, event.attempt_id, event.address)
            return
        current = self._latest.get(event.map_index)
        if current is not None and current.attempt_id == event.attempt_id:
            del self._latest[event.map_index]  # OBSOLETE: wait for the map to run again
        # Failures copying a lost output were not the reducer's fault.
        self.failures_total -= self._attempt_failures.pop(event.attempt_id, 0)

    def _next_copies(self, now_s: float) -> list[Command]:
        """Copies to start now (marked in flight): up to `parallelcopies`, from hosts not penalized, in turn."""
        free = self.config.parallel_copies - len(self._in_flight)
        by_host: dict[str, list[MapOutputLocation]] = {}
        for map_index, location in sorted(self._latest.items()):
            if map_index not in self._in_flight and self._penalized_until_s.get(location.address, 0.0) <= now_s:
                by_host.setdefault(location.address, []).append(location)
        # Start after the host served last, so that every host gets its turn.
        hosts = sorted(by_host)
        start = next((index for index, host in enumerate(hosts) if host > self._last_host), 0)
        hosts = hosts[start:] + hosts[:start]
        chosen: list[MapOutputLocation] = []
        while free > 0 and any(by_host.values()):
            for host in hosts:
                if free > 0 and by_host[host]:
                    chosen.append(by_host[host].pop(0))
                    free -= 1
        for location in chosen:
            self._in_flight[location.map_index] = location
        if chosen:
            self._last_host = chosen[-1].address
        grouped: dict[str, list[MapOutputLocation]] = {}
        for location in chosen:
            grouped.setdefault(location.address, []).append(location)
        return [FetchFrom(host, tuple(maps)) for host, maps in grouped.items()]

    def _copy_succeeded(self, location: MapOutputLocation) -> None:
        self._finish(location)
        self.copied.add(location.map_index)
        self._latest.pop(location.map_index, None)
        self._host_failures.pop(location.address, None)
        self._penalized_until_s.pop(location.address, None)

    def _copy_failed(self, event: CopyFailed, now_s: float) -> list[Command]:
        """Penalize the host and report the failure; give up when the reducer has failed too often."""
        location = event.location
        self._finish(location)
        if self._latest.get(location.map_index) == location:  # (an output declared OBSOLETE meanwhile is forgiven)
            self.failures_total += 1
            self._attempt_failures[location.attempt_id] = self._attempt_failures.get(location.attempt_id, 0) + 1
        host_failures = self._host_failures[location.address] = self._host_failures.get(location.address, 0) + 1
        self._penalized_until_s[location.address] = now_s + min(
            self.config.retry_interval_s * 2 ** (host_failures - 1), self.config.retry_interval_max_s)
        commands: list[Command] = [ReportFetchFailure(location.attempt_id, event.diagnostics, event.node_unreachable)]
        if self.failures_total >= self.config.failures_max:
            commands.append(GiveUp(f"shuffle failed {self.failures_total} times; last from {location.address} "
                                   f"({location.attempt_id})"))
        return commands

    def attempt_failures(self, attempt_id: str) -> int:
        return self._attempt_failures.get(attempt_id, 0)

    def wait_s(self, now_s: float) -> float | None:
        """How long until a penalized host may be tried again (None: no host waits)."""
        waiting = [until - now_s for until in self._penalized_until_s.values() if until > now_s]
        return min(waiting) if waiting else None

    def _finish(self, location: MapOutputLocation) -> None:
        assert self._in_flight.get(location.map_index) == location, f"{location} is not being copied"
        del self._in_flight[location.map_index]

    def validate_state(self) -> None:
        assert len(self._in_flight) <= self.config.parallel_copies
        assert not (self.copied & set(self._latest)), "a copied output is still wanted"
        assert self.failures_total == sum(self._attempt_failures.values()), "failures out of step"
        assert self.failures_total >= 0

"""The reduce side of the shuffle: copy this reducer's partition from every finished map.

    fetcher = ShuffleFetcher(umbilical, attempt_id, job_id, map_count, spill_dir, config)
    segments = fetcher.fetch(partition, counters)   # what run_reduce_attempt's `source` does

Like Hadoop's Shuffle: an event fetcher polls the AM for map completion events
(where each finished map's output is served, or that it is OBSOLETE and will
be served elsewhere), and up to `parallelcopies` copies run at once. A failed
copy is counted (FAILED_SHUFFLE), reported to the AM (three reports and the AM
runs the map again) and retried with a growing backoff. Small segments stay in
memory within a budget; larger ones stream to local files, so a partition
bigger than memory still works.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from emrlab_common import rpc
from emrlab_common.config import parse_float, parse_int, parse_milliseconds, setting
from emrlab_common.errors import Aborted, EmrlabError, Unavailable
from emrlab_common.protos import mapreduce_pb2, mapreduce_pb2_grpc
from mapreduce import counters as names
from mapreduce.segments import Segment
from mapreduce.umbilical import Umbilical

logger = logging.getLogger(__name__)

FETCH_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class ShuffleConfig:
    parallel_copies: int = setting(
        "mapreduce.reduce.shuffle.parallelcopies", 5, parse_int, "Map outputs a reducer copies at once.")
    reduce_memory_mb: int = setting("mapreduce.reduce.memory.mb", 512, parse_int, "Memory of a reduce container.")
    input_buffer_fraction: float = setting(
        "mapreduce.reduce.shuffle.input.buffer.percent", 0.70, parse_float,
        "Fraction of the reducer's memory that may hold copied map output.")
    memory_limit_fraction: float = setting(
        "mapreduce.reduce.shuffle.memory.limit.percent", 0.25, parse_float,
        "Largest single map output kept in memory, as a fraction of that buffer; larger ones go to disk.")
    retry_interval_s: float = setting(
        "mapreduce.reduce.shuffle.fetch.retry.interval-ms", 1.0, parse_milliseconds,
        "First wait before copying a map output again after a failure (doubles each time).")
    retry_interval_max_s: float = setting(
        "emrlab.reduce.shuffle.fetch.retry.interval-max-ms", 10.0, parse_milliseconds,
        "Longest wait between two copies of the same map output.")
    failures_max: int = setting(
        "emrlab.reduce.shuffle.failures.max", 30, parse_int,
        "Failed copies (all maps together) after which the reduce attempt gives up.")
    events_poll_interval_s: float = setting(
        "emrlab.reduce.shuffle.events.poll-ms", 0.5, parse_milliseconds,
        "How often the reducer asks the AM for newly finished maps.")

    @property
    def memory_budget_bytes(self) -> int:
        return int(self.reduce_memory_mb * (1 << 20) * self.input_buffer_fraction)

    @property
    def segment_in_memory_max_bytes(self) -> int:
        return int(self.memory_budget_bytes * self.memory_limit_fraction)


class ShuffleError(EmrlabError):
    """The reducer could not copy its input."""


class ShuffleFetcher:
    def __init__(self, umbilical: Umbilical, attempt_id: str, job_id: str, map_count: int, spill_dir: Path,
                 config: ShuffleConfig):
        self.umbilical = umbilical
        self.attempt_id = attempt_id
        self.job_id = job_id
        self.map_count = map_count
        self.spill_dir = Path(spill_dir)
        self.config = config
        self.copied = 0
        self._memory_used_bytes = 0
        self._lock = threading.Lock()
        self._channels: dict[str, object] = {}

    @property
    def progress(self) -> float:
        return self.copied / self.map_count if self.map_count else 1.0

    def fetch(self, partition: int, counters) -> list[Segment]:
        fetched: dict[int, Segment] = {}
        latest: dict[int, mapreduce_pb2.MapCompletionEvent] = {}  # map index -> where its output is now
        failures: dict[str, int] = {}
        retry_at_s: dict[str, float] = {}
        in_flight: dict[Future, mapreduce_pb2.MapCompletionEvent] = {}
        next_event = 0
        failures_total = 0
        with ThreadPoolExecutor(max(1, self.config.parallel_copies), thread_name_prefix="fetcher") as pool:
            try:
                while len(fetched) < self.map_count:
                    next_event = self._poll_events(next_event, latest)
                    busy = {event.map_index for event in in_flight.values()}
                    now_s = time.monotonic()
                    for map_index, event in sorted(latest.items()):
                        if len(in_flight) >= self.config.parallel_copies:
                            break
                        if map_index in fetched or map_index in busy or retry_at_s.get(event.attempt_id, 0) > now_s:
                            continue
                        in_flight[pool.submit(self._copy, event, partition)] = event
                    done, _ = wait(in_flight, timeout=self.config.events_poll_interval_s, return_when=FIRST_COMPLETED)
                    for future in done:
                        event = in_flight.pop(future)
                        try:
                            segment = future.result()
                        except EmrlabError as error:
                            failures_total += 1
                            failures[event.attempt_id] = failures.get(event.attempt_id, 0) + 1
                            self._copy_failed(event, error, failures[event.attempt_id], counters)
                            retry_at_s[event.attempt_id] = time.monotonic() + min(
                                self.config.retry_interval_s * 2 ** (failures[event.attempt_id] - 1),
                                self.config.retry_interval_max_s)
                            if failures_total >= self.config.failures_max:
                                raise ShuffleError(f"shuffle of partition {partition} failed {failures_total} times; "
                                                   f"last: {error.message}") from None
                            continue
                        fetched[event.map_index] = segment
                        self.copied = len(fetched)
                        counters.increment(names.TASK_COUNTER, names.SHUFFLED_MAPS)
                        counters.increment(names.TASK_COUNTER, names.REDUCE_SHUFFLE_BYTES, segment.length)
            finally:
                for future in in_flight:
                    future.cancel()
                for channel in self._channels.values():
                    channel.close()
        return [fetched[index] for index in sorted(fetched)]

    def _poll_events(self, next_event: int, latest: dict) -> int:
        response = self.umbilical.map_completion_events(self.attempt_id, next_event)
        if response.stop:
            raise Aborted(f"{self.attempt_id} was stopped by the ApplicationMaster")
        for event in response.events:
            next_event = event.event_index + 1
            if event.status == "SUCCEEDED":
                latest[event.map_index] = event
            elif event.map_index in latest and latest[event.map_index].attempt_id == event.attempt_id:
                del latest[event.map_index]  # OBSOLETE: wait for the map to run again
        return next_event

    def _copy_failed(self, event, error: EmrlabError, attempt_failures: int, counters) -> None:
        counters.increment(names.TASK_COUNTER, names.FAILED_SHUFFLE)
        counters.increment(names.SHUFFLE_ERRORS, names.IO_ERROR)
        logger.warning("%s: copy of %s from %s failed (%d): %s", self.attempt_id, event.attempt_id,
                       event.shuffle_address, attempt_failures, error.message)
        try:
            self.umbilical.report_fetch_failure(self.attempt_id, event.attempt_id, error.message)
        except EmrlabError as report_error:
            logger.warning("could not report the fetch failure: %s", report_error.message)

    def _stub(self, address: str) -> mapreduce_pb2_grpc.ShuffleServiceStub:
        with self._lock:
            if address not in self._channels:
                self._channels[address] = rpc.connect(address)
            return mapreduce_pb2_grpc.ShuffleServiceStub(self._channels[address])

    def _copy(self, event, partition: int) -> Segment:
        """One map's segment for `partition`: in memory if it fits the budget, else in a local file."""
        request = mapreduce_pb2.FetchMapOutputRequest(job_id=self.job_id, map_attempt_id=event.attempt_id,
                                                      partition=partition)
        responses = rpc.stream(self._stub(event.shuffle_address).FetchMapOutput, request,
                               timeout_s=FETCH_TIMEOUT_S, peer=f"the shuffle service at {event.shuffle_address}")
        first = next(responses, None)
        if first is None:
            raise Unavailable(f"empty answer from {event.shuffle_address}")
        length, records = first.segment_length_bytes, first.segment_records
        with self._lock:
            in_memory = (length <= self.config.segment_in_memory_max_bytes
                         and self._memory_used_bytes + length <= self.config.memory_budget_bytes)
            if in_memory:
                self._memory_used_bytes += length
        if in_memory:
            try:
                data = bytearray(first.data)
                for response in responses:
                    data += response.data
                self._check_length(event, len(data), length)
            except BaseException:
                with self._lock:
                    self._memory_used_bytes -= length
                raise
            return Segment.from_bytes(bytes(data), records)
        self.spill_dir.mkdir(parents=True, exist_ok=True)
        path = self.spill_dir / f"map_{event.map_index}.{event.attempt_id}.out"
        with open(path, "wb") as file:
            file.write(first.data)
            for response in responses:
                file.write(response.data)
            written = file.tell()
        self._check_length(event, written, length)
        return Segment.from_file(str(path), 0, length, records)

    @staticmethod
    def _check_length(event, received: int, expected: int) -> None:
        if received != expected:
            raise Unavailable(f"map output of {event.attempt_id}: got {received} bytes, expected {expected}")

"""The reduce side of the shuffle: copy this reducer's partition from every finished map.

    fetcher = ShuffleFetcher(umbilical, attempt_id, job_id, map_count, spill_dir, config)
    segments = fetcher.fetch(partition, counters)   # what run_reduce_attempt's `source` does

Like Hadoop's Shuffle: an event fetcher polls the AM for map completion events
(where each finished map's output is served, or that it is OBSOLETE and will
be served elsewhere), and up to `parallelcopies` copies run at once. What to
copy next, host penalties and when to give up are the scheduler's
(scheduler.py, a pure state machine); this module is its shell: it turns
completion events, finished copies and the clock into the scheduler's
events and carries out its commands (copy, report a failure, give up). A
failed copy is counted (FAILED_SHUFFLE) and reported to the AM, saying
whether the node answered at all (a node that does not is probably gone,
which is not the map's fault). Small segments stay in memory within a
budget; larger ones stream to local files, so a partition bigger than
memory still works.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from itertools import chain
from pathlib import Path

from emrlab_common import rpc
from emrlab_common.channels import ChannelCache
from emrlab_common.errors import Aborted, DeadlineExceeded, EmrlabError, Unavailable
from emrlab_common.protos import mapreduce_pb2, mapreduce_pb2_grpc
from mapreduce.api import counters as names
from mapreduce.task.reduce.channels import SHUFFLE_CHANNELS_MAX
from mapreduce.task.reduce.scheduler import (
    Command,
    CopyFailed,
    CopySucceeded,
    Done,
    FetchFrom,
    GiveUp,
    MapCompletion,
    MapOutputLocation,
    ReportFetchFailure,
    ShuffleConfig,
    ShuffleError,
    ShuffleScheduler,
    Tick,
)
from mapreduce.task.segments import Segment
from mapreduce.task.umbilical import MapCompletionStatus, Umbilical

__all__ = ["ShuffleConfig", "ShuffleError", "ShuffleFetcher"]

logger = logging.getLogger(__name__)

FETCH_TIMEOUT_S = 120.0


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
        # to map hosts: a bounded LRU, closed when the fetch ends
        self._channels = ChannelCache(rpc.connect, mapreduce_pb2_grpc.ShuffleServiceStub, limit=SHUFFLE_CHANNELS_MAX)

    @property
    def progress(self) -> float:
        return self.copied / self.map_count if self.map_count else 1.0

    def fetch(self, partition: int, counters) -> list[Segment]:
        scheduler = ShuffleScheduler(self.map_count, self.config)
        fetched: dict[int, Segment] = {}
        in_flight: dict[Future, MapOutputLocation] = {}
        next_event = 0
        finished = scheduler.done

        def carry_out(commands: list[Command]) -> bool:
            for command in commands:
                match command:
                    case FetchFrom():
                        for location in command.maps:
                            in_flight[pool.submit(self._copy, location, partition)] = location
                    case ReportFetchFailure():
                        self._report_fetch_failure(command)
                    case GiveUp():
                        raise ShuffleError(command.diagnostics)
                    case Done():
                        return True
            return False

        with ThreadPoolExecutor(max(1, self.config.parallel_copies), thread_name_prefix="fetcher") as pool:
            try:
                while not finished:
                    next_event = self._poll_events(next_event, scheduler)
                    finished = carry_out(scheduler.handle(Tick(), time.monotonic()))
                    if finished:
                        break
                    if not in_flight:  # waiting for maps to finish, or for a penalized host
                        time.sleep(min(self.config.events_poll_interval_s,
                                       scheduler.wait_s(time.monotonic()) or self.config.events_poll_interval_s))
                        continue
                    done, _ = wait(in_flight, timeout=self.config.events_poll_interval_s, return_when=FIRST_COMPLETED)
                    for future in done:
                        location = in_flight.pop(future)
                        try:
                            segment = future.result()
                        except EmrlabError as error:
                            carry_out(scheduler.handle(self._copy_failed(location, error, counters), time.monotonic()))
                            continue
                        fetched[location.map_index] = segment
                        finished = carry_out(scheduler.handle(CopySucceeded(location), time.monotonic())) or finished
                        self.copied = len(scheduler.copied)
                        counters.increment(names.TASK_COUNTER, names.SHUFFLED_MAPS)
                        counters.increment(names.TASK_COUNTER, names.REDUCE_SHUFFLE_BYTES, segment.length)
            finally:
                for future in in_flight:
                    future.cancel()
                self._channels.close()
        return [fetched[index] for index in sorted(fetched)]

    def _poll_events(self, next_event: int, scheduler: ShuffleScheduler) -> int:
        response = self.umbilical.map_completion_events(self.attempt_id, next_event)
        if response.stop:
            raise Aborted(f"{self.attempt_id} was stopped by the ApplicationMaster")
        for event in response.events:
            next_event = event.event_index + 1
            scheduler.handle(MapCompletion(event.map_index, event.attempt_id, MapCompletionStatus.from_proto(event.status),
                                           event.shuffle_address), time.monotonic())
        return next_event

    def _copy_failed(self, location: MapOutputLocation, error: EmrlabError, counters) -> CopyFailed:
        counters.increment(names.TASK_COUNTER, names.FAILED_SHUFFLE)
        counters.increment(names.SHUFFLE_ERRORS, names.IO_ERROR)
        unreachable = isinstance(error, (Unavailable, DeadlineExceeded))
        logger.warning("%s: copy of %s from %s failed%s: %s", self.attempt_id, location.attempt_id,
                       location.address, " (node unreachable)" if unreachable else "", error.message)
        return CopyFailed(location, error.message, unreachable)

    def _report_fetch_failure(self, command: ReportFetchFailure) -> None:
        try:
            self.umbilical.report_fetch_failure(self.attempt_id, command.map_attempt_id, command.diagnostics,
                                                node_unreachable=command.node_unreachable)
        except EmrlabError as report_error:
            logger.warning("could not report the fetch failure: %s", report_error.message)

    def _copy(self, event: MapOutputLocation, partition: int) -> Segment:
        """One map's segment for `partition`: in memory if it fits the budget, else in a local file."""
        with self._channels.hold(event.address) as stub:  # not closed while the copy streams on it
            return self._copy_on(stub, event, partition)

    def _copy_on(self, stub: mapreduce_pb2_grpc.ShuffleServiceStub, event: MapOutputLocation,
                 partition: int) -> Segment:
        request = mapreduce_pb2.FetchMapOutputRequest(job_id=self.job_id, map_attempt_id=event.attempt_id,
                                                      partition=partition)
        responses = rpc.stream(stub.FetchMapOutput, request,
                               timeout_s=FETCH_TIMEOUT_S, peer=f"the shuffle service at {event.address}")
        first = next(responses, None)
        if first is None:
            raise Unavailable(f"empty answer from {event.address}")
        length, records = first.segment_length_bytes, first.segment_records
        with self._lock:
            in_memory = (length <= self.config.segment_in_memory_max_bytes
                         and self._memory_used_bytes + length <= self.config.memory_budget_bytes)
            if in_memory:
                self._memory_used_bytes += length
        if in_memory:
            try:
                data = self._receive(event, chain((first,), responses), length)
            except BaseException:
                with self._lock:
                    self._memory_used_bytes -= length
                raise
            return Segment.from_bytes(data, records)
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
    def _receive(event, responses, length: int) -> bytearray:
        """The answer's bytes, received into one buffer of the length announced: no copy of it is made,
        and no more than `length` is held however much a peer sends."""
        data = bytearray(length)
        received = 0
        with memoryview(data) as view:
            for response in responses:
                chunk = response.data
                if received + len(chunk) > length:
                    raise Unavailable(f"map output of {event.attempt_id}: more than the {length} bytes announced")
                view[received:received + len(chunk)] = chunk
                received += len(chunk)
        ShuffleFetcher._check_length(event, received, length)
        return data

    @staticmethod
    def _check_length(event, received: int, expected: int) -> None:
        if received != expected:
            raise Unavailable(f"map output of {event.attempt_id}: got {received} bytes, expected {expected}")

"""The shuffle without YARN: the ShuffleService on a loopback gRPC server, a pretend AM.

A map output is written the way a map task leaves it (file.out + file.out.index
in <app dir>/output/<attempt id>/); the fetcher copies one partition of it from
every map, in memory or spilled to disk, survives a dead node by re-fetching
from where the AM says the re-run map's output now is, and reports failures.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import grpc
import pytest

from emrlab_common import rpc
from emrlab_common.errors import InvalidArgument, NotFound
from emrlab_common.protos import mapreduce_pb2, mapreduce_pb2_grpc
from mapreduce.api import counters as names
from mapreduce.api.counters import Counters
from mapreduce.api.keys import decode_key, encode_key
from mapreduce.shuffle.mapoutput import check_fetch, read_partition
from mapreduce.shuffle.service import ShuffleServicer
from mapreduce.task.reduce.fetcher import ShuffleConfig, ShuffleError, ShuffleFetcher
from mapreduce.task.segments import (
    MAP_OUTPUT_FILE,
    MAP_OUTPUT_INDEX_FILE,
    SegmentWriter,
    map_output_dir,
    merge,
    write_index,
)
from mapreduce.task.umbilical import MapCompletionStatus

JOB_ID = "job_1700000000000_0007"
APPLICATION_ID = "application_1700000000000_0007"
REDUCE_ATTEMPT = "attempt_1700000000000_0007_r_000001_0"
PARTITIONS = 2


def map_attempt(index: int, number: int = 0) -> str:
    return f"attempt_1700000000000_0007_m_{index:06d}_{number}"


def write_map_output(application_dir: Path, attempt_id: str, records_by_partition: list[list[tuple]]) -> None:
    directory = map_output_dir(application_dir, attempt_id)
    directory.mkdir(parents=True)
    entries = []
    with open(directory / MAP_OUTPUT_FILE, "wb") as file:
        for records in records_by_partition:
            writer = SegmentWriter(file)
            writer.write_all(sorted((encode_key(key), value) for key, value in records))
            entries.append(writer.finish())
    write_index(str(directory / MAP_OUTPUT_INDEX_FILE), entries)


def map_records(index: int) -> list[list[tuple]]:
    """Partition 0 gets even words, partition 1 odd ones; map `index` has its own values."""
    words = [f"w{number:03d}" for number in range(300)]
    return [[(word, index) for position, word in enumerate(words) if position % PARTITIONS == partition]
            for partition in range(PARTITIONS)]


class ShuffleNode:
    """One NodeManager's shuffle service on a loopback port."""

    def __init__(self, application_dir: Path):
        self.application_dir = application_dir
        servicer = ShuffleServicer(lambda application_id: application_dir if application_id == APPLICATION_ID else None)
        self.server, port = rpc.create_server(
            "127.0.0.1:0", lambda server: mapreduce_pb2_grpc.add_ShuffleServiceServicer_to_server(servicer, server))
        self.address = f"127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.stop(0)


class PretendAM:
    """Map completion events as the AM would hand them out; records fetch failure reports."""

    def __init__(self):
        self.events: list[mapreduce_pb2.MapCompletionEvent] = []
        self.fetch_failures: list[str] = []
        self.unreachable: list[bool] = []
        self.on_failure = lambda map_attempt_id: None

    def add(self, map_index: int, attempt_id: str, status: MapCompletionStatus, address: str) -> None:
        self.events.append(mapreduce_pb2.MapCompletionEvent(
            event_index=len(self.events), map_index=map_index, attempt_id=attempt_id, status=status.to_proto(),
            shuffle_address=address))

    def map_completion_events(self, attempt_id: str, from_index: int):
        return SimpleNamespace(events=self.events[from_index:], stop=False)

    def report_fetch_failure(self, reduce_attempt_id: str, map_attempt_id: str, diagnostics: str, *,
                             node_unreachable: bool = False) -> None:
        self.fetch_failures.append(map_attempt_id)
        self.unreachable.append(node_unreachable)
        self.on_failure(map_attempt_id)


@pytest.fixture
def nodes(tmp_path):
    started = [ShuffleNode(tmp_path / f"node-{index}" / "app") for index in range(2)]
    yield started
    for node in started:
        node.stop()


FAST = {"mapreduce.reduce.shuffle.fetch.retry.interval-ms": "20", "emrlab.reduce.shuffle.events.poll-ms": "20"}


def fetcher(am, tmp_path, map_count: int, **properties) -> ShuffleFetcher:
    from emrlab_common.config import load

    config = load(ShuffleConfig, {**FAST, **properties})
    return ShuffleFetcher(am, REDUCE_ATTEMPT, JOB_ID, map_count, tmp_path / "spill", config)


def fetched_records(segments) -> list[tuple]:
    return [(decode_key(key), value) for key, value in merge(segments)]


def expected_records(map_count: int, partition: int) -> list[tuple]:
    return sorted(record for index in range(map_count) for record in map_records(index)[partition])


def test_a_reducer_copies_its_partition_from_every_map(nodes, tmp_path):
    am = PretendAM()
    for index in range(3):
        node = nodes[index % 2]
        write_map_output(node.application_dir, map_attempt(index), map_records(index))
        am.add(index, map_attempt(index), MapCompletionStatus.SUCCEEDED, node.address)
    counters = Counters()
    shuffle = fetcher(am, tmp_path, 3)
    segments = shuffle.fetch(1, counters)
    assert fetched_records(segments) == expected_records(3, 1)
    assert all(segment.in_memory for segment in segments)
    assert counters.task(names.SHUFFLED_MAPS) == 3
    assert counters.task(names.REDUCE_SHUFFLE_BYTES) == sum(segment.length for segment in segments) > 0
    assert shuffle.progress == 1.0


def test_segments_beyond_the_memory_budget_go_to_disk(nodes, tmp_path):
    am = PretendAM()
    for index in range(2):
        write_map_output(nodes[0].application_dir, map_attempt(index), map_records(index))
        am.add(index, map_attempt(index), MapCompletionStatus.SUCCEEDED, nodes[0].address)
    shuffle = fetcher(am, tmp_path, 2, **{"mapreduce.reduce.shuffle.input.buffer.percent": "0.000002"})
    segments = shuffle.fetch(0, Counters())
    assert not any(segment.in_memory for segment in segments)
    assert all(Path(segment.path).parent == tmp_path / "spill" for segment in segments)
    assert fetched_records(segments) == expected_records(2, 0)


def test_a_lost_map_output_is_reported_and_fetched_again_where_the_map_ran_again(nodes, tmp_path):
    am = PretendAM()
    write_map_output(nodes[0].application_dir, map_attempt(0), map_records(0))
    am.add(0, map_attempt(0), MapCompletionStatus.SUCCEEDED, nodes[0].address)
    am.add(1, map_attempt(1), MapCompletionStatus.SUCCEEDED, "127.0.0.1:1")  # its node is gone

    def rerun(map_attempt_id: str) -> None:
        if len(am.fetch_failures) == 3:  # as the AM does after three reports
            am.add(1, map_attempt(1), MapCompletionStatus.OBSOLETE, "127.0.0.1:1")
            write_map_output(nodes[1].application_dir, map_attempt(1, 1), map_records(1))
            am.add(1, map_attempt(1, 1), MapCompletionStatus.SUCCEEDED, nodes[1].address)

    am.on_failure = rerun
    counters = Counters()
    segments = fetcher(am, tmp_path, 2).fetch(0, counters)
    assert fetched_records(segments) == expected_records(2, 0)
    assert am.fetch_failures == [map_attempt(1)] * 3
    assert am.unreachable == [True] * 3  # nothing answers at 127.0.0.1:1: the AM hears the node may be gone
    assert counters.task(names.FAILED_SHUFFLE) == 3
    assert counters.task(names.SHUFFLED_MAPS) == 2


def test_the_reducer_gives_up_after_its_failure_limit(nodes, tmp_path):
    am = PretendAM()
    am.add(0, map_attempt(0), MapCompletionStatus.SUCCEEDED, "127.0.0.1:1")
    with pytest.raises(ShuffleError, match="failed 4 times"):
        fetcher(am, tmp_path, 1, **{"emrlab.reduce.shuffle.failures.max": "4"}).fetch(0, Counters())


def test_fetch_requests_are_checked(tmp_path):
    assert check_fetch(JOB_ID, map_attempt(3)) == APPLICATION_ID
    assert check_fetch(JOB_ID + "_step1", "attempt_1700000000000_0007_step1_m_000000_0") == APPLICATION_ID
    for job_id, attempt_id in [("job_x", map_attempt(0)), (JOB_ID, "attempt_1700000000000_0007_r_000000_0"),
                               (JOB_ID, "attempt_1700000000000_0008_m_000000_0"), (JOB_ID, "../../etc/passwd"),
                               (JOB_ID, map_attempt(0) + "/../../x")]:
        with pytest.raises(InvalidArgument):
            check_fetch(job_id, attempt_id)
    with pytest.raises(NotFound):
        read_partition(tmp_path, map_attempt(0), 0)
    write_map_output(tmp_path, map_attempt(0), map_records(0))
    with pytest.raises(InvalidArgument, match="out of range"):
        read_partition(tmp_path, map_attempt(0), PARTITIONS)


def test_the_service_answers_bad_requests_with_status_codes(nodes):
    stub = mapreduce_pb2_grpc.ShuffleServiceStub(rpc.connect(nodes[0].address))
    for request, code in [
        (mapreduce_pb2.FetchMapOutputRequest(job_id=JOB_ID, map_attempt_id="../x"), grpc.StatusCode.INVALID_ARGUMENT),
        (mapreduce_pb2.FetchMapOutputRequest(job_id="job_1_1", map_attempt_id="attempt_1_1_m_000000_0"),
         grpc.StatusCode.NOT_FOUND),
        (mapreduce_pb2.FetchMapOutputRequest(job_id=JOB_ID, map_attempt_id=map_attempt(9)), grpc.StatusCode.NOT_FOUND),
    ]:
        with pytest.raises(grpc.RpcError) as error:
            list(stub.FetchMapOutput(request, timeout=10))
        assert error.value.code() == code


@pytest.mark.parametrize("chunks", [[b"abc", b"de"], [b"ab"], []])
def test_a_map_output_of_another_length_than_announced_is_refused(chunks):
    """A shuffle answer is received into a buffer of the announced length: a peer that sends more is cut
    off at once (it cannot make the reducer hold more than it reserved), and one that sends less is refused."""
    from emrlab_common.errors import Unavailable

    responses = [SimpleNamespace(data=chunk) for chunk in chunks]
    with pytest.raises(Unavailable, match=map_attempt(3)):
        ShuffleFetcher._receive(SimpleNamespace(attempt_id=map_attempt(3)), iter(responses), 4)
    assert ShuffleFetcher._receive(SimpleNamespace(attempt_id=map_attempt(3)), iter([SimpleNamespace(data=b"abcd")]),
                                   4) == b"abcd"

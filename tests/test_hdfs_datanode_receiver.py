"""The write receiver's promise (transfer.py's `_receive`): however a write ends, the writer hears of it in
the last ack; an operating error ends only the write, a bug also propagates. No network: a real DataNode's
storage and the packets as a generator, on the test's own thread."""

from __future__ import annotations

import queue

import pytest

from emrlab_common.clusterdir import ClusterDir
from emrlab_common.config import load
from hdfs import checksum
from hdfs.datanode.actor import NameNodeActor
from hdfs.datanode.config import DataNodeConfig
from hdfs.datanode.node import DataNode
from hdfs.datanode.transfer import _STREAM_BROKEN, _receive
from hdfs.pipeline import Packet

DATA = b"a block's bytes" * 100


@pytest.fixture
def actor(tmp_path):
    """A DataNode's actor, listening but not running: what the receiver tells it waits in its state."""
    node = DataNode(load(DataNodeConfig, {}), ClusterDir(tmp_path / "cluster"), "core-1", tmp_path / "data")
    yield NameNodeActor(node)
    node.close()


@pytest.fixture
def datanode(actor):
    return actor.datanode


def packets_then(failure: BaseException | None):
    yield Packet(0, 0, DATA, checksum.chunk_checksums(DATA, 512))
    if failure is not None:
        raise failure
    yield Packet(1, len(DATA), last_packet_in_block=True)


def receive(datanode: DataNode, packets) -> tuple[queue.Queue, object]:
    writer = datanode.storage.create_rbw(7, 1001, 512)
    acks: queue.Queue = queue.Queue()
    _receive(datanode, packets, writer, None, True, acks)
    return acks, writer


def drained(acks: queue.Queue) -> list:
    return [acks.get_nowait() for _ in range(acks.qsize())]


def test_a_whole_write_is_finalized_and_acked_to_its_last_packet(datanode, actor):
    acks, _ = receive(datanode, packets_then(None))
    assert drained(acks) == [(0, 0, False), (1, 0, True)]  # 0 is hdfs_pb2.SUCCESS
    assert datanode.storage.get_finalized(7, 1001).length_bytes == len(DATA)
    assert [block.block_id for block in actor.state.pending.received] == [7]  # for the next report


@pytest.mark.parametrize("failure", [OSError("disk gone"), ConnectionResetError("writer reset")])
def test_an_operating_error_ends_the_write_with_a_broken_ack_and_no_replica(datanode, failure):
    acks, writer = receive(datanode, packets_then(failure))
    assert drained(acks)[-1][0] == _STREAM_BROKEN
    assert datanode.storage.get(7) is None and not writer.replica.block_path.exists()


def test_a_bug_is_loud_and_the_writer_still_hears_of_it(datanode):
    writer = datanode.storage.create_rbw(7, 1001, 512)
    acks: queue.Queue = queue.Queue()
    with pytest.raises(TypeError, match="a bug"):
        _receive(datanode, packets_then(TypeError("a bug")), writer, None, True, acks)
    assert drained(acks)[-1][0] == _STREAM_BROKEN
    assert datanode.storage.get(7) is None

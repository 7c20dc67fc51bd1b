"""The DataNode's cache of channels to its peers (hdfs/datanode/peers.py): bounded, least recently used first,
and never closing a channel a thread still holds (grpc crashes the process on a call over a closed channel).
No network in the unit tests: the channels are small objects that record being closed. One cluster test
writes through pipelines whose mirrors are gRPC calls on held channels (no streaming port)."""

from __future__ import annotations

import os

import pytest
from conftest import wait_until

from emrlab_common.errors import Unavailable
from hdfs.datanode.peers import PeerChannels


class FakeChannel:
    def __init__(self, address: str):
        self.address = address
        self.closed = False

    def close(self) -> None:
        assert not self.closed, f"the channel to {self.address} closed twice"
        self.closed = True


class FakeStub:
    """What a gRPC stub would do: a call over a closed channel is the crash we guard against."""

    def __init__(self, channel: FakeChannel):
        self.channel = channel

    def call(self) -> str:
        assert not self.channel.closed, f"a call over the closed channel to {self.channel.address}"
        return self.channel.address


@pytest.fixture
def opened() -> list[FakeChannel]:
    return []


@pytest.fixture
def peers(opened):
    def connect(address: str) -> FakeChannel:
        opened.append(FakeChannel(address))
        return opened[-1]

    return PeerChannels(connect, FakeStub, channels_max=2)


def test_a_held_channel_is_not_closed_by_eviction_and_closes_when_released(peers, opened):
    held = peers.hold("a")
    with peers.hold("b") as b, peers.hold("c") as c:  # every channel held: "a", the oldest, is forgotten
        assert (b.call(), c.call()) == ("b", "c")
        assert len(peers) == 2
    assert not opened[0].closed
    assert held.stub.call() == "a"
    held.release()
    assert opened[0].closed
    assert [channel.address for channel in opened if not channel.closed] == ["b", "c"]
    with peers.hold("a") as stub:  # the forgotten channel is not lent again: a new one is opened
        assert stub.channel is not opened[0]
        assert stub.call() == "a"


def test_the_least_recently_used_idle_channel_goes_first(peers, opened):
    with peers.hold("a"):
        pass
    with peers.hold("b"):
        pass
    with peers.hold("a"):  # now "b" is the least recently used
        pass
    with peers.hold("c"):
        pass
    assert {channel.address: channel.closed for channel in opened} == {"a": False, "b": True, "c": False}
    assert len(peers) == 2


def test_an_idle_channel_goes_before_a_held_older_one(peers, opened):
    held = peers.hold("a")
    with peers.hold("b"):
        pass
    with peers.hold("c"):
        assert {channel.address: channel.closed for channel in opened} == {"a": False, "b": True, "c": False}
    held.release()
    assert not opened[0].closed  # still cached: it was not forgotten
    assert len(peers) == 2


def test_a_shared_hold_keeps_the_channel_open_until_both_let_go(peers, opened):
    responder = peers.hold("a")
    receiver = responder.share()
    with peers.hold("b"), peers.hold("c"):  # "a" is forgotten while both hold it
        pass
    responder.release()
    responder.release()  # a second release is not a second user letting go
    assert receiver.stub.call() == "a"
    receiver.release()
    assert opened[0].closed


def test_close_closes_idle_channels_now_and_held_ones_when_their_users_finish(peers, opened):
    with peers.hold("a"):
        pass
    held = peers.hold("b")
    peers.close()
    assert [channel.closed for channel in opened] == [True, False]
    assert held.stub.call() == "b"
    held.release()
    assert opened[1].closed
    with pytest.raises(Unavailable, match="stopping"):
        peers.hold("a")
    assert len(opened) == 2


@pytest.mark.cluster
def test_pipelines_mirror_over_held_grpc_channels(cluster_factory, tmp_path):
    cluster = cluster_factory(core=3, properties={"dfs.blocksize": "1m", "emrlab.datanode.streaming-transfer": "false"})
    data = os.urandom(3 * 1024 * 1024 + 12345)
    source = tmp_path / "data.bin"
    source.write_bytes(data)
    cluster.emrlab("dfs", "-D", "dfs.replication=3", "-put", str(source), "/mirrored.bin", check=True)
    client = cluster.client()

    def every_block_on_three_nodes():
        blocks = client._block_locations("/mirrored.bin").blocks
        return len(blocks) == 4 and all(len(block.locations) == 3 for block in blocks)

    wait_until(every_block_on_three_nodes, what="3 replicas of every block (the DataNodes' reports)")
    blocks = client._block_locations("/mirrored.bin").blocks
    assert not any(location.xfer_port for block in blocks for location in block.locations)  # gRPC mirrors only
    copy = tmp_path / "copy.bin"
    cluster.emrlab("dfs", "-get", "/mirrored.bin", str(copy), check=True)
    assert copy.read_bytes() == data

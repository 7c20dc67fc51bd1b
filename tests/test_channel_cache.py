"""The shared channel cache (emrlab_common/channels.py, issue 14): bounded, least recently used first, and
never closing a channel a thread still holds (grpc crashes the process on a call over a closed channel).
The DataNode's peers and the reducer's map hosts use it. No network: the channels are small objects that
record being closed and fail a call made after it, or a second close."""

from __future__ import annotations

import pytest

from emrlab_common.channels import ChannelCache
from emrlab_common.errors import Unavailable


class FakeChannel:
    def __init__(self, address: str):
        self.address = address
        self.closed = False

    def close(self) -> None:
        assert not self.closed, f"the channel to {self.address} closed twice"
        self.closed = True


class FakeStub:
    """What a gRPC stub would do: a stub built, or a call made, over a closed channel is the crash we guard
    against."""

    def __init__(self, channel: FakeChannel):
        assert not channel.closed, f"a stub built on the closed channel to {channel.address}"
        self.channel = channel

    def call(self) -> str:
        assert not self.channel.closed, f"a call over the closed channel to {self.channel.address}"
        return self.channel.address


@pytest.fixture
def opened() -> list[FakeChannel]:
    return []


@pytest.fixture
def connect(opened):
    def connect(address: str) -> FakeChannel:
        opened.append(FakeChannel(address))
        return opened[-1]

    return connect


@pytest.fixture
def channels(connect):
    return ChannelCache(connect, FakeStub, limit=2)


def closed_by_address(opened: list[FakeChannel]) -> dict[str, bool]:
    return {channel.address: channel.closed for channel in opened}


def test_one_channel_per_address_is_reused_and_its_stub_built_once(channels, opened):
    with channels.hold("a") as first:
        pass
    with channels.hold("a") as again:
        assert again.call() == "a"
    assert first is again and len(opened) == 1 and not opened[0].closed and len(channels) == 1


def test_without_make_stub_the_hold_lends_the_channel(connect, opened):
    channels = ChannelCache(connect, limit=1)
    with channels.hold("a") as channel:
        assert channel is opened[0] and not channel.closed


def test_a_held_channel_is_not_closed_by_eviction_and_closes_when_released(channels, opened):
    held = channels.hold("a")
    with channels.hold("b") as b, channels.hold("c") as c:  # every channel held: "a", the oldest, is forgotten
        assert (b.call(), c.call()) == ("b", "c")
        assert len(channels) == 2
    assert not opened[0].closed
    assert held.stub.call() == "a"
    held.release()
    assert opened[0].closed
    assert [channel.address for channel in opened if not channel.closed] == ["b", "c"]
    with channels.hold("a") as stub:  # the forgotten channel is not lent again: a new one is opened
        assert stub.channel is not opened[0]
        assert stub.call() == "a"


def test_the_least_recently_used_idle_channel_goes_first(channels, opened):
    for address in ("a", "b", "a", "c"):  # "b" is the least recently used when "c" opens
        with channels.hold(address):
            pass
    assert closed_by_address(opened) == {"a": False, "b": True, "c": False}
    assert len(channels) == 2
    with channels.hold("b") as reopened:  # a new channel, and now "a" goes
        assert reopened.call() == "b"
    assert opened[0].closed and len(channels) == 2


def test_an_idle_channel_goes_before_a_held_older_one(channels, opened):
    held = channels.hold("a")
    with channels.hold("b"):
        pass
    with channels.hold("c"):
        assert closed_by_address(opened) == {"a": False, "b": True, "c": False}
    held.release()
    assert not opened[0].closed  # still cached: it was not forgotten
    assert len(channels) == 2


def test_the_cache_never_grows_past_its_limit_while_every_channel_is_held(connect, opened):
    channels = ChannelCache(connect, FakeStub, limit=1)
    with channels.hold("a") as streaming:
        with channels.hold("b") as other:  # "a" is forgotten but stays open: a copy streams on it
            assert (streaming.call(), other.call()) == ("a", "b") and len(channels) == 1
        assert streaming.call() == "a" and not opened[1].closed
    assert opened[0].closed and not opened[1].closed and len(channels) == 1


def test_a_shared_hold_keeps_the_channel_open_until_both_let_go(channels, opened):
    responder = channels.hold("a")
    receiver = responder.share()
    with channels.hold("b"), channels.hold("c"):  # "a" is forgotten while both hold it
        pass
    responder.release()
    responder.release()  # a second release is not a second user letting go
    assert receiver.stub.call() == "a"
    receiver.release()
    assert opened[0].closed


def test_close_closes_idle_channels_now_and_held_ones_when_their_users_finish(channels, opened):
    with channels.hold("a"):
        pass
    held = channels.hold("b")
    channels.close()
    assert [channel.closed for channel in opened] == [True, False]
    assert held.stub.call() == "b"
    held.release()
    assert opened[1].closed and len(channels) == 0
    with pytest.raises(Unavailable, match="stopping"):
        channels.hold("a")
    assert len(opened) == 2

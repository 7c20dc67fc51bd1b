"""The reducer's channels to map hosts are bounded (issue 14): the least recently used idle one is
closed when one more opens, one a copy streams on never is, and the surplus goes when that copy ends."""

from __future__ import annotations

from mapreduce.task.reduce.channels import ChannelCache


class Channel:
    def __init__(self, address: str):
        self.address = address
        self.closed = False

    def close(self) -> None:
        self.closed = True


def cache(channels_max: int) -> tuple[ChannelCache, dict[str, Channel]]:
    opened: dict[str, Channel] = {}

    def connect(address: str) -> Channel:
        assert address not in opened or opened[address].closed, f"{address} opened twice"
        opened[address] = Channel(address)
        return opened[address]

    return ChannelCache(connect, channels_max), opened


def test_one_channel_per_host_is_reused():
    channels, _opened = cache(2)
    with channels.use("a:1") as first:
        pass
    with channels.use("a:1") as again:
        pass
    assert first is again and not first.closed and len(channels) == 1


def test_the_least_recently_used_idle_channel_is_closed_past_the_bound():
    channels, opened = cache(2)
    for address in ("a:1", "b:1", "a:1", "c:1"):  # b is now the least recently used
        with channels.use(address):
            pass
    assert len(channels) == 2
    assert opened["b:1"].closed and not opened["a:1"].closed and not opened["c:1"].closed
    with channels.use("b:1") as reopened:  # a new channel, and now a goes
        assert not reopened.closed
    assert opened["a:1"].closed and len(channels) == 2


def test_a_channel_in_use_is_not_closed_and_the_surplus_goes_when_its_copy_ends():
    channels, opened = cache(1)
    with channels.use("a:1") as streaming:
        with channels.use("b:1"):
            assert not streaming.closed and len(channels) == 2  # both stream: one over the bound, for now
        assert not streaming.closed and opened["b:1"].closed and len(channels) == 1
    assert not streaming.closed and len(channels) == 1


def test_close_closes_every_channel():
    channels, opened = cache(4)
    for address in ("a:1", "b:1", "c:1"):
        with channels.use(address):
            pass
    channels.close()
    assert len(channels) == 0 and all(channel.closed for channel in opened.values())

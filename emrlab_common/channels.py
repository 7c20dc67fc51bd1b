"""A bounded, least recently used cache of gRPC channels that never closes a channel in use.

Daemons and tasks talk to many peers from many threads at once (a DataNode to
the next node of a write pipeline, a reducer to the map hosts it copies from).
A gRPC channel closed under one of them does not fail that call politely: grpc
crashes the process when a stub is built or a call is made on a closed
channel. So a thread holds the channel while it uses it:

    with channels.hold(address) as stub:
        stub.InitReplicaRecovery(...)

The stub is built once, when the channel opens, so none is ever built on a
closed channel. At most `limit` channels stay cached; opening one more forgets
the least recently used idle one and closes it at once; if every cached one is
held, it forgets the least recently used held one, which closes when its last
holder lets go. `close()` (at shutdown, or when a reducer's copy phase is over)
forgets every channel the same way and refuses new holds.

Nothing here is durable: a cache starts empty and opens channels as asked.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from emrlab_common.errors import Unavailable


class _CachedChannel:
    """One channel, its stub and how many holds are on it; `forgotten` once the cache no longer lends it."""

    def __init__(self, channel, stub):
        self.channel = channel
        self.stub = stub
        self.holders = 0
        self.forgotten = False


class ChannelHold:
    """One user's hold on a channel: `stub` is safe to call until `release()` (or the `with` ends)."""

    def __init__(self, cache: ChannelCache, entry: _CachedChannel):
        self._cache = cache
        self._entry = entry
        self._released = False
        self.stub = entry.stub
        self.channel = entry.channel  # for a caller that builds its own calls on it (a test's probe)

    def share(self) -> ChannelHold:
        """A second hold on the same channel, for another thread that goes on using it (a pipeline's
        receiver and responder each hold the mirror's channel, and either may finish last)."""
        assert not self._released, "sharing a released hold"
        return self._cache._hold(self._entry)

    def release(self) -> None:
        """Let go (a second release does nothing); the channel closes if it was forgotten and this was the
        last hold on it."""
        if not self._released:
            self._released = True
            self._cache._release(self._entry)

    def __enter__(self):
        return self.stub

    def __exit__(self, *exc_info) -> None:
        self.release()


class ChannelCache:
    """`hold(address)` lends the channel to `address`, opened by `connect` if none is cached; its `stub` is
    `make_stub(channel)`, or the channel itself without `make_stub`."""

    def __init__(self, connect: Callable[[str], object], make_stub: Callable[[object], object] | None = None, *,
                 limit: int):
        assert limit >= 1
        self._connect = connect
        self._make_stub = make_stub
        self.limit = limit
        self._lock = threading.Lock()
        self._cached: OrderedDict[str, _CachedChannel] = OrderedDict()  # least recently used first
        self._closed = False

    def __len__(self) -> int:
        with self._lock:
            return len(self._cached)

    def hold(self, address: str) -> ChannelHold:
        """Unavailable once `close()` was called: a stopping owner opens no new channels."""
        with self._lock:
            if self._closed:
                raise Unavailable(f"the channels are closed (their owner is stopping): no new calls to {address}")
            entry = self._cached.get(address)
            if entry is None:
                channel = self._connect(address)
                stub = channel if self._make_stub is None else self._make_stub(channel)
                entry = self._cached[address] = _CachedChannel(channel, stub)
            self._cached.move_to_end(address)
            entry.holders += 1
            idle = self._forget_over_limit()
        self._close(idle)
        return ChannelHold(self, entry)

    def close(self) -> None:
        """Forget every channel: the idle ones close now, the held ones when their last holder lets go."""
        with self._lock:
            self._closed = True
            idle = [entry for entry in self._cached.values() if entry.holders == 0]
            for entry in self._cached.values():
                entry.forgotten = True
            self._cached.clear()
        self._close(idle)

    # ------------------------------------------------------------ for ChannelHold

    def _hold(self, entry: _CachedChannel) -> ChannelHold:
        with self._lock:
            assert entry.holders > 0, "a new hold on a channel nobody holds"
            entry.holders += 1
        return ChannelHold(self, entry)

    def _release(self, entry: _CachedChannel) -> None:
        with self._lock:
            assert entry.holders > 0
            entry.holders -= 1
            close_now = entry.forgotten and entry.holders == 0
        if close_now:
            entry.channel.close()

    # ------------------------------------------------------------ under the lock

    def _forget_over_limit(self) -> list[_CachedChannel]:
        """Forget channels, least recently used first, until at most `limit` are cached: the idle ones
        first; if every one is held, the least recently used held ones (each closes when let go)."""
        idle = []
        for address in [address for address, entry in self._cached.items() if entry.holders == 0]:
            if len(self._cached) <= self.limit:
                return idle
            entry = self._cached.pop(address)
            entry.forgotten = True
            idle.append(entry)
        while len(self._cached) > self.limit:
            _, entry = self._cached.popitem(last=False)
            entry.forgotten = True
        return idle

    @staticmethod
    def _close(entries: list[_CachedChannel]) -> None:
        for entry in entries:
            entry.channel.close()

"""The DataNode's channels to other DataNodes: a bounded, least recently used cache that never closes a
channel in use.

A DataNode talks to its peers from many threads at once: a write pipeline's
mirror to the next node, a re-replication copy, a block recovery's calls. A
gRPC channel closed under one of them does not fail that call politely: grpc
crashes the process when a stub is built or a call is made on a closed
channel. So a thread holds the channel while it uses it:

    with datanode.peer(address) as stub:
        stub.InitReplicaRecovery(...)

At most `channels_max` channels stay cached; opening one more forgets the least
recently used one, and closes it at once if nobody holds it, else when its last
holder lets go. `close()` (at shutdown) does the same for every channel: the
idle ones close now, the held ones as their users finish.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from emrlab_common.errors import Unavailable

PEER_CHANNELS_MAX = 64


class _PeerChannel:
    """One channel and how many holds are on it; `forgotten` once the cache no longer lends it."""

    def __init__(self, channel, stub):
        self.channel = channel
        self.stub = stub
        self.holders = 0
        self.forgotten = False


class PeerHold:
    """One user's hold on a peer's channel: `stub` is safe to call until `release()` (or the `with` ends)."""

    def __init__(self, channels: PeerChannels, entry: _PeerChannel):
        self._channels = channels
        self._entry = entry
        self._released = False
        self.stub = entry.stub

    def share(self) -> PeerHold:
        """A second hold on the same channel, for another thread that goes on using it (a pipeline's
        receiver and responder each hold the mirror's channel, and either may finish last)."""
        assert not self._released, "sharing a released hold"
        return self._channels._hold(self._entry)

    def release(self) -> None:
        """Let go (a second release does nothing); the channel closes if it was forgotten and this was the
        last hold on it."""
        if not self._released:
            self._released = True
            self._channels._release(self._entry)

    def __enter__(self):
        return self.stub

    def __exit__(self, *exc_info) -> None:
        self.release()


class PeerChannels:
    """`hold(address)` lends the channel to `address`, opened by `connect` if none is cached."""

    def __init__(self, connect: Callable[[str], object], make_stub: Callable[[object], object],
                 channels_max: int = PEER_CHANNELS_MAX):
        assert channels_max >= 1
        self._connect = connect
        self._make_stub = make_stub
        self.channels_max = channels_max
        self._lock = threading.Lock()
        self._cached: OrderedDict[str, _PeerChannel] = OrderedDict()  # least recently used first
        self._closed = False

    def __len__(self) -> int:
        with self._lock:
            return len(self._cached)

    def hold(self, address: str) -> PeerHold:
        """Unavailable once `close()` was called: a stopping DataNode opens no new channels."""
        with self._lock:
            if self._closed:
                raise Unavailable(f"the DataNode is stopping: no new calls to {address}")
            entry = self._cached.get(address)
            if entry is None:
                channel = self._connect(address)
                entry = self._cached[address] = _PeerChannel(channel, self._make_stub(channel))
            self._cached.move_to_end(address)
            entry.holders += 1
            idle = self._forget_over_limit()
        self._close(idle)
        return PeerHold(self, entry)

    def close(self) -> None:
        """Forget every channel: the idle ones close now, the held ones when their last holder lets go."""
        with self._lock:
            self._closed = True
            idle = [entry for entry in self._cached.values() if entry.holders == 0]
            for entry in self._cached.values():
                entry.forgotten = True
            self._cached.clear()
        self._close(idle)

    # ------------------------------------------------------------ for PeerHold

    def _hold(self, entry: _PeerChannel) -> PeerHold:
        with self._lock:
            assert entry.holders > 0, "a new hold on a channel nobody holds"
            entry.holders += 1
        return PeerHold(self, entry)

    def _release(self, entry: _PeerChannel) -> None:
        with self._lock:
            assert entry.holders > 0
            entry.holders -= 1
            close_now = entry.forgotten and entry.holders == 0
        if close_now:
            entry.channel.close()

    # ------------------------------------------------------------ under the lock

    def _forget_over_limit(self) -> list[_PeerChannel]:
        """Forget channels, least recently used first, until at most `channels_max` are cached: the idle
        ones first; if every one is held, the least recently used held ones (each closes when let go)."""
        idle = []
        for address in [address for address, entry in self._cached.items() if entry.holders == 0]:
            if len(self._cached) <= self.channels_max:
                return idle
            entry = self._cached.pop(address)
            entry.forgotten = True
            idle.append(entry)
        while len(self._cached) > self.channels_max:
            _, entry = self._cached.popitem(last=False)
            entry.forgotten = True
        return idle

    @staticmethod
    def _close(entries: list[_PeerChannel]) -> None:
        for entry in entries:
            entry.channel.close()

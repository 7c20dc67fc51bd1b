"""The reducer's open channels to map hosts' shuffle services: a bounded, least recently used cache.

A reducer of a job with maps on hundreds of nodes must not hold hundreds of
connections open to the end of its copy phase. At most `channels_max` stay
open; opening one more closes the least recently used one that no copy is
streaming on. Copies in flight are bounded by
`mapreduce.reduce.shuffle.parallelcopies`, so when every open channel is in use
the cache holds one more for a while and closes the surplus as soon as a copy
on it ends.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# Open channels to map hosts one reducer keeps, idle ones included (Hadoop's fetchers keep one
# connection each, mapreduce.reduce.shuffle.parallelcopies of them: 5 by default).
SHUFFLE_CHANNELS_MAX = 16


class ChannelCache:
    """`use(address)` lends the channel to `address`, opened by `connect` if none is open."""

    def __init__(self, connect: Callable[[str], object], channels_max: int = SHUFFLE_CHANNELS_MAX):
        assert channels_max >= 1
        self._connect = connect
        self.channels_max = channels_max
        self._lock = threading.Lock()
        self._channels: OrderedDict[str, object] = OrderedDict()  # least recently used first
        self._in_use: dict[str, int] = {}  # address -> copies streaming on its channel

    def __len__(self) -> int:
        with self._lock:
            return len(self._channels)

    @contextmanager
    def use(self, address: str) -> Iterator[object]:
        with self._lock:
            channel = self._channels.get(address)
            if channel is None:
                channel = self._channels[address] = self._connect(address)
            self._channels.move_to_end(address)
            self._in_use[address] = self._in_use.get(address, 0) + 1
            evicted = self._evict()
        self._close(evicted)
        try:
            yield channel
        finally:
            with self._lock:
                self._in_use[address] -= 1
                if not self._in_use[address]:
                    del self._in_use[address]
                evicted = self._evict()
            self._close(evicted)

    def close(self) -> None:
        """Close every channel (the fetch is over)."""
        with self._lock:
            channels, self._channels, self._in_use = list(self._channels.values()), OrderedDict(), {}
        self._close(channels)

    def _evict(self) -> list:
        """Forget idle channels, least recently used first, until at most `channels_max` are open."""
        evicted = []
        for address in list(self._channels):
            if len(self._channels) <= self.channels_max:
                break
            if address not in self._in_use:
                evicted.append(self._channels.pop(address))
        return evicted

    @staticmethod
    def _close(channels: list) -> None:
        for channel in channels:
            channel.close()

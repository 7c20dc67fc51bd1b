"""DataNodes as the NameNode sees them: liveness, space, and commands waiting for them.

Rebuilt at start, never stored: DataNodes register and heartbeat, and a
DataNode silent for `2 * recheck-interval + 10 * heartbeat-interval` is dead
(Hadoop's formula). The NameNode never calls a DataNode; commands queue here
and leave on the DataNode's next heartbeat response, a bounded number at a time.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field

from hdfs.namenode.config import NameNodeConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BlockRef:
    """A block as the wire names it: id, generation stamp, length."""

    block_id: int
    generation_stamp: int
    length_bytes: int


@dataclass(frozen=True)
class TransferCommand:
    block: BlockRef
    targets: tuple[DatanodeDescriptor, ...]


@dataclass(frozen=True)
class InvalidateCommand:
    blocks: tuple[BlockRef, ...]


@dataclass(frozen=True)
class RecoverCommand:
    block: BlockRef
    new_generation_stamp: int
    locations: tuple[DatanodeDescriptor, ...]


@dataclass(frozen=True)
class RegisterCommand:
    pass


DatanodeCommand = TransferCommand | InvalidateCommand | RecoverCommand | RegisterCommand


@dataclass(eq=False)
class DatanodeDescriptor:
    uuid: str
    node_id: str
    address: str
    capacity_bytes: int = 0
    dfs_used_bytes: int = 0
    remaining_bytes: int = 0
    active_transfers: int = 0
    last_heartbeat_s: float = 0.0
    live: bool = True
    block_ids: set[int] = field(default_factory=set, repr=False)
    transfers: deque[TransferCommand] = field(default_factory=deque, repr=False)
    invalidations: dict[int, BlockRef] = field(default_factory=dict, repr=False)
    recoveries: deque[RecoverCommand] = field(default_factory=deque, repr=False)

    def __hash__(self) -> int:
        return hash(self.uuid)

    def __str__(self) -> str:
        return f"{self.node_id}({self.address})"


class DatanodeManager:
    def __init__(self, config: NameNodeConfig):
        self.config = config
        self.by_uuid: dict[str, DatanodeDescriptor] = {}
        self.expire_interval_s = 2 * config.heartbeat_recheck_interval_s + 10 * config.heartbeat_interval_s

    def register(self, uuid: str, node_id: str, address: str, capacity_bytes: int, now_s: float) -> DatanodeDescriptor:
        """Add a DataNode, or bring back one we knew (a restart, or after being declared dead)."""
        datanode = self.by_uuid.get(uuid)
        if datanode is None:
            datanode = DatanodeDescriptor(uuid, node_id, address)
            self.by_uuid[uuid] = datanode
            logger.info("registered new datanode %s uuid=%s", datanode, uuid)
        else:
            logger.info("datanode %s re-registered (was %s)", datanode, "live" if datanode.live else "dead")
            datanode.address = address
            datanode.transfers.clear()
            datanode.recoveries.clear()
        datanode.capacity_bytes = capacity_bytes
        datanode.live = True
        datanode.last_heartbeat_s = now_s
        return datanode

    def heartbeat(self, uuid: str, capacity_bytes: int, dfs_used_bytes: int, remaining_bytes: int,
                  active_transfers: int, now_s: float) -> DatanodeDescriptor | None:
        """Record a heartbeat; None means "unknown or declared dead: register again"."""
        datanode = self.by_uuid.get(uuid)
        if datanode is None or not datanode.live:
            return None
        datanode.capacity_bytes = capacity_bytes
        datanode.dfs_used_bytes = dfs_used_bytes
        datanode.remaining_bytes = remaining_bytes
        datanode.active_transfers = active_transfers
        datanode.last_heartbeat_s = now_s
        return datanode

    def find_dead(self, now_s: float) -> list[DatanodeDescriptor]:
        """Declare dead every live DataNode silent for longer than the expiry interval."""
        dead = []
        for datanode in self.by_uuid.values():
            if datanode.live and now_s - datanode.last_heartbeat_s > self.expire_interval_s:
                datanode.live = False
                datanode.transfers.clear()
                datanode.invalidations.clear()
                datanode.recoveries.clear()
                logger.info("datanode %s is dead: no heartbeat for %.1fs", datanode, now_s - datanode.last_heartbeat_s)
                dead.append(datanode)
        return dead

    def get(self, uuid: str) -> DatanodeDescriptor | None:
        return self.by_uuid.get(uuid)

    def live(self) -> list[DatanodeDescriptor]:
        return [datanode for datanode in self.by_uuid.values() if datanode.live]

    def dead(self) -> list[DatanodeDescriptor]:
        return [datanode for datanode in self.by_uuid.values() if not datanode.live]

    def take_commands(self, datanode: DatanodeDescriptor) -> list[DatanodeCommand]:
        """The commands for one heartbeat response, within the per-heartbeat limits."""
        commands: list[DatanodeCommand] = []
        while datanode.recoveries:
            commands.append(datanode.recoveries.popleft())
        streams_free = max(0, self.config.replication_streams_max - datanode.active_transfers)
        while datanode.transfers and streams_free > 0:
            commands.append(datanode.transfers.popleft())
            streams_free -= 1
        if datanode.invalidations:
            block_ids = list(datanode.invalidations)[: self.config.invalidate_limit]
            commands.append(InvalidateCommand(tuple(datanode.invalidations.pop(block_id) for block_id in block_ids)))
        return commands

"""DataNodes as the NameNode sees them: liveness, space, and commands waiting for them.

Rebuilt at start, never stored: DataNodes register and heartbeat, and a
DataNode silent for `2 * recheck-interval + 10 * heartbeat-interval` is dead
(Hadoop's formula). The NameNode never calls a DataNode; commands queue here
and leave on the DataNode's next heartbeat response, a bounded number at a time.

Each DataNode also has an admin state (Hadoop's AdminStates): NORMAL, or,
once the exclude file (`dfs.hosts.exclude`) names it, DECOMMISSION_INPROGRESS
(no new replicas go there, its replicas are copied elsewhere, it still serves
reads) and then DECOMMISSIONED. The exclude list is re-read from the file at
start and on `dfsadmin -refreshNodes`; it is not stored in the namespace.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from dataclasses import dataclass, field

from emrlab_common.lifecycle import next_state
from hdfs.namenode.config import TRANSFERS_QUEUED_MAX, NameNodeConfig
from hdfs.namenode.events import BlockRef, DatanodeCommand, InvalidateCommand, RecoverCommand, TransferCommand

logger = logging.getLogger(__name__)

# Commands (declared in events.py) wait in a DataNode's descriptor until its next heartbeat. The replication
# monitor queues no more copies than the node's transfer streams allow (at most TRANSFERS_QUEUED_MAX, which the
# configuration checks), and lease recovery no more than this many recoveries; a queue at its limit is a bug
# (copies) or waits for the next pass (recoveries). Deletions leave dfs.block.invalidate.limit per heartbeat;
# one refused at its bound is not lost: the replica is still on the DataNode's disk, its next full block report
# names it, and the block map deletes it then.
RECOVERIES_QUEUED_MAX = 64
INVALIDATIONS_QUEUED_MAX = 100_000  # a hundred heartbeats' worth at Hadoop's default invalidate limit (1000)


class AdminState(enum.Enum):
    """The words `dfsadmin -report` prints after "Decommission Status : "."""

    NORMAL = "Normal"
    DECOMMISSION_INPROGRESS = "Decommission in progress"
    DECOMMISSIONED = "Decommissioned"


class AdminEvent(enum.Enum):
    EXCLUDE = "excluded"
    REPLICATED = "replicas safe elsewhere"
    INCLUDE = "no longer excluded"


ADMIN_TRANSITIONS = {
    (AdminState.NORMAL, AdminEvent.EXCLUDE): AdminState.DECOMMISSION_INPROGRESS,
    (AdminState.DECOMMISSION_INPROGRESS, AdminEvent.REPLICATED): AdminState.DECOMMISSIONED,
    (AdminState.DECOMMISSION_INPROGRESS, AdminEvent.INCLUDE): AdminState.NORMAL,
    (AdminState.DECOMMISSIONED, AdminEvent.INCLUDE): AdminState.NORMAL,
}


@dataclass(eq=False)
class DatanodeDescriptor:
    uuid: str
    node_id: str
    address: str
    xfer_port: int = 0  # its streaming data transfer port (hdfs/datatransfer.py); 0: none
    capacity_bytes: int = 0
    dfs_used_bytes: int = 0
    remaining_bytes: int = 0
    active_transfers: int = 0
    last_heartbeat_s: float = 0.0
    live: bool = True
    admin_state: AdminState = AdminState.NORMAL
    block_key_id: int = 0  # the newest block key it has been sent
    block_ids: set[int] = field(default_factory=set, repr=False)
    transfers: deque[TransferCommand] = field(default_factory=deque, repr=False)
    invalidations: dict[int, BlockRef] = field(default_factory=dict, repr=False)
    recoveries: deque[RecoverCommand] = field(default_factory=deque, repr=False)

    def __hash__(self) -> int:
        return hash(self.uuid)

    @property
    def in_service(self) -> bool:
        """Live and not being decommissioned: may take new replicas, and its replicas count."""
        return self.live and self.admin_state is AdminState.NORMAL

    def names(self) -> set[str]:
        """What an exclude file may call this DataNode: its node id, address, host or uuid."""
        return {self.node_id, self.address, self.address.rsplit(":", 1)[0], self.uuid}

    @property
    def transfers_in_flight(self) -> int:
        """Copies it is doing or has been told to do: what the replication monitor's stream limits count."""
        return len(self.transfers) + self.active_transfers

    def queue_transfer(self, command: TransferCommand) -> None:
        assert len(self.transfers) < TRANSFERS_QUEUED_MAX, f"{self}: {len(self.transfers)} copies queued"
        self.transfers.append(command)

    def queue_invalidation(self, ref: BlockRef) -> bool:
        """Queue the deletion of its replica of `ref` for its next heartbeats; False if its queue is full.

        Either way the replica no longer counts as this DataNode's (see INVALIDATIONS_QUEUED_MAX)."""
        self.block_ids.discard(ref.block_id)
        if ref.block_id not in self.invalidations and len(self.invalidations) >= INVALIDATIONS_QUEUED_MAX:
            return False
        self.invalidations[ref.block_id] = ref
        return True

    def deletion_queued(self, block_id: int) -> bool:
        return block_id in self.invalidations

    def add_block(self, block_id: int) -> None:
        """It holds a replica of the block (good or corrupt): the block map counts it here."""
        self.block_ids.add(block_id)

    def remove_block(self, block_id: int) -> None:
        self.block_ids.discard(block_id)

    def forget_blocks(self) -> None:
        """Dead or re-registered: what it holds is unknown until its next block report."""
        self.block_ids.clear()

    def queue_recovery(self, command: RecoverCommand) -> bool:
        """Queue a block recovery for its next heartbeat; False if its queue is full (try on a later pass)."""
        if len(self.recoveries) >= RECOVERIES_QUEUED_MAX:
            return False
        self.recoveries.append(command)
        return True

    def admin(self, event: AdminEvent, cause: str = "") -> None:
        self.admin_state = next_state(ADMIN_TRANSITIONS, self.admin_state, event, f"datanode {self}", cause)

    def __str__(self) -> str:
        return f"{self.node_id}({self.address})"


def stable_order(datanode: DatanodeDescriptor) -> tuple[str, str]:
    """A sort key that is the same in every run: node id, then uuid (storage uuids are random, and sets of
    them iterate in a different order in every process), so random choices replay from the seed."""
    return datanode.node_id, datanode.uuid


class DatanodeManager:
    def __init__(self, config: NameNodeConfig):
        self.config = config
        self.by_uuid: dict[str, DatanodeDescriptor] = {}
        self.expire_interval_s = 2 * config.heartbeat_recheck_interval_s + 10 * config.heartbeat_interval_s
        self.excluded: set[str] = set()  # names from the exclude file

    def register(self, uuid: str, node_id: str, address: str, capacity_bytes: int, now_s: float,
                 xfer_port: int = 0) -> DatanodeDescriptor:
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
        datanode.xfer_port = xfer_port
        datanode.capacity_bytes = capacity_bytes
        datanode.live = True
        datanode.last_heartbeat_s = now_s
        if self.is_excluded(datanode) and datanode.admin_state is AdminState.NORMAL:
            datanode.admin(AdminEvent.EXCLUDE, "registered while in the exclude file")
        return datanode

    def is_excluded(self, datanode: DatanodeDescriptor) -> bool:
        return not self.excluded.isdisjoint(datanode.names())

    def refresh(self, excluded: set[str]) -> tuple[list[DatanodeDescriptor], list[DatanodeDescriptor]]:
        """Take a new exclude list: (DataNodes now decommissioning, DataNodes recommissioned)."""
        self.excluded = set(excluded)
        started, recommissioned = [], []
        for datanode in self._ordered():
            excluded_now = self.is_excluded(datanode)
            if excluded_now and datanode.admin_state is AdminState.NORMAL:
                datanode.admin(AdminEvent.EXCLUDE, "in the exclude file")
                started.append(datanode)
            elif not excluded_now and datanode.admin_state is not AdminState.NORMAL:
                datanode.admin(AdminEvent.INCLUDE, "removed from the exclude file")
                recommissioned.append(datanode)
        return started, recommissioned

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
        for datanode in self._ordered():
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

    def _ordered(self) -> list[DatanodeDescriptor]:
        """Every DataNode in `stable_order`, never in registration order (which differs from run to run)."""
        return sorted(self.by_uuid.values(), key=stable_order)

    def all(self) -> list[DatanodeDescriptor]:
        """Every DataNode ever registered, live or dead, in node id order."""
        return self._ordered()

    def named(self, name: str) -> list[DatanodeDescriptor]:
        """The DataNodes an exclude file line `name` means (see `DatanodeDescriptor.names`)."""
        return [datanode for datanode in self._ordered() if name in datanode.names()]

    def decommissioning(self) -> list[DatanodeDescriptor]:
        return [datanode for datanode in self._ordered() if datanode.admin_state is AdminState.DECOMMISSION_INPROGRESS]

    def live(self) -> list[DatanodeDescriptor]:
        return [datanode for datanode in self._ordered() if datanode.live]

    def in_service(self) -> list[DatanodeDescriptor]:
        return [datanode for datanode in self._ordered() if datanode.in_service]

    def dead(self) -> list[DatanodeDescriptor]:
        return [datanode for datanode in self._ordered() if not datanode.live]

    def validate_state(self) -> None:
        for uuid, datanode in self.by_uuid.items():
            assert datanode.uuid == uuid
            assert len(datanode.transfers) <= TRANSFERS_QUEUED_MAX and len(datanode.recoveries) <= RECOVERIES_QUEUED_MAX
            assert len(datanode.invalidations) <= INVALIDATIONS_QUEUED_MAX, f"{datanode}: too many deletions queued"
            if not datanode.live:
                assert not (datanode.transfers or datanode.recoveries or datanode.invalidations), f"dead {datanode} has work"
                assert not datanode.block_ids, f"dead {datanode} still counted as holding blocks"

    def take_commands(self, datanode: DatanodeDescriptor) -> list[DatanodeCommand]:
        """The commands for one heartbeat response, within the per-heartbeat limits."""
        commands: list[DatanodeCommand] = []
        while datanode.recoveries:
            commands.append(datanode.recoveries.popleft())
        # The monitor queues at most max-streams (hard limit for blocks with one replica); this bounds the sum.
        streams_free = max(0, self.config.replication_streams_hard_limit - datanode.active_transfers)
        while datanode.transfers and streams_free > 0:
            commands.append(datanode.transfers.popleft())
            streams_free -= 1
        if datanode.invalidations:
            block_ids = list(datanode.invalidations)[: self.config.invalidate_limit]
            commands.append(InvalidateCommand(tuple(datanode.invalidations.pop(block_id) for block_id in block_ids)))
        return commands

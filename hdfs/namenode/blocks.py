"""The block map: every block, where its replicas are, and the work to keep it replicated.

Blocks (id, generation stamp, length, owning file) are durable through the
namespace. Replica locations are not: they are rebuilt at start from block
reports, then kept current by incremental reports, bad-block reports and
DataNode deaths. From those, the replication monitor (`compute_work`)
schedules copies of under-replicated blocks, deletes excess and corrupt
replicas, and re-schedules copies that never arrived.

Replicas on decommissioning or decommissioned DataNodes still serve reads and
may be copied from, but do not count towards a block's replication: a block
whose other replicas are too few is under-replicated, and its copies go to
in-service nodes only.

A block's life: UNDER_CONSTRUCTION while its pipeline writes it; COMMITTED
when the client says its final length; COMPLETE once a replica is reported
(or the file is closed); UNDER_RECOVERY while lease recovery settles a block
whose writer vanished.
"""

from __future__ import annotations

import enum
import logging
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from emrlab_common.lifecycle import next_state
from hdfs.namenode.config import NameNodeConfig
from hdfs.namenode.datanodes import INVALIDATIONS_QUEUED_MAX, DatanodeDescriptor, DatanodeManager, stable_order
from hdfs.namenode.events import BlockRef, TransferCommand
from hdfs.namenode.placement import choose_targets

if TYPE_CHECKING:
    from hdfs.namenode.inodes import INodeFile

logger = logging.getLogger(__name__)


class BlockState(enum.Enum):
    UNDER_CONSTRUCTION = "uc"
    UNDER_RECOVERY = "recovery"
    COMMITTED = "committed"
    COMPLETE = "complete"


class BlockEvent(enum.Enum):
    COMMIT = "commit"  # its writer (or lease recovery) says how long it is
    START_RECOVERY = "start recovery"  # its writer went quiet: a DataNode is asked to settle it
    MIN_REPLICATED = "min replicated"  # committed, and dfs.namenode.replication.min replicas reported it
    CLOSE = "close"  # its file is closed (complete, lease recovery, or the edit log's CloseFile replayed)


_B, _BE = BlockState, BlockEvent
# Hadoop's BlockUCState. A COMPLETE block takes no event (commit and close leave it as it is).
BLOCK_TRANSITIONS: dict[tuple[BlockState, BlockEvent], BlockState] = {
    (_B.UNDER_CONSTRUCTION, _BE.COMMIT): _B.COMMITTED,
    (_B.UNDER_RECOVERY, _BE.COMMIT): _B.COMMITTED,
    (_B.COMMITTED, _BE.COMMIT): _B.COMMITTED,  # a retried complete() commits again
    (_B.UNDER_CONSTRUCTION, _BE.START_RECOVERY): _B.UNDER_RECOVERY,
    (_B.UNDER_RECOVERY, _BE.START_RECOVERY): _B.UNDER_RECOVERY,  # the last recovery's deadline passed
    (_B.COMMITTED, _BE.MIN_REPLICATED): _B.COMPLETE,
    **{(state, _BE.CLOSE): _B.COMPLETE for state in (_B.UNDER_CONSTRUCTION, _B.UNDER_RECOVERY, _B.COMMITTED)},
}


@dataclass(eq=False)
class BlockInfo:
    block_id: int
    generation_stamp: int
    length_bytes: int
    file: INodeFile | None
    state: BlockState = BlockState.UNDER_CONSTRUCTION
    # DataNodes of the write pipeline, or holding a replica-being-written: the candidates for recovery.
    expected_locations: set[str] = field(default_factory=set)
    recovery_deadline_s: float = 0.0

    @property
    def is_under_construction(self) -> bool:
        return self.state in (BlockState.UNDER_CONSTRUCTION, BlockState.UNDER_RECOVERY)

    def handle(self, event: BlockEvent) -> None:
        self.state = next_state(BLOCK_TRANSITIONS, self.state, event, f"blk_{self.block_id}")

    def ref(self) -> BlockRef:
        return BlockRef(self.block_id, self.generation_stamp, self.length_bytes)

    def __str__(self) -> str:
        return f"blk_{self.block_id}_{self.generation_stamp}"


class Priority(enum.IntEnum):
    """Hadoop's LowRedundancyBlocks queues: the block closest to being lost is copied first."""

    HIGHEST = 0       # one replica left (or only replicas on decommissioning nodes)
    VERY_LOW = 1      # fewer than a third of its replicas
    LOW = 2           # any other under-replicated block
    CORRUPT = 4       # no good replica to copy from


@dataclass
class PendingReplication:
    targets: set[str]
    deadline_s: float


class BlockManager:
    def __init__(self, config: NameNodeConfig, datanodes: DatanodeManager, rng: random.Random):
        """`rng` is seeded from the NameNode's logged seed: with it and the same events, a run replays."""
        self.config = config
        self.datanodes = datanodes
        self.rng = rng
        self.blocks: dict[int, BlockInfo] = {}
        self.locations: dict[int, set[str]] = {}  # block id -> DataNodes with a good replica
        self.corrupt: dict[int, set[str]] = {}    # block id -> DataNodes with a corrupt replica
        self.pending: dict[int, PendingReplication] = {}
        self.under_replicated: set[int] = set()
        self.to_check: set[int] = set()

    # ------------------------------------------------------------ the namespace's side

    def get(self, block_id: int) -> BlockInfo | None:
        return self.blocks.get(block_id)

    def __len__(self) -> int:
        return len(self.blocks)

    def add_block(self, block: BlockInfo) -> None:
        assert block.block_id not in self.blocks, block
        self.blocks[block.block_id] = block
        self.locations[block.block_id] = set()

    def remove_block(self, block: BlockInfo) -> None:
        """The block left the namespace: every replica of it is garbage now."""
        self.blocks.pop(block.block_id, None)
        holders = self.locations.pop(block.block_id, set()) | self.corrupt.pop(block.block_id, set())
        holders |= block.expected_locations
        for uuid in sorted(holders):
            self._invalidate(uuid, block.ref())
        self.pending.pop(block.block_id, None)
        self.under_replicated.discard(block.block_id)
        block.file = None

    def commit(self, block: BlockInfo, length_bytes: int) -> None:
        if block.state is BlockState.COMPLETE:
            return
        block.length_bytes = length_bytes
        block.handle(BlockEvent.COMMIT)
        self.to_check.add(block.block_id)
        self._complete_if_replicated(block)

    def complete(self, block: BlockInfo) -> None:
        if block.state is not BlockState.COMPLETE:
            block.handle(BlockEvent.CLOSE)
        block.expected_locations.clear()
        self.to_check.add(block.block_id)

    def start_recovery(self, block: BlockInfo, deadline_s: float) -> None:
        """Lease recovery has asked a DataNode to settle this block; until `deadline_s` it is not asked again."""
        block.handle(BlockEvent.START_RECOVERY)
        block.recovery_deadline_s = deadline_s

    def update_generation(self, block: BlockInfo, generation_stamp: int, length_bytes: int) -> None:
        block.generation_stamp = generation_stamp
        block.length_bytes = length_bytes

    def check_replication(self, block: BlockInfo) -> None:
        self.to_check.add(block.block_id)

    # ------------------------------------------------------------ reports from DataNodes

    def replica_reported(self, datanode: DatanodeDescriptor, reported: BlockRef, finalized: bool) -> None:
        """A DataNode has a replica (from a block report or "block received")."""
        block = self.blocks.get(reported.block_id)
        if block is None or reported.generation_stamp < block.generation_stamp:
            self._invalidate(datanode.uuid, reported)
            return
        if block.is_under_construction:
            block.expected_locations.add(datanode.uuid)
            if not finalized or reported.generation_stamp != block.generation_stamp:
                return
        elif not finalized:
            self._invalidate(datanode.uuid, reported)
            return
        elif reported.length_bytes != block.length_bytes or reported.generation_stamp != block.generation_stamp:
            logger.warning("replica %s on %s has length %d, expected %d: corrupt",
                           block, datanode, reported.length_bytes, block.length_bytes)
            self.mark_corrupt(block.block_id, datanode)
            return
        if datanode.uuid in self.corrupt.get(block.block_id, ()):
            return
        self.locations[block.block_id].add(datanode.uuid)
        datanode.add_block(block.block_id)
        pending = self.pending.get(block.block_id)
        if pending is not None:
            pending.targets.discard(datanode.uuid)
            if not pending.targets:
                del self.pending[block.block_id]
        self.to_check.add(block.block_id)
        self._complete_if_replicated(block)

    def replica_deleted(self, datanode: DatanodeDescriptor, block_id: int) -> None:
        datanode.remove_block(block_id)
        self.corrupt.get(block_id, set()).discard(datanode.uuid)
        if datanode.uuid in self.locations.get(block_id, ()):
            self.locations[block_id].discard(datanode.uuid)
            self.to_check.add(block_id)

    def block_report(self, datanode: DatanodeDescriptor, replicas: list[tuple[BlockRef, bool]]) -> None:
        """A full report replaces what we believed this DataNode holds."""
        reported_ids = {ref.block_id for ref, _ in replicas}
        for block_id in sorted(datanode.block_ids - reported_ids):
            self.replica_deleted(datanode, block_id)
        for ref, finalized in replicas:
            self.replica_reported(datanode, ref, finalized)

    def mark_corrupt(self, block_id: int, datanode: DatanodeDescriptor) -> None:
        block = self.blocks.get(block_id)
        if block is None:
            return
        logger.info("replica of %s on %s is corrupt", block, datanode)
        self.locations[block_id].discard(datanode.uuid)
        self.corrupt.setdefault(block_id, set()).add(datanode.uuid)
        datanode.add_block(block_id)
        self.to_check.add(block_id)

    def datanode_dead(self, datanode: DatanodeDescriptor) -> None:
        """Its replicas are gone from our view; the monitor will copy what is now short."""
        for block_id in datanode.block_ids:
            self.locations.get(block_id, set()).discard(datanode.uuid)
            self.corrupt.get(block_id, set()).discard(datanode.uuid)
            self.to_check.add(block_id)
        datanode.forget_blocks()

    # ------------------------------------------------------------ questions

    def live_replicas(self, block: BlockInfo) -> list[DatanodeDescriptor]:
        """In `stable_order`: what reads shuffle, copies choose a source from and deletions pick from."""
        return self._live_nodes(self.locations.get(block.block_id, ()))

    def in_service_replicas(self, block: BlockInfo) -> list[DatanodeDescriptor]:
        """The replicas that count towards the block's replication."""
        return [node for node in self.live_replicas(block) if node.in_service]

    def corrupt_replicas(self, block: BlockInfo) -> list[DatanodeDescriptor]:
        return self._live_nodes(self.corrupt.get(block.block_id, ()))

    def _live_nodes(self, uuids) -> list[DatanodeDescriptor]:
        nodes = (self.datanodes.get(uuid) for uuid in uuids)
        return sorted((node for node in nodes if node is not None and node.live), key=stable_order)

    def counts(self) -> dict[str, int]:
        """Blocks that are under-replicated, corrupt (only corrupt replicas) and missing (none)."""
        under = corrupt = missing = 0
        for block in self.blocks.values():
            if block.is_under_construction or block.file is None:
                continue
            if not self.live_replicas(block):
                if self.corrupt_replicas(block):
                    corrupt += 1
                else:
                    missing += 1
            elif len(self.in_service_replicas(block)) < block.file.replication:
                under += 1
        return {"under_replicated": under, "corrupt": corrupt, "missing": missing}

    def safe_block_count(self) -> tuple[int, int]:
        """(blocks with at least the minimum replicas, blocks that count), for safe mode."""
        total = safe = 0
        for block in self.blocks.values():
            if block.state is not BlockState.COMPLETE:
                continue
            total += 1
            if len(self.live_replicas(block)) >= self.config.replication_min:
                safe += 1
        return safe, total

    # ------------------------------------------------------------ the replication monitor

    def check_all(self) -> None:
        self.to_check.update(self.blocks)

    def compute_work(self, now_s: float) -> None:
        """One pass of the replication monitor: classify changed blocks, then schedule copies."""
        for block_id, pending in list(self.pending.items()):
            if now_s > pending.deadline_s:
                logger.info("re-replication of blk_%d to %s timed out; will schedule again", block_id, pending.targets)
                del self.pending[block_id]
                self.to_check.add(block_id)
        checking, self.to_check = sorted(self.to_check), set()
        for block_id in checking:  # in block id order, so that the work queued replays too
            self._classify(block_id)
        budget = self.config.replication_work_multiplier * max(1, len(self.datanodes.live()))
        queued = sorted((self.priority(self.blocks[block_id]), block_id) for block_id in self.under_replicated)
        for priority, block_id in queued:
            if budget <= 0 or priority is Priority.CORRUPT:
                break
            if self._schedule_replication(self.blocks[block_id], now_s, priority):
                budget -= 1

    def priority(self, block: BlockInfo) -> Priority:
        in_service = len(self.in_service_replicas(block))
        if not self.live_replicas(block):
            return Priority.CORRUPT
        if in_service <= 1:
            return Priority.HIGHEST
        if in_service * 3 < block.file.replication:
            return Priority.VERY_LOW
        return Priority.LOW

    def _classify(self, block_id: int) -> None:
        block = self.blocks.get(block_id)
        if block is None or block.file is None or block.is_under_construction:
            self.under_replicated.discard(block_id)
            return
        expected = block.file.replication
        live = self.in_service_replicas(block)
        if len(live) < expected:
            self.under_replicated.add(block_id)
            return
        self.under_replicated.discard(block_id)
        for uuid in sorted(self.corrupt.pop(block_id, set())):
            self._invalidate(uuid, block.ref())
        if len(live) > expected:
            # Delete from the fullest DataNodes first, as Hadoop prefers the one with least space left
            # (a stable sort of live replicas in stable order: ties go the same way in every run).
            excess = sorted(live, key=lambda node: node.remaining_bytes)[: len(live) - expected]
            for datanode in excess:
                logger.info("%s has %d replicas, wants %d: deleting the one on %s", block, len(live), expected, datanode)
                self.locations[block_id].discard(datanode.uuid)
                self._invalidate(datanode.uuid, block.ref())

    def _schedule_replication(self, block: BlockInfo, now_s: float, priority: Priority) -> bool:
        live = self.live_replicas(block)
        pending = self.pending.get(block.block_id)
        pending_targets = pending.targets if pending else set()
        needed = block.file.replication - len(self.in_service_replicas(block)) - len(pending_targets)
        if not live or needed <= 0:
            return False
        streams_max = (self.config.replication_streams_hard_limit if priority is Priority.HIGHEST
                       else self.config.replication_streams_max)
        sources = [node for node in live if node.transfers_in_flight < streams_max]
        if not sources:
            return False
        # A decommissioning node is the preferred source, as in Hadoop: it takes no writes, so it has time.
        # Ties go to the first in stable order (`live` is), so the choice replays.
        source = min(sources, key=lambda node: (node.in_service, node.transfers_in_flight))
        excluded = {node.uuid for node in live} | self.corrupt.get(block.block_id, set()) | pending_targets
        # A node still due to delete an old replica of this block must not receive a new one yet.
        excluded |= {node.uuid for node in self.datanodes.live() if node.deletion_queued(block.block_id)}
        targets = choose_targets(needed, self.datanodes.in_service(), excluded, None, block.length_bytes, self.rng)
        if not targets:
            # Every other node already holds the block, some only a corrupt replica: delete those
            # first, so that their nodes can take a good copy on the next pass.
            for uuid in sorted(self.corrupt.pop(block.block_id, set())):
                logger.info("%s: deleting the corrupt replica on %s to make room for a good one", block, uuid)
                self._invalidate(uuid, block.ref())
            return False
        source.queue_transfer(TransferCommand(block.ref(), tuple(targets)))
        deadline_s = now_s + self.config.reconstruction_pending_timeout_s
        self.pending[block.block_id] = PendingReplication(pending_targets | {node.uuid for node in targets}, deadline_s)
        logger.info("scheduled copy of %s from %s to %s (has %d of %d)", block, source,
                    ", ".join(map(str, targets)), len(live), block.file.replication)
        return True

    def replicas_safe_elsewhere(self, datanode: DatanodeDescriptor) -> bool:
        """Whether every block this DataNode holds or is writing has its replication on in-service nodes."""
        for block_id in datanode.block_ids:
            block = self.blocks.get(block_id)
            if block is not None and block.file is not None and not block.is_under_construction \
                    and len(self.in_service_replicas(block)) < block.file.replication:
                return False
        return not any(block.is_under_construction and datanode.uuid in block.expected_locations
                       for block in self.blocks.values())

    def check_datanode_blocks(self, datanode: DatanodeDescriptor) -> None:
        """Its admin state changed: look at the replication of every block it holds."""
        self.to_check.update(datanode.block_ids)

    def validate_state(self) -> None:
        """The block map's invariants (run by the tests after every step; a failure is a bug here)."""
        assert self.blocks.keys() == self.locations.keys(), "every block has a location set, and only blocks do"
        assert self.corrupt.keys() <= self.blocks.keys() and self.pending.keys() <= self.blocks.keys()
        assert self.under_replicated <= self.blocks.keys()
        for block_id, block in self.blocks.items():
            assert block.block_id == block_id and block.file is not None and block in block.file.blocks, block
            assert not self.locations[block_id] & self.corrupt.get(block_id, set()), f"{block}: good and corrupt"
            for uuid in self.locations[block_id] | self.corrupt.get(block_id, set()):
                datanode = self.datanodes.get(uuid)
                assert datanode is not None and datanode.live, f"{block}: a replica on dead or unknown {uuid}"
                assert block_id in datanode.block_ids, f"{block}: {datanode} does not know it holds it"
        self.datanodes.validate_state()

    def _complete_if_replicated(self, block: BlockInfo) -> None:
        if block.state is BlockState.COMMITTED and len(self.live_replicas(block)) >= self.config.replication_min:
            block.handle(BlockEvent.MIN_REPLICATED)

    def _invalidate(self, uuid: str, ref: BlockRef) -> None:
        datanode = self.datanodes.get(uuid)
        if datanode is not None and datanode.live and not datanode.queue_invalidation(ref):
            logger.warning("%s has %d deletions queued: blk_%d stays on it until its next block report",
                           datanode, INVALIDATIONS_QUEUED_MAX, ref.block_id)

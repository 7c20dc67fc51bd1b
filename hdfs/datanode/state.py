"""The DataNode's side of its conversation with the NameNode, as a pure state machine (Hadoop's
BPServiceActor and IncrementalBlockReportManager without the I/O).

Events in, commands out (both declared in `events.py`): `DataNodeState.handle(event, now_s) -> list[Command]`.
The actor (`actor.py`) turns its clock, the NameNode's answers and what the
DataNode's other threads tell it (a replica finalized or deleted, a bad
replica found, a directory scan's result) into events, and carries the
commands out; nothing here calls the network, reads a clock or starts a
thread, so a test plays a whole conversation by calling `handle`. Nothing is
durable: at start the DataNode registers and sends a full block report; the
NameNode rebuilds its block map from those.

What it decides:

- when to register, heartbeat (every `dfs.heartbeat.interval`) and send a
  full block report (every `dfs.blockreport.intervalMsec`), from `now_s`;
- what each command the NameNode sends back on a heartbeat or block report
  becomes: delete replicas, copy a replica to other DataNodes, lead a block
  recovery, take new block keys, register again;
- incremental block reports, as Hadoop batches them: a finalized replica is
  reported on the next tick (at most one report per
  `dfs.blockreport.incremental.intervalMsec`), a deleted one waits for the
  next heartbeat and goes with whatever else waits; a bad replica is
  reported on the next tick. A block waits once, as its latest news (the
  NameNode applies a report's receipts before its deletions): received
  again, its waiting deletion is dropped; deleted, its waiting receipt.
  Past `PENDING_BLOCKS_MAX` waiting replicas (a NameNode out of reach while
  writes go on) they give way to a full block
  report, due at once, which says it all; past `BAD_BLOCKS_MAX` bad ones the
  rest wait for the scanners' next pass;
- what a directory scan's differences become: a replica whose files are gone
  is forgotten (then reported deleted), one damaged is reported bad once, an
  unknown one on disk is adopted (then reported received);
- how many copies run at once: at most `TRANSFERS_MAX`. One more is refused
  (the NameNode's pending-reconstruction timeout gives it to another source);
  and recoveries: at most `RECOVERIES_MAX` (the NameNode asks again later).
  A recovery's result (CommitBlockSynchronization) goes out on the next tick,
  once registered; its block counts as recovering until then. A commit that
  fails is not sent again: the NameNode starts another recovery after its
  deadline, as Hadoop's does; one never attempted because an earlier call
  of its tick failed waits again (ReportsNotSent);
- which damaged replicas were reported already: at most
  `DAMAGE_REPORTED_MAX`; past it the oldest is forgotten (reported again if a
  later scan still finds it damaged, which the NameNode takes twice).

Events about replicas come from other threads (a write pipeline, a scanner):
the only commands they return are the disk's (forget, adopt); what they make
due for the NameNode goes out on the actor's next `Tick`, so no write waits
for a NameNode call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from emrlab_common.protos import hdfs_pb2
from hdfs.datanode.events import (
    AdoptReplica,
    BadReplicaFound,
    BlockReportAnswered,
    Command,
    CommitBlockSynchronization,
    CopyFinished,
    CopyReplica,
    DeleteReplicas,
    Difference,
    DirectoryScanFinished,
    Discrepancy,
    Event,
    ForgetReplica,
    HeartbeatAnswered,
    NameNodeMoved,
    RecoverBlock,
    RecoveryFinished,
    Register,
    Registered,
    ReplicaDeleted,
    ReplicaFinalized,
    ReportBadBlocks,
    ReportsNotSent,
    SendBlockReport,
    SendHeartbeat,
    SendIncrementalBlockReport,
    SetBlockKeys,
    Tick,
)

logger = logging.getLogger(__name__)

TRANSFERS_MAX = 8  # re-replication copies this DataNode leads at once (the NameNode asks for at most 4)
RECOVERIES_MAX = 8  # block recoveries it leads at once (the NameNode asks again after its recovery deadline)
PENDING_BLOCKS_MAX = 10_000  # replicas received or deleted waiting to be reported; past it, a full block report
BAD_BLOCKS_MAX = 1_000  # bad replicas waiting to be reported; past it, the rest wait for the scanners' next pass
DAMAGE_REPORTED_MAX = 10_000  # damaged replicas remembered as reported; past it, the oldest is forgotten


@dataclass
class PendingReports:
    """What waits to be told to the NameNode, in the order it happened."""

    received: list[hdfs_pb2.Block] = field(default_factory=list)
    deleted: list[hdfs_pb2.Block] = field(default_factory=list)
    bad: list[hdfs_pb2.Block] = field(default_factory=list)


# ---------------------------------------------------------------- the state

class DataNodeState:
    def __init__(self, heartbeat_interval_s: float, block_report_interval_s: float,
                 incremental_report_interval_s: float = 0.0, transfers_max: int = TRANSFERS_MAX,
                 recoveries_max: int = RECOVERIES_MAX, pending_blocks_max: int = PENDING_BLOCKS_MAX,
                 bad_blocks_max: int = BAD_BLOCKS_MAX, damage_reported_max: int = DAMAGE_REPORTED_MAX):
        self.heartbeat_interval_s = heartbeat_interval_s
        self.block_report_interval_s = block_report_interval_s
        self.incremental_report_interval_s = incremental_report_interval_s
        self.transfers_max = transfers_max
        self.registered = False
        self.next_heartbeat_s = 0.0
        self.next_block_report_s = 0.0
        self.next_incremental_report_s = 0.0
        self.pending = PendingReports()
        self.pending_blocks_max, self.bad_blocks_max = pending_blocks_max, bad_blocks_max
        self.damage_reported_max = damage_reported_max
        # (block id, stamp) of damaged replicas held, said once; a dict keeps them oldest first
        self.damage_reported: dict[tuple[int, int], None] = {}
        self.copies: set[int] = set()  # block ids being copied to other DataNodes
        self.recoveries_max = recoveries_max
        self.recoveries: set[int] = set()  # block ids whose recovery this DataNode leads
        self.commits: dict[int, hdfs_pb2.CommitBlockSynchronizationRequest] = {}  # by block id: results to tell

    def handle(self, event: Event, now_s: float) -> list[Command]:
        match event:
            case Tick():
                return self._due(now_s)
            case NameNodeMoved():
                self.registered = False
                return []
            case Registered():
                self.registered = True
                self.next_heartbeat_s = self.next_block_report_s = now_s  # a full report and a heartbeat at once
                return self._due(now_s)
            case HeartbeatAnswered(commands):
                self.next_heartbeat_s = now_s + self.heartbeat_interval_s
                return self._commands(commands)
            case BlockReportAnswered(commands):
                self.next_block_report_s = now_s + self.block_report_interval_s
                return self._commands(commands)
            case CopyFinished(block_id):
                self.copies.discard(block_id)
                return []
            case RecoveryFinished(block_id, None):
                self.recoveries.discard(block_id)
                return []
            case RecoveryFinished(block_id, commit):
                assert block_id in self.recoveries, block_id
                self.commits[block_id] = commit  # the next tick tells it (told from the pool's thread)
                return []
            case ReplicaFinalized(block):  # the NameNode applies received, then deleted: a deletion before it goes
                self._drop(self.pending.deleted, block.block_id)
                self._wait_to_report(self.pending.received, block, now_s)
                return []
            case ReplicaDeleted(block):
                self.damage_reported.pop((block.block_id, block.generation_stamp), None)
                self._drop(self.pending.received, block.block_id)
                self._wait_to_report(self.pending.deleted, block, now_s)
                return []
            case BadReplicaFound(block, found_by):
                self._bad(block, found_by)
                return []
            case DirectoryScanFinished(discrepancies):
                return self._directory_scan(discrepancies)
            case ReportsNotSent(received, deleted, bad, commits):  # what happened since supersedes it
                deleted_since, received_since = self._ids(self.pending.deleted), self._ids(self.pending.received)
                self.pending.received[:0] = [b for b in received if b.block_id not in deleted_since]
                self.pending.deleted[:0] = [b for b in deleted if b.block_id not in received_since]
                self._bound_pending(now_s)
                self.pending.bad[:0] = bad[: max(0, self.bad_blocks_max - len(self.pending.bad))]
                for commit in commits:  # never attempted: each takes its recovery slot back until told
                    self.recoveries.add(commit.block.block_id)
                    self.commits.setdefault(commit.block.block_id, commit)
                return []
        raise AssertionError(f"unknown event {event!r}")

    def wait_s(self, now_s: float) -> float:
        """How long until something is due (0 while unregistered: registering is due)."""
        if not self.registered:
            return 0.0
        due_s = min(self.next_heartbeat_s, self.next_block_report_s)
        if self.pending.received:
            due_s = min(due_s, self.next_incremental_report_s)
        if self.pending.bad or self.commits:
            due_s = now_s
        return max(0.0, due_s - now_s)

    def _due(self, now_s: float) -> list[Command]:
        if not self.registered:
            return [Register()]
        due: list[Command] = []
        if now_s >= self.next_block_report_s:
            due.append(SendBlockReport())
        heartbeat_due = now_s >= self.next_heartbeat_s
        received_due = self.pending.received and now_s >= self.next_incremental_report_s
        if received_due or (heartbeat_due and self.pending.deleted):  # Hadoop: deletions ride with the heartbeat
            due.append(SendIncrementalBlockReport(tuple(self.pending.received), tuple(self.pending.deleted)))
            self.pending.received, self.pending.deleted = [], []
            self.next_incremental_report_s = now_s + self.incremental_report_interval_s
        if self.pending.bad:
            due.append(ReportBadBlocks(tuple(self.pending.bad)))
            self.pending.bad = []
        for block_id, request in self.commits.items():
            due.append(CommitBlockSynchronization(request))
            self.recoveries.discard(block_id)
        self.commits = {}
        if heartbeat_due:
            due.append(SendHeartbeat())
        return due

    @staticmethod
    def _ids(blocks: list[hdfs_pb2.Block]) -> set[int]:
        return {block.block_id for block in blocks}

    @staticmethod
    def _drop(waiting: list[hdfs_pb2.Block], block_id: int) -> None:
        """A later event about a block supersedes a waiting one (Hadoop's IBR keeps one entry a block)."""
        waiting[:] = [block for block in waiting if block.block_id != block_id]

    def _wait_to_report(self, waiting: list[hdfs_pb2.Block], block: hdfs_pb2.Block, now_s: float) -> None:
        waiting.append(block)
        self._bound_pending(now_s)

    def _bound_pending(self, now_s: float) -> None:
        if len(self.pending.received) + len(self.pending.deleted) <= self.pending_blocks_max:
            return
        logger.warning("more than %d replicas received or deleted wait for the NameNode (PENDING_BLOCKS_MAX): "
                       "a full block report replaces them", self.pending_blocks_max)
        self.pending.received, self.pending.deleted = [], []
        self.next_block_report_s = now_s

    def _bad(self, block: hdfs_pb2.Block, found_by: str) -> None:
        name = f"blk_{block.block_id}_{block.generation_stamp}"
        if any(waiting.block_id == block.block_id for waiting in self.pending.bad):
            return  # already waiting to be reported
        if len(self.pending.bad) >= self.bad_blocks_max:
            logger.warning("%d bad replicas wait to be reported (BAD_BLOCKS_MAX): %s, found by %s, waits for the "
                           "scanners' next pass", len(self.pending.bad), name, found_by)
            return
        logger.warning("replica %s is corrupt (found by %s); reporting it to the NameNode", name, found_by)
        self.pending.bad.append(block)

    def _directory_scan(self, discrepancies: tuple[Discrepancy, ...]) -> list[Command]:
        """Hadoop's DirectoryScanner reconciliation: memory follows the disk, the NameNode hears of it."""
        commands: list[Command] = []
        for discrepancy in discrepancies:
            block = discrepancy.block
            match discrepancy.difference:
                case Difference.MISSING:
                    commands.append(ForgetReplica(block))
                case Difference.DAMAGED:
                    key = (block.block_id, block.generation_stamp)
                    if key in self.damage_reported:
                        continue  # said once: the NameNode copies it, then deletes this one
                    self._remember_damage(key)
                    self._bad(block, f"the directory scan ({discrepancy.detail})")
                    continue  # its log line says it
                case Difference.UNKNOWN:
                    commands.append(AdoptReplica(block, discrepancy.block_path))
                case other:
                    raise AssertionError(f"unknown difference {other!r}")
            logger.warning("directory scan: blk_%d_%d %s (%s)", block.block_id, block.generation_stamp,
                           discrepancy.difference.value, discrepancy.detail)
        return commands

    def _remember_damage(self, key: tuple[int, int]) -> None:
        if len(self.damage_reported) >= self.damage_reported_max:
            oldest = next(iter(self.damage_reported))
            del self.damage_reported[oldest]
            logger.info("%d damaged replicas remembered as reported (DAMAGE_REPORTED_MAX): blk_%d_%d is forgotten",
                        self.damage_reported_max, *oldest)
        self.damage_reported[key] = None

    def _commands(self, commands: tuple[hdfs_pb2.DatanodeCommand, ...]) -> list[Command]:
        """The NameNode's commands, in order, as this DataNode's commands."""
        result: list[Command] = []
        for command in commands:
            match command.WhichOneof("command"):
                case "register":
                    logger.info("the NameNode asks us to register again")
                    self.registered = False  # the next tick registers
                case "invalidate":
                    result.append(DeleteReplicas(tuple(command.invalidate.blocks)))
                case "transfer":
                    block_id = command.transfer.block.block_id
                    if block_id in self.copies:
                        continue  # already being copied
                    if len(self.copies) >= self.transfers_max:
                        logger.info("refusing to copy blk_%d: %d copies running (TRANSFERS_MAX)", block_id,
                                    len(self.copies))
                        continue
                    self.copies.add(block_id)
                    result.append(CopyReplica(command.transfer))
                case "recover":
                    block_id = command.recover.block.block_id
                    if block_id in self.recoveries:
                        continue  # already being recovered
                    if len(self.recoveries) >= self.recoveries_max:
                        logger.info("refusing to recover blk_%d: %d recoveries running (RECOVERIES_MAX)", block_id,
                                    len(self.recoveries))
                        continue
                    self.recoveries.add(block_id)
                    result.append(RecoverBlock(command.recover))
                case "key_update":
                    result.append(SetBlockKeys(tuple(command.key_update.block_keys)))
                case other:
                    raise AssertionError(f"unknown NameNode command {other!r}")
        return result

    def validate_state(self) -> None:
        assert len(self.copies) <= self.transfers_max, self.copies
        assert len(self.recoveries) <= self.recoveries_max, self.recoveries
        assert len(self.pending.received) + len(self.pending.deleted) <= self.pending_blocks_max, self.pending
        assert len(self.pending.bad) <= self.bad_blocks_max, self.pending.bad
        assert len(self.damage_reported) <= self.damage_reported_max, len(self.damage_reported)
        assert self.commits.keys() <= self.recoveries, (self.commits.keys(), self.recoveries)

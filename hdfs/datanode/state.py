"""The DataNode's side of its conversation with the NameNode, as a pure state machine (Hadoop's
BPServiceActor without the I/O).

Events in, commands out: `DataNodeState.handle(event, now_s) -> list[Command]`.
The actor (`actor.py`) turns its clock and the NameNode's answers into
events and carries the commands out; nothing here calls the network, reads a
clock or starts a thread, so a test plays a whole conversation by calling
`handle`. Nothing is durable: at start the DataNode registers and sends a
full block report; the NameNode rebuilds its block map from those.

What it decides:

- when to register, heartbeat (every `dfs.heartbeat.interval`) and send a
  full block report (every `dfs.blockreport.intervalMsec`), from `now_s`;
- what each command the NameNode sends back on a heartbeat or block report
  becomes: delete replicas, copy a replica to other DataNodes, lead a block
  recovery, take new block keys, register again;
- when a full block report replaces an outbox that overflowed (`OutboxOverflowed`): at once;
- how many copies run at once: at most `TRANSFERS_MAX`. One more is refused
  (the NameNode's pending-reconstruction timeout gives it to another source);
  and recoveries: at most `RECOVERIES_MAX` (the NameNode asks again later).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from emrlab_common.protos import hdfs_pb2

logger = logging.getLogger(__name__)

TRANSFERS_MAX = 8  # re-replication copies this DataNode leads at once (the NameNode asks for at most 4)
RECOVERIES_MAX = 8  # block recoveries it leads at once (the NameNode asks again after its recovery deadline)


# ---------------------------------------------------------------- events

@dataclass(frozen=True)
class Tick:
    """Time passed: a heartbeat or a block report may be due."""


@dataclass(frozen=True)
class NameNodeMoved:
    """A call failed or the NameNode's address changed: register (again) before anything else."""


@dataclass(frozen=True)
class Registered:
    pass


@dataclass(frozen=True)
class HeartbeatAnswered:
    commands: tuple[hdfs_pb2.DatanodeCommand, ...]


@dataclass(frozen=True)
class BlockReportAnswered:
    commands: tuple[hdfs_pb2.DatanodeCommand, ...]


@dataclass(frozen=True)
class CopyFinished:
    block_id: int


@dataclass(frozen=True)
class RecoveryFinished:
    block_id: int


@dataclass(frozen=True)
class OutboxOverflowed:
    """More received/deleted replicas waited than the outbox holds (`node.OUTBOX_BLOCKS_MAX`): they were
    dropped, and a full block report, due at once, says what they would have said."""


Event = (Tick | NameNodeMoved | Registered | HeartbeatAnswered | BlockReportAnswered | CopyFinished | RecoveryFinished
         | OutboxOverflowed)


# ---------------------------------------------------------------- commands

@dataclass(frozen=True)
class Register:
    pass


@dataclass(frozen=True)
class SendHeartbeat:
    pass


@dataclass(frozen=True)
class SendBlockReport:
    pass


@dataclass(frozen=True)
class DeleteReplicas:
    blocks: tuple[hdfs_pb2.Block, ...]


@dataclass(frozen=True)
class CopyReplica:
    transfer: hdfs_pb2.TransferCommand


@dataclass(frozen=True)
class RecoverBlock:
    recover: hdfs_pb2.RecoverBlockCommand


@dataclass(frozen=True)
class SetBlockKeys:
    keys: tuple[hdfs_pb2.BlockKey, ...]


Command = Register | SendHeartbeat | SendBlockReport | DeleteReplicas | CopyReplica | RecoverBlock | SetBlockKeys


# ---------------------------------------------------------------- the state

class DataNodeState:
    def __init__(self, heartbeat_interval_s: float, block_report_interval_s: float,
                 transfers_max: int = TRANSFERS_MAX, recoveries_max: int = RECOVERIES_MAX):
        self.heartbeat_interval_s = heartbeat_interval_s
        self.block_report_interval_s = block_report_interval_s
        self.transfers_max = transfers_max
        self.registered = False
        self.next_heartbeat_s = 0.0
        self.next_block_report_s = 0.0
        self.copies: set[int] = set()  # block ids being copied to other DataNodes
        self.recoveries_max = recoveries_max
        self.recoveries: set[int] = set()  # block ids whose recovery this DataNode leads

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
            case RecoveryFinished(block_id):
                self.recoveries.discard(block_id)
                return []
            case OutboxOverflowed():
                self.next_block_report_s = now_s
                return self._due(now_s)
        raise AssertionError(f"unknown event {event!r}")

    def wait_s(self, now_s: float) -> float:
        """How long until something is due (0 while unregistered: registering is due)."""
        if not self.registered:
            return 0.0
        return max(0.0, min(self.next_heartbeat_s, self.next_block_report_s) - now_s)

    def _due(self, now_s: float) -> list[Command]:
        if not self.registered:
            return [Register()]
        due: list[Command] = []
        if now_s >= self.next_block_report_s:
            due.append(SendBlockReport())
        if now_s >= self.next_heartbeat_s:
            due.append(SendHeartbeat())
        return due

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

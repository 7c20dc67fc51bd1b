"""The DataNode's vocabulary for its NameNode conversation (`state.py`): events in, commands out.

Frozen records, declared in one place. The events come from the actor (the
clock, the NameNode's answers, finished copies and recoveries) and from the
DataNode's other threads (a write pipeline finalized a replica, a scanner found
a bad one, the directory scan's differences); the commands are what the actor
(`actor.py`) carries out.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from emrlab_common.protos import hdfs_pb2

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
    """A recovery this DataNode led is over; `commit` is what the NameNode is to be told (None: nothing, it
    failed). The pool's thread that ran it hands it back here, so only the actor's loop calls the NameNode."""

    block_id: int
    commit: hdfs_pb2.CommitBlockSynchronizationRequest | None = None


@dataclass(frozen=True)
class ReplicaFinalized:
    """A write, copy or recovery finished a replica here, or the directory scan adopted one (RECEIVED_BLOCK)."""

    block: hdfs_pb2.Block


@dataclass(frozen=True)
class ReplicaDeleted:
    """A replica is gone: deleted as the NameNode asked, or its files were found missing (DELETED_BLOCK)."""

    block: hdfs_pb2.Block


@dataclass(frozen=True)
class BadReplicaFound:
    """The block scanner, a read or a copy found a replica's bytes or files damaged."""

    block: hdfs_pb2.Block
    found_by: str  # "the block scanner", "a read", ...: for the log


class Difference(enum.Enum):
    MISSING = "missing on disk"
    DAMAGED = "length or checksums differ on disk"
    UNKNOWN = "on disk, not in memory"


@dataclass(frozen=True)
class Discrepancy:
    block: hdfs_pb2.Block
    difference: Difference
    detail: str
    block_path: Path  # where its block file is (or was)


@dataclass(frozen=True)
class DirectoryScanFinished:
    """The directory scanner compared disk and memory (directoryscan.py); these differed."""

    discrepancies: tuple[Discrepancy, ...]


@dataclass(frozen=True)
class ReportsNotSent:
    """An incremental or bad-block report failed to reach the NameNode, or a call before it did: its blocks wait
    again, and so do recovery results a failed call kept from going out."""

    received: tuple[hdfs_pb2.Block, ...] = ()
    deleted: tuple[hdfs_pb2.Block, ...] = ()
    bad: tuple[hdfs_pb2.Block, ...] = ()
    commits: tuple[hdfs_pb2.CommitBlockSynchronizationRequest, ...] = ()


Event = (Tick | NameNodeMoved | Registered | HeartbeatAnswered | BlockReportAnswered | CopyFinished | RecoveryFinished
         | ReplicaFinalized | ReplicaDeleted | BadReplicaFound | DirectoryScanFinished | ReportsNotSent)


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


@dataclass(frozen=True)
class SendIncrementalBlockReport:
    """BlockReceivedAndDeleted: replicas finalized and deleted since the last one."""

    received: tuple[hdfs_pb2.Block, ...]
    deleted: tuple[hdfs_pb2.Block, ...]


@dataclass(frozen=True)
class ReportBadBlocks:
    blocks: tuple[hdfs_pb2.Block, ...]


@dataclass(frozen=True)
class CommitBlockSynchronization:
    """Tell the NameNode a recovery's result (RecoveryFinished's commit), on the actor's loop."""

    request: hdfs_pb2.CommitBlockSynchronizationRequest


@dataclass(frozen=True)
class ForgetReplica:
    """Its files are gone: drop it from the replica map, if it is still this replica (then ReplicaDeleted)."""

    block: hdfs_pb2.Block


@dataclass(frozen=True)
class AdoptReplica:
    """Finalized files nobody knew of: add them to the replica map, if the block is still unknown
    (then ReplicaFinalized)."""

    block: hdfs_pb2.Block
    block_path: Path


Command = (Register | SendHeartbeat | SendBlockReport | DeleteReplicas | CopyReplica | RecoverBlock | SetBlockKeys
           | SendIncrementalBlockReport | ReportBadBlocks | CommitBlockSynchronization | ForgetReplica | AdoptReplica)


"""The NameNode's events in and commands out, declared in one place (`Namesystem.handle`).

Events change the state; queries only read it. Every call that changes the
namesystem is one of the events below, handed to `handle(event, now_s)`: a
DataNode's (register, heartbeat, block reports, bad blocks, the end of a block
recovery), a client's namespace change (mkdirs, create, add block, complete,
rename, delete, set permission/owner/replication/times, append, renew lease),
an administrator's (refresh nodes, safe mode) and the monitors' Tick. It
returns a list of commands: the DataNode commands (first below) for the node that
called (they ride back on its response), and exactly one reply per RPC, which
the servicer (server.py) turns into the response. Tick answers nothing. An
operating error (a missing file, a refused permission, safe mode) is raised
from `handle` as an `EmrlabError`, as the RPC then answers.

Queries (file info, listings, block locations, content summaries, fsck, the
DataNode report) are plain methods of `Namesystem` that change nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from hdfs.blocktoken import BlockKey
from hdfs.protocol import FileStatus

if TYPE_CHECKING:
    from hdfs.namenode.datanodes import DatanodeDescriptor


@dataclass(frozen=True)
class BlockRef:
    """A block as the wire names it: id, generation stamp, length."""

    block_id: int
    generation_stamp: int
    length_bytes: int


# ---------------------------------------------------------------- commands to DataNodes
# They wait in the DataNode's descriptor (`datanodes.py`) and ride back on its next heartbeat response.


@dataclass(frozen=True)
class TransferCommand:
    """Copy this block's replica to `targets` (re-replication), streamed on the data transfer port."""

    block: BlockRef
    targets: tuple[DatanodeDescriptor, ...]
    block_token: bytes = b""  # signed as the command leaves, so that it is fresh


@dataclass(frozen=True)
class InvalidateCommand:
    """Delete these replicas (excess, corrupt, or of blocks no file has)."""

    blocks: tuple[BlockRef, ...]


@dataclass(frozen=True)
class RecoverCommand:
    """Lead the recovery of a block whose writer vanished: agree a length with `locations`, at a new stamp."""

    block: BlockRef
    new_generation_stamp: int
    locations: tuple[DatanodeDescriptor, ...]
    block_token: bytes = b""


@dataclass(frozen=True)
class RegisterCommand:
    """Unknown or declared dead: register again, then send a full block report."""


@dataclass(frozen=True)
class KeyUpdateCommand:
    """The block keys now in use, to verify block tokens with."""

    block_keys: tuple[BlockKey, ...]


DatanodeCommand = TransferCommand | InvalidateCommand | RecoverCommand | RegisterCommand | KeyUpdateCommand


@dataclass(frozen=True)
class LocatedBlock:
    block: BlockRef
    offset_bytes: int
    locations: tuple[DatanodeDescriptor, ...]
    corrupt: bool = False


# ---------------------------------------------------------------- the DataNode protocol


@dataclass(frozen=True)
class DatanodeRegistered:
    """RegisterDatanode: a DataNode (re)starts; its full block report follows."""

    uuid: str
    node_id: str
    address: str
    capacity_bytes: int
    xfer_port: int = 0


@dataclass(frozen=True)
class DatanodeHeartbeat:
    uuid: str
    capacity_bytes: int
    dfs_used_bytes: int
    remaining_bytes: int
    active_transfers: int


@dataclass(frozen=True)
class BlockReport:
    """Every replica on the DataNode's disks, each with whether it is finalized."""

    uuid: str
    replicas: tuple[tuple[BlockRef, bool], ...]


@dataclass(frozen=True)
class BlocksReceivedAndDeleted:
    uuid: str
    received: tuple[BlockRef, ...]
    deleted: tuple[BlockRef, ...]


@dataclass(frozen=True)
class BadBlocksReported:
    """ReportBadBlocks, from a DataNode's scanner or from a client that read a bad replica there."""

    uuid: str
    blocks: tuple[BlockRef, ...]


@dataclass(frozen=True)
class BlockSynchronizationCommitted:
    """CommitBlockSynchronization: a recovery's primary DataNode reports the length the replicas agreed on."""

    block: BlockRef
    uuids: tuple[str, ...]
    delete_block: bool


# ---------------------------------------------------------------- administrators and the monitors


@dataclass(frozen=True)
class RefreshNodes:
    """`dfsadmin -refreshNodes` (and the start): the exclude list, as the file now names it."""

    excluded: frozenset[str]


@dataclass(frozen=True)
class SetSafeMode:
    action: str  # "get", "enter" or "leave" (conversions.SAFE_MODE_ACTIONS)


@dataclass(frozen=True)
class Tick:
    """Time passed: run whichever background monitors are due (a few times a second)."""


# ---------------------------------------------------------------- the client protocol


@dataclass(frozen=True)
class Mkdirs:
    user: str
    path: str
    permission: int
    create_parent: bool


@dataclass(frozen=True)
class Create:
    user: str
    path: str
    permission: int
    client_name: str
    overwrite: bool
    create_parent: bool
    replication: int  # 0: dfs.replication
    block_size_bytes: int  # 0: dfs.blocksize


@dataclass(frozen=True)
class Append:
    user: str
    path: str
    client_name: str


@dataclass(frozen=True)
class AddBlock:
    user: str  # the writer, whom the block token names
    path: str
    client_name: str
    previous: BlockRef | None
    excluded_uuids: frozenset[str]
    favored_node_id: str


@dataclass(frozen=True)
class AbandonBlock:
    path: str
    client_name: str
    block: BlockRef


@dataclass(frozen=True)
class Complete:
    path: str
    client_name: str
    last: BlockRef | None


@dataclass(frozen=True)
class RenewLease:
    client_name: str


@dataclass(frozen=True)
class Rename:
    user: str
    source: str
    destination: str


@dataclass(frozen=True)
class Delete:
    user: str
    path: str
    recursive: bool


@dataclass(frozen=True)
class SetReplication:
    user: str
    path: str
    replication: int


@dataclass(frozen=True)
class SetPermission:
    user: str
    path: str
    permission: int


@dataclass(frozen=True)
class SetOwner:
    user: str
    path: str
    owner: str  # "": unchanged
    group: str  # "": unchanged


@dataclass(frozen=True)
class SetTimes:
    user: str
    path: str
    modification_time_ms: int  # -1: unchanged


Event = (DatanodeRegistered | DatanodeHeartbeat | BlockReport | BlocksReceivedAndDeleted | BadBlocksReported
         | BlockSynchronizationCommitted | RefreshNodes | SetSafeMode | Tick | Mkdirs | Create | Append | AddBlock
         | AbandonBlock | Complete | RenewLease | Rename | Delete | SetReplication | SetPermission | SetOwner
         | SetTimes)


# ---------------------------------------------------------------- replies (beside the DataNode commands)


@dataclass(frozen=True)
class Acknowledged:
    """The change is made; the RPC answers nothing more (a DataNode's response carries its commands)."""


@dataclass(frozen=True)
class RegisterDatanodeReply:
    block_keys: tuple[BlockKey, ...]  # to verify block tokens with; none when tokens are off


@dataclass(frozen=True)
class RefreshNodesReply:
    decommissioning: tuple[str, ...]  # node ids that start decommissioning now
    recommissioned: tuple[str, ...]


@dataclass(frozen=True)
class SafeModeReply:
    safe_mode: bool
    status: str


@dataclass(frozen=True)
class CreateReply:
    status: FileStatus
    warning: str  # replication above the DataNodes in service, or ""


@dataclass(frozen=True)
class AppendReply:
    status: FileStatus
    last_block: BlockRef | None  # the file's last block, which new blocks follow


@dataclass(frozen=True)
class AddBlockReply:
    located: LocatedBlock
    block_token: bytes  # b"" when block tokens are off


@dataclass(frozen=True)
class CompleteReply:
    completed: bool  # False: a block still lacks a replica; the client tries again


@dataclass(frozen=True)
class RenameReply:
    final_path: str


@dataclass(frozen=True)
class SetReplicationReply:
    warning: str


Reply = (Acknowledged | RegisterDatanodeReply | RefreshNodesReply | SafeModeReply | CreateReply | AppendReply
         | AddBlockReply | CompleteReply | RenameReply | SetReplicationReply)
Command = DatanodeCommand | Reply
ReplyKind = TypeVar("ReplyKind")


def datanode_commands(commands: Iterable[Command]) -> list[DatanodeCommand]:
    return [command for command in commands if isinstance(command, DatanodeCommand)]


def reply(commands: Iterable[Command], kind: type[ReplyKind]) -> ReplyKind:
    """The one reply of `kind` among `commands` (a programmer error if there is not exactly one)."""
    (found,) = [command for command in commands if isinstance(command, kind)]
    return found

"""Writing files, as Hadoop's FSDirWriteFileOp and FSDirAppendOp: create, append, add a block, complete.

A writer creates (or reopens) a file and holds its lease; each block it adds
goes to DataNodes the placement policy picks (`placement.py`), and the file
closes once every block has its minimum of replicas. Part of the NameNode's
state machine: `Namesystem` inherits these handlers (the state and the checks
they use are in `namespace_ops.py`).
"""

from __future__ import annotations

import logging

from emrlab_common.errors import InvalidArgument
from hdfs.blocktoken import AccessMode
from hdfs.errors import NoDatanodes
from hdfs.namenode import edits
from hdfs.namenode.blocks import BlockState
from hdfs.namenode.events import (
    AbandonBlock,
    Acknowledged,
    AddBlock,
    AddBlockReply,
    Append,
    AppendReply,
    BlockRef,
    Command,
    Complete,
    CompleteReply,
    Create,
    CreateReply,
    LocatedBlock,
    RenewLease,
)
from hdfs.namenode.inodes import INodeFile
from hdfs.namenode.namespace_ops import BLOCK_SIZE_MAX_BYTES, NamespaceOperations, milliseconds
from hdfs.namenode.placement import choose_targets

logger = logging.getLogger(__name__)


class WriteFileOperations(NamespaceOperations):
    """The handlers of a file's writing events: Create, Append, AddBlock, AbandonBlock, Complete, RenewLease."""

    def _create(self, event: Create, now_s: float) -> list[Command]:
        path, permission = event.path, event.permission
        self._refuse_in_safe_mode("create file", path)
        self._check_permission(permission)
        self._check_fs_limits(path)
        replication, warning = self._checked_replication(event.replication or self.config.replication)
        block_size_bytes = event.block_size_bytes or self.config.block_size_bytes
        if block_size_bytes > BLOCK_SIZE_MAX_BYTES:
            raise InvalidArgument(f"Specified block size {block_size_bytes} is more than the largest a DataNode "
                                  f"here can hold ({BLOCK_SIZE_MAX_BYTES})")
        if block_size_bytes < self.config.block_size_min_bytes:
            raise InvalidArgument(f"Specified block size {block_size_bytes} is less than the configured minimum "
                                  f"{self.config.block_size_min_bytes} (dfs.namenode.fs-limits.min-block-size)")
        if block_size_bytes % self.config.bytes_per_checksum:
            raise InvalidArgument(f"block size {block_size_bytes} is not a multiple of "
                                  f"dfs.bytes-per-checksum {self.config.bytes_per_checksum}")
        parent_permission = permission | ((permission & 0o444) >> 2)  # rw- -> rwx where readable
        for edit in self.namespace.create(
            self._checker(event.user), path, permission, client_name=event.client_name, overwrite=event.overwrite,
            create_parent=event.create_parent, replication=replication, block_size_bytes=block_size_bytes,
            time_ms=milliseconds(now_s), parent_permission=parent_permission,
        ):
            self._commit(edit)
        inode = self.namespace.get_file(path)
        self.leases.add(event.client_name, inode, now_s)
        logger.info("create %s by %s (%s) replication=%d block size=%d", path, event.user, event.client_name,
                    replication, block_size_bytes)
        return [CreateReply(self._status(inode), warning)]

    def _append(self, event: Append, now_s: float) -> list[Command]:
        """Reopen a closed file for writing at its end; the reply has its last block, which new blocks follow.

        As Hadoop's append with CreateFlag.NEW_BLOCK: the finalized last block stays as
        it is (a file may then hold a short block in the middle) and the new bytes go
        into new blocks, so no finalized replica is ever reopened."""
        path = event.path
        self._refuse_in_safe_mode("append to file", path)
        for edit in self.namespace.reopen(self._checker(event.user), path, event.client_name, milliseconds(now_s)):
            self._commit(edit)
        inode = self.namespace.get_file(path)
        self.leases.add(event.client_name, inode, now_s)
        logger.info("append to %s by %s (%s) at %d bytes", path, event.user, event.client_name, inode.length_bytes())
        return [AppendReply(self._status(inode), inode.blocks[-1].ref() if inode.blocks else None)]

    def _add_block(self, event: AddBlock, now_s: float) -> list[Command]:
        path, previous, excluded_uuids = event.path, event.previous, event.excluded_uuids
        self._refuse_in_safe_mode("add block to", path)
        inode = self._leased_file(path, event.client_name)
        self._check_previous(inode, previous)
        live = self.datanodes.in_service()
        favored = next((node for node in live if node.node_id == event.favored_node_id), None)
        targets = choose_targets(inode.replication, live, excluded_uuids, favored, inode.block_size_bytes, self.rng)
        if not targets:
            raise NoDatanodes(
                f"File {path} could only be written to 0 of the {self.config.replication_min} minReplication nodes. "
                f"There are {len(live)} datanode(s) running and {len(excluded_uuids)} node(s) are excluded in this operation.")
        self.next_block_id += 1
        self.generation_stamp += 1
        previous_length = previous.length_bytes if previous is not None else -1
        self._commit(edits.AddBlock(path, self.next_block_id - 1, self.generation_stamp, previous_length))
        block = inode.blocks[-1]
        block.expected_locations = {node.uuid for node in targets}
        offset = sum(earlier.length_bytes for earlier in inode.blocks[:-1])
        logger.info("allocate %s for %s on %s", block, path, ", ".join(map(str, targets)))
        return [AddBlockReply(LocatedBlock(block.ref(), offset, tuple(targets)),
                              self.block_token(event.user, block.ref(), AccessMode.WRITE, now_s))]

    def _check_previous(self, inode: INodeFile, previous: BlockRef | None) -> None:
        last = inode.blocks[-1] if inode.blocks else None
        if (previous is None) != (last is None) or (last is not None and last.block_id != previous.block_id):
            raise InvalidArgument(f"{inode.path()}: the client's last block does not match the NameNode's")

    def _abandon_block(self, event: AbandonBlock, now_s: float) -> list[Command]:
        inode = self._leased_file(event.path, event.client_name)
        if inode.blocks and inode.blocks[-1].block_id == event.block.block_id:
            logger.info("abandon blk_%d of %s", event.block.block_id, event.path)
            self._commit(edits.AbandonBlock(event.path, event.block.block_id))
        return [Acknowledged()]

    def _complete(self, event: Complete, now_s: float) -> list[Command]:
        """Close the file if every block has a replica; completed=False means "not yet, try again"."""
        path, last = event.path, event.last
        self._refuse_in_safe_mode("complete", path)
        inode = self.namespace.get_file(path)
        if not inode.under_construction and last is not None and inode.blocks and inode.blocks[-1].block_id == last.block_id:
            return [CompleteReply(True)]  # a retry of a call that already succeeded
        inode = self._leased_file(path, event.client_name)
        self._check_previous(inode, last)
        if last is not None:
            self.blocks.commit(inode.blocks[-1], last.length_bytes)
        if any(block.state is not BlockState.COMPLETE for block in inode.blocks):
            return [CompleteReply(False)]
        self._commit(edits.CloseFile(path, milliseconds(now_s), last.length_bytes if last is not None else -1))
        self.leases.remove(event.client_name, inode)
        logger.info("closed %s: %d bytes in %d blocks", path, inode.length_bytes(), len(inode.blocks))
        return [CompleteReply(True)]

    def _renew_lease(self, event: RenewLease, now_s: float) -> list[Command]:
        self.leases.renew(event.client_name, now_s)
        return [Acknowledged()]

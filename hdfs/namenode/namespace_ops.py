"""The namespace operations of the client protocol: what `ls`, `mkdir`, `put`, `mv`, `rm`, `chmod` ask.

Part of the NameNode's state machine (`namesystem.py`, where reading starts),
as Hadoop keeps these in FSDirStatAndListingOp, FSDirMkdirOp, FSDirWriteFileOp,
FSDirRenameOp, FSDirDeleteOp and FSDirAttrOp beside FSNamesystem. A change
is an event of `events.py` (Mkdirs, Create, Rename, ...) that
`Namesystem.handle` gives to its handler here (`_mkdirs`, `_create`,
`_rename`, ...): it checks the caller's permissions and Hadoop's limits, then
turns the request into edits (`edits.py`) that `Namespace.apply` carries out
and the journal makes durable, and returns the RPC's reply. Queries (file
info, listings, block locations, content summaries) are plain methods that
change nothing. `Namesystem` inherits all of these; the state they use (the
namespace, block map, DataNodes, leases, safe mode, block keys) is built in
its constructor and listed here.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

from emrlab_common.errors import InvalidArgument, ResourceExhausted
from hdfs import paths
from hdfs.blocktoken import AccessMode, BlockKeyManager
from hdfs.errors import AccessControl, FileNotFound, LeaseExpired, NoDatanodes, SafeMode
from hdfs.namenode import edits
from hdfs.namenode.blocks import BlockInfo, BlockManager, BlockState
from hdfs.namenode.config import NameNodeConfig
from hdfs.namenode.datanodes import DatanodeManager
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
    Delete,
    LocatedBlock,
    Mkdirs,
    Rename,
    RenameReply,
    RenewLease,
    SetOwner,
    SetPermission,
    SetReplication,
    SetReplicationReply,
    SetTimes,
)
from hdfs.namenode.inodes import Access, INode, INodeDirectory, INodeFile, PermissionChecker, subtree, subtree_height
from hdfs.namenode.leases import LeaseManager
from hdfs.namenode.namespace import Namespace
from hdfs.namenode.placement import choose_targets
from hdfs.namenode.reports import content_summary
from hdfs.namenode.safemode import SafeMode as SafeModeMonitor
from hdfs.protocol import ContentSummary, FileStatus

logger = logging.getLogger(__name__)

GroupsOf = Callable[[str], frozenset[str]]
PERMISSION_MAX = 0o7777       # setuid, setgid and sticky bits, then rwxrwxrwx: what a mode can hold
BLOCK_SIZE_MAX_BYTES = 1 << 40  # 1 TiB: a block must fit on one DataNode's disk


def milliseconds(now_s: float) -> int:
    """The namespace's times (modification, access) are in milliseconds, as Hadoop's."""
    return int(now_s * 1000)


class NamespaceOperations:
    """Reading and changing the namespace for clients; the state below is `Namesystem`'s."""

    config: NameNodeConfig
    superuser: str
    journal: Callable[[object], None]
    groups_of: GroupsOf
    rng: random.Random
    datanodes: DatanodeManager
    blocks: BlockManager
    namespace: Namespace
    leases: LeaseManager
    safe_mode: SafeModeMonitor
    next_block_id: int
    generation_stamp: int
    block_keys: BlockKeyManager | None

    def _commit(self, edit) -> list[BlockInfo]:
        dropped = self.namespace.apply(edit)
        self.journal(edit)
        return dropped

    # ------------------------------------------------------------ helpers

    def _checker(self, user: str) -> PermissionChecker:
        groups = self.groups_of(user)
        is_superuser = user == self.superuser or self.config.superuser_group in groups
        return PermissionChecker(user, groups, is_superuser, self.config.permissions_enabled)

    def require_superuser(self, user: str, action: str) -> None:
        if not self._checker(user).is_superuser:
            raise AccessControl(f"Access denied for user {user}. Superuser privilege is required for {action}")

    def block_token(self, user: str, block: BlockRef, modes: AccessMode, now_s: float) -> bytes:
        """A signed token letting `user` do `modes` to this block from `now_s` on; b"" when tokens are off."""
        if self.block_keys is None:
            return b""
        return self.block_keys.issue(user, block.block_id, block.generation_stamp, modes, now_s)

    def _refuse_in_safe_mode(self, action: str, path: str) -> None:
        if self.safe_mode.on:
            raise SafeMode(f"Cannot {action} {path}. Name node is in safe mode. {self.safe_mode.status}")

    def _status(self, inode: INode) -> FileStatus:
        if isinstance(inode, INodeDirectory):
            return FileStatus(inode.path(), True, 0, 0, 0, inode.owner, inode.group, inode.permission,
                              inode.modification_time_ms, 0, len(inode.children))
        assert isinstance(inode, INodeFile)
        return FileStatus(inode.path(), False, inode.length_bytes(), inode.replication, inode.block_size_bytes,
                          inode.owner, inode.group, inode.permission, inode.modification_time_ms,
                          inode.modification_time_ms, 0, inode.under_construction)

    def _checked_replication(self, requested: int) -> tuple[int, str]:
        """The replication asked for, kept as asked (DataNodes down now may return), and a warning if it is short."""
        if not 1 <= requested <= self.config.replication_max:
            raise InvalidArgument(f"replication {requested} is not between 1 and {self.config.replication_max}")
        in_service = len(self.datanodes.in_service())
        if in_service < requested:
            return requested, (f"replication {requested} but only {in_service} DataNode(s) in service: its blocks "
                               f"stay under-replicated until more DataNodes join")
        return requested, ""

    def _check_fs_limits(self, path: str) -> None:
        """Hadoop's fs-limits for the inodes a change would add on the way to `path`, with its messages."""
        inodes = self.namespace.resolve(path)
        if inodes[-1] is not None:
            return
        names = paths.components(path)
        first_missing = inodes.index(None)
        for index in range(first_missing - 1, len(names)):
            name = names[index]
            if len(name.encode()) > self.config.component_length_max:
                raise InvalidArgument(
                    f"The maximum path component name limit of {paths.shown(name)} in directory "
                    f"{paths.shown('/' + '/'.join(names[:index]))} is exceeded: "
                    f"limit={self.config.component_length_max} length={len(name.encode())}")
        parent = inodes[first_missing - 1]
        if isinstance(parent, INodeDirectory) and len(parent.children) >= self.config.directory_items_max:
            raise ResourceExhausted(f"The directory item limit of {paths.shown(parent.path())} is exceeded: "
                                    f"limit={self.config.directory_items_max} items={len(parent.children)}")

    @staticmethod
    def _check_permission(permission: int) -> None:
        if not 0 <= permission <= PERMISSION_MAX:
            raise InvalidArgument(f"{permission:#o} is not a permission (at most {PERMISSION_MAX:#o}: sticky bit and rwxrwxrwx)")

    def _leased_file(self, path: str, client_name: str) -> INodeFile:
        inode = self.namespace.get_file(path)
        if inode.client_name != client_name:
            holder = f"held by {inode.client_name}" if inode.client_name else "not open for writing"
            raise LeaseExpired(f"No lease on {path}: file is {holder}, not by {client_name}")
        return inode

    # ------------------------------------------------------------ reading the namespace

    def server_defaults(self) -> dict:
        return {
            "block_size_bytes": self.config.block_size_bytes,
            "replication": self.config.replication,
            "bytes_per_checksum": self.config.bytes_per_checksum,
            "write_packet_size_bytes": self.config.write_packet_size_bytes,
            "lease_hard_limit_s": self.config.lease_hard_limit_s,
        }

    def file_info(self, user: str, path: str) -> FileStatus | None:
        inodes = self.namespace.resolve(path)
        self._checker(user).check(inodes)
        return None if inodes[-1] is None else self._status(inodes[-1])

    def listing(self, user: str, path: str, start_after: str) -> tuple[list[FileStatus], int]:
        inodes = self.namespace.resolve(path)
        inode = inodes[-1]
        if inode is None:
            raise FileNotFound(f"{path}: No such file or directory")
        if not isinstance(inode, INodeDirectory):
            self._checker(user).check(inodes)
            return [self._status(inode)], 0
        self._checker(user).check(inodes, target=Access.READ | Access.EXECUTE)
        names = sorted(name for name in inode.children if name > start_after)
        page = names[: self.config.listing_limit]
        return [self._status(inode.children[name]) for name in page], len(names) - len(page)

    def block_locations(self, user: str, path: str, offset: int, length: int,
                        client_node_id: str) -> tuple[int, list[LocatedBlock], bool]:
        inodes = self.namespace.resolve(path)
        inode = self.namespace.get_file(path)
        self._checker(user).check(inodes, target=Access.READ)
        end = inode.length_bytes() if length == 0 else offset + length
        located, position = [], 0
        for block in inode.blocks:
            if block.is_under_construction:
                break
            if position + block.length_bytes > offset and position < end:
                located.append(self._locate(block, position, client_node_id))
            position += block.length_bytes
        return inode.length_bytes(), located, inode.under_construction

    def _locate(self, block: BlockInfo, offset: int, client_node_id: str) -> LocatedBlock:
        live = self.blocks.live_replicas(block)
        self.rng.shuffle(live)
        # A replica on the reader's node first, decommissioning nodes last (they are going away).
        live.sort(key=lambda node: (not node.in_service, node.node_id != client_node_id))
        if live:
            return LocatedBlock(block.ref(), offset, tuple(live))
        return LocatedBlock(block.ref(), offset, tuple(self.blocks.corrupt_replicas(block)), corrupt=True)

    def content_summary(self, user: str, path: str) -> ContentSummary:
        inodes = self.namespace.resolve(path)
        inode = self.namespace.get(path)
        self._checker(user).check(inodes, sub_access=Access.READ | Access.EXECUTE if inode.is_directory else None)
        return content_summary(inode)

    # ------------------------------------------------------------ changing the namespace (the handlers of events.py)

    def _mkdirs(self, event: Mkdirs, now_s: float) -> list[Command]:
        self._refuse_in_safe_mode("create directory", event.path)
        self._check_permission(event.permission)
        self._check_fs_limits(event.path)
        for edit in self.namespace.mkdirs(self._checker(event.user), event.path, event.permission,
                                          event.create_parent, milliseconds(now_s)):
            self._commit(edit)
        return [Acknowledged()]

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

    def _set_times(self, event: SetTimes, now_s: float) -> list[Command]:
        self._refuse_in_safe_mode("set times for", event.path)
        inodes = self.namespace.resolve(event.path)
        self.namespace.get(event.path)
        self._checker(event.user).check(inodes, target=Access.WRITE)
        self._commit(edits.SetTimes(event.path, event.modification_time_ms))
        return [Acknowledged()]

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

    def _rename(self, event: Rename, now_s: float) -> list[Command]:
        source = event.source
        self._refuse_in_safe_mode("rename", source)
        renames = self.namespace.rename(self._checker(event.user), source, event.destination, milliseconds(now_s))
        if renames:
            final = renames[0].destination
            self._check_fs_limits(final)
            levels = len(paths.components(final)) + subtree_height(self.namespace.get(source))
            if levels > paths.DEPTH_MAX:
                raise InvalidArgument(f"rename {paths.shown(source)} to {paths.shown(final)}: its deepest entry "
                                      f"would be {levels} levels deep; the limit is {paths.DEPTH_MAX}")
        for edit in renames:
            self._commit(edit)
        return [RenameReply(renames[0].destination if renames else source)]

    def _delete(self, event: Delete, now_s: float) -> list[Command]:
        self._refuse_in_safe_mode("delete", event.path)
        inode = self.namespace.get(event.path)
        for edit in self.namespace.delete(self._checker(event.user), event.path, event.recursive, milliseconds(now_s)):
            self._commit(edit)
        for node in subtree(inode):
            if isinstance(node, INodeFile) and node.under_construction:
                self.leases.remove(node.client_name, node)
        return [Acknowledged()]

    def _set_replication(self, event: SetReplication, now_s: float) -> list[Command]:
        self._refuse_in_safe_mode("set replication for", event.path)
        inodes = self.namespace.resolve(event.path)
        self.namespace.get_file(event.path)
        self._checker(event.user).check(inodes, target=Access.WRITE)
        replication, warning = self._checked_replication(event.replication)
        self._commit(edits.SetReplication(event.path, replication))
        return [SetReplicationReply(warning)]

    def _set_permission(self, event: SetPermission, now_s: float) -> list[Command]:
        self._refuse_in_safe_mode("set permission for", event.path)
        self._check_permission(event.permission)
        inodes = self.namespace.resolve(event.path)
        checker = self._checker(event.user)
        checker.check(inodes)
        checker.require_owner(self.namespace.get(event.path))
        self._commit(edits.SetPermission(event.path, event.permission & 0o1777))
        return [Acknowledged()]

    def _set_owner(self, event: SetOwner, now_s: float) -> list[Command]:
        path, owner, group = event.path, event.owner, event.group
        self._refuse_in_safe_mode("set owner for", path)
        inodes = self.namespace.resolve(path)
        inode = self.namespace.get(path)
        checker = self._checker(event.user)
        checker.check(inodes)
        checker.require_owner(inode)
        if not checker.is_superuser and owner and owner != inode.owner:
            raise AccessControl(f"Permission denied: only the superuser may change the owner of {path}")
        if not checker.is_superuser and group and group not in checker.groups:
            raise AccessControl(f"Permission denied: user={event.user} does not belong to {group}")
        self._commit(edits.SetOwner(path, owner, group))
        return [Acknowledged()]

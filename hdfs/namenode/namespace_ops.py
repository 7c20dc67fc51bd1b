"""The namespace operations of the client protocol: what `ls`, `mkdir`, `put`, `mv`, `rm`, `chmod` ask.

Part of the NameNode's state machine (`namesystem.py`, where reading starts),
as Hadoop keeps these in FSDir*Op classes beside FSNamesystem. Three modules:
  namespace_ops.py  this one: the state they use, the checks they share (permissions, safe mode, Hadoop's
                    limits), and the queries (Hadoop's FSDirStatAndListingOp: file info, listings, block
                    locations, content summaries), plain methods that change nothing
  write_ops.py      writing files (FSDirWriteFileOp, FSDirAppendOp): create, append, add/abandon a block, complete
  tree_ops.py       the tree and its attributes (FSDirMkdirOp, FSDirRenameOp, FSDirDeleteOp, FSDirAttrOp)
A change is an event of `events.py` (Mkdirs, Create, Rename, ...) that
`Namesystem.handle` gives to its handler (`_mkdirs`, `_create`, `_rename`,
...): it checks the caller's permissions and Hadoop's limits, then turns the
request into edits (`edits.py`) that `Namespace.apply` carries out and the
journal makes durable, and returns the RPC's reply. `Namesystem` inherits all
of these; the state they use (the namespace, block map, DataNodes, leases,
safe mode, block keys) is built in its constructor and listed here.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from emrlab_common.errors import InvalidArgument, ResourceExhausted
from hdfs import paths
from hdfs.blocktoken import AccessMode, BlockKeyManager
from hdfs.errors import AccessControl, FileNotFound, LeaseExpired, SafeMode
from hdfs.namenode.blocks import BlockInfo, BlockManager
from hdfs.namenode.config import NameNodeConfig
from hdfs.namenode.datanodes import DatanodeManager
from hdfs.namenode.events import BlockRef, LocatedBlock
from hdfs.namenode.inodes import Access, INode, INodeDirectory, INodeFile, PermissionChecker
from hdfs.namenode.leases import LeaseManager
from hdfs.namenode.namespace import Namespace
from hdfs.namenode.reports import content_summary
from hdfs.namenode.safemode import SafeMode as SafeModeMonitor
from hdfs.protocol import ContentSummary, FileStatus

GroupsOf = Callable[[str], frozenset[str]]
PERMISSION_MAX = 0o7777       # setuid, setgid and sticky bits, then rwxrwxrwx: what a mode can hold
BLOCK_SIZE_MAX_BYTES = 1 << 40  # 1 TiB: a block must fit on one DataNode's disk


def milliseconds(now_s: float) -> int:
    """The namespace's times (modification, access) are in milliseconds, as Hadoop's."""
    return int(now_s * 1000)


class NamespaceOperations:
    """The queries clients make and the checks every change shares; the state below is `Namesystem`'s.

    The changes are in the two classes that extend this one: `WriteFileOperations` and `TreeOperations`."""

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

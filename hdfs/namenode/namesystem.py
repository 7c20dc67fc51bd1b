"""The NameNode's state machine (Hadoop's FSNamesystem): start reading here.

It ties together
  - the namespace (`namespace.py`): directories, files, their blocks; durable,
  - the block map (`blocks.py`): where replicas are; rebuilt from block reports,
  - the DataNodes (`datanodes.py`): liveness and the commands queued for them,
  - leases (`leases.py`) and safe mode (`safemode.py`).

It does no I/O and keeps no time of its own: the clock is passed in, every
namespace change goes out through `journal(edit)` (the edit log, in the real
NameNode; a list, in tests), and commands for DataNodes wait in their
descriptors until a heartbeat collects them. The NameNode process calls it
under one lock and syncs the edit log before answering, so a client hears
"ok" only for changes that are on disk.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from emrlab_common.errors import FailedPrecondition, InvalidArgument, ResourceExhausted
from hdfs import paths
from hdfs.blocktoken import AccessMode, BlockKey, BlockKeyManager
from hdfs.errors import AccessControl, FileNotFound, LeaseExpired, NoDatanodes, SafeMode
from hdfs.namenode import edits
from hdfs.namenode.blocks import BlockInfo, BlockManager, BlockState
from hdfs.namenode.config import NameNodeConfig
from hdfs.namenode.datanodes import (
    AdminEvent,
    AdminState,
    BlockRef,
    DatanodeCommand,
    DatanodeDescriptor,
    DatanodeManager,
    KeyUpdateCommand,
    RecoverCommand,
    RegisterCommand,
    TransferCommand,
)
from hdfs.namenode.inodes import Access, INode, INodeDirectory, INodeFile, PermissionChecker, subtree, subtree_height
from hdfs.namenode.leases import LeaseManager
from hdfs.namenode.namespace import Namespace
from hdfs.namenode.placement import choose_targets
from hdfs.namenode.safemode import SafeMode as SafeModeMonitor
from hdfs.protocol import ContentSummary, FileStatus

logger = logging.getLogger(__name__)

GroupsOf = Callable[[str], frozenset[str]]
PERMISSION_MAX = 0o7777       # setuid, setgid and sticky bits, then rwxrwxrwx: what a mode can hold
BLOCK_SIZE_MAX_BYTES = 1 << 40  # 1 TiB: a block must fit on one DataNode's disk


@dataclass(frozen=True)
class LocatedBlock:
    block: BlockRef
    offset_bytes: int
    locations: tuple[DatanodeDescriptor, ...]
    corrupt: bool = False


@dataclass(frozen=True)
class FsckBlock:
    block: BlockRef
    live: tuple[DatanodeDescriptor, ...]  # in service: these count towards replication
    corrupt: tuple[DatanodeDescriptor, ...]
    expected_replication: int
    decommissioning: tuple[DatanodeDescriptor, ...] = ()  # readable, but not counted
    decommissioned: tuple[DatanodeDescriptor, ...] = ()


class Namesystem:
    def __init__(self, config: NameNodeConfig, superuser: str, clock: Callable[[], float],
                 journal: Callable[[object], None], groups_of: GroupsOf, rng: random.Random | None = None,
                 secret_source: Callable[[int], bytes] = secrets.token_bytes):
        self.config = config
        self.superuser = superuser
        self.clock = clock
        self.journal = journal
        self.groups_of = groups_of
        self.rng = rng or random.Random()
        self.datanodes = DatanodeManager(config)
        self.blocks = BlockManager(config, self.datanodes, self.rng)
        self.namespace = Namespace(self.blocks, superuser, config.superuser_group)
        self.leases = LeaseManager(config.lease_hard_limit_s)
        self.safe_mode = SafeModeMonitor(config)
        self.next_block_id = 1 << 30  # Hadoop's block ids start high too; any start works
        self.generation_stamp = 1000
        self.last_monitor_s = {"heartbeats": 0.0, "redundancy": 0.0, "leases": 0.0, "decommission": 0.0}
        self.block_keys = (BlockKeyManager(config.block_key_update_interval_s, config.block_token_lifetime_s,
                                           secret_source, clock())
                           if config.block_access_token_enabled else None)

    # ------------------------------------------------------------ edits in, edits out

    def replay(self, edit) -> None:
        """Apply an edit from the log at start (it is already durable)."""
        self.namespace.apply(edit)
        if isinstance(edit, edits.AddBlock):
            self.next_block_id = max(self.next_block_id, edit.block_id + 1)
            self.generation_stamp = max(self.generation_stamp, edit.generation_stamp)
        elif isinstance(edit, edits.UpdateBlock):
            self.generation_stamp = max(self.generation_stamp, edit.generation_stamp)

    def image(self) -> dict:
        """Everything durable, for a checkpoint."""
        return {"inodes": self.namespace.to_image(), "next_block_id": self.next_block_id,
                "generation_stamp": self.generation_stamp}

    def load_image(self, image: dict) -> None:
        self.namespace.load_image(image["inodes"])
        self.next_block_id = image["next_block_id"]
        self.generation_stamp = image["generation_stamp"]

    def after_load(self) -> None:
        """Once the image and the log are in: leases for files still being written."""
        now_s = self.clock()
        for inode in self.namespace.files():
            if inode.under_construction:
                self.leases.add(inode.client_name, inode, now_s)

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

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

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
        length = files = directories = consumed = 0
        for node in subtree(inode):
            if isinstance(node, INodeFile):
                files += 1
                length += node.length_bytes()
                consumed += node.length_bytes() * node.replication
            else:
                directories += 1
        return ContentSummary(length, files, directories, consumed)

    # ------------------------------------------------------------ changing the namespace

    def mkdirs(self, user: str, path: str, permission: int, create_parent: bool) -> None:
        self._refuse_in_safe_mode("create directory", path)
        self._check_permission(permission)
        self._check_fs_limits(path)
        for edit in self.namespace.mkdirs(self._checker(user), path, permission, create_parent, self._now_ms()):
            self._commit(edit)

    def create(self, user: str, path: str, permission: int, client_name: str, overwrite: bool,
               create_parent: bool, replication: int, block_size_bytes: int) -> tuple[FileStatus, str]:
        self._refuse_in_safe_mode("create file", path)
        self._check_permission(permission)
        self._check_fs_limits(path)
        replication, warning = self._checked_replication(replication or self.config.replication)
        block_size_bytes = block_size_bytes or self.config.block_size_bytes
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
            self._checker(user), path, permission, client_name=client_name, overwrite=overwrite,
            create_parent=create_parent, replication=replication, block_size_bytes=block_size_bytes,
            time_ms=self._now_ms(), parent_permission=parent_permission,
        ):
            self._commit(edit)
        inode = self.namespace.get_file(path)
        self.leases.add(client_name, inode, self.clock())
        logger.info("create %s by %s (%s) replication=%d block size=%d", path, user, client_name, replication, block_size_bytes)
        return self._status(inode), warning

    def append(self, user: str, path: str, client_name: str) -> tuple[FileStatus, BlockRef | None]:
        """Reopen a closed file for writing at its end; returns its last block, which new blocks follow.

        As Hadoop's append with CreateFlag.NEW_BLOCK: the finalized last block stays as
        it is (a file may then hold a short block in the middle) and the new bytes go
        into new blocks, so no finalized replica is ever reopened."""
        self._refuse_in_safe_mode("append to file", path)
        for edit in self.namespace.reopen(self._checker(user), path, client_name, self._now_ms()):
            self._commit(edit)
        inode = self.namespace.get_file(path)
        self.leases.add(client_name, inode, self.clock())
        logger.info("append to %s by %s (%s) at %d bytes", path, user, client_name, inode.length_bytes())
        return self._status(inode), (inode.blocks[-1].ref() if inode.blocks else None)

    def set_times(self, user: str, path: str, modification_time_ms: int) -> None:
        self._refuse_in_safe_mode("set times for", path)
        inodes = self.namespace.resolve(path)
        self.namespace.get(path)
        self._checker(user).check(inodes, target=Access.WRITE)
        self._commit(edits.SetTimes(path, modification_time_ms))

    def add_block(self, path: str, client_name: str, previous: BlockRef | None,
                  excluded_uuids: set[str], favored_node_id: str) -> LocatedBlock:
        self._refuse_in_safe_mode("add block to", path)
        inode = self._leased_file(path, client_name)
        self._check_previous(inode, previous)
        live = self.datanodes.in_service()
        favored = next((node for node in live if node.node_id == favored_node_id), None)
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
        return LocatedBlock(block.ref(), offset, tuple(targets))

    def _check_previous(self, inode: INodeFile, previous: BlockRef | None) -> None:
        last = inode.blocks[-1] if inode.blocks else None
        if (previous is None) != (last is None) or (last is not None and last.block_id != previous.block_id):
            raise InvalidArgument(f"{inode.path()}: the client's last block does not match the NameNode's")

    def abandon_block(self, path: str, client_name: str, block: BlockRef) -> None:
        inode = self._leased_file(path, client_name)
        if inode.blocks and inode.blocks[-1].block_id == block.block_id:
            logger.info("abandon blk_%d of %s", block.block_id, path)
            self._commit(edits.AbandonBlock(path, block.block_id))

    def complete(self, path: str, client_name: str, last: BlockRef | None) -> bool:
        """Close the file if every block has a replica; False means "not yet, try again"."""
        self._refuse_in_safe_mode("complete", path)
        inode = self.namespace.get_file(path)
        if not inode.under_construction and last is not None and inode.blocks and inode.blocks[-1].block_id == last.block_id:
            return True  # a retry of a call that already succeeded
        inode = self._leased_file(path, client_name)
        self._check_previous(inode, last)
        if last is not None:
            self.blocks.commit(inode.blocks[-1], last.length_bytes)
        if any(block.state is not BlockState.COMPLETE for block in inode.blocks):
            return False
        self._commit(edits.CloseFile(path, self._now_ms(), last.length_bytes if last is not None else -1))
        self.leases.remove(client_name, inode)
        logger.info("closed %s: %d bytes in %d blocks", path, inode.length_bytes(), len(inode.blocks))
        return True

    def renew_lease(self, client_name: str) -> None:
        self.leases.renew(client_name, self.clock())

    def rename(self, user: str, source: str, destination: str) -> str:
        self._refuse_in_safe_mode("rename", source)
        renames = self.namespace.rename(self._checker(user), source, destination, self._now_ms())
        if renames:
            final = renames[0].destination
            self._check_fs_limits(final)
            levels = len(paths.components(final)) + subtree_height(self.namespace.get(source))
            if levels > paths.DEPTH_MAX:
                raise InvalidArgument(f"rename {paths.shown(source)} to {paths.shown(final)}: its deepest entry "
                                      f"would be {levels} levels deep; the limit is {paths.DEPTH_MAX}")
        for edit in renames:
            self._commit(edit)
        return renames[0].destination if renames else source

    def delete(self, user: str, path: str, recursive: bool) -> None:
        self._refuse_in_safe_mode("delete", path)
        inode = self.namespace.get(path)
        for edit in self.namespace.delete(self._checker(user), path, recursive, self._now_ms()):
            self._commit(edit)
        for node in subtree(inode):
            if isinstance(node, INodeFile) and node.under_construction:
                self.leases.remove(node.client_name, node)

    def set_replication(self, user: str, path: str, replication: int) -> str:
        self._refuse_in_safe_mode("set replication for", path)
        inodes = self.namespace.resolve(path)
        self.namespace.get_file(path)
        self._checker(user).check(inodes, target=Access.WRITE)
        replication, warning = self._checked_replication(replication)
        self._commit(edits.SetReplication(path, replication))
        return warning

    def set_permission(self, user: str, path: str, permission: int) -> None:
        self._refuse_in_safe_mode("set permission for", path)
        self._check_permission(permission)
        inodes = self.namespace.resolve(path)
        checker = self._checker(user)
        checker.check(inodes)
        checker.require_owner(self.namespace.get(path))
        self._commit(edits.SetPermission(path, permission & 0o1777))

    def set_owner(self, user: str, path: str, owner: str, group: str) -> None:
        self._refuse_in_safe_mode("set owner for", path)
        inodes = self.namespace.resolve(path)
        inode = self.namespace.get(path)
        checker = self._checker(user)
        checker.check(inodes)
        checker.require_owner(inode)
        if not checker.is_superuser and owner and owner != inode.owner:
            raise AccessControl(f"Permission denied: only the superuser may change the owner of {path}")
        if not checker.is_superuser and group and group not in checker.groups:
            raise AccessControl(f"Permission denied: user={user} does not belong to {group}")
        self._commit(edits.SetOwner(path, owner, group))

    # ------------------------------------------------------------ DataNodes

    def block_token(self, user: str, block: BlockRef, modes: AccessMode) -> bytes:
        """A signed token letting `user` do `modes` to this block; b"" when tokens are off."""
        if self.block_keys is None:
            return b""
        return self.block_keys.issue(user, block.block_id, block.generation_stamp, modes, self.clock())

    def register_datanode(self, uuid: str, node_id: str, address: str, capacity_bytes: int,
                          xfer_port: int = 0) -> list[BlockKey]:
        """Returns the block keys the DataNode must verify tokens with (none when tokens are off)."""
        datanode = self.datanodes.register(uuid, node_id, address, capacity_bytes, self.clock(), xfer_port)
        self.blocks.datanode_dead(datanode)  # forget stale replicas; its block report follows
        if self.block_keys is None:
            return []
        datanode.block_key_id = self.block_keys.current.key_id
        return list(self.block_keys.keys.values())

    def heartbeat(self, uuid: str, capacity_bytes: int, dfs_used_bytes: int, remaining_bytes: int,
                  active_transfers: int) -> list[DatanodeCommand]:
        datanode = self.datanodes.heartbeat(uuid, capacity_bytes, dfs_used_bytes, remaining_bytes,
                                            active_transfers, self.clock())
        if datanode is None:
            return [RegisterCommand()]
        commands = self.datanodes.take_commands(datanode)
        if self.block_keys is None:
            return commands
        modes = {TransferCommand: AccessMode.COPY, RecoverCommand: AccessMode.RECOVER}
        commands = [dataclasses.replace(command, block_token=self.block_token("datanode", command.block, modes[type(command)]))
                    if type(command) in modes else command for command in commands]
        if datanode.block_key_id != self.block_keys.current.key_id:
            datanode.block_key_id = self.block_keys.current.key_id
            commands.insert(0, KeyUpdateCommand(tuple(self.block_keys.keys.values())))
        return commands

    def block_report(self, uuid: str, replicas: list[tuple[BlockRef, bool]]) -> list[DatanodeCommand]:
        datanode = self.datanodes.get(uuid)
        if datanode is None or not datanode.live:
            return [RegisterCommand()]
        self.blocks.block_report(datanode, replicas)
        logger.info("block report from %s: %d replicas", datanode, len(replicas))
        return []

    def blocks_received_and_deleted(self, uuid: str, received: list[BlockRef], deleted: list[BlockRef]) -> None:
        datanode = self.datanodes.get(uuid)
        if datanode is None or not datanode.live:
            return
        for ref in received:
            self.blocks.replica_reported(datanode, ref, finalized=True)
        for ref in deleted:
            self.blocks.replica_deleted(datanode, ref.block_id)

    # ------------------------------------------------------------ decommissioning

    def decommission_check(self, names: set[str]) -> str:
        """Why decommissioning these DataNodes would strand a block, or "" if it is safe.

        Hadoop would start it anyway and wait for ever; a cluster controller
        shrinking the core group asks first.
        """
        unknown = sorted(name for name in names
                         if not any(name in node.names() for node in self.datanodes.by_uuid.values()))
        if unknown:
            return f"no DataNode called {', '.join(unknown)}"
        remaining = [node for node in self.datanodes.in_service() if node.names().isdisjoint(names)]
        widest = max((inode for inode in self.namespace.files() if inode.blocks),
                     key=lambda inode: inode.replication, default=None)
        if widest is not None and len(remaining) < widest.replication:
            return (f"decommissioning {', '.join(sorted(names))} would leave {len(remaining)} in-service "
                    f"DataNode(s), fewer than the replication {widest.replication} of {widest.path()}: "
                    f"lower its replication (dfs -setrep) or add DataNodes first")
        return ""

    def refresh_nodes(self, excluded: set[str]) -> tuple[list[str], list[str]]:
        """A new exclude list (`dfsadmin -refreshNodes`): (node ids now decommissioning, recommissioned)."""
        newly = {name for name in excluded
                 if any(name in node.names() and node.admin_state is AdminState.NORMAL
                        for node in self.datanodes.by_uuid.values())}
        if newly:
            reason = self.decommission_check(newly)
            if reason:
                raise FailedPrecondition(f"refreshNodes refused: {reason}")
        started, recommissioned = self.datanodes.refresh(excluded)
        for datanode in started + recommissioned:
            self.blocks.check_datanode_blocks(datanode)
        return [node.node_id for node in started], [node.node_id for node in recommissioned]

    def _check_decommissioning(self) -> None:
        """Hadoop's DatanodeAdminManager monitor: finish decommissions whose replicas are safe elsewhere."""
        for datanode in self.datanodes.by_uuid.values():
            if datanode.admin_state is not AdminState.DECOMMISSION_INPROGRESS:
                continue
            if not datanode.live:
                datanode.admin(AdminEvent.REPLICATED, "dead: its replicas no longer count")
            elif self.blocks.replicas_safe_elsewhere(datanode):
                datanode.admin(AdminEvent.REPLICATED, f"all {len(datanode.block_ids)} blocks replicated on other nodes")

    def report_bad_blocks(self, uuid: str, refs: list[BlockRef]) -> None:
        datanode = self.datanodes.get(uuid)
        if datanode is None:
            return
        for ref in refs:
            self.blocks.mark_corrupt(ref.block_id, datanode)

    def commit_block_synchronization(self, ref: BlockRef, uuids: list[str], delete_block: bool) -> None:
        """The primary DataNode of a block recovery reports the length the replicas agreed on."""
        block = self.blocks.blocks.get(ref.block_id)
        if block is None or block.state is not BlockState.UNDER_RECOVERY or block.file is None:
            logger.info("ignoring stale recovery report for blk_%d", ref.block_id)
            return
        inode, path = block.file, block.file.path()
        if delete_block or not uuids:
            self._commit(edits.AbandonBlock(path, block.block_id))
        else:
            self._commit(edits.UpdateBlock(path, block.block_id, ref.generation_stamp, ref.length_bytes))
        self._close_recovered(inode)
        recovered = block.ref()
        for uuid in uuids:
            datanode = self.datanodes.get(uuid)
            if datanode is not None and datanode.live and not delete_block:
                self.blocks.replica_reported(datanode, recovered, finalized=True)
        logger.info("lease recovery closed %s at %d bytes", path, inode.length_bytes())

    def _close_recovered(self, inode: INodeFile) -> None:
        """Close a file whose writer is gone, at the length its last block now has."""
        holder = inode.client_name
        last_length = inode.blocks[-1].length_bytes if inode.blocks else -1
        self._commit(edits.CloseFile(inode.path(), self._now_ms(), last_length))
        self.leases.remove(holder or "", inode)

    # ------------------------------------------------------------ the monitors

    def tick(self) -> None:
        """Run whichever background monitors are due (called a few times a second)."""
        now_s = self.clock()
        if self.block_keys is not None and self.block_keys.roll_if_due(now_s):
            logger.info("rolled block keys: key %d signs now", self.block_keys.current.key_id)
        if self._due("heartbeats", self.config.heartbeat_recheck_interval_s, now_s):
            for datanode in self.datanodes.find_dead(now_s):
                self.blocks.datanode_dead(datanode)
        if self.safe_mode.on:
            safe, total = self.blocks.safe_block_count()
            if self.safe_mode.update(safe, total, len(self.datanodes.live()), now_s):
                self.blocks.check_all()
            return
        if self._due("redundancy", self.config.redundancy_interval_s, now_s):
            self.blocks.compute_work(now_s)
        if self._due("decommission", self.config.decommission_interval_s, now_s):
            self._check_decommissioning()
        if self._due("leases", self.config.lease_recheck_interval_s, now_s):
            self._recover_expired_leases(now_s)

    def _due(self, monitor: str, interval_s: float, now_s: float) -> bool:
        if now_s - self.last_monitor_s[monitor] < interval_s:
            return False
        self.last_monitor_s[monitor] = now_s
        return True

    def _recover_expired_leases(self, now_s: float) -> None:
        for lease in self.leases.expired(now_s):
            for inode in list(lease.files):
                if inode.client_name != lease.holder or inode.parent is None:
                    lease.files.discard(inode)
                    continue
                self._recover_file(inode, now_s)
            if not lease.files:
                self.leases.by_holder.pop(lease.holder, None)

    def _recover_file(self, inode: INodeFile, now_s: float) -> None:
        path = inode.path()
        last = inode.blocks[-1] if inode.blocks else None
        if last is None or not last.is_under_construction:
            logger.info("lease of %s expired: closing it as it is", path)
            self._close_recovered(inode)
            return
        if last.state is BlockState.UNDER_RECOVERY and now_s < last.recovery_deadline_s:
            return
        locations = [node for node in (self.datanodes.get(uuid) for uuid in last.expected_locations)
                     if node is not None and node.live]
        if not locations:
            logger.info("lease of %s expired and no DataNode holds its last block: dropping that block", path)
            self._commit(edits.AbandonBlock(path, last.block_id))
            self._close_recovered(inode)
            return
        self.generation_stamp += 1
        last.state = BlockState.UNDER_RECOVERY
        last.recovery_deadline_s = now_s + max(10 * self.config.heartbeat_interval_s, 1.0)
        primary = locations[0]
        primary.recoveries.append(RecoverCommand(last.ref(), self.generation_stamp, tuple(locations)))
        logger.info("lease of %s expired: %s leads recovery of %s to stamp %d", path, primary, last, self.generation_stamp)

    def set_safe_mode(self, action: str) -> tuple[bool, str]:
        if action == "enter":
            self.safe_mode.enter()
        elif action == "leave":
            if self.safe_mode.on:
                self.safe_mode.leave()
                self.blocks.check_all()
        return self.safe_mode.on, self.safe_mode.status

    # ------------------------------------------------------------ reports

    def fsck(self, user: str, path: str) -> list[tuple[FileStatus, list[FsckBlock]]]:
        inodes = self.namespace.resolve(path)
        inode = self.namespace.get(path)
        self._checker(user).check(inodes)
        report = []
        for node in subtree(inode):
            blocks = []
            if isinstance(node, INodeFile):
                for block in node.blocks:
                    live = self.blocks.live_replicas(block)
                    blocks.append(FsckBlock(
                        block.ref(), tuple(replica for replica in live if replica.in_service),
                        tuple(self.blocks.corrupt_replicas(block)), node.replication,
                        tuple(replica for replica in live if replica.admin_state is AdminState.DECOMMISSION_INPROGRESS),
                        tuple(replica for replica in live if replica.admin_state is AdminState.DECOMMISSIONED)))
            report.append((self._status(node), blocks))
        return report

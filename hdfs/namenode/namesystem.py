"""The NameNode's state machine (Hadoop's FSNamesystem): start reading here.

It ties together
  - the namespace (`namespace.py`): directories, files, their blocks; durable,
  - the block map (`blocks.py`): where replicas are; rebuilt from block reports,
  - the DataNodes (`datanodes.py`): liveness and the commands queued for them,
  - leases (`leases.py`) and safe mode (`safemode.py`),
and inherits the namespace operations clients call (`namespace_ops.py`, the
queries and shared checks: read that next; `write_ops.py`, writing files;
`tree_ops.py`, mkdir, rename, delete, attributes); fsck and content summaries
are in `reports.py`. This class keeps
the durable counters (block ids, generation stamps), the DataNode protocol,
decommissioning, lease recovery and the background monitors.

One way in: every change is an event of `events.py` handed to
`handle(event, now_s) -> list[Command]`, which dispatches on the event's type
to a private handler here or in `write_ops.py`/`tree_ops.py` and returns the DataNode
commands for the caller and the RPC's one reply. Events change the state;
queries (file info, listings, block locations, fsck, reports) are plain
methods that only read it.

It does no I/O and reads no clock: the time comes with each event (`now_s`,
from the shell's clock; a query that needs it takes it too), every namespace
change goes out through `journal(edit)` (the edit log, in the real NameNode;
a list, in tests), and commands for DataNodes wait in their descriptors until
a heartbeat collects them. The NameNode process calls it under one lock and
syncs the edit log before answering, so a client hears "ok" only for changes
that are on disk.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import secrets
from collections.abc import Callable

from emrlab_common.errors import FailedPrecondition
from hdfs.blocktoken import AccessMode, BlockKeyManager
from hdfs.namenode import edits
from hdfs.namenode.blocks import BlockManager, BlockState
from hdfs.namenode.config import NameNodeConfig
from hdfs.namenode.datanodes import AdminEvent, AdminState, DatanodeManager, stable_order
from hdfs.namenode.events import (
    AbandonBlock,
    Acknowledged,
    AddBlock,
    Append,
    BadBlocksReported,
    BlockReport,
    BlocksReceivedAndDeleted,
    BlockSynchronizationCommitted,
    Command,
    Complete,
    Create,
    DatanodeHeartbeat,
    DatanodeRegistered,
    Delete,
    Event,
    KeyUpdateCommand,
    Mkdirs,
    RecoverCommand,
    RefreshNodes,
    RefreshNodesReply,
    RegisterCommand,
    RegisterDatanodeReply,
    Rename,
    RenewLease,
    SafeModeReply,
    SetOwner,
    SetPermission,
    SetReplication,
    SetSafeMode,
    SetTimes,
    Tick,
    TransferCommand,
)
from hdfs.namenode.inodes import INodeFile, subtree
from hdfs.namenode.leases import LeaseManager
from hdfs.namenode.namespace import Namespace
from hdfs.namenode.namespace_ops import GroupsOf, milliseconds
from hdfs.namenode.reports import FsckBlock, fsck_blocks
from hdfs.namenode.safemode import SafeMode as SafeModeMonitor
from hdfs.namenode.tree_ops import TreeOperations
from hdfs.namenode.write_ops import WriteFileOperations
from hdfs.protocol import FileStatus

logger = logging.getLogger(__name__)


class Namesystem(WriteFileOperations, TreeOperations):
    def __init__(self, config: NameNodeConfig, superuser: str, start_s: float,
                 journal: Callable[[object], None], groups_of: GroupsOf, rng: random.Random,
                 secret_source: Callable[[int], bytes] = secrets.token_bytes):
        """`rng` makes every random choice (placement, read order): seeded from the logged seed, a run replays."""
        self.config = config
        self.superuser = superuser
        self.journal = journal
        self.groups_of = groups_of
        self.rng = rng
        self.datanodes = DatanodeManager(config)
        self.blocks = BlockManager(config, self.datanodes, self.rng)
        self.namespace = Namespace(self.blocks, superuser, config.superuser_group)
        self.leases = LeaseManager(config.lease_hard_limit_s)
        self.safe_mode = SafeModeMonitor(config)
        self.next_block_id = 1 << 30  # Hadoop's block ids start high too; any start works
        self.generation_stamp = 1000
        self.last_monitor_s = {"heartbeats": 0.0, "redundancy": 0.0, "leases": 0.0, "decommission": 0.0}
        self.block_keys = (BlockKeyManager(config.block_key_update_interval_s, config.block_token_lifetime_s,
                                           secret_source, start_s)
                           if config.block_access_token_enabled else None)
        self.handlers = {  # every class of events.Event, each with its handler (a test checks none is missing)
            DatanodeRegistered: self._register_datanode, DatanodeHeartbeat: self._heartbeat,
            BlockReport: self._block_report, BlocksReceivedAndDeleted: self._blocks_received_and_deleted,
            BadBlocksReported: self._report_bad_blocks,
            BlockSynchronizationCommitted: self._commit_block_synchronization,
            RefreshNodes: self._refresh_nodes, SetSafeMode: self._set_safe_mode, Tick: self._tick,
            Mkdirs: self._mkdirs, Create: self._create, Append: self._append, AddBlock: self._add_block,
            AbandonBlock: self._abandon_block, Complete: self._complete, RenewLease: self._renew_lease,
            Rename: self._rename, Delete: self._delete, SetReplication: self._set_replication,
            SetPermission: self._set_permission, SetOwner: self._set_owner, SetTimes: self._set_times,
        }

    def handle(self, event: Event, now_s: float) -> list[Command]:
        """Change the state by one event: the DataNode commands it causes and the RPC's reply (none for a Tick).

        An operating error (`EmrlabError`) is raised as the RPC answers it; edits committed before it stay."""
        handler = self.handlers.get(type(event))
        if handler is None:
            raise AssertionError(f"unknown event {event!r}")
        return handler(event, now_s)

    # ------------------------------------------------------------ edits in, edits out

    def replay(self, edit) -> None:
        """Apply an edit from the log at start (it is already durable)."""
        self.namespace.apply(edit)
        if isinstance(edit, edits.AddBlock):
            self.next_block_id = max(self.next_block_id, edit.block_id + 1)
            self.generation_stamp = max(self.generation_stamp, edit.generation_stamp)
        elif isinstance(edit, edits.UpdateBlock | edits.SetGenerationStamp):
            self.generation_stamp = max(self.generation_stamp, edit.generation_stamp)

    def image(self) -> dict:
        """Everything durable, for a checkpoint."""
        return {"inodes": self.namespace.to_image(), "next_block_id": self.next_block_id,
                "generation_stamp": self.generation_stamp}

    def load_image(self, image: dict) -> None:
        self.namespace.load_image(image["inodes"])
        self.next_block_id = image["next_block_id"]
        self.generation_stamp = image["generation_stamp"]

    def after_load(self, now_s: float) -> None:
        """Once the image and the log are in: leases for files still being written."""
        for inode in self.namespace.files():
            if inode.under_construction:
                self.leases.add(inode.client_name, inode, now_s)

    # ------------------------------------------------------------ DataNodes

    def _register_datanode(self, event: DatanodeRegistered, now_s: float) -> list[Command]:
        """The reply has the block keys the DataNode must verify tokens with (none when tokens are off)."""
        datanode = self.datanodes.register(event.uuid, event.node_id, event.address, event.capacity_bytes, now_s,
                                           event.xfer_port)
        self.blocks.datanode_dead(datanode)  # forget stale replicas; its block report follows
        if self.block_keys is None:
            return [RegisterDatanodeReply(())]
        datanode.block_key_id = self.block_keys.current.key_id
        return [RegisterDatanodeReply(tuple(self.block_keys.keys.values()))]

    def _heartbeat(self, event: DatanodeHeartbeat, now_s: float) -> list[Command]:
        datanode = self.datanodes.heartbeat(event.uuid, event.capacity_bytes, event.dfs_used_bytes,
                                            event.remaining_bytes, event.active_transfers, now_s)
        if datanode is None:
            return [RegisterCommand(), Acknowledged()]
        commands: list[Command] = list(self.datanodes.take_commands(datanode))
        if self.block_keys is not None:
            modes = {TransferCommand: AccessMode.COPY, RecoverCommand: AccessMode.RECOVER}
            commands = [dataclasses.replace(command, block_token=self.block_token(
                            "datanode", command.block, modes[type(command)], now_s))
                        if type(command) in modes else command for command in commands]
            if datanode.block_key_id != self.block_keys.current.key_id:
                datanode.block_key_id = self.block_keys.current.key_id
                commands.insert(0, KeyUpdateCommand(tuple(self.block_keys.keys.values())))
        return [*commands, Acknowledged()]

    def _block_report(self, event: BlockReport, now_s: float) -> list[Command]:
        datanode = self.datanodes.get(event.uuid)
        if datanode is None or not datanode.live:
            return [RegisterCommand(), Acknowledged()]
        self.blocks.block_report(datanode, list(event.replicas))
        logger.info("block report from %s: %d replicas", datanode, len(event.replicas))
        return [Acknowledged()]

    def _blocks_received_and_deleted(self, event: BlocksReceivedAndDeleted, now_s: float) -> list[Command]:
        datanode = self.datanodes.get(event.uuid)
        if datanode is None or not datanode.live:
            return [Acknowledged()]
        for ref in event.received:
            self.blocks.replica_reported(datanode, ref, finalized=True)
        for ref in event.deleted:
            self.blocks.replica_deleted(datanode, ref.block_id)
        return [Acknowledged()]

    # ------------------------------------------------------------ decommissioning

    def decommission_check(self, names: set[str]) -> str:
        """Why decommissioning these DataNodes would strand a block, or "" if it is safe.

        Hadoop would start it anyway and wait for ever; a cluster controller
        shrinking the core group asks first.
        """
        unknown = sorted(name for name in names if not self.datanodes.named(name))
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

    def _refresh_nodes(self, event: RefreshNodes, now_s: float) -> list[Command]:
        """A new exclude list (`dfsadmin -refreshNodes`): the node ids now decommissioning, and recommissioned."""
        excluded = set(event.excluded)
        newly = {name for name in excluded
                 if any(node.admin_state is AdminState.NORMAL for node in self.datanodes.named(name))}
        if newly:
            reason = self.decommission_check(newly)
            if reason:
                raise FailedPrecondition(f"refreshNodes refused: {reason}")
        started, recommissioned = self.datanodes.refresh(excluded)
        for datanode in started + recommissioned:
            self.blocks.check_datanode_blocks(datanode)
        return [RefreshNodesReply(tuple(node.node_id for node in started),
                                  tuple(node.node_id for node in recommissioned))]

    def _check_decommissioning(self) -> None:
        """Hadoop's DatanodeAdminManager monitor: finish decommissions whose replicas are safe elsewhere."""
        for datanode in self.datanodes.decommissioning():
            if not datanode.live:
                datanode.admin(AdminEvent.REPLICATED, "dead: its replicas no longer count")
            elif self.blocks.replicas_safe_elsewhere(datanode):
                datanode.admin(AdminEvent.REPLICATED, f"all {len(datanode.block_ids)} blocks replicated on other nodes")

    def _report_bad_blocks(self, event: BadBlocksReported, now_s: float) -> list[Command]:
        datanode = self.datanodes.get(event.uuid)
        if datanode is None or not datanode.live:
            return [Acknowledged()]  # a DataNode we declared dead: its replicas count for nothing until it registers
        for ref in event.blocks:
            self.blocks.mark_corrupt(ref.block_id, datanode)
        return [Acknowledged()]

    def _commit_block_synchronization(self, event: BlockSynchronizationCommitted, now_s: float) -> list[Command]:
        """The primary DataNode of a block recovery reports the length the replicas agreed on."""
        ref, uuids, delete_block = event.block, event.uuids, event.delete_block
        block = self.blocks.get(ref.block_id)
        if block is None or block.state is not BlockState.UNDER_RECOVERY or block.file is None:
            logger.info("ignoring stale recovery report for blk_%d", ref.block_id)
            return [Acknowledged()]
        inode, path = block.file, block.file.path()
        if delete_block or not uuids:
            self._commit(edits.AbandonBlock(path, block.block_id))
        else:
            self._commit(edits.UpdateBlock(path, block.block_id, ref.generation_stamp, ref.length_bytes))
        self._close_recovered(inode, now_s)
        recovered = block.ref()
        for uuid in uuids:
            datanode = self.datanodes.get(uuid)
            if datanode is not None and datanode.live and not delete_block:
                self.blocks.replica_reported(datanode, recovered, finalized=True)
        logger.info("lease recovery closed %s at %d bytes", path, inode.length_bytes())
        return [Acknowledged()]

    def _close_recovered(self, inode: INodeFile, now_s: float) -> None:
        """Close a file whose writer is gone, at the length its last block now has."""
        holder = inode.client_name
        last_length = inode.blocks[-1].length_bytes if inode.blocks else -1
        self._commit(edits.CloseFile(inode.path(), milliseconds(now_s), last_length))
        self.leases.remove(holder or "", inode)

    def validate_state(self) -> None:
        """What holds between any two calls (the tests check it): the block map's, the DataNodes' and the leases'."""
        self.blocks.validate_state()
        self.leases.validate_state()

    # ------------------------------------------------------------ the monitors

    def _tick(self, event: Tick, now_s: float) -> list[Command]:
        """Run whichever background monitors are due (a few times a second); their DataNode commands queue."""
        if self.block_keys is not None and self.block_keys.roll_if_due(now_s):
            logger.info("rolled block keys: key %d signs now", self.block_keys.current.key_id)
        if self._due("heartbeats", self.config.heartbeat_recheck_interval_s, now_s):
            for datanode in self.datanodes.find_dead(now_s):
                self.blocks.datanode_dead(datanode)
        if self.safe_mode.on:
            safe, total = self.blocks.safe_block_count()
            if self.safe_mode.update(safe, total, len(self.datanodes.live()), now_s):
                self.blocks.check_all()
            return []
        if self._due("redundancy", self.config.redundancy_interval_s, now_s):
            self.blocks.compute_work(now_s)
        if self._due("decommission", self.config.decommission_interval_s, now_s):
            self._check_decommissioning()
        if self._due("leases", self.config.lease_recheck_interval_s, now_s):
            self._recover_expired_leases(now_s)
        return []

    def _due(self, monitor: str, interval_s: float, now_s: float) -> bool:
        if now_s - self.last_monitor_s[monitor] < interval_s:
            return False
        self.last_monitor_s[monitor] = now_s
        return True

    def _recover_expired_leases(self, now_s: float) -> None:
        for holder, inode in self.leases.expired_files(now_s):
            if inode.client_name != holder or inode.parent is None:
                self.leases.remove(holder, inode)  # closed or deleted since: nothing to recover
                continue
            self._recover_file(inode, now_s)

    def _recover_file(self, inode: INodeFile, now_s: float) -> None:
        path = inode.path()
        last = inode.blocks[-1] if inode.blocks else None
        if last is None or not last.is_under_construction:
            logger.info("lease of %s expired: closing it as it is", path)
            self._close_recovered(inode, now_s)
            return
        if last.state is BlockState.UNDER_RECOVERY and now_s < last.recovery_deadline_s:
            return
        locations = sorted((node for node in (self.datanodes.get(uuid) for uuid in last.expected_locations)
                            if node is not None and node.live), key=stable_order)  # the primary replays too
        if not locations:
            logger.info("lease of %s expired and no DataNode holds its last block: dropping that block", path)
            self._commit(edits.AbandonBlock(path, last.block_id))
            self._close_recovered(inode, now_s)
            return
        primary = locations[0]
        if not primary.queue_recovery(RecoverCommand(last.ref(), self.generation_stamp + 1, tuple(locations))):
            logger.warning("lease of %s expired: %s has too many recoveries queued; next pass", path, primary)
            return
        # Logged as Hadoop logs OP_SET_GENSTAMP_V2: a restarted NameNode must never hand this stamp out again.
        self.generation_stamp += 1
        self._commit(edits.SetGenerationStamp(self.generation_stamp))
        self.blocks.start_recovery(last, now_s + max(10 * self.config.heartbeat_interval_s, 1.0))
        logger.info("lease of %s expired: %s leads recovery of %s to stamp %d", path, primary, last, self.generation_stamp)

    def _set_safe_mode(self, event: SetSafeMode, now_s: float) -> list[Command]:
        if event.action == "enter":
            self.safe_mode.enter()
        elif event.action == "leave" and self.safe_mode.on:
            self.safe_mode.leave()
            self.blocks.check_all()
        return [SafeModeReply(self.safe_mode.on, self.safe_mode.status)]

    # ------------------------------------------------------------ reports

    def fsck(self, user: str, path: str) -> list[tuple[FileStatus, list[FsckBlock]]]:
        inodes = self.namespace.resolve(path)
        inode = self.namespace.get(path)
        self._checker(user).check(inodes)
        return [(self._status(node), fsck_blocks(self.blocks, node) if isinstance(node, INodeFile) else [])
                for node in subtree(inode)]

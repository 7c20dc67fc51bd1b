"""The NameNode's gRPC face: thin servicers that translate, and the lock they share.

`NameNode` is the process's state (Hadoop's NameNode next to its
FSNamesystem): the namesystem, one lock around it, the clock and the edit log.
Every RPC runs inside `NameNode.operation()`: the namesystem call happens
under the lock, then the edit log is synced outside it, and only then does the
client get its answer. A call that changes the namesystem becomes an event of
`events.py` (`NameNode.handle`, with the clock's time); the servicer turns its
reply, and a DataNode's commands, into the response. A query is a plain
namesystem method. The servicers only convert protos to plain values and back
(`conversions.py`).
"""

from __future__ import annotations

import functools
import grp
import logging
import os
import pwd
import random
import secrets
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from emrlab_common.credentials import caller_identity, verify_proof
from emrlab_common.errors import FailedPrecondition, InvalidArgument
from emrlab_common.hostsfile import read_hosts_file
from emrlab_common.protos import hdfs_pb2, hdfs_pb2_grpc
from emrlab_common.rpc import caller_user, servicer_method
from hdfs import paths
from hdfs.blocktoken import AccessMode
from hdfs.namenode import events
from hdfs.namenode.config import NameNodeConfig
from hdfs.namenode.conversions import (
    ADMIN_STATE_TO_PROTO,
    SAFE_MODE_ACTIONS,
    block_from_proto,
    block_key_to_proto,
    block_to_proto,
    command_to_proto,
    datanode_to_proto,
    located_to_proto,
)
from hdfs.namenode.editlog import EditLog
from hdfs.namenode.events import datanode_commands, reply
from hdfs.namenode.namesystem import Namesystem
from hdfs.namenode.tokens import DelegationTokens

logger = logging.getLogger(__name__)

MONITOR_INTERVAL_S = 0.1
RANDOM_SEED_MAX = 1 << 32


@functools.lru_cache(maxsize=1024)
def os_groups(user: str) -> frozenset[str]:
    """A user's groups from this host's accounts, as Hadoop's ShellBasedUnixGroupsMapping."""
    try:
        account = pwd.getpwnam(user)
    except KeyError:
        return frozenset()
    names = set()
    for group_id in os.getgrouplist(user, account.pw_gid):
        try:
            names.add(grp.getgrgid(group_id).gr_name)
        except KeyError:
            continue
    return frozenset(names)


class NameNode:
    def __init__(self, config: NameNodeConfig, name_dir: Path, superuser: str, clock=time.time,
                 exclude_path: Path | None = None, cluster_key: bytes | None = None):
        self.config = config
        self.clock = clock
        self.exclude_path = exclude_path
        self.cluster_key = cluster_key  # with block tokens or token authentication: callers must prove they hold it
        self.delegation_tokens = (DelegationTokens(cluster_key, config.delegation_token_lifetime_s, clock)
                                  if cluster_key is not None else None)
        assert config.authentication == "simple" or cluster_key is not None
        self.lock = threading.RLock()
        self.editlog = EditLog(name_dir)
        # Placement and read order are random; a run replays from its seed, so every start logs the one it uses.
        self.random_seed = config.random_seed or secrets.randbelow(RANDOM_SEED_MAX) + 1
        logger.info("random seed %d (-D emrlab.namenode.random-seed=%d replays it)", self.random_seed, self.random_seed)
        self.namesystem = Namesystem(config, superuser, clock(), self.editlog.append, os_groups,
                                     random.Random(self.random_seed))
        self.editlog.load(self.namesystem.load_image, self.namesystem.replay)
        self.namesystem.after_load(clock())
        # No DataNode yet: they meet the list as they register.
        self.namesystem.handle(events.RefreshNodes(frozenset(self.excluded())), clock())
        self.last_checkpoint_s = clock()

    def caller(self, context) -> str:
        """Who is calling: believed in simple mode, proved in token mode."""
        if self.config.authentication == "simple":
            return caller_user(context)
        return caller_identity(self.cluster_key, context.invocation_metadata(),
                               token_owner=self.delegation_tokens.owner)

    def excluded(self) -> set[str]:
        return read_hosts_file(self.exclude_path) if self.exclude_path is not None else set()

    @contextmanager
    def operation(self):
        """Run namesystem calls under the lock; make their edits durable before returning."""
        try:
            with self.lock:
                yield self.namesystem
        finally:
            self.editlog.sync(self.editlog.last_written_txid)

    def handle(self, event: events.Event) -> list[events.Command]:
        """One event through the namesystem, under the lock and at the clock's time; durable when this returns."""
        with self.operation() as namesystem:
            return namesystem.handle(event, self.clock())

    def run_monitors(self, stop: threading.Event) -> None:
        """The background thread: heartbeat expiry, replication, leases, safe mode, checkpoints."""
        while not stop.wait(MONITOR_INTERVAL_S):
            try:
                self.handle(events.Tick())
                if self._checkpoint_due():
                    self.checkpoint()
            except OSError:  # the name directory's disk (full, read-only): the next pass tries again
                logger.exception("monitor pass failed")
            # Anything else is a bug: it ends this thread, and the NameNode process with it (stop_when_a_thread_crashes).

    def _checkpoint_due(self) -> bool:
        return (self.editlog.transactions_since_checkpoint >= self.config.checkpoint_transactions
                or (self.editlog.transactions_since_checkpoint > 0
                    and self.clock() - self.last_checkpoint_s >= self.config.checkpoint_period_s))

    def checkpoint(self) -> None:
        with self.lock:
            self.editlog.checkpoint(self.namesystem.image(), self.config.checkpoints_retained)
            self.last_checkpoint_s = self.clock()

    def close(self) -> None:
        """Clean shutdown: fold the log into an image, as `hdfs dfsadmin -saveNamespace` would."""
        if self.editlog.transactions_since_checkpoint:
            self.checkpoint()
        self.editlog.close()


# ---------------------------------------------------------------- servicers

class ClientProtocolServicer(hdfs_pb2_grpc.ClientProtocolServicer):
    def __init__(self, namenode: NameNode):
        self.namenode = namenode

    @servicer_method
    def GetServerDefaults(self, request, context):
        with self.namenode.operation() as namesystem:
            defaults = namesystem.server_defaults()
        return hdfs_pb2.GetServerDefaultsResponse(**defaults)

    @servicer_method
    def GetFileInfo(self, request, context):
        with self.namenode.operation() as namesystem:
            status = namesystem.file_info(self.namenode.caller(context), paths.validate(request.path))
        if status is None:
            return hdfs_pb2.GetFileInfoResponse(exists=False)
        return hdfs_pb2.GetFileInfoResponse(exists=True, status=status.to_proto())

    @servicer_method
    def GetListing(self, request, context):
        with self.namenode.operation() as namesystem:
            entries, remaining = namesystem.listing(self.namenode.caller(context), paths.validate(request.path), request.start_after)
        return hdfs_pb2.GetListingResponse(entries=[entry.to_proto() for entry in entries], remaining_entries=remaining)

    @servicer_method
    def GetBlockLocations(self, request, context):
        user = self.namenode.caller(context)
        with self.namenode.operation() as namesystem:
            length, located, under_construction = namesystem.block_locations(
                user, paths.validate(request.path), request.offset_bytes, request.length_bytes,
                request.client_node_id)
            blocks = [located_to_proto(block, namesystem.block_token(user, block.block, AccessMode.READ,
                                                                    self.namenode.clock()))
                      for block in located]
        return hdfs_pb2.GetBlockLocationsResponse(file_length_bytes=length, blocks=blocks,
                                                  under_construction=under_construction)

    @servicer_method
    def GetContentSummary(self, request, context):
        with self.namenode.operation() as namesystem:
            summary = namesystem.content_summary(self.namenode.caller(context), paths.validate(request.path))
        return hdfs_pb2.GetContentSummaryResponse(
            length_bytes=summary.length_bytes, file_count=summary.file_count,
            directory_count=summary.directory_count, space_consumed_bytes=summary.space_consumed_bytes)

    @servicer_method
    def Mkdirs(self, request, context):
        user, path = self.namenode.caller(context), paths.validate(request.path)
        self.namenode.handle(events.Mkdirs(user, path, request.permission, request.create_parent))
        return hdfs_pb2.MkdirsResponse()

    @servicer_method
    def Create(self, request, context):
        user, path = self.namenode.caller(context), paths.validate(request.path)
        created = reply(self.namenode.handle(events.Create(
            user, path, request.permission, request.client_name, request.overwrite, request.create_parent,
            request.replication, request.block_size_bytes)), events.CreateReply)
        return hdfs_pb2.CreateResponse(status=created.status.to_proto(), warning=created.warning)

    @servicer_method
    def Append(self, request, context):
        user, path = self.namenode.caller(context), paths.validate(request.path)
        appended = reply(self.namenode.handle(events.Append(user, path, request.client_name)), events.AppendReply)
        last = appended.last_block
        response = hdfs_pb2.AppendResponse(status=appended.status.to_proto(), has_last_block=last is not None)
        if last is not None:
            response.last_block.CopyFrom(block_to_proto(last))
        return response

    @servicer_method
    def AddBlock(self, request, context):
        user, path = self.namenode.caller(context), paths.validate(request.path)
        previous = block_from_proto(request.previous) if request.has_previous else None
        added = reply(self.namenode.handle(events.AddBlock(
            user, path, request.client_name, previous, frozenset(request.excluded_datanode_uuids),
            request.favored_node_id)), events.AddBlockReply)
        return hdfs_pb2.AddBlockResponse(block=located_to_proto(added.located, added.block_token))

    @servicer_method
    def AbandonBlock(self, request, context):
        path = paths.validate(request.path)
        self.namenode.handle(events.AbandonBlock(path, request.client_name, block_from_proto(request.block)))
        return hdfs_pb2.AbandonBlockResponse()

    @servicer_method
    def Complete(self, request, context):
        path = paths.validate(request.path)
        last = block_from_proto(request.last) if request.has_last else None
        completed = reply(self.namenode.handle(events.Complete(path, request.client_name, last)), events.CompleteReply)
        return hdfs_pb2.CompleteResponse(completed=completed.completed)

    @servicer_method
    def RenewLease(self, request, context):
        self.namenode.handle(events.RenewLease(request.client_name))
        return hdfs_pb2.RenewLeaseResponse()

    @servicer_method
    def Rename(self, request, context):
        user, source = self.namenode.caller(context), paths.validate(request.source)
        renamed = reply(self.namenode.handle(events.Rename(user, source, paths.validate(request.destination))),
                        events.RenameReply)
        return hdfs_pb2.RenameResponse(final_path=renamed.final_path)

    @servicer_method
    def Delete(self, request, context):
        user, path = self.namenode.caller(context), paths.validate(request.path)
        self.namenode.handle(events.Delete(user, path, request.recursive))
        return hdfs_pb2.DeleteResponse()

    @servicer_method
    def SetReplication(self, request, context):
        user, path = self.namenode.caller(context), paths.validate(request.path)
        changed = reply(self.namenode.handle(events.SetReplication(user, path, request.replication)),
                        events.SetReplicationReply)
        return hdfs_pb2.SetReplicationResponse(warning=changed.warning)

    @servicer_method
    def SetPermission(self, request, context):
        user, path = self.namenode.caller(context), paths.validate(request.path)
        self.namenode.handle(events.SetPermission(user, path, request.permission))
        return hdfs_pb2.SetPermissionResponse()

    @servicer_method
    def SetOwner(self, request, context):
        user, path = self.namenode.caller(context), paths.validate(request.path)
        self.namenode.handle(events.SetOwner(user, path, request.owner, request.group))
        return hdfs_pb2.SetOwnerResponse()

    @servicer_method
    def ReportBadBlocks(self, request, context):
        self.namenode.handle(events.BadBlocksReported(request.datanode_uuid, (block_from_proto(request.block),)))
        return hdfs_pb2.ReportBadBlocksResponse()

    @servicer_method
    def Fsck(self, request, context):
        with self.namenode.operation() as namesystem:
            report = namesystem.fsck(self.namenode.caller(context), paths.validate(request.path))
            summary = hdfs_pb2.FsckSummary(
                live_datanodes=len(namesystem.datanodes.live()), dead_datanodes=len(namesystem.datanodes.dead()),
                default_replication=namesystem.config.replication, safe_mode=namesystem.safe_mode.on)
        for status, blocks in report:
            yield hdfs_pb2.FsckResponse(file=hdfs_pb2.FsckFile(status=status.to_proto(), blocks=[
                hdfs_pb2.FsckBlock(
                    block=block_to_proto(block.block),
                    live_replicas=[datanode_to_proto(node) for node in block.live],
                    corrupt_replicas=[datanode_to_proto(node) for node in block.corrupt],
                    expected_replication=block.expected_replication,
                    decommissioning_replicas=[datanode_to_proto(node) for node in block.decommissioning],
                    decommissioned_replicas=[datanode_to_proto(node) for node in block.decommissioned])
                for block in blocks]))
        yield hdfs_pb2.FsckResponse(summary=summary)

    @servicer_method
    def GetDatanodeReport(self, request, context):
        with self.namenode.operation() as namesystem:
            now_s = self.namenode.clock()
            datanodes = [
                hdfs_pb2.DatanodeInfo(
                    id=datanode_to_proto(node), live=node.live, capacity_bytes=node.capacity_bytes,
                    dfs_used_bytes=node.dfs_used_bytes, remaining_bytes=node.remaining_bytes,
                    block_count=len(node.block_ids), last_heartbeat_age_s=now_s - node.last_heartbeat_s,
                    active_transfers=node.active_transfers, admin_state=ADMIN_STATE_TO_PROTO[node.admin_state])
                for node in namesystem.datanodes.all()
            ]
            counts = namesystem.blocks.counts()
            safe_mode = namesystem.safe_mode.on
        return hdfs_pb2.GetDatanodeReportResponse(
            datanodes=datanodes, under_replicated_blocks=counts["under_replicated"],
            corrupt_blocks=counts["corrupt"], missing_blocks=counts["missing"], safe_mode=safe_mode)

    @servicer_method
    def SetSafeMode(self, request, context):
        action = SAFE_MODE_ACTIONS.get(request.action)
        if action is None:
            raise InvalidArgument(f"no safe mode action {request.action} (get, enter or leave)")
        with self.namenode.operation() as namesystem:
            if action != "get":
                namesystem.require_superuser(self.namenode.caller(context), f"safemode {action}")
            answer = reply(namesystem.handle(events.SetSafeMode(action), self.namenode.clock()), events.SafeModeReply)
        return hdfs_pb2.SetSafeModeResponse(safe_mode=answer.safe_mode, status=answer.status)

    @servicer_method
    def RefreshNodes(self, request, context):
        excluded = self.namenode.excluded()
        with self.namenode.operation() as namesystem:
            namesystem.require_superuser(self.namenode.caller(context), "refreshNodes")
            refreshed = reply(namesystem.handle(events.RefreshNodes(frozenset(excluded)), self.namenode.clock()),
                              events.RefreshNodesReply)
        return hdfs_pb2.RefreshNodesResponse(decommissioning=refreshed.decommissioning,
                                             recommissioned=refreshed.recommissioned,
                                             exclude_path=str(self.namenode.exclude_path or ""))

    @servicer_method
    def GetDelegationToken(self, request, context):
        user = self.namenode.caller(context)
        if self.namenode.cluster_key is None:
            raise FailedPrecondition("delegation tokens need hadoop.security.authentication=token")
        token, expiry_s = self.namenode.delegation_tokens.issue(user)
        logger.info("delegation token for %s until %.0f", user, expiry_s)
        return hdfs_pb2.GetDelegationTokenResponse(token=token, expiry_unix_s=expiry_s)

    @servicer_method
    def CheckDecommission(self, request, context):
        with self.namenode.operation() as namesystem:
            reason = namesystem.decommission_check(set(request.node_ids))
        return hdfs_pb2.CheckDecommissionResponse(allowed=not reason, reason=reason)


class DatanodeProtocolServicer(hdfs_pb2_grpc.DatanodeProtocolServicer):
    """Every call is from a DataNode; with block tokens on, it must prove it is one of this cluster's
    (it gets the block keys), by the cluster key in `emrlab_common.credentials`."""

    def __init__(self, namenode: NameNode):
        self.namenode = namenode

    def _authenticate(self, context) -> None:
        if self.namenode.cluster_key is not None:
            verify_proof(self.namenode.cluster_key, context.invocation_metadata())

    @servicer_method
    def RegisterDatanode(self, request, context):
        self._authenticate(context)
        registered = reply(self.namenode.handle(events.DatanodeRegistered(
            request.id.datanode_uuid, request.id.node_id, request.id.address, request.capacity_bytes,
            request.id.xfer_port)), events.RegisterDatanodeReply)
        return hdfs_pb2.RegisterDatanodeResponse(block_keys=[block_key_to_proto(key)
                                                             for key in registered.block_keys])

    @servicer_method
    def SendHeartbeat(self, request, context):
        self._authenticate(context)
        commands = self.namenode.handle(events.DatanodeHeartbeat(
            request.datanode_uuid, request.capacity_bytes, request.dfs_used_bytes, request.remaining_bytes,
            request.active_transfers))
        return hdfs_pb2.SendHeartbeatResponse(commands=[command_to_proto(command)
                                                        for command in datanode_commands(commands)])

    @servicer_method
    def BlockReport(self, request, context):
        self._authenticate(context)
        replicas = tuple((block_from_proto(replica.block), replica.state == hdfs_pb2.FINALIZED)
                         for replica in request.replicas)
        commands = self.namenode.handle(events.BlockReport(request.datanode_uuid, replicas))
        return hdfs_pb2.BlockReportResponse(commands=[command_to_proto(command)
                                                      for command in datanode_commands(commands)])

    @servicer_method
    def BlockReceivedAndDeleted(self, request, context):
        self._authenticate(context)
        self.namenode.handle(events.BlocksReceivedAndDeleted(
            request.datanode_uuid, tuple(block_from_proto(block) for block in request.received),
            tuple(block_from_proto(block) for block in request.deleted)))
        return hdfs_pb2.BlockReceivedAndDeletedResponse()

    @servicer_method
    def ReportBadBlocks(self, request, context):
        self._authenticate(context)
        blocks = tuple(block_from_proto(block) for block in request.blocks)
        self.namenode.handle(events.BadBlocksReported(request.datanode_uuid, blocks))
        return hdfs_pb2.DatanodeReportBadBlocksResponse()

    @servicer_method
    def CommitBlockSynchronization(self, request, context):
        self._authenticate(context)
        self.namenode.handle(events.BlockSynchronizationCommitted(
            block_from_proto(request.block), tuple(request.datanode_uuids), request.delete_block))
        return hdfs_pb2.CommitBlockSynchronizationResponse()


def register_servicers(namenode: NameNode):
    def register(server) -> None:
        hdfs_pb2_grpc.add_ClientProtocolServicer_to_server(ClientProtocolServicer(namenode), server)
        hdfs_pb2_grpc.add_DatanodeProtocolServicer_to_server(DatanodeProtocolServicer(namenode), server)

    return register

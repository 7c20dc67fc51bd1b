"""The DataNode's conversation with the NameNode (Hadoop's BPServiceActor): the shell around `state.py`.

One thread: it turns the clock and the NameNode's answers into events for
`DataNodeState`, and carries out the commands that come back: register,
heartbeat, send a full or incremental block report, report bad blocks,
delete replicas, copy a replica to other DataNodes, lead a block recovery,
take new block keys. The DataNode's other threads `tell` it events too (a
replica finalized, a bad one found, a directory scan's differences: it
listens on the DataNode); those are handled on the teller's thread, and
what they make due wakes this one. Copies and recoveries run on a bounded
pool (`COPY_THREADS`) so the heartbeat never stalls; their end goes back to
the state as an event (a recovery's result too: the loop tells the NameNode,
CommitBlockSynchronization), and one that dies of a bug stops the DataNode as
a crashed thread does. A report that fails goes back to the state
(`ReportsNotSent`) to be sent again, with the reports and recovery results
after it that the failed call kept from going out.

The NameNode's address is read from the cluster directory, and read again
when a call fails, so a restarted NameNode (on a new port) is found; the old
channel is closed. Only one thread (the loop's) ever opens, uses or closes
that channel, so none is closed under a call or opened twice; events told
from other threads return no command that calls the NameNode.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc

from emrlab_common.credentials import key_path, proof_metadata
from emrlab_common.errors import EmrlabError
from emrlab_common.protos import hdfs_pb2, hdfs_pb2_grpc
from emrlab_common.rpc import call, connect
from hdfs.blocktoken import BlockKey
from hdfs.datanode.events import (
    AdoptReplica,
    BlockReportAnswered,
    Command,
    CommitBlockSynchronization,
    CopyFinished,
    CopyReplica,
    DeleteReplicas,
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
from hdfs.datanode.node import DataNode, block_message
from hdfs.datanode.recovery import commit_request, plan_recovery
from hdfs.datanode.state import DataNodeState
from hdfs.datanode.storage import ReplicaState
from hdfs.datanode.transfer import counted_transfer, transfer_block

logger = logging.getLogger(__name__)

NAMENODE_CALL_TIMEOUT_S = 10.0
RETRY_PAUSE_S = 0.5
WAIT_SLICE_S = 1.0  # the longest the loop sleeps, so that `stop` is seen soon
COPY_THREADS = 4  # copies and recoveries at once (more wait in the pool; the state bounds how many of each)


def block_key_from_proto(key: hdfs_pb2.BlockKey) -> BlockKey:
    return BlockKey(key.key_id, key.secret, key.expiry_unix_s)


class NameNodeActor:
    def __init__(self, datanode: DataNode, clock=time.monotonic):
        self.datanode = datanode
        self.clock = clock
        config = datanode.config
        self.state = DataNodeState(config.heartbeat_interval_s, config.block_report_interval_s,
                                   config.incremental_report_interval_s)
        self._lock = threading.Lock()  # the state is touched by the loop, finished copies and the DataNode's threads
        self._wake = threading.Event()  # something is due now: the loop stops waiting
        self._address = ""
        self._channel: grpc.Channel | None = None
        self._stub: hdfs_pb2_grpc.DatanodeProtocolStub | None = None
        self._channel_thread: threading.Thread | None = None  # the one thread that touches the channel
        self._pool = ThreadPoolExecutor(COPY_THREADS, thread_name_prefix="copy")
        datanode.listen(self.submit)

    @property
    def registered(self) -> bool:
        return self.state.registered

    # ------------------------------------------------------------ the loop

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    self._wake.clear()
                    self.submit(Tick())
                    with self._lock:
                        wait_s = self.state.wait_s(self.clock())
                    self._wake.wait(min(wait_s, WAIT_SLICE_S))
                except EmrlabError as error:
                    logger.warning("NameNode call failed (%s); retrying", error.message)
                    self._disconnect()
                    stop.wait(RETRY_PAUSE_S)
        finally:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._disconnect()

    def submit(self, event: Event) -> None:
        """Hand `event` to the state and carry out its commands, on the caller's thread."""
        with self._lock:
            now_s = self.clock()
            commands = self.state.handle(event, now_s)
            due_now = self.state.wait_s(now_s) == 0.0
        if due_now:
            self._wake.set()
        for index, command in enumerate(commands):
            try:
                self._execute(command)
            except EmrlabError:
                self._put_back(commands[index:])
                raise

    def _put_back(self, unsent: list[Command]) -> None:
        """The reports among commands a failed call (the first of `unsent`) kept from going out wait in the
        state again, and so do the recovery results after it; a commit that itself failed is not sent again."""
        received: tuple[hdfs_pb2.Block, ...] = ()
        deleted: tuple[hdfs_pb2.Block, ...] = ()
        bad: tuple[hdfs_pb2.Block, ...] = ()
        commits: tuple[hdfs_pb2.CommitBlockSynchronizationRequest, ...] = ()
        for position, command in enumerate(unsent):
            match command:
                case SendIncrementalBlockReport():
                    received, deleted = received + command.received, deleted + command.deleted
                case ReportBadBlocks():
                    bad += command.blocks
                case CommitBlockSynchronization() if position > 0:
                    commits += (command.request,)
        if received or deleted or bad or commits:
            self.submit(ReportsNotSent(received, deleted, bad, commits))

    def _namenode(self) -> hdfs_pb2_grpc.DatanodeProtocolStub:
        if self._channel_thread is None:
            self._channel_thread = threading.current_thread()
        assert self._channel_thread is threading.current_thread(), "the NameNode channel is the loop's alone"
        if self._stub is None:
            address = self.datanode.cluster_dir.address_of("namenode")
            if address != self._address:
                logger.info("NameNode is at %s", address)
                self._address = address
                with self._lock:
                    self.state.handle(NameNodeMoved(), self.clock())
            self._channel = connect(address)
            self._stub = hdfs_pb2_grpc.DatanodeProtocolStub(self._channel)
        return self._stub

    def _disconnect(self) -> None:
        if self._channel is not None:
            self._channel.close()
        self._channel, self._stub = None, None

    def _call(self, method, request):
        metadata = ()
        key_file = key_path(self.datanode.cluster_dir.root)
        if key_file.exists():  # a secure NameNode made it: it talks (and hands block keys) only to its own
            metadata = proof_metadata(key_file.read_bytes(), f"datanode {self.datanode.node_id}")
        return call(method, request, timeout_s=NAMENODE_CALL_TIMEOUT_S, peer="namenode", metadata=metadata)

    # ------------------------------------------------------------ commands

    def _execute(self, command: Command) -> None:
        match command:
            case Register():
                self._register()
            case SendHeartbeat():
                self._heartbeat()
            case SendBlockReport():
                self._block_report()
            case DeleteReplicas(blocks):
                for block in blocks:
                    replica = self.datanode.storage.delete(block.block_id)
                    if replica is not None:
                        logger.info("deleted %s as the NameNode asked", replica)
                        self.submit(ReplicaDeleted(block_message(replica)))
            case CopyReplica(transfer):
                self._pool.submit(self._copy, transfer).add_done_callback(_raise_in_hook)
            case RecoverBlock(recover):
                self._pool.submit(self._recover, recover).add_done_callback(_raise_in_hook)
            case SetBlockKeys(keys):
                self.datanode.set_block_keys([block_key_from_proto(key) for key in keys])
            case SendIncrementalBlockReport(received, deleted):
                self._incremental_block_report(received, deleted)
            case ReportBadBlocks(blocks):
                self._report_bad_blocks(blocks)
            case CommitBlockSynchronization(request):
                self._commit_block_synchronization(request)
            case ForgetReplica(block):
                replica = self.datanode.storage.forget(block.block_id, block.generation_stamp)
                if replica is not None:
                    self.submit(ReplicaDeleted(block_message(replica)))
            case AdoptReplica(block, block_path):
                replica = self.datanode.storage.adopt(block.block_id, block.generation_stamp, block_path)
                if replica is not None:
                    self.submit(ReplicaFinalized(block_message(replica)))
            case _:
                raise AssertionError(f"unknown command {command!r}")

    def _register(self) -> None:
        stub = self._namenode()
        capacity, _, _ = self.datanode.space()
        response = self._call(stub.RegisterDatanode, hdfs_pb2.RegisterDatanodeRequest(
            id=self.datanode.datanode_id(), capacity_bytes=capacity))
        self.datanode.set_block_keys([block_key_from_proto(key) for key in response.block_keys])
        logger.info("registered with the NameNode as %s", self.datanode.uuid)
        self.submit(Registered())

    def _heartbeat(self) -> None:
        capacity, used, remaining = self.datanode.space()
        response = self._call(self._namenode().SendHeartbeat, hdfs_pb2.SendHeartbeatRequest(
            datanode_uuid=self.datanode.uuid, capacity_bytes=capacity, dfs_used_bytes=used,
            remaining_bytes=remaining, active_transfers=self.datanode.active_transfers))
        self.submit(HeartbeatAnswered(tuple(response.commands)))

    def _block_report(self) -> None:
        replicas = [
            hdfs_pb2.ReportedReplica(block=block_message(replica),
                                     state=hdfs_pb2.FINALIZED if replica.state is ReplicaState.FINALIZED else hdfs_pb2.RBW)
            for replica in self.datanode.storage.all_replicas()
        ]
        response = self._call(self._namenode().BlockReport, hdfs_pb2.BlockReportRequest(datanode_uuid=self.datanode.uuid, replicas=replicas))
        logger.info("sent a block report of %d replicas", len(replicas))
        self.submit(BlockReportAnswered(tuple(response.commands)))

    def _incremental_block_report(self, received: tuple[hdfs_pb2.Block, ...], deleted: tuple[hdfs_pb2.Block, ...]):
        self._call(self._namenode().BlockReceivedAndDeleted, hdfs_pb2.BlockReceivedAndDeletedRequest(
            datanode_uuid=self.datanode.uuid, received=received, deleted=deleted))

    def _report_bad_blocks(self, blocks: tuple[hdfs_pb2.Block, ...]) -> None:
        self._call(self._namenode().ReportBadBlocks, hdfs_pb2.DatanodeReportBadBlocksRequest(
            datanode_uuid=self.datanode.uuid, blocks=blocks, reason="corrupt replica"))

    def _commit_block_synchronization(self, request: hdfs_pb2.CommitBlockSynchronizationRequest) -> None:
        block_id = request.block.block_id
        try:
            self._call(self._namenode().CommitBlockSynchronization, request)
        except EmrlabError as error:
            logger.warning("recovery of blk_%d failed: %s (the NameNode will retry)", block_id, error.message)
            raise  # the loop reconnects
        logger.info("recovered blk_%d: %s", block_id, "deleted, no replica left" if request.delete_block else
                    f"{request.block.length_bytes} bytes on {len(request.datanode_uuids)} replicas")

    # ------------------------------------------------------------ on the pool

    def _copy(self, command: hdfs_pb2.TransferCommand) -> None:
        try:
            with counted_transfer(self.datanode):
                replica = self.datanode.storage.get_finalized(command.block.block_id, command.block.generation_stamp)
                transfer_block(self.datanode, replica, list(command.targets), command.block_token)
        except EmrlabError as error:
            logger.warning("copy of blk_%d failed: %s", command.block.block_id, error.message)
        except OSError as error:  # the replica's file could not be read: the NameNode picks another source
            logger.warning("copy of blk_%d failed: %s", command.block.block_id, error)
        finally:
            self.submit(CopyFinished(command.block.block_id))

    def _recover(self, command: hdfs_pb2.RecoverBlockCommand) -> None:
        """Lead a block recovery: the calls to the replicas' DataNodes; what to make of the answers is
        recovery.py's; the NameNode is told by the loop (RecoveryFinished carries the commit)."""
        block, stamp, token = command.block, command.new_generation_stamp, command.block_token
        request = None
        try:
            answers = []
            for location in command.locations:
                try:
                    with self.datanode.peer(location.address) as stub:
                        answers.append((location, call(
                            stub.InitReplicaRecovery, hdfs_pb2.InitReplicaRecoveryRequest(
                                block=block, recovery_id=stamp, block_token=token),
                            timeout_s=NAMENODE_CALL_TIMEOUT_S, peer=location.node_id)))
                except EmrlabError as error:
                    logger.info("recovery of blk_%d skips %s: %s", block.block_id, location.node_id, error.message)
            plan = plan_recovery(answers)
            updated = []
            for location in plan.participants if plan is not None else ():
                try:
                    with self.datanode.peer(location.address) as stub:
                        call(stub.UpdateReplicaUnderRecovery,
                             hdfs_pb2.UpdateReplicaUnderRecoveryRequest(block=block, recovery_id=stamp,
                                                                        block_token=token,
                                                                        new_length_bytes=plan.agreed_length_bytes),
                             timeout_s=NAMENODE_CALL_TIMEOUT_S, peer=location.node_id)
                    updated.append(location.datanode_uuid)
                except EmrlabError as error:
                    logger.info("recovery of blk_%d leaves out %s: %s", block.block_id, location.node_id, error.message)
            request = commit_request(block, stamp, plan, updated)
            if request is None:
                logger.warning("recovery of blk_%d failed: no replica could be truncated (the NameNode will retry)",
                               block.block_id)
        finally:
            self.submit(RecoveryFinished(block.block_id, request))


def _raise_in_hook(future) -> None:
    """A copy or recovery that died of a bug is as loud as a thread that did (the pool would keep it quiet):
    the DataNode stops (stop_when_a_thread_crashes). Operating errors were logged where they occurred."""
    error = future.exception() if not future.cancelled() else None
    if error is not None:
        threading.excepthook(threading.ExceptHookArgs((type(error), error, error.__traceback__, None)))

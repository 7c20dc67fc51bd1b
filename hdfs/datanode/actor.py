"""The DataNode's conversation with the NameNode (Hadoop's BPServiceActor).

One thread: register and send a full block report, then heartbeat every
`dfs.heartbeat.interval`, send "received/deleted" reports as soon as there
are any, a full block report every `dfs.blockreport.intervalMsec`, and carry
out the commands that come back on heartbeat responses. Copies and block
recoveries run on their own threads so the heartbeat never stalls.

The NameNode's address is read from the cluster directory, and read again
when a call fails, so a restarted NameNode (on a new port) is found.
"""

from __future__ import annotations

import logging
import threading
import time

from emrlab_common.credentials import key_path, proof_metadata
from emrlab_common.errors import EmrlabError
from emrlab_common.protos import hdfs_pb2, hdfs_pb2_grpc
from emrlab_common.rpc import call, connect
from hdfs.blocktoken import BlockKey
from hdfs.datanode.node import DataNode, block_message
from hdfs.datanode.storage import ReplicaState
from hdfs.datanode.transfer import transfer_block

logger = logging.getLogger(__name__)

NAMENODE_CALL_TIMEOUT_S = 10.0
RETRY_PAUSE_S = 0.5


def block_key_from_proto(key: hdfs_pb2.BlockKey) -> BlockKey:
    return BlockKey(key.key_id, key.secret, key.expiry_unix_s)


class NameNodeActor:
    def __init__(self, datanode: DataNode):
        self.datanode = datanode
        self.registered = False
        self._address = ""
        self._stub = None
        self._next_heartbeat_s = 0.0
        self._next_block_report_s = 0.0

    # ------------------------------------------------------------ the loop

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                if not self.registered:
                    self._register()
                self._send_outbox()
                now = time.monotonic()
                if now >= self._next_block_report_s:
                    self._block_report()
                if now >= self._next_heartbeat_s:
                    self._heartbeat()
                wait_s = max(0.0, self._next_heartbeat_s - time.monotonic())
                self.datanode.outbox_ready.wait(min(wait_s, 1.0))
            except EmrlabError as error:
                logger.warning("NameNode call failed (%s); retrying", error.message)
                self._stub = None
                stop.wait(RETRY_PAUSE_S)

    def _namenode(self) -> hdfs_pb2_grpc.DatanodeProtocolStub:
        if self._stub is None:
            address = self.datanode.cluster_dir.address_of("namenode")
            if address != self._address:
                logger.info("NameNode is at %s", address)
                self._address = address
                self.registered = False
            self._stub = hdfs_pb2_grpc.DatanodeProtocolStub(connect(address))
        return self._stub

    def _call(self, method, request):
        metadata = ()
        key_file = key_path(self.datanode.cluster_dir.root)
        if key_file.exists():  # a secure NameNode made it: it talks (and hands block keys) only to its own
            metadata = proof_metadata(key_file.read_bytes(), f"datanode {self.datanode.node_id}")
        return call(method, request, timeout_s=NAMENODE_CALL_TIMEOUT_S, peer="namenode", metadata=metadata)

    # ------------------------------------------------------------ messages

    def _register(self) -> None:
        capacity, _, _ = self.datanode.space()
        response = self._call(self._namenode().RegisterDatanode, hdfs_pb2.RegisterDatanodeRequest(
            id=self.datanode.datanode_id(), capacity_bytes=capacity))
        self.datanode.set_block_keys([block_key_from_proto(key) for key in response.block_keys])
        self.registered = True
        self._next_block_report_s = 0.0
        self._next_heartbeat_s = 0.0
        logger.info("registered with the NameNode as %s", self.datanode.uuid)

    def _heartbeat(self) -> None:
        capacity, used, remaining = self.datanode.space()
        response = self._call(self._namenode().SendHeartbeat, hdfs_pb2.SendHeartbeatRequest(
            datanode_uuid=self.datanode.uuid, capacity_bytes=capacity, dfs_used_bytes=used,
            remaining_bytes=remaining, active_transfers=self.datanode.active_transfers))
        self._next_heartbeat_s = time.monotonic() + self.datanode.config.heartbeat_interval_s
        for command in response.commands:
            self._execute(command)

    def _block_report(self) -> None:
        replicas = [
            hdfs_pb2.ReportedReplica(block=block_message(replica),
                                     state=hdfs_pb2.FINALIZED if replica.state is ReplicaState.FINALIZED else hdfs_pb2.RBW)
            for replica in self.datanode.storage.all_replicas()
        ]
        response = self._call(self._namenode().BlockReport, hdfs_pb2.BlockReportRequest(datanode_uuid=self.datanode.uuid, replicas=replicas))
        self._next_block_report_s = time.monotonic() + self.datanode.config.block_report_interval_s
        logger.info("sent a block report of %d replicas", len(replicas))
        for command in response.commands:
            self._execute(command)

    def _send_outbox(self) -> None:
        received, deleted, bad = self.datanode.take_outbox()
        if not (received or deleted or bad):
            return
        try:
            if received or deleted:
                self._call(self._namenode().BlockReceivedAndDeleted, hdfs_pb2.BlockReceivedAndDeletedRequest(
                    datanode_uuid=self.datanode.uuid, received=received, deleted=deleted))
            if bad:
                self._call(self._namenode().ReportBadBlocks, hdfs_pb2.DatanodeReportBadBlocksRequest(
                    datanode_uuid=self.datanode.uuid, blocks=bad, reason="checksum mismatch"))
        except EmrlabError:
            self.datanode.return_outbox(received, deleted, bad)
            raise

    # ------------------------------------------------------------ commands

    def _execute(self, command: hdfs_pb2.DatanodeCommand) -> None:
        match command.WhichOneof("command"):
            case "register":
                logger.info("the NameNode asks us to register again")
                self.registered = False
            case "invalidate":
                for block in command.invalidate.blocks:
                    replica = self.datanode.storage.delete(block.block_id)
                    if replica is not None:
                        logger.info("deleted %s as the NameNode asked", replica)
                        self.datanode.block_deleted(replica)
            case "transfer":
                self._in_background(self._transfer, command.transfer)
            case "recover":
                self._in_background(self._recover, command.recover)
            case "key_update":
                self.datanode.set_block_keys([block_key_from_proto(key) for key in command.key_update.block_keys])

    def _in_background(self, function, argument) -> None:
        threading.Thread(target=function, args=(argument,), daemon=True, name=function.__name__).start()

    def _transfer(self, command: hdfs_pb2.TransferCommand) -> None:
        self.datanode.active_transfers += 1
        try:
            replica = self.datanode.storage.get_finalized(command.block.block_id, command.block.generation_stamp)
            transfer_block(self.datanode, replica, list(command.targets), command.block_token)
        except EmrlabError as error:
            logger.warning("copy of blk_%d failed: %s", command.block.block_id, error.message)
        finally:
            self.datanode.active_transfers -= 1

    def _recover(self, command: hdfs_pb2.RecoverBlockCommand) -> None:
        """Lead a block recovery: agree on the shortest replica, truncate all to it, report."""
        block = command.block
        try:
            lengths = {}
            for location in command.locations:
                try:
                    response = call(self.datanode.peer(location.address).InitReplicaRecovery,
                                    hdfs_pb2.InitReplicaRecoveryRequest(block=block, recovery_id=command.new_generation_stamp,
                                                                        block_token=command.block_token),
                                    timeout_s=NAMENODE_CALL_TIMEOUT_S, peer=location.node_id)
                except EmrlabError as error:
                    logger.info("recovery of blk_%d skips %s: %s", block.block_id, location.node_id, error.message)
                    continue
                if response.has_replica:
                    lengths[location.datanode_uuid] = (location, response.replica.length_bytes)
            if not lengths:
                self._call(self._namenode().CommitBlockSynchronization, hdfs_pb2.CommitBlockSynchronizationRequest(
                    block=block, delete_block=True))
                return
            agreed = min(length for _, length in lengths.values())
            for location, _ in lengths.values():
                call(self.datanode.peer(location.address).UpdateReplicaUnderRecovery,
                     hdfs_pb2.UpdateReplicaUnderRecoveryRequest(block=block, recovery_id=command.new_generation_stamp,
                                                                new_length_bytes=agreed, block_token=command.block_token),
                     timeout_s=NAMENODE_CALL_TIMEOUT_S, peer=location.node_id)
            recovered = hdfs_pb2.Block(block_id=block.block_id, generation_stamp=command.new_generation_stamp,
                                       length_bytes=agreed)
            self._call(self._namenode().CommitBlockSynchronization, hdfs_pb2.CommitBlockSynchronizationRequest(
                block=recovered, datanode_uuids=list(lengths)))
            logger.info("recovered blk_%d at %d bytes on %d replicas", block.block_id, agreed, len(lengths))
        except EmrlabError as error:
            logger.warning("recovery of blk_%d failed: %s (the NameNode will retry)", block.block_id, error.message)

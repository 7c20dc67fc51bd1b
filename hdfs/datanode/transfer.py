"""DataTransferProtocol: block bytes in (write pipelines) and out (reads).

A write pipeline runs on two threads, as Hadoop's BlockReceiver and
PacketResponder do. The receiver reads each packet, forwards it downstream
first (so the next node works while this one writes), checks checksums if
this is the last node, and appends it to the replica. The responder, the
RPC's own thread, sends upstream one ack per packet once this node has
written it and the node downstream has acked it. The last packet finalizes
the replica and tells the state machine (`ReplicaFinalized`), whose next incremental
block report tells the NameNode "block received".
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
from contextlib import contextmanager, nullcontext

import grpc

from emrlab_common.channels import ChannelHold
from emrlab_common.errors import EmrlabError, InvalidArgument, PermissionDenied
from emrlab_common.protos import hdfs_pb2, hdfs_pb2_grpc
from emrlab_common.rpc import servicer_method
from hdfs import checksum
from hdfs.blocktoken import AccessMode
from hdfs.datanode.events import BadReplicaFound, ReplicaFinalized
from hdfs.datanode.node import DataNode, block_message
from hdfs.datanode.storage import Replica
from hdfs.errors import ChecksumMismatch
from hdfs.pipeline import Packet, first_failed_node, open_pipeline

logger = logging.getLogger(__name__)

PIPELINE_TIMEOUT_S = 600.0
ACK_QUEUE_PACKETS_MAX = 256
_STREAM_BROKEN = -2
_TRANSFERS_LOCK = threading.Lock()  # `active_transfers` is changed from every reader's and copier's thread


@contextmanager
def counted_transfer(datanode: DataNode):
    """Count one read or copy in `active_transfers` (what heartbeats report) while it runs."""
    with _TRANSFERS_LOCK:
        datanode.active_transfers += 1
    try:
        yield
    finally:
        with _TRANSFERS_LOCK:
            datanode.active_transfers -= 1


def read_packets(replica: Replica, bytes_per_checksum: int, start: int, end: int, packet_bytes: int):
    """(offset, data, checksums) for bytes [start, end) of a replica; start is chunk-aligned."""
    assert start % bytes_per_checksum == 0
    packet_bytes = max(bytes_per_checksum, packet_bytes - packet_bytes % bytes_per_checksum)
    with open(replica.block_path, "rb") as block_file, open(replica.meta_path, "rb") as meta_file:
        block_file.seek(start)
        meta_file.seek(checksum.META_HEADER.size + (start // bytes_per_checksum) * checksum.CHECKSUM_BYTES)
        position = start
        while position < end:
            data = block_file.read(min(packet_bytes, end - position))
            if not data:
                return
            chunks = (len(data) + bytes_per_checksum - 1) // bytes_per_checksum
            yield position, data, meta_file.read(chunks * checksum.CHECKSUM_BYTES)
            position += len(data)


@contextmanager
def damage_reported(datanode: DataNode, replica: Replica):
    """Reading a replica's files: one missing or damaged is reported corrupt, and refused as ChecksumMismatch."""
    try:
        yield
    except (OSError, ChecksumMismatch) as error:
        datanode.tell(BadReplicaFound(block_message(replica), f"reading it ({error})"))
        raise ChecksumMismatch(f"replica {replica} on {datanode.node_id} is damaged: {error}") from None


def plan_read(datanode: DataNode, request: hdfs_pb2.ReadBlockRequest) -> tuple[Replica, int, int, int]:
    """(replica, bytes per checksum, start, end) of a read, once its token and range are checked.

    `start` is moved back to a chunk boundary, so that the reader can check
    the first chunk's checksum too.
    """
    datanode.check_block_token(request.block_token, request.block, AccessMode.READ)
    replica = datanode.storage.get_finalized(request.block.block_id, request.block.generation_stamp)
    if request.offset_bytes > replica.length_bytes:
        raise InvalidArgument(f"offset {request.offset_bytes} is past the end of {replica} ({replica.length_bytes})")
    with damage_reported(datanode, replica):
        bytes_per_checksum = datanode.storage.read_bytes_per_checksum(replica)
    end = replica.length_bytes
    if request.length_bytes:
        end = min(end, request.offset_bytes + request.length_bytes)
    return replica, bytes_per_checksum, request.offset_bytes - request.offset_bytes % bytes_per_checksum, end


def transfer_block(datanode: DataNode, replica: Replica, targets: list[hdfs_pb2.DatanodeId],
                   block_token: bytes = b"") -> None:
    """Copy a finalized replica to `targets` through a pipeline (re-replication; the token is the NameNode's)."""
    with damage_reported(datanode, replica):
        bytes_per_checksum = datanode.storage.read_bytes_per_checksum(replica)
    header = hdfs_pb2.WriteBlockHeader(
        block=block_message(replica), downstream=targets[1:], client_name=f"datanode-{datanode.node_id}",
        stage=hdfs_pb2.TRANSFER, bytes_per_checksum=bytes_per_checksum, block_token=block_token)
    with datanode.peer(targets[0].address) as stub:  # the channel stays open until the copy's stream is over
        stream = open_pipeline(lambda: stub, targets[0], header, PIPELINE_TIMEOUT_S,
                               streaming=datanode.config.streaming_transfer)
        try:
            sequence_number = 0
            with damage_reported(datanode, replica):
                for offset, data, sums in read_packets(replica, bytes_per_checksum, 0, replica.length_bytes,
                                                       datanode.config.read_packet_bytes):
                    stream.send(Packet(sequence_number, offset, data, sums))
                    sequence_number += 1
            stream.send(Packet(sequence_number, replica.length_bytes, last_packet_in_block=True))
            stream.finish_sending()
            while True:
                ack = stream.next_ack()
                failed = first_failed_node(ack)
                if failed is not None:
                    if ack.statuses[failed] == hdfs_pb2.ERROR_CHECKSUM:
                        # What we sent did not match our own checksums.
                        datanode.tell(BadReplicaFound(block_message(replica), f"a copy to {targets[failed].node_id}"))
                    raise EmrlabError(f"copy of {replica} failed at {targets[failed].node_id}: {ack.message}")
                if ack.sequence_number == sequence_number:
                    break
            logger.info("copied %s to %s", replica, ", ".join(target.node_id for target in targets))
        finally:
            stream.cancel()


def receive_block(datanode: DataNode, header: hdfs_pb2.WriteBlockHeader, packets):
    """One node of a write pipeline: the acks to send upstream, as the packets come in.

    Raises an operating error before the first ack (a bad token, a replica
    that may not be replaced); after it, every failure is said in an ack.
    `packets` yields hdfs_pb2.Packet or pipeline.Packet objects, from gRPC or
    from the streaming port.
    """
    block = header.block
    mode = AccessMode.COPY if header.stage == hdfs_pb2.TRANSFER else AccessMode.WRITE
    datanode.check_block_token(header.block_token, block, mode)
    writer = datanode.storage.create_rbw(block.block_id, block.generation_stamp, header.bytes_per_checksum)
    downstream = hold = None  # a gRPC mirror's channel is held by this generator (the responder) and the receiver
    try:
        if header.downstream:
            next_header = hdfs_pb2.WriteBlockHeader()
            next_header.CopyFrom(header)
            del next_header.downstream[:]
            next_header.downstream.extend(header.downstream[1:])
            target = header.downstream[0]

            def grpc_stub():  # called only if the mirror is a gRPC call (no streaming port)
                nonlocal hold
                hold = datanode.peer(target.address)
                return hold.stub

            try:
                downstream = open_pipeline(grpc_stub, target, next_header, PIPELINE_TIMEOUT_S,
                                           streaming=datanode.config.streaming_transfer)
            except EmrlabError:
                datanode.storage.abort(writer)
                yield hdfs_pb2.WriteBlockResponse(sequence_number=-1, statuses=[hdfs_pb2.SUCCESS, hdfs_pb2.ERROR],
                                                  message=f"cannot reach {target.node_id}")
                return
        setup_statuses = [hdfs_pb2.SUCCESS] + list(downstream.setup_ack.statuses if downstream else [])
        yield hdfs_pb2.WriteBlockResponse(sequence_number=-1, statuses=setup_statuses)
        verify = downstream is None or header.stage == hdfs_pb2.TRANSFER
        acks: queue.Queue = queue.Queue(maxsize=ACK_QUEUE_PACKETS_MAX)
        receiver_hold = hold.share() if hold is not None else None
        receiver = threading.Thread(target=_receive,
                                    args=(datanode, packets, writer, downstream, verify, acks, receiver_hold),
                                    name=f"receiver-blk_{block.block_id}", daemon=True)
        try:
            receiver.start()
        except BaseException:
            if receiver_hold is not None:
                receiver_hold.release()
            raise
        yield from _respond(acks, downstream)
    finally:
        if hold is not None:
            hold.release()


def _receive(datanode: DataNode, packets, writer, downstream, verify: bool, acks: queue.Queue,
             hold: ChannelHold | None = None):
    """Hadoop's BlockReceiver, on its own thread: the writer hears how it ended in the last ack, whatever
    happens here. An operating error (a broken stream, a full disk, a peer gone) is that ack; a bug is
    that ack too, and then it propagates, loudly (the DataNode stops: stop_when_a_thread_crashes).
    `hold` is this thread's on the mirror's channel (if the mirror is over gRPC), released when it ends."""
    answered = False
    with hold if hold is not None else nullcontext():
        try:
            answered = _receive_packets(datanode, packets, writer, downstream, verify, acks)
        except (OSError, EmrlabError, grpc.RpcError) as error:  # grpc.RpcError: the writer's call was cancelled
            logger.info("write of %s failed: %s", writer.replica, error)
        finally:
            if not answered:  # else it waits for an ack for ever
                try:
                    _abandon(datanode, writer, downstream)
                finally:
                    acks.put((_STREAM_BROKEN, hdfs_pb2.ERROR, True))


def _receive_packets(datanode: DataNode, packets, writer, downstream, verify: bool, acks: queue.Queue) -> bool:
    """Forward each packet, check it if we are the last node, write it. True once the last ack is queued."""
    storage = datanode.storage
    for packet in packets:
        if downstream is not None:
            try:
                downstream.send(packet)
            except EmrlabError:
                # This node is fine; the one after it is not. Say so, so the writer drops the right one.
                storage.abort(writer)
                acks.put((packet.sequence_number, hdfs_pb2.SUCCESS, True))
                return True
        if verify and checksum.first_mismatch(packet.data, packet.checksums, writer.bytes_per_checksum) is not None:
            logger.warning("checksum mismatch in packet %d of %s", packet.sequence_number, writer.replica)
            storage.abort(writer)
            acks.put((packet.sequence_number, hdfs_pb2.ERROR_CHECKSUM, True))
            return True
        writer.write(packet.offset_in_block, packet.data, packet.checksums)
        if packet.last_packet_in_block:
            if downstream is not None:
                downstream.finish_sending()
            replica = storage.finalize(writer)
            datanode.tell(ReplicaFinalized(block_message(replica)))
            logger.info("received %s (%d bytes)", replica, replica.length_bytes)
            acks.put((packet.sequence_number, hdfs_pb2.SUCCESS, True))
            return True
        acks.put((packet.sequence_number, hdfs_pb2.SUCCESS, False))
    raise EmrlabError("the writer went away before the last packet")


def _abandon(datanode: DataNode, writer, downstream) -> None:
    """A failed write's clean-up: its partial replica goes, the pipeline after us is cut."""
    try:
        datanode.storage.abort(writer)
    except OSError as error:  # the files stay behind; the directory scanner does not adopt a replica being written
        logger.warning("could not remove the failed write's %s: %s", writer.replica, error)
    if downstream is not None:
        downstream.cancel()


def _respond(acks: queue.Queue, downstream):
    """Hadoop's PacketResponder: ack each packet upstream once it is written here and acked downstream."""
    while True:
        sequence_number, status, last = acks.get()
        statuses = [status]
        message = ""
        if downstream is not None and status == hdfs_pb2.SUCCESS:
            try:
                downstream_ack = downstream.next_ack()
                statuses += downstream_ack.statuses
                message = downstream_ack.message
            except EmrlabError as error:
                statuses.append(hdfs_pb2.ERROR)
                message = f"downstream failed: {error.message}"
                last = True
        yield hdfs_pb2.WriteBlockResponse(sequence_number=sequence_number, statuses=statuses, message=message)
        if last:
            if downstream is not None:
                downstream.cancel()
            return


class DataTransferServicer(hdfs_pb2_grpc.DataTransferProtocolServicer):
    def __init__(self, datanode: DataNode):
        self.datanode = datanode

    # ------------------------------------------------------------ writes

    @servicer_method
    def WriteBlock(self, request_iterator, context):
        first = next(request_iterator, None)
        if first is None or not first.HasField("header"):
            raise InvalidArgument("a write pipeline must start with a header")
        yield from receive_block(self.datanode, first.header, (message.packet for message in request_iterator))

    # ------------------------------------------------------------ reads

    @servicer_method
    def ReadBlock(self, request, context):
        replica, bytes_per_checksum, start, end = plan_read(self.datanode, request)
        with counted_transfer(self.datanode), damage_reported(self.datanode, replica):
            for offset, data, sums in read_packets(replica, bytes_per_checksum, start, end,
                                                   self.datanode.config.read_packet_bytes):
                yield hdfs_pb2.ReadBlockResponse(offset_in_block=offset, data=data, checksums=sums,
                                                 bytes_per_checksum=bytes_per_checksum)

    @servicer_method
    def BlockChecksum(self, request, context):
        storage = self.datanode.storage
        self.datanode.check_block_token(request.block_token, request.block, AccessMode.READ)
        replica = storage.get_finalized(request.block.block_id, request.block.generation_stamp)
        with damage_reported(self.datanode, replica), open(replica.meta_path, "rb") as meta:
            bytes_per_checksum = checksum.parse_meta_header(meta.read(checksum.META_HEADER.size))
            sums = meta.read()
        return hdfs_pb2.BlockChecksumResponse(md5_of_checksums=hashlib.md5(sums).digest(),
                                              bytes_per_checksum=bytes_per_checksum,
                                              chunk_count=len(sums) // checksum.CHECKSUM_BYTES)

    @servicer_method
    def RequestShortCircuitAccess(self, request, context):
        if not self.datanode.config.short_circuit_reads:
            raise PermissionDenied("short-circuit reads are disabled on this DataNode (dfs.client.read.shortcircuit)")
        if request.client_node_id != self.datanode.node_id:
            raise PermissionDenied(f"short-circuit reads are for clients on {self.datanode.node_id} only")
        if not self.datanode.is_local(request.locality_proof):
            # The node id is only a claim: the proof is reading a file only this node's processes can read.
            return hdfs_pb2.RequestShortCircuitAccessResponse(proof_path=str(self.datanode.locality_secret_path))
        self.datanode.check_block_token(request.block_token, request.block, AccessMode.READ)
        replica = self.datanode.storage.get_finalized(request.block.block_id, request.block.generation_stamp)
        logger.info("short-circuit access to %s for a client on %s", replica, request.client_node_id)
        self.datanode.count("BlocksGetLocalPathInfo")
        return hdfs_pb2.RequestShortCircuitAccessResponse(block_path=str(replica.block_path),
                                                          meta_path=str(replica.meta_path))

    # ------------------------------------------------------------ block recovery

    @servicer_method
    def InitReplicaRecovery(self, request, context):
        self.datanode.check_block_token(request.block_token, request.block, AccessMode.RECOVER)
        replica = self.datanode.storage.get(request.block.block_id)
        if replica is None or replica.generation_stamp < request.block.generation_stamp:
            return hdfs_pb2.InitReplicaRecoveryResponse(has_replica=False)
        self.datanode.storage.begin_recovery(replica, request.recovery_id)
        length = self.datanode.storage.recoverable_length(replica)
        return hdfs_pb2.InitReplicaRecoveryResponse(has_replica=True, replica=hdfs_pb2.Block(
            block_id=replica.block_id, generation_stamp=replica.generation_stamp, length_bytes=length))

    @servicer_method
    def UpdateReplicaUnderRecovery(self, request, context):
        self.datanode.check_block_token(request.block_token, request.block, AccessMode.RECOVER)
        replica = self.datanode.storage.recover(request.block.block_id, request.recovery_id, request.new_length_bytes)
        self.datanode.tell(ReplicaFinalized(block_message(replica)))
        logger.info("recovered %s at %d bytes", replica, replica.length_bytes)
        return hdfs_pb2.UpdateReplicaUnderRecoveryResponse()


def register_servicer(datanode: DataNode):
    def register(server) -> None:
        hdfs_pb2_grpc.add_DataTransferProtocolServicer_to_server(DataTransferServicer(datanode), server)

    return register

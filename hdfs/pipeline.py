"""The sending end of a write pipeline, used by clients and by DataNodes alike.

A write pipeline is one `WriteBlock` call: a header naming the block and the
DataNodes after the first, then packets; acks come back, one per packet,
each with a status for every node from the first DataNode down. A client
writing a file, a DataNode forwarding packets downstream, and a DataNode
copying a replica for re-replication all drive the same interface, over gRPC
(`PipelineStream`) or over a DataNode's streaming port (`StreamingPipeline`,
hdfs/datatransfer.py); `open_pipeline` picks the second when the DataNode has
that port. Packets are plain `Packet` objects until they meet the wire.
"""

from __future__ import annotations

import queue
import socket
import threading
from dataclasses import dataclass

import grpc

from emrlab_common.errors import EmrlabError, Unavailable
from emrlab_common.protos import hdfs_pb2
from emrlab_common.rpc import metadata_for, translate
from hdfs import datatransfer

SEND_QUEUE_PACKETS_MAX = 16  # packets handed to gRPC but not yet sent: bounds memory per stream
SEND_POLL_S = 0.5
_END = object()


@dataclass(slots=True)
class Packet:
    """Bytes of a block with their checksums (the fields of hdfs_pb2.Packet, without its copies)."""

    sequence_number: int
    offset_in_block: int
    data: bytes | bytearray = b""
    checksums: bytes = b""
    last_packet_in_block: bool = False

    def to_proto(self) -> hdfs_pb2.Packet:
        return hdfs_pb2.Packet(sequence_number=self.sequence_number, offset_in_block=self.offset_in_block,
                               data=bytes(self.data), checksums=self.checksums,
                               last_packet_in_block=self.last_packet_in_block)


def open_pipeline(grpc_stub, target: hdfs_pb2.DatanodeId, header: hdfs_pb2.WriteBlockHeader, timeout_s: float,
                  user: str | None = None, streaming: bool = True):
    """A pipeline to `target`: on its streaming port when it has one (and `streaming`), else over gRPC.

    `grpc_stub` is called for a stub only when gRPC is used.
    """
    if streaming and target.xfer_port:
        return StreamingPipeline(target, header, timeout_s)
    return PipelineStream(grpc_stub(), header, timeout_s, user, peer=target.node_id)


class StreamingPipeline:
    """The same pipeline as `PipelineStream`, on a DataNode's streaming port: packets out, acks in."""

    def __init__(self, target: hdfs_pb2.DatanodeId, header: hdfs_pb2.WriteBlockHeader, timeout_s: float):
        self.peer = target.node_id
        self._closed = threading.Event()
        self._connection = datatransfer.connect(target.address, target.xfer_port, timeout_s)
        try:
            datatransfer.send_op(self._connection, datatransfer.OP_WRITE_BLOCK, header)
            datatransfer.check_response(datatransfer.receive_frame(self._connection, hdfs_pb2.BlockOpResponse))
            self.setup_ack = self.next_ack()
        except (OSError, EmrlabError) as error:
            self.cancel()
            if isinstance(error, EmrlabError) and not isinstance(error, datatransfer.ProtocolError):
                raise  # the DataNode's own refusal (a bad token, a replica that exists)
            raise Unavailable(f"write pipeline to {self.peer} could not start: {error}") from None

    def send(self, packet: Packet) -> None:
        try:
            datatransfer.send_packet(self._connection, packet.sequence_number, packet.offset_in_block, packet.data,
                                     packet.checksums, packet.last_packet_in_block)
        except OSError as error:
            raise Unavailable(f"write pipeline to {self.peer} closed: {error}") from None

    def finish_sending(self) -> None:
        """Nothing to do: the packet marked last ends the block."""

    def next_ack(self) -> hdfs_pb2.WriteBlockResponse:
        try:
            return datatransfer.receive_frame(self._connection, hdfs_pb2.WriteBlockResponse)
        except (OSError, datatransfer.ProtocolError) as error:
            raise Unavailable(f"write pipeline to {self.peer} ended early: {error}") from None

    def cancel(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        try:
            self._connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._connection.close()


class PipelineStream:
    def __init__(self, stub, header: hdfs_pb2.WriteBlockHeader, timeout_s: float, user: str | None = None,
                 peer: str = "datanode"):
        self.peer = peer
        self._outgoing: queue.Queue = queue.Queue(maxsize=SEND_QUEUE_PACKETS_MAX)
        self._call = stub.WriteBlock(self._requests(header), timeout=timeout_s, metadata=metadata_for(user))
        self._responses = iter(self._call)
        self.setup_ack = self.next_ack()

    def _requests(self, header: hdfs_pb2.WriteBlockHeader):
        yield hdfs_pb2.WriteBlockRequest(header=header)
        while (packet := self._outgoing.get()) is not _END:
            message = packet if isinstance(packet, hdfs_pb2.Packet) else packet.to_proto()
            yield hdfs_pb2.WriteBlockRequest(packet=message)

    def send(self, packet: Packet | hdfs_pb2.Packet) -> None:
        """Queue a packet; blocks while the stream is backed up, fails if the call has ended."""
        self._put(packet)

    def finish_sending(self) -> None:
        """No more packets: the request stream ends once the queue drains."""
        self._put(_END)

    def _put(self, item) -> None:
        while True:
            try:
                self._outgoing.put(item, timeout=SEND_POLL_S)
                return
            except queue.Full:
                if self._call.done():
                    raise Unavailable(f"write pipeline to {self.peer} closed") from None

    def next_ack(self) -> hdfs_pb2.WriteBlockResponse:
        try:
            return next(self._responses)
        except StopIteration:
            raise Unavailable(f"write pipeline to {self.peer} ended early") from None
        except grpc.RpcError as error:
            raise translate(error, self.peer) from None

    def cancel(self) -> None:
        self._call.cancel()


def first_failed_node(ack: hdfs_pb2.WriteBlockResponse) -> int | None:
    """Index (in the pipeline) of the first node whose status is not SUCCESS."""
    for index, status in enumerate(ack.statuses):
        if status != hdfs_pb2.SUCCESS:
            return index
    return None

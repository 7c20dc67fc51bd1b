"""The sending end of a write pipeline, used by clients and by DataNodes alike.

A write pipeline is one `WriteBlock` call: a header naming the block and the
DataNodes after the first, then packets; acks come back, one per packet,
each with a status for every node from the first DataNode down. A client
writing a file, a DataNode forwarding packets downstream, and a DataNode
copying a replica for re-replication all drive the same `PipelineStream`.
"""

from __future__ import annotations

import queue

import grpc

from emrlab_common.errors import Unavailable
from emrlab_common.protos import hdfs_pb2
from emrlab_common.rpc import metadata_for, translate

SEND_QUEUE_PACKETS_MAX = 16  # packets handed to gRPC but not yet sent: bounds memory per stream
SEND_POLL_S = 0.5
_END = object()


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
            yield hdfs_pb2.WriteBlockRequest(packet=packet)

    def send(self, packet: hdfs_pb2.Packet) -> None:
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

"""Writing a file: bytes become packets, packets flow down a pipeline of DataNodes.

`OutputStream` cuts what it is given into packets (64 KiB by default, whole
checksum chunks), computes each chunk's CRC32C, and streams them to the
first DataNode of the current block's pipeline, which passes them on. A
thread reads the acks. When a block is full, its last packet is sent and
every ack awaited; the next `AddBlock` commits it at its final length.

If a DataNode in the pipeline fails, the block is retried: the client gives
the block back (`AbandonBlock`), asks for a new one avoiding the failed node,
and resends the block's packets, which it keeps until the block is done
(never more than one block's worth). The write succeeds as long as some
DataNode takes it; the NameNode re-replicates later.
"""

from __future__ import annotations

import io
import logging
import threading
import time

from emrlab_common.channels import ChannelHold
from emrlab_common.errors import EmrlabError
from emrlab_common.protos import hdfs_pb2
from hdfs import checksum
from hdfs.pipeline import Packet, PipelineStream, first_failed_node, open_pipeline

logger = logging.getLogger(__name__)

PIPELINE_TIMEOUT_S = 600.0


class _AckReader:
    """Reads a pipeline's acks on its own thread; remembers the first failure."""

    def __init__(self, stream: PipelineStream):
        self.stream = stream
        self.last_acked = -1
        self.failed_index: int | None = None
        self.error = ""
        self.done = threading.Event()
        self.last_sequence_number: int | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="acks")
        self._thread.start()

    def _run(self) -> None:
        try:
            while True:
                ack = self.stream.next_ack()
                failed = first_failed_node(ack)
                if failed is not None:
                    self.failed_index, self.error = failed, ack.message or "pipeline error"
                    return
                self.last_acked = ack.sequence_number
                if self.last_sequence_number is not None and self.last_acked >= self.last_sequence_number:
                    return
        except EmrlabError as error:
            self.failed_index, self.error = 0, error.message
        finally:
            self.done.set()

    def wait_for(self, sequence_number: int) -> bool:
        """Wait until `sequence_number` (the block's last) is acked; False if the pipeline failed."""
        self.last_sequence_number = sequence_number
        if self.last_acked >= sequence_number:
            return True
        self.done.wait()
        return self.failed_index is None and self.last_acked >= sequence_number


class OutputStream(io.RawIOBase):
    def __init__(self, client, path: str, status, defaults: dict, replication: int,
                 previous: hdfs_pb2.Block | None = None):
        self.client = client
        self.path = path
        self.block_size_bytes = status.block_size_bytes
        self.replication = replication
        self.bytes_per_checksum = defaults["bytes_per_checksum"]
        packet = defaults["write_packet_size_bytes"]
        self.packet_bytes = max(self.bytes_per_checksum, packet - packet % self.bytes_per_checksum)
        self._buffer = bytearray()
        self._previous = previous  # an append's first new block follows the file's last block
        self._block: hdfs_pb2.LocatedBlock | None = None
        self._stream: PipelineStream | None = None
        self._hold: ChannelHold | None = None  # a gRPC pipeline's channel, held until its stream is cancelled
        self._acks: _AckReader | None = None
        self._block_packets: list[Packet] = []
        self._bytes_in_block = 0
        self._excluded: set[str] = set()
        self._closed = False
        self.bytes_written = 0

    # ------------------------------------------------------------ io.RawIOBase

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self._closed:
            raise ValueError("write to a closed HDFS file")
        view = memoryview(data).cast("B")
        size = view.nbytes
        if self._buffer:  # top up the packet begun by an earlier write
            take = min(size, self._next_packet_bytes() - len(self._buffer))
            self._buffer += view[:take]
            view = view[take:]
            if len(self._buffer) == self._next_packet_bytes():
                self._emit(bytes(self._buffer))
                self._buffer.clear()
        while len(view) >= self._next_packet_bytes():  # whole packets straight from the caller's bytes
            packet_bytes = self._next_packet_bytes()
            self._emit(view[:packet_bytes].tobytes())
            view = view[packet_bytes:]
        self._buffer += view
        return size

    def close(self) -> None:
        if self._closed:
            return
        try:
            while self._buffer:
                size = min(len(self._buffer), self._next_packet_bytes())
                self._emit(bytes(self._buffer[:size]))
                del self._buffer[:size]
            if self._block is not None:
                self._end_block()
            self._complete()
        finally:
            if self._stream is not None:  # a block whose pipeline failed for good: let its channel go
                self._cancel_stream()
            self._closed = True
            self.client._writer_closed(self)
            super().close()

    def abort(self) -> None:
        """Give up without closing the file; its lease will expire and the NameNode will close it."""
        if self._stream is not None:
            self._cancel_stream()
        self._closed = True
        self.client._writer_closed(self)
        super().close()

    # ------------------------------------------------------------ packets and blocks

    def _next_packet_bytes(self) -> int:
        """A packet never crosses a block boundary."""
        return min(self.packet_bytes, self.block_size_bytes - self._bytes_in_block)

    def _emit(self, data: bytes) -> None:
        """Send one packet of the current block (starting the block if need be)."""
        if self._block is None:
            self._start_block()
        packet = Packet(len(self._block_packets), self._bytes_in_block, data,
                        checksum.chunk_checksums(data, self.bytes_per_checksum))
        self._block_packets.append(packet)
        self._bytes_in_block += len(data)
        self.bytes_written += len(data)
        try:
            self._stream.send(packet)
        except EmrlabError as error:
            self._recover(*self._failure(error.message))
        if self._bytes_in_block == self.block_size_bytes:
            self._end_block()

    def _start_block(self) -> None:
        self._block = self.client._add_block(self.path, self._previous, self._excluded)
        try:
            self._open_pipeline()
        except _PipelineFailed as failure:
            self._recover(failure.index, failure.message)

    def _open_pipeline(self) -> None:
        """Connect to the block's pipeline; raises _PipelineFailed naming the node that failed."""
        block = self._block
        header = hdfs_pb2.WriteBlockHeader(
            block=block.block, downstream=block.locations[1:], client_name=self.client.client_name,
            stage=hdfs_pb2.PIPELINE_SETUP_CREATE, bytes_per_checksum=self.bytes_per_checksum,
            block_token=block.block_token)
        first = block.locations[0]
        self._acks = None

        def grpc_stub():  # called only if the pipeline is a gRPC call (no streaming port)
            self._hold = self.client._datanode(first.address)
            return self._hold.stub

        try:
            self._stream = open_pipeline(grpc_stub, first, header, PIPELINE_TIMEOUT_S, self.client.user,
                                         self.client.config.streaming_transfer)
        except EmrlabError as error:
            self._release_hold()
            raise _PipelineFailed(0, error.message) from None
        failed = first_failed_node(self._stream.setup_ack)
        if failed is not None:
            self._cancel_stream()
            raise _PipelineFailed(failed, self._stream.setup_ack.message)
        self._acks = _AckReader(self._stream)

    def _end_block(self) -> None:
        last = Packet(len(self._block_packets), self._bytes_in_block, last_packet_in_block=True)
        self._block_packets.append(last)
        try:
            self._stream.send(last)
            self._stream.finish_sending()
        except EmrlabError:
            pass  # the ack reader sees the failure too; handled below
        while not self._acks.wait_for(last.sequence_number):
            self._recover(*self._failure("pipeline ended early"))
        self._cancel_stream()
        self._previous = hdfs_pb2.Block(block_id=self._block.block.block_id,
                                        generation_stamp=self._block.block.generation_stamp,
                                        length_bytes=self._bytes_in_block)
        self._block = self._stream = self._acks = None
        self._block_packets = []
        self._bytes_in_block = 0

    def _cancel_stream(self) -> None:
        self._stream.cancel()
        self._release_hold()

    def _release_hold(self) -> None:
        if self._hold is not None:
            self._hold.release()
            self._hold = None

    def _failure(self, default_message: str) -> tuple[int, str]:
        """Which pipeline node failed: as the acks say, else the first one (its stream broke)."""
        if self._acks is not None:
            self._acks.done.wait(self.client.config.socket_timeout_s)
            if self._acks.failed_index is not None:
                return self._acks.failed_index, self._acks.error or "no reason given"
        return 0, default_message

    def _recover(self, failed_index: int, error: str) -> None:
        """A DataNode failed: abandon the block, get a pipeline without it, resend the block."""
        for attempt in range(1, self.client.config.write_retries + 1):
            bad = self._block.locations[min(failed_index, len(self._block.locations) - 1)]
            logger.warning("pipeline for blk_%d failed at %s (%s); retrying the block (attempt %d)",
                           self._block.block.block_id, bad.node_id, error, attempt)
            if self._stream is not None:
                self._cancel_stream()
            self._excluded.add(bad.datanode_uuid)
            self.client._abandon_block(self.path, self._block.block)
            self._block = self.client._add_block(self.path, self._previous, self._excluded)
            try:
                self._open_pipeline()
                for packet in self._block_packets:
                    self._stream.send(packet)
                if self._block_packets and self._block_packets[-1].last_packet_in_block:
                    self._stream.finish_sending()
                return
            except _PipelineFailed as failure:
                failed_index, error = failure.index, failure.message
            except EmrlabError as failure:
                failed_index, error = self._failure(failure.message)
        raise EmrlabError(f"could not write {self.path}: the pipeline failed {self.client.config.write_retries} times ({error})")

    def _complete(self) -> None:
        delay_s = self.client.config.complete_initial_delay_s
        for _ in range(self.client.config.complete_retries + 1):
            if self.client._complete(self.path, self._previous):
                return
            time.sleep(delay_s)
            delay_s *= 2
        raise EmrlabError(f"could not complete {self.path}: the NameNode has not heard of a replica of its last block")


class _PipelineFailed(Exception):
    def __init__(self, index: int, message: str):
        super().__init__(message)
        self.index = index
        self.message = message

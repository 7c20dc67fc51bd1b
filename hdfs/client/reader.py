"""Reading a file: block by block, from the closest healthy replica, checking every chunk.

`InputStream` is a seekable binary file. For the block under the read
position it tries the block's replicas in the order the NameNode gave (a
replica on the reader's own node first). If the reader runs on that node, it
opens the replica's files directly (a short-circuit read, as Hadoop does:
the bytes skip the DataNode process and the socket entirely, which is most of
the cost of a local read). Otherwise the DataNode streams packets. Either
way the client checks each chunk against its CRC32C: a mismatch is reported
to the NameNode as a corrupt replica, and the read goes on from another one.
When every replica of a block has failed, the client asks the NameNode for
fresh locations, at most `dfs.client.max.block.acquire.failures` times for
that block, then fails the read with BlockMissing, as Hadoop does.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import grpc

from emrlab_common.channels import ChannelHold
from emrlab_common.errors import EmrlabError
from emrlab_common.protos import hdfs_pb2
from emrlab_common.rpc import call, metadata_for, translate
from hdfs import checksum, datatransfer
from hdfs.errors import BlockMissing

logger = logging.getLogger(__name__)

SHORT_CIRCUIT_READ_BYTES = 1 << 20


class _CorruptReplica(Exception):
    pass


class InputStream(io.RawIOBase):
    def __init__(self, client, path: str, located: hdfs_pb2.GetBlockLocationsResponse):
        self.client = client
        self.path = path
        self.length = located.file_length_bytes
        self.blocks = list(located.blocks)
        self.position = 0
        self._chunks = None        # iterator of (offset in file, bytes) for the current block
        self._pending = b""        # bytes from the current chunk not yet returned
        self._pending_offset = 0
        self._dead: dict[int, set[str]] = {}  # block id -> replicas that failed us
        self._rounds_failed: dict[int, int] = {}  # block id -> times every replica failed

    # ------------------------------------------------------------ io.RawIOBase

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        """Stop reading the current block: its DataNode stream is cancelled and its channel let go now, not
        when the stream is garbage-collected (a closed stream may still be referenced, past Client.close())."""
        chunks, self._chunks, self._pending = self._chunks, None, b""
        if chunks is not None:
            chunks.close()
        super().close()

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = {io.SEEK_SET: offset, io.SEEK_CUR: self.position + offset, io.SEEK_END: self.length + offset}[whence]
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        if target != self.position:
            self.position = target
            if not self._pending_offset <= target < self._pending_offset + len(self._pending):
                self._chunks, self._pending = None, b""
        return self.position

    def readinto(self, buffer) -> int:
        data = self.read1(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(self.chunks())
        parts, wanted = [], size
        while wanted > 0:
            data = self.read1(wanted)
            if not data:
                break
            parts.append(data)
            wanted -= len(data)
        return b"".join(parts)

    def read1(self, size: int = -1) -> bytes:
        """Up to `size` bytes from the current packet (at most one network or disk read)."""
        if self.position >= self.length:
            return b""
        if not self._pending_offset <= self.position < self._pending_offset + len(self._pending):
            self._pending_offset, self._pending = self._next_chunk()
        start = self.position - self._pending_offset
        end = len(self._pending) if size is None or size < 0 else min(len(self._pending), start + size)
        data = self._pending[start:end] if isinstance(self._pending, bytes) else \
            memoryview(self._pending)[start:end].tobytes()
        self.position += len(data)
        return data

    def chunks(self):
        """The rest of the file as a sequence of bytes-like pieces (bytes, bytearray or memoryview), uncopied."""
        while self.position < self.length:
            if not self._pending_offset <= self.position < self._pending_offset + len(self._pending):
                self._pending_offset, self._pending = self._next_chunk()
            start = self.position - self._pending_offset
            data = self._pending if start == 0 else memoryview(self._pending)[start:]
            if not len(data):
                return
            self.position += len(data)
            yield data

    # ------------------------------------------------------------ blocks and replicas

    def _next_chunk(self) -> tuple[int, bytes]:
        while True:
            if self._chunks is None:
                self._chunks = self._open_block_at(self.position)
            try:
                return next(self._chunks)
            except StopIteration:
                self._chunks = None
            except _CorruptReplica:
                self._chunks = None

    def _block_at(self, position: int) -> hdfs_pb2.LocatedBlock:
        for block in self.blocks:
            if block.offset_bytes <= position < block.offset_bytes + block.block.length_bytes:
                return block
        raise EmrlabError(f"{self.path}: no block covers offset {position}")

    def _open_block_at(self, position: int):
        """A checked stream of the block at `position` from a replica not yet failed.

        A replica may also fail later, while its stream is read (a checksum
        mismatch): it is then marked dead and this is called again, so the
        count of failed rounds lives in the stream, not in this call.
        """
        located = self._block_at(position)
        block_id = located.block.block_id
        while True:
            dead = self._dead.setdefault(block_id, set())
            for replica in located.locations:
                if replica.datanode_uuid in dead:
                    continue
                try:
                    return self._replica_chunks(located, replica, position)
                except EmrlabError as error:
                    logger.info("replica of blk_%d on %s failed: %s", block_id, replica.node_id, error.message)
                    dead.add(replica.datanode_uuid)
            # Every known replica failed: ask the NameNode again (it may know new ones), a bounded number of times.
            self._rounds_failed[block_id] = self._rounds_failed.get(block_id, 0) + 1
            if self._rounds_failed[block_id] > self.client.config.read_block_retries:
                raise BlockMissing(f"Could not obtain block: blk_{block_id} file={self.path}: no live replica "
                                   f"could be read (dfs.client.max.block.acquire.failures="
                                   f"{self.client.config.read_block_retries})")
            self._dead[block_id] = set()
            self.blocks = list(self.client._block_locations(self.path).blocks)
            located = self._block_at(position)

    def _replica_chunks(self, located: hdfs_pb2.LocatedBlock, replica: hdfs_pb2.DatanodeId, position: int):
        """Start reading a replica (errors here mean "try another"); return an iterator of checked chunks."""
        offset_in_block = position - located.offset_bytes
        if self.client.node_id and replica.node_id == self.client.node_id and self.client.config.short_circuit_reads:
            try:
                access = self._short_circuit_access(located, replica)
                source = _read_files(access.block_path, access.meta_path, offset_in_block, located.block.length_bytes)
            except (EmrlabError, OSError) as error:
                logger.info("short-circuit read of blk_%d not possible (%s); reading over the network",
                            located.block.block_id, error)
            else:
                return self._checked(source, located, replica)
        request = hdfs_pb2.ReadBlockRequest(block=located.block, offset_bytes=offset_in_block,
                                            length_bytes=located.block.length_bytes - offset_in_block,
                                            client_name=self.client.client_name, block_token=located.block_token)
        if replica.xfer_port and self.client.config.streaming_transfer:
            source = _streamed_packets(replica, request, self.client.config.socket_timeout_s)
        else:
            source = _network_packets(self.client._datanode(replica.address), request,
                                      self.client.config.socket_timeout_s * 10, self.client.user, replica.node_id)
        first = next(source, None)  # surfaces "no such replica" or "unreachable" now, while we can try another
        if first is None:
            raise EmrlabError(f"{replica.node_id} sent no data for blk_{located.block.block_id}")
        return self._checked(_prepend(first, source), located, replica)

    def _short_circuit_access(self, located: hdfs_pb2.LocatedBlock, replica: hdfs_pb2.DatanodeId):
        """The replica's file paths, once we have shown the DataNode we can read its node-local secret."""
        proofs = self.client._locality_proofs
        for _ in range(2):  # the first contact (or a restarted DataNode) asks for the proof once
            with self.client._datanode(replica.address) as stub:
                access = call(stub.RequestShortCircuitAccess,
                              hdfs_pb2.RequestShortCircuitAccessRequest(
                                  block=located.block, client_node_id=self.client.node_id,
                                  locality_proof=proofs.get(replica.address, b""), block_token=located.block_token),
                              timeout_s=self.client.config.socket_timeout_s, peer=replica.node_id)
            if not access.proof_path:
                return access
            proofs[replica.address] = Path(access.proof_path).read_bytes()
        raise EmrlabError(f"{replica.node_id} does not accept our proof of being on its node")

    def _checked(self, source, located: hdfs_pb2.LocatedBlock, replica: hdfs_pb2.DatanodeId):
        """Verify each packet; on a mismatch report the replica and stop (the caller tries another)."""
        expected_end = located.block.length_bytes
        end = 0
        try:
            for offset_in_block, data, sums, bytes_per_checksum in source:
                end = offset_in_block + len(data)
                if checksum.first_mismatch(data, sums, bytes_per_checksum) is not None or end > expected_end:
                    self._report_corrupt(located, replica)
                    raise _CorruptReplica()
                yield located.offset_bytes + offset_in_block, data
        except EmrlabError as error:
            logger.info("read of blk_%d from %s broke: %s", located.block.block_id, replica.node_id, error.message)
            self._dead.setdefault(located.block.block_id, set()).add(replica.datanode_uuid)
            raise _CorruptReplica() from None
        finally:
            source.close()  # closed early (InputStream.close): the replica's stream or files close now
        if end < expected_end:
            self._report_corrupt(located, replica)  # a finished replica shorter than its block
            raise _CorruptReplica()

    def _report_corrupt(self, located: hdfs_pb2.LocatedBlock, replica: hdfs_pb2.DatanodeId) -> None:
        logger.warning("checksum error in blk_%d on %s; reporting it and reading another replica",
                       located.block.block_id, replica.node_id)
        self._dead.setdefault(located.block.block_id, set()).add(replica.datanode_uuid)
        self.client._report_bad_block(located.block, replica.datanode_uuid)


def _prepend(first, rest):
    try:
        yield first
        yield from rest
    finally:
        rest.close()


def _network_packets(hold: ChannelHold, request: hdfs_pb2.ReadBlockRequest, timeout_s: float, user: str, peer: str):
    """A ReadBlock stream's packets; the channel is held until the stream ends or the reader drops it."""
    with hold as stub:  # released on the way out, however the generator ends (closed: GeneratorExit)
        responses = stub.ReadBlock(request, timeout=timeout_s, metadata=metadata_for(user))
        try:
            for packet in responses:
                yield packet.offset_in_block, packet.data, packet.checksums, packet.bytes_per_checksum
        except grpc.RpcError as error:
            raise translate(error, peer) from None
        finally:
            cancel = getattr(responses, "cancel", None)  # a gRPC call has it; a plain iterator of packets not
            if cancel is not None:
                cancel()  # the reader stopped early: the DataNode's ReadBlock ends now (no-op if done)


def _streamed_packets(replica: hdfs_pb2.DatanodeId, request: hdfs_pb2.ReadBlockRequest, timeout_s: float):
    """Packets from a DataNode's streaming port (hdfs/datatransfer.py), each packet's data a new bytearray."""
    connection = datatransfer.connect(replica.address, replica.xfer_port, timeout_s)
    # A timeout or a reset, before the DataNode answered or mid-block (killed, cut off): the replica is as
    # good as gone, and another one may do.
    with connection:
        try:
            datatransfer.send_op(connection, datatransfer.OP_READ_BLOCK, request)
            answer = datatransfer.receive_frame(connection, hdfs_pb2.BlockOpResponse)
            bytes_per_checksum = datatransfer.check_response(answer).bytes_per_checksum
            while True:
                _, offset, data_bytes, checksum_bytes, last = datatransfer.receive_packet_header(connection)
                sums = bytes(datatransfer.receive_exactly(connection, checksum_bytes))
                data = datatransfer.receive_exactly(connection, data_bytes)
                if last or not data_bytes:
                    return
                yield offset, data, sums, bytes_per_checksum
        except OSError as error:
            raise datatransfer.ProtocolError(f"read from {replica.node_id} broke: {error}") from None


def _read_files(block_path: str, meta_path: str, offset_in_block: int, block_length: int):
    """Packets straight from a replica's files (a short-circuit read)."""
    block_file = open(block_path, "rb")
    meta_file = open(meta_path, "rb")
    bytes_per_checksum = checksum.parse_meta_header(meta_file.read(checksum.META_HEADER.size))
    return _file_packets(block_file, meta_file, bytes_per_checksum, offset_in_block, block_length)


def _file_packets(block_file, meta_file, bytes_per_checksum: int, offset_in_block: int, block_length: int):
    with block_file, meta_file:
        position = offset_in_block - offset_in_block % bytes_per_checksum
        block_file.seek(position)
        meta_file.seek(checksum.META_HEADER.size + position // bytes_per_checksum * checksum.CHECKSUM_BYTES)
        step = SHORT_CIRCUIT_READ_BYTES - SHORT_CIRCUIT_READ_BYTES % bytes_per_checksum
        while position < block_length:
            data = block_file.read(min(step, block_length - position))
            if not data:
                return  # shorter than the block: the caller sees the gap
            sums = meta_file.read((len(data) + bytes_per_checksum - 1) // bytes_per_checksum * checksum.CHECKSUM_BYTES)
            yield position, data, sums, bytes_per_checksum
            position += len(data)

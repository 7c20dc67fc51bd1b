"""The DataNode's streaming port: block reads and writes as raw packets (hdfs/datatransfer.py).

Hadoop's DataXceiverServer accepts connections on the DataNode's transfer
port and gives each its own DataXceiver thread, at most
`dfs.datanode.max.transfer.threads` at once; a connection over the limit is
refused with one clear error. A read sends packets straight from the
replica's file with `sendfile` (the bytes never enter Python); a write runs
the same pipeline as the gRPC `WriteBlock` (`transfer.py`), with packets and
acks on the socket instead of in gRPC messages.

Checks are the gRPC path's own: the block token, the replica's state and
range, and a replica whose files are missing or short is reported corrupt.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

from emrlab_common import tls
from emrlab_common.errors import EmrlabError, ResourceExhausted
from emrlab_common.protos import hdfs_pb2
from hdfs import checksum, datatransfer
from hdfs.datanode.node import DataNode
from hdfs.datanode.transfer import counted_transfer, damage_reported, plan_read, receive_block
from hdfs.errors import ChecksumMismatch
from hdfs.pipeline import Packet

logger = logging.getLogger(__name__)

LISTEN_BACKLOG = 128
IDLE_TIMEOUT_S = 600.0  # a peer silent this long is gone (Hadoop's dfs.datanode.socket.write.timeout is 8 min)


class DataXceiverServer:
    """Accepts connections on the streaming port; one thread per connection, a bounded number."""

    def __init__(self, datanode: DataNode, host: str, threads_max: int):
        self.datanode = datanode
        self.listener = socket.create_server((host, 0), backlog=LISTEN_BACKLOG)
        self.port = self.listener.getsockname()[1]
        self._tls = tls.server_ssl_context(for_rpc=True)  # secure mode: mutual TLS, as on the gRPC port
        self._slots = threading.BoundedSemaphore(threads_max)
        self.threads_max = threads_max
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, peer = self.listener.accept()
            except OSError:
                return  # the listener was closed: we are stopping
            if not self._slots.acquire(blocking=False):
                self._refuse(connection)
                continue
            threading.Thread(target=self._serve, args=(connection,), name=f"xceiver-{peer[1]}", daemon=True).start()

    def stop(self) -> None:
        self._stopping.set()
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()

    def _refuse(self, connection: socket.socket) -> None:
        error = ResourceExhausted(f"{self.datanode.node_id} is serving {self.threads_max} transfers already "
                                  f"(dfs.datanode.max.transfer.threads); try another replica")
        try:
            connection.settimeout(1.0)
            datatransfer.send_frame(connection, datatransfer.refusal(error))
        except OSError:
            pass
        connection.close()

    def _serve(self, connection: socket.socket) -> None:
        try:
            connection.settimeout(IDLE_TIMEOUT_S)
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                connection = self._tls.wrap_socket(connection, server_side=True)  # no client certificate: refused
            self._serve_operation(connection)
        except (OSError, EmrlabError) as error:
            logger.info("data transfer connection ended: %s", error)
        finally:
            connection.close()
            self._slots.release()

    def _serve_operation(self, connection: socket.socket) -> None:
        op = datatransfer.receive_op(connection)
        if op == datatransfer.OP_READ_BLOCK:
            request = datatransfer.receive_frame(connection, hdfs_pb2.ReadBlockRequest)
            self._read_block(connection, request)
        else:
            header = datatransfer.receive_frame(connection, hdfs_pb2.WriteBlockHeader)
            self._write_block(connection, header)

    def _write_block(self, connection: socket.socket, header: hdfs_pb2.WriteBlockHeader) -> None:
        acks = receive_block(self.datanode, header, _packets_from(connection))
        try:
            setup_ack = next(acks)
        except EmrlabError as error:
            datatransfer.send_frame(connection, datatransfer.refusal(error))
            return
        datatransfer.send_frame(connection, datatransfer.ok())
        datatransfer.send_frame(connection, setup_ack)
        for ack in acks:
            datatransfer.send_frame(connection, ack)

    def _read_block(self, connection: socket.socket, request: hdfs_pb2.ReadBlockRequest) -> None:
        try:
            replica, bytes_per_checksum, start, end = plan_read(self.datanode, request)
            with damage_reported(self.datanode, replica):
                block_file = open(replica.block_path, "rb")
                meta_file = open(replica.meta_path, "rb")
        except EmrlabError as error:
            datatransfer.send_frame(connection, datatransfer.refusal(error))
            return
        datatransfer.send_frame(connection, datatransfer.ok(bytes_per_checksum))
        with block_file, meta_file, counted_transfer(self.datanode):
            send_replica(self.datanode, replica, connection, block_file, meta_file, bytes_per_checksum, start, end)


def send_replica(datanode: DataNode, replica, connection: socket.socket, block_file, meta_file,
                 bytes_per_checksum: int, start: int, end: int) -> None:
    """Packets for bytes [start, end) of a replica, the data by sendfile, then an empty last packet.

    A replica whose files are shorter than they should be is reported corrupt
    and the connection is cut: the reader sees a broken stream and tries
    another replica.
    """
    packet_bytes = datanode.config.read_packet_bytes
    packet_bytes = max(bytes_per_checksum, packet_bytes - packet_bytes % bytes_per_checksum)
    with damage_reported(datanode, replica):
        if os.fstat(block_file.fileno()).st_size < end:
            raise ChecksumMismatch(f"block file is shorter than {end} bytes")
    meta_file.seek(checksum.META_HEADER.size + (start // bytes_per_checksum) * checksum.CHECKSUM_BYTES)
    position, sequence_number = start, 0
    while position < end:
        count = min(packet_bytes, end - position)
        checksum_bytes = (count + bytes_per_checksum - 1) // bytes_per_checksum * checksum.CHECKSUM_BYTES
        sums = meta_file.read(checksum_bytes)
        if len(sums) != checksum_bytes:
            with damage_reported(datanode, replica):
                raise ChecksumMismatch(f"meta file ends before offset {position}")
        connection.sendall(datatransfer.PACKET_HEADER.pack(sequence_number, position, count, len(sums), 0) + sums)
        sent = connection.sendfile(block_file, offset=position, count=count)
        if sent != count:
            with damage_reported(datanode, replica):
                raise ChecksumMismatch(f"block file ended at {position + sent} while sending")
        position += count
        sequence_number += 1
    datatransfer.send_packet(connection, sequence_number, position, b"", b"", last=True)


def _packets_from(connection: socket.socket):
    """The packets a writer sends, until the one marked last (a broken stream raises ProtocolError)."""
    while True:
        sequence_number, offset, data_bytes, checksum_bytes, last = datatransfer.receive_packet_header(connection)
        sums = bytes(datatransfer.receive_exactly(connection, checksum_bytes))
        data = datatransfer.receive_exactly(connection, data_bytes)
        yield Packet(sequence_number, offset, data, sums, last)
        if last:
            return

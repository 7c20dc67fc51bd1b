"""The streaming data transfer protocol: block bytes on a plain TCP socket.

Hadoop does not move block bytes over RPC. Each DataNode has a second port
(`xferPort`, `dfs.datanode.address` in Hadoop) that speaks DataTransferProtocol:
a client opens a connection, sends a small header saying what it wants, and
then the bytes flow as raw packets with their checksums. emrlab does the same
for reads and writes, beside gRPC (kept for every call, and for block bytes
when a DataNode has no streaming port): one copy fewer at each end, and the
DataNode sends a replica's bytes straight from the page cache (`sendfile`),
as Hadoop's BlockSender does with `transferTo`.

On the wire, all integers big-endian:

    client -> DataNode   MAGIC (2 bytes) | op (1 byte) | frame(request)
    DataNode -> client   frame(BlockOpResponse)       code 0 is OK, else the error
    then, for a read:    packets, DataNode -> client, until one with no data
    for a write:         packets, client -> DataNode, and acks back on the same socket:
                         frame(WriteBlockResponse) per packet, as the gRPC pipeline sends them

    frame(message) = length (4 bytes) | the protobuf message
    packet         = PACKET_HEADER (sequence number, offset in block, data length,
                     checksums length, flags) | checksums | data

The protobuf messages are the gRPC ones (ReadBlockRequest, WriteBlockHeader,
WriteBlockResponse), so the two paths check exactly the same things. Every
length read from the wire is bounded before anything is allocated for it. In
secure mode (`hadoop.rpc.protection=privacy`) the port speaks mutual TLS with
the cluster CA's certificates, as gRPC does (Hadoop protects it with SASL,
`dfs.data.transfer.protection`); `sendfile` then gives way to plain sends.
"""

from __future__ import annotations

import socket
import ssl
import struct

import grpc
from google.protobuf.message import DecodeError

from emrlab_common import tls
from emrlab_common.errors import EmrlabError, Unavailable, error_from_status
from emrlab_common.protos import hdfs_pb2
from emrlab_common.rpc import ERROR_MESSAGE_CHARACTERS_MAX

MAGIC = b"\xda\x7a"
OP_WRITE_BLOCK = 80  # Hadoop's Op codes
OP_READ_BLOCK = 81
FRAME_LENGTH = struct.Struct(">I")
FRAME_BYTES_MAX = 1 << 20  # a header or an ack; block bytes never travel in a frame
PACKET_HEADER = struct.Struct(">QQIIB")  # sequence number, offset in block, data bytes, checksum bytes, flags
LAST_PACKET = 1
PACKET_DATA_BYTES_MAX = 16 << 20
CONNECT_TIMEOUT_S = 10.0


class ProtocolError(EmrlabError):
    """The other end broke the streaming protocol (or went away mid-message)."""

    status = grpc.StatusCode.UNAVAILABLE


def receive_exactly(connection: socket.socket, size: int, into: bytearray | None = None) -> bytearray:
    """Exactly `size` bytes from the socket (into `into` when given); ProtocolError if it closes first."""
    buffer = into if into is not None else bytearray(size)
    view = memoryview(buffer)[:size]
    received = 0
    while received < size:
        count = connection.recv_into(view[received:], size - received)
        if count == 0:
            raise ProtocolError(f"connection closed after {received} of {size} bytes")
        received += count
    return buffer


def send_frame(connection: socket.socket, message) -> None:
    payload = message.SerializeToString()
    connection.sendall(FRAME_LENGTH.pack(len(payload)) + payload)


def receive_frame(connection: socket.socket, message_class):
    (length,) = FRAME_LENGTH.unpack(receive_exactly(connection, FRAME_LENGTH.size))
    if length > FRAME_BYTES_MAX:
        raise ProtocolError(f"a frame of {length} bytes is over the {FRAME_BYTES_MAX}-byte limit")
    message = message_class()
    try:
        message.ParseFromString(bytes(receive_exactly(connection, length)))
    except DecodeError:
        raise ProtocolError(f"a frame that is not a {message_class.__name__}") from None
    return message


def send_op(connection: socket.socket, op: int, request) -> None:
    connection.sendall(MAGIC + bytes([op]))
    send_frame(connection, request)


def receive_op(connection: socket.socket) -> int:
    """The operation a client asks for, after checking the magic bytes."""
    preamble = receive_exactly(connection, len(MAGIC) + 1)
    if bytes(preamble[:2]) != MAGIC:
        raise ProtocolError("not a data transfer connection (bad magic bytes)")
    if preamble[2] not in (OP_READ_BLOCK, OP_WRITE_BLOCK):
        raise ProtocolError(f"unknown data transfer operation {preamble[2]}")
    return preamble[2]


def ok(bytes_per_checksum: int = 0) -> hdfs_pb2.BlockOpResponse:
    return hdfs_pb2.BlockOpResponse(code=0, bytes_per_checksum=bytes_per_checksum)


def refusal(error: EmrlabError) -> hdfs_pb2.BlockOpResponse:
    """An operating error as the answer to a header, to be raised again on the client (`check_response`)."""
    return hdfs_pb2.BlockOpResponse(code=error.status.value[0], error_class=type(error).__name__,
                                    message=error.message[:ERROR_MESSAGE_CHARACTERS_MAX])


def check_response(response: hdfs_pb2.BlockOpResponse) -> hdfs_pb2.BlockOpResponse:
    if response.code == 0:
        return response
    status = next((code for code in grpc.StatusCode if code.value[0] == response.code), grpc.StatusCode.UNKNOWN)
    raise error_from_status(status, response.message, response.error_class)


def send_packet(connection: socket.socket, sequence_number: int, offset: int, data, checksums: bytes,
                last: bool = False) -> None:
    connection.sendall(PACKET_HEADER.pack(sequence_number, offset, len(data), len(checksums),
                                          LAST_PACKET if last else 0) + checksums)
    if len(data):
        connection.sendall(data)


def receive_packet_header(connection: socket.socket) -> tuple[int, int, int, int, bool]:
    """(sequence number, offset, data bytes, checksum bytes, last), the lengths checked against the limits."""
    sequence_number, offset, data_bytes, checksum_bytes, flags = PACKET_HEADER.unpack(
        receive_exactly(connection, PACKET_HEADER.size))
    if data_bytes > PACKET_DATA_BYTES_MAX or checksum_bytes > data_bytes // 4 + 8:
        raise ProtocolError(f"a packet of {data_bytes} data and {checksum_bytes} checksum bytes is out of bounds")
    return sequence_number, offset, data_bytes, checksum_bytes, bool(flags & LAST_PACKET)


def connect(address: str, xfer_port: int, timeout_s: float) -> socket.socket:
    """A connection to a DataNode's streaming port, on the host of its gRPC `address`."""
    host = address.rsplit(":", 1)[0].strip("[]")
    try:
        connection = socket.create_connection((host, xfer_port), timeout=min(timeout_s, CONNECT_TIMEOUT_S))
    except OSError as error:
        reason = error.strerror or error
        raise Unavailable(f"cannot reach the data transfer port {host}:{xfer_port}: {reason}") from None
    connection.settimeout(timeout_s)
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    identity = tls.for_address(address)
    if identity is None or not identity.rpc:
        return connection
    try:  # secure mode: the port speaks mutual TLS, as gRPC does (hadoop.rpc.protection=privacy)
        return tls.client_ssl_context(identity).wrap_socket(connection, server_hostname=host)
    except (OSError, ssl.SSLError) as error:
        connection.close()
        raise Unavailable(f"TLS with the data transfer port {host}:{xfer_port} failed: {error}") from None

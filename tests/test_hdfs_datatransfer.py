"""The streaming data transfer protocol (hdfs/datatransfer.py): block bytes on the DataNodes' own port.

The framing on a socket pair, then a real cluster: files written and read over
the streaming port equal what gRPC moves, a hostile or broken peer gets a
refusal or a closed connection and never a dead DataNode, and a damaged
replica read over the streaming port is reported and read from another one.
"""

from __future__ import annotations

import os
import socket
import ssl
import struct

import pytest

from emrlab_common import certificates, tls
from emrlab_common.errors import InvalidArgument, NotFound
from emrlab_common.protos import hdfs_pb2
from hdfs import datatransfer
from hdfs.blocktoken import InvalidBlockToken
from hdfs.errors import FileAlreadyExists
from hdfs.pipeline import StreamingPipeline
from tests.conftest import wait_until

MiB = 1 << 20


# ---------------------------------------------------------------- framing, no daemons


def test_frames_and_packets_round_trip_on_a_socket_pair():
    left, right = socket.socketpair()
    with left, right:
        request = hdfs_pb2.ReadBlockRequest(block=hdfs_pb2.Block(block_id=7, generation_stamp=3), offset_bytes=512)
        datatransfer.send_op(left, datatransfer.OP_READ_BLOCK, request)
        assert datatransfer.receive_op(right) == datatransfer.OP_READ_BLOCK
        assert datatransfer.receive_frame(right, hdfs_pb2.ReadBlockRequest) == request
        datatransfer.send_packet(left, 5, 1024, b"x" * 600, b"abcdefgh", last=True)
        assert datatransfer.receive_packet_header(right) == (5, 1024, 600, 8, True)
        assert bytes(datatransfer.receive_exactly(right, 8)) == b"abcdefgh"
        assert bytes(datatransfer.receive_exactly(right, 600)) == b"x" * 600


def test_an_error_crosses_the_socket_as_its_own_class():
    answer = datatransfer.refusal(FileAlreadyExists("replica blk_1_1 already exists"))
    with pytest.raises(FileAlreadyExists, match="already exists"):
        datatransfer.check_response(answer)
    assert datatransfer.check_response(datatransfer.ok(512)).bytes_per_checksum == 512


@pytest.mark.parametrize("wire, error", [
    (b"GET / HTTP/1.1\r\n", "bad magic"),
    (datatransfer.MAGIC + b"\x07", "unknown data transfer operation 7"),
])
def test_a_connection_that_is_not_ours_is_refused_by_name(wire, error):
    left, right = socket.socketpair()
    with left, right:
        left.sendall(wire)
        with pytest.raises(datatransfer.ProtocolError, match=error):
            datatransfer.receive_op(right)


def test_lengths_from_the_wire_are_bounded_before_anything_is_allocated():
    left, right = socket.socketpair()
    with left, right:
        left.sendall(struct.pack(">I", 1 << 31))
        with pytest.raises(datatransfer.ProtocolError, match="over the"):
            datatransfer.receive_frame(right, hdfs_pb2.ReadBlockRequest)
        left.sendall(datatransfer.PACKET_HEADER.pack(0, 0, 1 << 30, 0, 0))
        with pytest.raises(datatransfer.ProtocolError, match="out of bounds"):
            datatransfer.receive_packet_header(right)
        left.sendall(struct.pack(">I", 3) + b"\xff\xff\xff")
        with pytest.raises(datatransfer.ProtocolError, match="not a ReadBlockRequest"):
            datatransfer.receive_frame(right, hdfs_pb2.ReadBlockRequest)
        left.close()
        with pytest.raises(datatransfer.ProtocolError, match="closed after 0 of"):
            datatransfer.receive_exactly(right, 4)


# ---------------------------------------------------------------- a real cluster

def _first_location(client, path):
    located = client._block_locations(path).blocks[0]
    return located, located.locations[0]


def _read_over_socket(location, request):
    connection = datatransfer.connect(location.address, location.xfer_port, 10.0)
    with connection:
        datatransfer.send_op(connection, datatransfer.OP_READ_BLOCK, request)
        return datatransfer.check_response(datatransfer.receive_frame(connection, hdfs_pb2.BlockOpResponse))


def _answer(connection) -> bytes:
    try:
        connection.shutdown(socket.SHUT_WR)
        return connection.recv(1 << 16)
    except OSError:  # closed with our bytes unread: the same refusal
        return b""


@pytest.mark.cluster
def test_streaming_and_grpc_move_the_same_bytes_and_survive_hostile_peers(cluster_factory, tmp_path):
    cluster = cluster_factory(core=3, properties={"dfs.blocksize": "1m"})
    data = os.urandom(3 * MiB + 12345)
    source = tmp_path / "data.bin"
    source.write_bytes(data)
    streaming, grpc_only = ("-put",), ("-D", "emrlab.client.streaming-transfer=false", "-put")
    cluster.emrlab("dfs", *streaming, str(source), "/streamed.bin", check=True)
    cluster.emrlab("dfs", *grpc_only, str(source), "/grpc.bin", check=True)
    client = cluster.client()
    located, location = _first_location(client, "/streamed.bin")
    assert location.xfer_port > 0 and all(replica.xfer_port for replica in located.locations)
    for path in ("/streamed.bin", "/grpc.bin"):
        for flags in ((), ("-D", "emrlab.client.streaming-transfer=false")):
            copy = tmp_path / "copy.bin"
            copy.unlink(missing_ok=True)
            cluster.emrlab("dfs", *flags, "-get", path, str(copy), check=True)
            assert copy.read_bytes() == data
    with client.open("/streamed.bin") as stream:  # reads that start inside a chunk and cross a block
        stream.seek(MiB - 7)
        assert stream.read(16) == data[MiB - 7:MiB + 9]
        stream.seek(2 * MiB + 1000)
        assert stream.read() == data[2 * MiB + 1000:]

    host = location.address.rsplit(":", 1)[0]
    huge_frame = datatransfer.MAGIC + bytes([datatransfer.OP_READ_BLOCK]) + struct.pack(">I", 1 << 30)
    for garbage in (b"\x00" * 64, b"GET / HTTP/1.1\r\n\r\n", huge_frame):
        with socket.create_connection((host, location.xfer_port), timeout=10) as connection:
            connection.sendall(garbage)
            assert _answer(connection) == b""  # closed without an answer, nothing served
    block = located.block
    with pytest.raises(NotFound):
        _read_over_socket(location, hdfs_pb2.ReadBlockRequest(block=hdfs_pb2.Block(block_id=block.block_id + 999)))
    with pytest.raises(InvalidArgument, match="past the end"):
        _read_over_socket(location, hdfs_pb2.ReadBlockRequest(block=block, offset_bytes=block.length_bytes + 1))
    # A write naming a finalized replica may not replace it, whatever its generation stamp claims.
    header = hdfs_pb2.WriteBlockHeader(block=hdfs_pb2.Block(block_id=block.block_id,
                                                            generation_stamp=block.generation_stamp + 100),
                                       bytes_per_checksum=512)
    with pytest.raises(FileAlreadyExists):
        StreamingPipeline(location, header, 10.0)
    assert client.read_bytes("/streamed.bin") == data  # every DataNode still serves, every replica intact


@pytest.mark.cluster
def test_a_damaged_replica_read_over_the_streaming_port_is_reported_and_read_elsewhere(cluster_factory):
    cluster = cluster_factory(core=3, properties={"dfs.blocksize": "1m", "dfs.replication": "2"})
    client = cluster.client()
    data = os.urandom(MiB)
    client.write_bytes("/damaged.bin", data)
    located, location = _first_location(client, "/damaged.bin")
    block_files = list(cluster.node_data_dir(location.node_id).rglob(f"blk_{located.block.block_id}"))
    assert len(block_files) == 1
    with open(block_files[0], "r+b") as block_file:
        block_file.truncate(MiB // 2)  # shorter than the block: sendfile would run dry
    reader = cluster.client()
    assert reader.read_bytes("/damaged.bin") == data
    wait_until(lambda: location.datanode_uuid not in
               {replica.datanode_uuid for replica in client._block_locations("/damaged.bin").blocks[0].locations},
               what="the damaged replica reported and dropped from the locations")


@pytest.mark.cluster
def test_block_tokens_guard_the_streaming_port(cluster_factory):
    cluster = cluster_factory(core=1, properties={"dfs.block.access.token.enable": "true", "dfs.replication": "1"})
    client = cluster.client()
    client.write_bytes("/guarded.bin", b"secret\n" * 1000)
    located, location = _first_location(client, "/guarded.bin")
    assert client.read_bytes("/guarded.bin") == b"secret\n" * 1000  # with the NameNode's token
    with pytest.raises(InvalidBlockToken):
        _read_over_socket(location, hdfs_pb2.ReadBlockRequest(block=located.block))
    with pytest.raises(InvalidBlockToken):
        StreamingPipeline(location, hdfs_pb2.WriteBlockHeader(
            block=hdfs_pb2.Block(block_id=located.block.block_id + 1, generation_stamp=1), bytes_per_checksum=512),
            10.0)


@pytest.mark.cluster
def test_in_secure_mode_the_streaming_port_speaks_mutual_tls_only(cluster_factory, tmp_path):
    cluster = cluster_factory(core=1, properties={**tls.SECURE_PROPERTIES, "dfs.replication": "1"})
    data = os.urandom(2 * MiB + 77)
    source = tmp_path / "data.bin"
    source.write_bytes(data)
    cluster.emrlab("dfs", "-put", str(source), "/tls.bin", check=True)
    copy = tmp_path / "copy.bin"
    cluster.emrlab("dfs", "-get", "/tls.bin", str(copy), check=True)
    assert copy.read_bytes() == data
    client = cluster.client()
    _, location = _first_location(client, "/tls.bin")
    assert location.xfer_port > 0
    host = location.address.rsplit(":", 1)[0]
    request = datatransfer.MAGIC + bytes([datatransfer.OP_READ_BLOCK])
    with socket.create_connection((host, location.xfer_port), timeout=10) as plaintext:
        plaintext.sendall(request + struct.pack(">I", 0))
        assert _answer(plaintext) == b""  # plaintext: no answer, not a byte of the block
    bare = ssl.create_default_context(cafile=str(certificates.ca_certificate_path(cluster.cluster_dir.root)))
    with pytest.raises(OSError), bare.wrap_socket(socket.create_connection((host, location.xfer_port), timeout=10),
                                                  server_hostname=host) as connection:
        connection.sendall(request + struct.pack(">I", 0))  # TLS without a client certificate from the CA
        if not connection.recv(1):
            raise ConnectionResetError("closed")
    assert client.read_bytes("/tls.bin") == data  # the cluster's own certificate is let in

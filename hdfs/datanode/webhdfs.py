"""WebHDFS on a DataNode: the second step of OPEN, CREATE, APPEND and GETFILECHECKSUM.

The NameNode's redirect names it (`namenoderpcaddress`); here the DataNode is
an ordinary HDFS client of that NameNode for the request's user, as Hadoop's
DataNode WebHDFS is a DFSClient: reads stream block packets out as HTTP
chunks, writes stream the request body into the block pipeline a chunk at a
time, so a file of any size passes through in bounded memory. In token mode
it acts with the redirect's delegation token only (`tokens.TokenClient`).
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator

from emrlab_common import web
from emrlab_common.errors import EmrlabError, InvalidArgument
from hdfs.client import Client
from hdfs.client.config import ClientConfig
from hdfs.webhdfs import shapes
from hdfs.webhdfs.requests import DEFAULT_FILE_PERMISSION, check_operation, webhdfs_path
from hdfs.webhdfs.shapes import parse_bool, parse_int, user_of
from hdfs.webhdfs.tokens import TokenClient

logger = logging.getLogger(__name__)

BODY_CHUNK_BYTES = 1 << 20
DATANODE_OPERATIONS = {"OPEN", "CREATE", "APPEND", "GETFILECHECKSUM"}


class DataNodeWebHdfs:
    def __init__(self, node_id: str, client_config: ClientConfig):
        self.node_id = node_id
        self.client_config = client_config  # the cluster's client keys: umask, write retries, timeouts

    def handle(self, request: web.Request) -> web.Response:
        client = None
        try:
            operation = check_operation(request)
            if operation not in DATANODE_OPERATIONS:
                raise InvalidArgument(f"{operation} is not a DataNode operation: send it to the NameNode")
            path = webhdfs_path(request)
            namenode = request.query.get("namenoderpcaddress")
            if not namenode:
                raise InvalidArgument('Required param "namenoderpcaddress" for op: ' + operation + ' is null')
            client = TokenClient(namenode, user=user_of(request.query), config=self.client_config,
                                 node_id=self.node_id, token=request.query.get("delegation", ""))
            match operation:
                case "OPEN":
                    response = self._open(client, path, request.query)
                    client = None  # the response's stream closes it
                    return response
                case "CREATE":
                    return self._create(client, path, request, namenode)
                case "APPEND":
                    self._copy(request, client.append(path))
                    return web.Response(200)
                case "GETFILECHECKSUM":
                    return web.json_response(self._checksum(client, path))
        except EmrlabError as error:
            return shapes.error_response(error)
        finally:
            if client is not None:
                client.close()
        raise AssertionError(request.query)

    def _open(self, client: Client, path: str, query: dict[str, str]) -> web.Response:
        offset = parse_int(query, "offset", 0)
        length = parse_int(query, "length", -1) if query.get("length") else -1
        buffer_bytes = parse_int(query, "buffersize", BODY_CHUNK_BYTES) or BODY_CHUNK_BYTES
        stream = client.open(path)
        if offset > stream.length:
            stream.close()
            raise InvalidArgument(f"Offset={offset} out of the range [0, {stream.length}); OPEN, path={path}")
        stream.seek(offset)
        return web.Response(200, _chunks(client, stream, length, buffer_bytes), "application/octet-stream")

    def _create(self, client: Client, path: str, request: web.Request, namenode: str) -> web.Response:
        query = request.query
        writer = client.create(
            path, overwrite=parse_bool(query, "overwrite", False), replication=parse_int(query, "replication", 0) or None,
            block_size_bytes=parse_int(query, "blocksize", 0) or None,
            permission=parse_int(query, "permission", DEFAULT_FILE_PERMISSION, base=8))
        self._copy(request, writer)
        return web.Response(201, headers={"Location": f"hdfs://{namenode}{path}"})

    @staticmethod
    def _copy(request: web.Request, writer) -> None:
        """The request body into an HDFS file; a body cut short leaves the file to lease recovery."""
        try:
            while chunk := request.body.read(BODY_CHUNK_BYTES):
                writer.write(chunk)
        except BaseException:
            writer.abort()
            raise
        writer.close()

    @staticmethod
    def _checksum(client: Client, path: str) -> dict:
        """Hadoop's MD5MD5CRC32FileChecksum: bytesPerCRC, crcPerBlock and the MD5 of the block MD5s."""
        status = client.status(path)
        bytes_per_crc = client.server_defaults()["bytes_per_checksum"]
        crc_per_block = status.block_size_bytes // bytes_per_crc if status.length_bytes > status.block_size_bytes else 0
        md5_hex = client.file_checksum(path).rsplit(" ", 1)[-1]
        payload = struct.pack(">iq", bytes_per_crc, crc_per_block) + bytes.fromhex(md5_hex)
        return {"FileChecksum": {"algorithm": f"MD5-of-{crc_per_block}MD5-of-{bytes_per_crc}CRC32C",
                                 "bytes": payload.hex(), "length": len(payload)}}


def _chunks(client: Client, stream, length: int, buffer_bytes: int) -> Iterator[bytes]:
    """At most `length` bytes (-1: to the end), a packet's worth at a time; closes the client when done."""
    remaining = length
    try:
        while remaining != 0:
            data = stream.read1(buffer_bytes if remaining < 0 else min(buffer_bytes, remaining))
            if not data:
                return
            if remaining > 0:
                remaining -= len(data)
            yield data
    finally:
        stream.close()
        client.close()


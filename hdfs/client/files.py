"""The file half of `Client`: opening, creating and appending, and copying whole files in and out.

`FileCalls` is a mixin of `Client` (client.py). `open` hands back an `InputStream`
(reader.py) and `create`/`append` an `OutputStream` (writer.py), as Hadoop's DFSClient
hands out DFSInputStream and DFSOutputStream. The streams move the bytes themselves,
straight to and from DataNodes; what they need from the NameNode (block locations,
a new block, abandoning one, completing the file, a corrupt replica) they ask through
the calls at the end of this file. Each open writer is registered with the client
so that the lease renewer keeps its lease alive and `close()` can abort it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from emrlab_common.protos import hdfs_pb2
from hdfs.client.reader import InputStream
from hdfs.client.writer import OutputStream
from hdfs.errors import PathIsDirectory
from hdfs.protocol import FileStatus

COPY_CHUNK_BYTES = 1 << 20


class FileCalls:
    """Needs of its `Client`: `resolve`, `_call`, `_namenode`, `server_defaults`, `status`, `_lock`,
    `_open_writers`, `_start_lease_renewer`, `config`, `client_name`, `node_id`."""

    def open(self, path: str) -> InputStream:
        path = self.resolve(path)
        located = self._block_locations(path)
        return InputStream(self, path, located)

    def create(self, path: str, *, overwrite: bool = False, replication: int | None = None,
               block_size_bytes: int | None = None, permission: int = 0o666,
               on_warning: Callable[[str], None] | None = None) -> OutputStream:
        path = self.resolve(path)
        defaults = self.server_defaults()
        request = hdfs_pb2.CreateRequest(
            path=path, permission=permission & ~self.config.umask, client_name=self.client_name, overwrite=overwrite,
            create_parent=True, replication=replication or self.config.replication,
            block_size_bytes=block_size_bytes or self.config.block_size_bytes)
        response = self._call(self._namenode.Create, request, idempotent=False)
        if response.warning and on_warning:
            on_warning(response.warning)
        return self._writer(path, response.status, defaults)

    def append(self, path: str) -> OutputStream:
        """Open an existing file for writing at its end (`-appendToFile`); new bytes go into new blocks."""
        path = self.resolve(path)
        defaults = self.server_defaults()
        response = self._call(self._namenode.Append, hdfs_pb2.AppendRequest(path=path, client_name=self.client_name),
                              idempotent=False)
        return self._writer(path, response.status, defaults, response.last_block if response.has_last_block else None)

    def _writer(self, path: str, status: hdfs_pb2.FileStatus, defaults: dict,
                previous: hdfs_pb2.Block | None = None) -> OutputStream:
        writer = OutputStream(self, path, FileStatus.from_proto(status), defaults, status.replication, previous)
        with self._lock:
            self._open_writers.add(writer)
            self._start_lease_renewer(defaults["lease_hard_limit_s"])
        return writer

    def upload(self, local_path: str | Path, path: str, *, overwrite: bool = False,
               progress: Callable[[int], None] | None = None, **create_options) -> FileStatus:
        """Copy a local file into HDFS (`-put`), streaming it block by block."""
        with open(local_path, "rb") as source, self.create(path, overwrite=overwrite, **create_options) as target:
            while chunk := source.read(COPY_CHUNK_BYTES):
                target.write(chunk)
                if progress:
                    progress(len(chunk))
        return self.status(path)

    def download(self, path: str, local_path: str | Path, *, progress: Callable[[int], None] | None = None) -> None:
        """Copy an HDFS file to the local disk (`-get`); the local file appears only when complete."""
        local_path = Path(local_path)
        if self.status(path).is_directory:
            raise PathIsDirectory(f"{self.resolve(path)}: Is a directory")
        temporary = local_path.with_name(f".{local_path.name}._COPYING_")
        try:
            with self.open(path) as source, open(temporary, "wb") as target:
                for chunk in source.chunks():
                    target.write(chunk)
                    if progress:
                        progress(len(chunk))
            os.replace(temporary, local_path)
        finally:
            temporary.unlink(missing_ok=True)

    def read_bytes(self, path: str) -> bytes:
        with self.open(path) as file:
            return file.read()

    def write_bytes(self, path: str, data: bytes, *, overwrite: bool = False, **create_options) -> None:
        with self.create(path, overwrite=overwrite, **create_options) as file:
            file.write(data)
    # ------------------------------------------------------------ for the reader and writer

    def _block_locations(self, path: str) -> hdfs_pb2.GetBlockLocationsResponse:
        return self._call(self._namenode.GetBlockLocations, hdfs_pb2.GetBlockLocationsRequest(
            path=path, client_node_id=self.node_id))

    def _add_block(self, path: str, previous: hdfs_pb2.Block | None, excluded: set[str]) -> hdfs_pb2.LocatedBlock:
        request = hdfs_pb2.AddBlockRequest(path=path, client_name=self.client_name,
                                           excluded_datanode_uuids=sorted(excluded), favored_node_id=self.node_id)
        if previous is not None:
            request.previous.CopyFrom(previous)
            request.has_previous = True
        return self._call(self._namenode.AddBlock, request, idempotent=False).block

    def _abandon_block(self, path: str, block: hdfs_pb2.Block) -> None:
        self._call(self._namenode.AbandonBlock, hdfs_pb2.AbandonBlockRequest(
            path=path, client_name=self.client_name, block=block))

    def _complete(self, path: str, last: hdfs_pb2.Block | None) -> bool:
        request = hdfs_pb2.CompleteRequest(path=path, client_name=self.client_name)
        if last is not None:
            request.last.CopyFrom(last)
            request.has_last = True
        return self._call(self._namenode.Complete, request).completed

    def _report_bad_block(self, block: hdfs_pb2.Block, datanode_uuid: str) -> None:
        self._call(self._namenode.ReportBadBlocks, hdfs_pb2.ReportBadBlocksRequest(
            block=block, datanode_uuid=datanode_uuid, reason="checksum mismatch on read"))

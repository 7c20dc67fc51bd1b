"""The namespace half of `Client`: what Hadoop's ClientProtocol asks of the NameNode about paths.

`NamespaceCalls` is a mixin of `Client` (client.py): status, listings, globs and walks,
mkdirs, delete, rename, permissions, and where a file's blocks live. Every method is
one or a few NameNode calls through `Client._call`; none moves file bytes, except
`file_checksum`, which asks a DataNode per block for the digest of its checksums.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from emrlab_common.errors import EmrlabError
from emrlab_common.protos import hdfs_pb2
from emrlab_common.rpc import call
from hdfs.errors import FileNotFound
from hdfs.paths import has_glob
from hdfs.protocol import ContentSummary, FileStatus


@dataclass(frozen=True)
class BlockLocation:
    offset_bytes: int
    length_bytes: int
    hosts: tuple[str, ...]  # node ids holding a live replica, e.g. ("core-2", "core-1")


class NamespaceCalls:
    """Needs of its `Client`: `resolve`, `_call`, `_namenode`, `_datanode`, `_block_locations`, `config`, `user`."""

    def status(self, path: str) -> FileStatus:
        path = self.resolve(path)
        response = self._call(self._namenode.GetFileInfo, hdfs_pb2.GetFileInfoRequest(path=path))
        if not response.exists:
            raise FileNotFound(f"{path}: No such file or directory")
        return FileStatus.from_proto(response.status)

    def exists(self, path: str) -> bool:
        try:
            self.status(path)
            return True
        except FileNotFound:
            return False

    def list(self, path: str) -> list[FileStatus]:
        """A directory's entries sorted by name (a file lists as itself), fetched page by page."""
        path = self.resolve(path)
        entries, start_after = [], ""
        while True:
            response = self._call(self._namenode.GetListing, hdfs_pb2.GetListingRequest(path=path, start_after=start_after))
            entries += [FileStatus.from_proto(entry) for entry in response.entries]
            if not response.remaining_entries or not response.entries:
                return entries
            start_after = response.entries[-1].path.rsplit("/", 1)[-1]

    def glob(self, pattern: str) -> list[str]:
        """The existing paths that match `pattern`, sorted, as Hadoop's globStatus:
        `*`, `?` and `[...]` match within one path component. A pattern with no
        such characters matches itself if it exists."""
        pattern = self.resolve(pattern)
        candidates, listed = ["/"], True  # listed: every candidate came from a listing, so it exists
        for component in pattern.strip("/").split("/"):
            if not component:
                continue
            if not has_glob(component):
                candidates, listed = [f"{base.rstrip('/')}/{component}" for base in candidates], False
                continue
            matched = []
            for base in candidates:
                try:
                    entries = self.list(base)
                except FileNotFound:
                    continue
                matched += [entry.path for entry in entries  # a file lists as itself: it has no children
                            if entry.path != base and fnmatch.fnmatchcase(entry.path.rsplit("/", 1)[-1], component)]
            candidates, listed = matched, True
        return sorted(path for path in candidates if listed or self.exists(path))

    def walk(self, path: str) -> Iterator[tuple[FileStatus, list[FileStatus], list[FileStatus]]]:
        """Like os.walk: (directory, its subdirectories, its files), top down (a loop: no recursion on depth)."""
        top = self.status(path)
        if not top.is_directory:
            return
        pending = [top]
        while pending:
            directory = pending.pop()
            entries = self.list(directory.path)
            directories = [entry for entry in entries if entry.is_directory]
            yield directory, directories, [entry for entry in entries if not entry.is_directory]
            pending.extend(reversed(directories))

    def mkdirs(self, path: str, permission: int = 0o777, create_parent: bool = True) -> None:
        self._call(self._namenode.Mkdirs, hdfs_pb2.MkdirsRequest(
            path=self.resolve(path), permission=permission & ~self.config.umask, create_parent=create_parent))

    def delete(self, path: str, recursive: bool = False) -> None:
        self._call(self._namenode.Delete, hdfs_pb2.DeleteRequest(path=self.resolve(path), recursive=recursive),
                   idempotent=False)

    def rename(self, source: str, destination: str) -> str:
        """Move `source` to `destination` (into it, if it is a directory); returns the final path."""
        response = self._call(self._namenode.Rename, hdfs_pb2.RenameRequest(
            source=self.resolve(source), destination=self.resolve(destination)), idempotent=False)
        return response.final_path

    def set_replication(self, path: str, replication: int) -> str:
        """Returns a warning if the replication was capped by the number of live DataNodes."""
        response = self._call(self._namenode.SetReplication, hdfs_pb2.SetReplicationRequest(
            path=self.resolve(path), replication=replication))
        return response.warning

    def chmod(self, path: str, permission: int) -> None:
        self._call(self._namenode.SetPermission, hdfs_pb2.SetPermissionRequest(path=self.resolve(path), permission=permission))

    def chown(self, path: str, owner: str = "", group: str = "") -> None:
        self._call(self._namenode.SetOwner, hdfs_pb2.SetOwnerRequest(path=self.resolve(path), owner=owner, group=group))

    def content_summary(self, path: str) -> ContentSummary:
        response = self._call(self._namenode.GetContentSummary, hdfs_pb2.GetContentSummaryRequest(path=self.resolve(path)))
        return ContentSummary(response.length_bytes, response.file_count, response.directory_count,
                              response.space_consumed_bytes)

    def block_locations(self, path: str) -> list[BlockLocation]:
        """Where each block of a file lives: what MapReduce splits and schedules by."""
        response = self._block_locations(self.resolve(path))
        return [BlockLocation(block.offset_bytes, block.block.length_bytes,
                              tuple(location.node_id for location in block.locations))
                for block in response.blocks]

    def file_checksum(self, path: str) -> str:
        """MD5 of the blocks' MD5s of their chunk CRC32Cs, as `hdfs dfs -checksum` (MD5-of-MD5-of-CRC32C)."""
        block_digests = []
        for block in self._block_locations(self.resolve(path)).blocks:
            for location in block.locations:
                try:
                    with self._datanode(location.address) as stub:
                        response = call(stub.BlockChecksum,
                                        hdfs_pb2.BlockChecksumRequest(block=block.block, block_token=block.block_token),
                                        user=self.user, peer=location.node_id)
                    block_digests.append(response.md5_of_checksums)
                    break
                except EmrlabError:
                    continue
            else:
                raise FileNotFound(f"no replica of blk_{block.block.block_id} answered")
        return "MD5-of-MD5-of-CRC32C " + hashlib.md5(b"".join(block_digests)).hexdigest()

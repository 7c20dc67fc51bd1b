"""The file systems a job reads and writes: the local disk, or HDFS.

Tasks and committers see one small interface, so the same map task reads a
split from a local file (the `inline` and `local` runners) or from HDFS (the
`cluster` runner). `name` is what the FileSystemCounter names carry:
FILE_BYTES_READ for the local disk, HDFS_BYTES_READ for HDFS.

    fs = filesystem_for("hdfs:///data/in")         # HdfsFileSystem on the cluster
    fs = filesystem_for("/tmp/in")                 # LocalFileSystem
"""

from __future__ import annotations

import glob
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from emrlab_common.config import MiB
from emrlab_common.errors import AlreadyExists, NotFound

LOCAL_BLOCK_SIZE_BYTES = 32 * MiB  # fs.local.block.size, as Hadoop's local file system reports
HDFS_SCHEME = "hdfs://"
FILE_SCHEME = "file://"


@dataclass(frozen=True)
class PathStatus:
    path: str
    is_directory: bool
    length_bytes: int
    block_size_bytes: int
    modification_time_ms: int

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class BlockLocation:
    offset_bytes: int
    length_bytes: int
    hosts: tuple[str, ...]


class FileSystem(Protocol):
    name: str  # "FILE" or "HDFS"

    def open(self, path: str) -> BinaryIO: ...
    def create(self, path: str) -> BinaryIO: ...
    def exists(self, path: str) -> bool: ...
    def status(self, path: str) -> PathStatus: ...
    def list(self, path: str) -> list[PathStatus]: ...
    def glob(self, pattern: str) -> list[str]: ...
    def mkdirs(self, path: str) -> None: ...
    def delete(self, path: str, recursive: bool = False) -> None: ...
    def rename(self, source: str, destination: str) -> None: ...
    def block_locations(self, path: str) -> list[BlockLocation]: ...
    def join(self, directory: str, name: str) -> str: ...
    def close(self) -> None: ...


def strip_file_scheme(path: str) -> str:
    return path[len(FILE_SCHEME):] if path.startswith(FILE_SCHEME) else path


class LocalFileSystem:
    """The local disk. Paths are plain paths or file:// URIs."""

    name = "FILE"

    def __init__(self, block_size_bytes: int = LOCAL_BLOCK_SIZE_BYTES):
        self.block_size_bytes = block_size_bytes

    def open(self, path: str) -> BinaryIO:
        try:
            return open(strip_file_scheme(path), "rb")
        except FileNotFoundError:
            raise NotFound(f"{path}: No such file or directory") from None

    def create(self, path: str) -> BinaryIO:
        local = Path(strip_file_scheme(path))
        local.parent.mkdir(parents=True, exist_ok=True)
        try:
            return open(local, "xb")
        except FileExistsError:
            raise AlreadyExists(f"{path} already exists") from None

    def exists(self, path: str) -> bool:
        return os.path.exists(strip_file_scheme(path))

    def status(self, path: str) -> PathStatus:
        local = strip_file_scheme(path)
        try:
            stat = os.stat(local)
        except FileNotFoundError:
            raise NotFound(f"{path}: No such file or directory") from None
        is_directory = os.path.isdir(local)
        return PathStatus(local, is_directory, 0 if is_directory else stat.st_size, self.block_size_bytes,
                          int(stat.st_mtime * 1000))

    def list(self, path: str) -> list[PathStatus]:
        top = self.status(path)
        if not top.is_directory:
            return [top]
        return [self.status(os.path.join(top.path, name)) for name in sorted(os.listdir(top.path))]

    def glob(self, pattern: str) -> list[str]:
        return sorted(glob.glob(strip_file_scheme(pattern)))

    def mkdirs(self, path: str) -> None:
        os.makedirs(strip_file_scheme(path), exist_ok=True)

    def delete(self, path: str, recursive: bool = False) -> None:
        local = strip_file_scheme(path)
        if os.path.isdir(local) and not os.path.islink(local):
            if recursive:
                shutil.rmtree(local)
            else:
                os.rmdir(local)
        elif os.path.lexists(local):
            os.unlink(local)

    def rename(self, source: str, destination: str) -> None:
        source, destination = strip_file_scheme(source), strip_file_scheme(destination)
        if os.path.lexists(destination):
            raise AlreadyExists(f"cannot rename {source}: {destination} already exists")
        os.makedirs(os.path.dirname(destination) or ".", exist_ok=True)
        os.rename(source, destination)

    def block_locations(self, path: str) -> list[BlockLocation]:
        length = self.status(path).length_bytes
        return [BlockLocation(offset, min(self.block_size_bytes, length - offset), ("localhost",))
                for offset in range(0, length, self.block_size_bytes)]

    def join(self, directory: str, name: str) -> str:
        return os.path.join(strip_file_scheme(directory), name)

    def close(self) -> None:
        pass


class HdfsFileSystem:
    """HDFS through `hdfs.Client`; paths are hdfs:///a/b or absolute /a/b."""

    name = "HDFS"

    def __init__(self, client):
        self.client = client

    def open(self, path: str) -> BinaryIO:
        import io

        return io.BufferedReader(self.client.open(path), buffer_size=1 * MiB)

    def create(self, path: str) -> BinaryIO:
        return self.client.create(path)

    def exists(self, path: str) -> bool:
        return self.client.exists(path)

    def status(self, path: str) -> PathStatus:
        return _from_hdfs(self.client.status(path))

    def list(self, path: str) -> list[PathStatus]:
        return [_from_hdfs(status) for status in self.client.list(path)]

    def glob(self, pattern: str) -> list[str]:
        return ["hdfs://" + path for path in self.client.glob(pattern)]

    def mkdirs(self, path: str) -> None:
        self.client.mkdirs(path)

    def delete(self, path: str, recursive: bool = False) -> None:
        if self.client.exists(path):
            self.client.delete(path, recursive=recursive)

    def rename(self, source: str, destination: str) -> None:
        # HDFS renames *into* an existing directory; a committer needs "refuse" instead.
        if self.client.exists(destination):
            raise AlreadyExists(f"cannot rename {source}: {destination} already exists")
        self.client.mkdirs(destination.rstrip("/").rsplit("/", 1)[0] or "/")
        self.client.rename(source, destination)

    def block_locations(self, path: str) -> list[BlockLocation]:
        return [BlockLocation(block.offset_bytes, block.length_bytes, tuple(block.hosts))
                for block in self.client.block_locations(path)]

    def join(self, directory: str, name: str) -> str:
        return directory.rstrip("/") + "/" + name

    def close(self) -> None:
        self.client.close()


def _from_hdfs(status) -> PathStatus:
    # As a URI, so that whoever gets this path (a split, in another process) knows it is in HDFS.
    return PathStatus("hdfs://" + status.path, status.is_directory, status.length_bytes, status.block_size_bytes,
                      status.modification_time_ms)


def is_hdfs(uri: str) -> bool:
    return uri.startswith(HDFS_SCHEME)


def same_kind(fs, uri: str) -> bool:
    """Whether `fs` is the file system `uri` lives in."""
    return (fs.name == "HDFS") == is_hdfs(uri)


def filesystem_for(uri: str, cluster_dir=None, properties: dict[str, str] | None = None) -> FileSystem:
    """LocalFileSystem for a local path or file:// URI, HdfsFileSystem for hdfs://."""
    if is_hdfs(uri):
        from hdfs import Client

        return HdfsFileSystem(Client.for_cluster(cluster_dir, properties=properties))
    if "://" in uri and not uri.startswith(FILE_SCHEME):
        raise NotFound(f"{uri}: unknown file system (use a local path, file:// or hdfs://)")
    return LocalFileSystem()

"""Copying bytes between the local disk and HDFS, or within HDFS: -get, -put, -appendToFile, -cp.

Hadoop's CopyCommands. A -put goes through the client's write pipeline (so it
can warn about too few DataNodes), a -get reads block by block from the nearest
replica; both show a progress line for files of PROGRESS_MIN_BYTES or more.
"""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path

from emrlab_common.errors import InvalidArgument
from emrlab_common.progress import ProgressLine
from hdfs import Client
from hdfs.cli.dfs.common import PROGRESS_MIN_BYTES, UsageError, each, require, take_flags
from hdfs.errors import FileAlreadyExists, FileNotFound
from hdfs.protocol import FileStatus


def get(client: Client, arguments: list[str]) -> int:
    flags, operands = take_flags(arguments, "fpc")
    require(operands, 1)
    sources, named = (operands[:-1], operands[-1]) if len(operands) > 1 else (operands, ".")
    destination = Path(named)
    if len(sources) > 1 and not destination.is_dir():
        raise UsageError(f"`{named}': Is not a directory")
    # As FsShell: a destination that names a directory (a trailing /) or lies in a missing one is not created.
    if not destination.is_dir() and (named.endswith("/") or not destination.parent.is_dir()):
        raise FileNotFound(f"`{named}': No such file or directory")

    def get_one(source: str) -> None:
        status = client.status(source)
        target = destination / status.name if destination.is_dir() else destination
        _download_tree(client, status, target, overwrite="f" in flags)

    return each(sources, get_one, "get", client)


def _download_tree(client: Client, status: FileStatus, target: Path, overwrite: bool) -> None:
    if status.is_directory:
        target.mkdir(exist_ok=True)
        for entry in client.list(status.path):
            _download_tree(client, entry, target / entry.name, overwrite)
        return
    if target.exists() and not overwrite:
        raise FileAlreadyExists(f"`{target}': File exists")
    with ProgressLine(f"get {status.name}", status.length_bytes, enabled=None if status.length_bytes >= PROGRESS_MIN_BYTES else False) as progress:
        client.download(status.path, target, progress=progress.advance)


# ---------------------------------------------------------------- writing

def put(client: Client, arguments: list[str], on_warning=None) -> int:
    flags, operands = take_flags(arguments, "fpdl")
    require(operands, 1)
    sources, destination = (operands[:-1], operands[-1]) if len(operands) > 1 else (operands, ".")
    destination_is_directory = client.exists(destination) and client.status(destination).is_directory
    if len(sources) > 1 and not destination_is_directory:
        raise UsageError(f"`{client.resolve(destination)}': Is not a directory")

    def put_one(source: str) -> None:
        if source == "-":
            with client.create(destination, overwrite="f" in flags, on_warning=on_warning) as target:
                while chunk := sys.stdin.buffer.read(1 << 20):
                    target.write(chunk)
            return
        local = Path(source)
        if not local.exists():
            raise FileNotFound(f"`{source}': No such file or directory")
        target = f"{client.resolve(destination)}/{local.name}" if destination_is_directory else destination
        _upload_tree(client, local, target, overwrite="f" in flags, on_warning=on_warning)

    return each(sources, put_one, "put")


def append_to_file(client: Client, arguments: list[str]) -> int:
    """Hadoop's -appendToFile: local files (or - for stdin) appended in order; the file is made if missing."""
    require(arguments, 2)
    sources, destination = arguments[:-1], arguments[-1]
    for source in sources:
        if source != "-" and not Path(source).is_file():
            raise FileNotFound(f"`{source}': No such file or directory")
    with (client.append(destination) if client.exists(destination) else client.create(destination)) as target:
        for source in sources:
            with (open(source, "rb") if source != "-" else nullcontext(sys.stdin.buffer)) as stream:
                while chunk := stream.read(1 << 20):
                    target.write(chunk)
    return 0


def _upload_tree(client: Client, local: Path, target: str, overwrite: bool, on_warning) -> None:
    if local.is_dir():
        client.mkdirs(target)
        for child in sorted(local.iterdir()):
            _upload_tree(client, child, f"{client.resolve(target)}/{child.name}", overwrite, on_warning)
        return
    if not overwrite and client.exists(target):
        raise FileAlreadyExists(f"`{client.resolve(target)}': File exists")
    parent = client.resolve(target).rsplit("/", 1)[0] or "/"
    if not client.exists(parent):
        raise FileNotFound(f"`{parent}': No such file or directory")
    size = local.stat().st_size
    with ProgressLine(f"put {local.name}", size, enabled=None if size >= PROGRESS_MIN_BYTES else False) as progress:
        client.upload(local, target, overwrite=overwrite, progress=progress.advance, on_warning=on_warning)


def cp(client: Client, arguments: list[str]) -> int:
    flags, operands = take_flags(arguments, "fpd")
    require(operands, 2)
    sources, destination = operands[:-1], operands[-1]
    into_directory = client.exists(destination) and client.status(destination).is_directory

    def copy(status: FileStatus, target: str) -> None:
        if status.is_directory:
            client.mkdirs(target)
            for entry in client.list(status.path):
                copy(entry, f"{target}/{entry.name}")
            return
        if client.exists(target) and "f" not in flags:
            raise FileAlreadyExists(f"`{client.resolve(target)}': File exists")
        with client.open(status.path) as source, client.create(target, overwrite=True) as sink:
            for chunk in source.chunks():
                sink.write(chunk)

    def cp_one(source: str) -> None:
        status = client.status(source)
        target = f"{client.resolve(destination)}/{status.name}" if into_directory else client.resolve(destination)
        if status.is_directory and target.startswith(status.path + "/"):
            raise InvalidArgument(f"`{target}': is a subdirectory of itself")
        copy(status, target)

    return each(sources, cp_one, "cp", client)

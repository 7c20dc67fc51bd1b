"""Changing names in the namespace: -mkdir, -touchz, -rm, -rmdir and -mv.

Hadoop's Mkdir, Touch, Delete and MoveCommands. Each is one NameNode call per
path (mkdirs, create, delete, rename): no file data moves.
"""

from __future__ import annotations

from emrlab_common.errors import InvalidArgument
from hdfs import Client
from hdfs.cli.dfs.common import UsageError, each, require, take_flags
from hdfs.errors import FileAlreadyExists, FileNotFound, PathIsDirectory


def mkdir(client: Client, arguments: list[str]) -> int:
    flags, operands = take_flags(arguments, "p")
    require(operands, 1)

    def mkdir_one(path: str) -> None:
        if "p" not in flags and client.exists(path):
            raise FileAlreadyExists(f"`{client.resolve(path)}': File exists")
        client.mkdirs(path, create_parent="p" in flags)

    return each(operands, mkdir_one, "mkdir")


def touchz(client: Client, arguments: list[str]) -> int:
    require(arguments, 1)

    def touch_one(path: str) -> None:
        if client.exists(path):
            status = client.status(path)
            if status.is_directory or status.length_bytes:
                raise FileAlreadyExists(f"`{status.path}': Not a zero-length file")
            return
        client.write_bytes(path, b"")

    return each(arguments, touch_one, "touchz")


def rm(client: Client, arguments: list[str]) -> int:
    flags, operands = take_flags(arguments, "frR")
    operands = [operand for operand in operands if operand != "-skipTrash"]
    require(operands, 1)

    def rm_one(path: str) -> None:
        try:
            status = client.status(path)
        except FileNotFound:
            if "f" in flags:
                return
            raise FileNotFound(f"`{client.resolve(path)}': No such file or directory") from None
        if status.is_directory and not flags & {"r", "R"}:
            raise PathIsDirectory(f"`{status.path}': Is a directory")
        client.delete(path, recursive=True)
        print(f"Deleted {status.path}")

    return each(operands, rm_one, "rm", client)


def rmdir(client: Client, arguments: list[str]) -> int:
    require(arguments, 1)

    def rmdir_one(path: str) -> None:
        if not client.status(path).is_directory:
            raise InvalidArgument(f"`{client.resolve(path)}': Is not a directory")
        client.delete(path, recursive=False)

    return each(arguments, rmdir_one, "rmdir", client)


def mv(client: Client, arguments: list[str]) -> int:
    require(arguments, 2)
    sources, destination = arguments[:-1], arguments[-1]
    if len(sources) > 1 and not (client.exists(destination) and client.status(destination).is_directory):
        raise UsageError(f"`{client.resolve(destination)}': Is not a directory")
    return each(sources, lambda source: client.rename(source, destination), "mv", client)

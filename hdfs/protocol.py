"""Plain records shared by the NameNode and its clients, and their proto forms.

The `.proto` messages are the wire; these frozen dataclasses are what Python
code on either side passes around. One place converts between the two.
"""

from __future__ import annotations

from dataclasses import dataclass

from emrlab_common.protos import hdfs_pb2


STICKY_BIT = 0o1000


def mode_string(permission: int, is_directory: bool) -> str:
    """`drwxr-xr-x` as `ls` prints it, with `t`/`T` for the sticky bit."""
    letters = []
    for shift in (6, 3, 0):
        bits = permission >> shift
        letters += ["r" if bits & 4 else "-", "w" if bits & 2 else "-", "x" if bits & 1 else "-"]
    if permission & STICKY_BIT:
        letters[-1] = "t" if letters[-1] == "x" else "T"
    return ("d" if is_directory else "-") + "".join(letters)


@dataclass(frozen=True)
class FileStatus:
    path: str
    is_directory: bool
    length_bytes: int
    replication: int
    block_size_bytes: int
    owner: str
    group: str
    permission: int
    modification_time_ms: int
    access_time_ms: int = 0
    children_count: int = 0
    under_construction: bool = False

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1] or "/"

    def mode_string(self) -> str:
        return mode_string(self.permission, self.is_directory)

    def to_proto(self) -> hdfs_pb2.FileStatus:
        return hdfs_pb2.FileStatus(
            path=self.path, is_directory=self.is_directory, length_bytes=self.length_bytes,
            replication=self.replication, block_size_bytes=self.block_size_bytes, owner=self.owner,
            group=self.group, permission=self.permission, modification_time_ms=self.modification_time_ms,
            access_time_ms=self.access_time_ms, children_count=self.children_count,
            under_construction=self.under_construction,
        )

    @classmethod
    def from_proto(cls, message: hdfs_pb2.FileStatus) -> FileStatus:
        return cls(
            message.path, message.is_directory, message.length_bytes, message.replication,
            message.block_size_bytes, message.owner, message.group, message.permission,
            message.modification_time_ms, message.access_time_ms, message.children_count,
            message.under_construction,
        )


@dataclass(frozen=True)
class ContentSummary:
    length_bytes: int
    file_count: int
    directory_count: int
    space_consumed_bytes: int

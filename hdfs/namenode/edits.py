"""Edits: the namespace changes that go into the edit log, one record each.

Every change to the namespace is made by building one of these records and
applying it (`Namespace.apply`). The same `apply` replays the edit log at
start, so what a restarted NameNode rebuilds is, by construction, what it had.
Records are plain frozen dataclasses; on disk they are msgpack arrays
`[tag, field, field, ...]` with the tags below (never reuse or renumber one).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import msgpack


@dataclass(frozen=True)
class Mkdir:
    path: str
    owner: str
    group: str
    permission: int
    time_ms: int


@dataclass(frozen=True)
class AddFile:
    """A new file, under construction, leased to `client_name`."""

    path: str
    owner: str
    group: str
    permission: int
    replication: int
    block_size_bytes: int
    time_ms: int
    client_name: str


@dataclass(frozen=True)
class AddBlock:
    """The next block of a file being written; `previous_length` commits the one before (-1: none)."""

    path: str
    block_id: int
    generation_stamp: int
    previous_length: int


@dataclass(frozen=True)
class AbandonBlock:
    path: str
    block_id: int


@dataclass(frozen=True)
class CloseFile:
    """The writer is done (or its lease was recovered): the last block gets its final length."""

    path: str
    time_ms: int
    last_block_length: int  # -1: the file has no blocks


@dataclass(frozen=True)
class UpdateBlock:
    """Block recovery agreed on a new generation stamp and length for a file's last block."""

    path: str
    block_id: int
    generation_stamp: int
    length_bytes: int


@dataclass(frozen=True)
class Rename:
    source: str
    destination: str
    time_ms: int


@dataclass(frozen=True)
class Delete:
    path: str
    time_ms: int


@dataclass(frozen=True)
class SetReplication:
    path: str
    replication: int


@dataclass(frozen=True)
class SetPermission:
    path: str
    permission: int


@dataclass(frozen=True)
class SetOwner:
    path: str
    owner: str  # "" = unchanged
    group: str  # "" = unchanged


@dataclass(frozen=True)
class ReopenFile:
    """Append: a closed file is under construction again, leased to `client_name`; new bytes go in new blocks."""

    path: str
    time_ms: int
    client_name: str


@dataclass(frozen=True)
class SetTimes:
    path: str
    modification_time_ms: int  # -1 = unchanged


@dataclass(frozen=True)
class SetGenerationStamp:
    """Lease recovery took a new generation stamp (Hadoop's OP_SET_GENSTAMP_V2): a restart must not hand it out again."""

    generation_stamp: int


Edit = (Mkdir | AddFile | AddBlock | AbandonBlock | CloseFile | UpdateBlock | Rename | Delete | SetReplication
        | SetPermission | SetOwner | ReopenFile | SetTimes | SetGenerationStamp)

TAGS: dict[type, int] = {
    Mkdir: 1,
    AddFile: 2,
    AddBlock: 3,
    AbandonBlock: 4,
    CloseFile: 5,
    UpdateBlock: 6,
    Rename: 7,
    Delete: 8,
    SetReplication: 9,
    SetPermission: 10,
    SetOwner: 11,
    ReopenFile: 12,
    SetTimes: 13,
    SetGenerationStamp: 14,
}
TYPES_BY_TAG: dict[int, type] = {tag: edit_type for edit_type, tag in TAGS.items()}


def encode(edit: Edit) -> bytes:
    return msgpack.packb([TAGS[type(edit)], *dataclasses.astuple(edit)])


def decode(payload: bytes) -> Edit:
    tag, *values = msgpack.unpackb(payload)
    return TYPES_BY_TAG[tag](*values)

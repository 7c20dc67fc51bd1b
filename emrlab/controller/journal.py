"""The controller's journal: every edit on disk, fsync'd, before anyone hears "ok".

Like the NameNode's edit log (hdfs/namenode/editlog.py), but for a state that
stays small (one cluster: a few groups, tens of instances, hundreds of steps),
so there is one file and no image:

    <cluster dir>/controller/journal     records: length, crc32c, msgpack [tag, {field: value}]

At start every record is decoded and replayed through `ControllerState.apply`.
A torn record at the very end (a crash in the middle of an append, never
acknowledged) is cut off; damage anywhere else refuses to start.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import os
import struct
import types
import typing
from pathlib import Path

import msgpack
from crc32c import crc32c

from emrlab.controller import messages
from emrlab_common.durability import fsync_directory

logger = logging.getLogger(__name__)

RECORD_HEADER = struct.Struct(">II")  # payload length, crc32c of payload
RECORD_BYTES_MAX = 16 << 20

# Tags on disk are these class names; never rename one without keeping its old name here.
EDIT_TYPES: dict[str, type] = {cls.__name__: cls for cls in (
    messages.ClusterCreated, messages.ClusterStateChanged, messages.GroupChanged, messages.InstanceAdded,
    messages.InstanceChanged, messages.StepAdded, messages.StepChanged, messages.ProtectionChanged,
    messages.StoppedChanged, messages.IdleSince, messages.SpotNoticed, messages.ScalingPolicyChanged,
)}


class JournalError(Exception):
    """The journal is damaged beyond a torn last record: refuse to start."""


# ---------------------------------------------------------------- values <-> plain data

def to_plain(value):
    """Dataclasses, enums and tuples as msgpack-able dicts, strings and lists."""
    if dataclasses.is_dataclass(value):
        return {field.name: to_plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (tuple, list)):
        return [to_plain(item) for item in value]
    return value


def from_plain(kind, value):
    """The inverse of `to_plain`, guided by `kind` (a type hint)."""
    if value is None:
        return None
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [option for option in typing.get_args(kind) if option is not type(None)]
        return from_plain(options[0], value)
    if origin is tuple:
        item_kind = typing.get_args(kind)[0]
        return tuple(from_plain(item_kind, item) for item in value)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind(value)
    if dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        known = {field.name for field in dataclasses.fields(kind)}
        return kind(**{name: from_plain(hints[name], item) for name, item in value.items() if name in known})
    if kind is float and isinstance(value, int):
        return float(value)
    return value


def encode(edit) -> bytes:
    return msgpack.packb([type(edit).__name__, to_plain(edit)])


def decode(payload: bytes):
    tag, fields = msgpack.unpackb(payload)
    return from_plain(EDIT_TYPES[tag], fields)


# ---------------------------------------------------------------- the file

class Journal:
    def __init__(self, directory: Path):
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)  # the controller's own: no container reads the journal
        self.path = directory / "journal"
        self.records_written = 0
        self._file = None

    def load(self, replay) -> int:
        """Replay every record (`replay(edit)`); return how many there were. Opens the journal for appends."""
        data = self.path.read_bytes() if self.path.exists() else b""
        count, position = 0, 0
        for position, edit in _records(data):
            replay(edit)
            count += 1
        if position < len(data):
            if self._has_record_after(data, position):
                raise JournalError(f"{self.path} is corrupt at byte {position}")
            logger.warning("cutting a torn record off the end of %s at byte %d (it was never acknowledged)",
                           self.path, position)
            with open(self.path, "r+b") as file:
                file.truncate(position)
                os.fsync(file.fileno())
        self.records_written = count
        self._file = open(self.path, "ab")
        fsync_directory(self.path.parent)
        logger.info("journal: replayed %d record(s) from %s", count, self.path)
        return count

    @staticmethod
    def _has_record_after(data: bytes, position: int) -> bool:
        """A valid record beyond a bad one means damage, not a torn tail."""
        for start in range(position + 1, len(data) - RECORD_HEADER.size + 1):
            length, checksum = RECORD_HEADER.unpack_from(data, start)
            end = start + RECORD_HEADER.size + length
            if 0 < length <= RECORD_BYTES_MAX and end <= len(data) and crc32c(data[start + RECORD_HEADER.size:end]) == checksum:
                return True
        return False

    def append(self, edits: list) -> None:
        """Write and fsync `edits`; return only when they are durable."""
        if not edits:
            return
        assert self._file is not None, "load() the journal before appending"
        chunks = []
        for edit in edits:
            payload = encode(edit)
            assert len(payload) <= RECORD_BYTES_MAX, f"edit too large: {type(edit).__name__}"
            chunks.append(RECORD_HEADER.pack(len(payload), crc32c(payload)) + payload)
        self._file.write(b"".join(chunks))
        self._file.flush()
        os.fsync(self._file.fileno())
        self.records_written += len(edits)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _records(data: bytes):
    """(end of record, edit) for each whole, intact record from the start; stops at the first bad one."""
    position = 0
    while position + RECORD_HEADER.size <= len(data):
        length, checksum = RECORD_HEADER.unpack_from(data, position)
        payload = data[position + RECORD_HEADER.size:position + RECORD_HEADER.size + length]
        if len(payload) != length or crc32c(payload) != checksum:
            return
        position += RECORD_HEADER.size + length
        yield position, decode(payload)


def read_state(directory: Path, replication: int = 1):
    """The state a journal holds, read without opening it for writing (describe after termination)."""
    from emrlab.controller.state import ControllerState

    state = ControllerState(replication)
    path = directory / "journal"
    for _, edit in _records(path.read_bytes() if path.exists() else b""):
        state.apply(edit)
    return state

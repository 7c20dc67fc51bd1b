"""The NameNode's durable storage: an edit log, and images that fold it up.

The namespace is "very precious" (Hadoop's words): every change is appended
to the edit log and fsync'd before the client hears "ok". Appends happen
under the namesystem lock (so log order is apply order); `sync` happens after
the lock is released, and one fsync covers every edit appended before it, so
concurrent clients share the cost (group commit, as in Hadoop's FSEditLog).

    <namenode dir>/current/fsimage_<txid>             the namespace as of txid
    <namenode dir>/current/edits_<first>-<last>       a finished log segment
    <namenode dir>/current/edits_inprogress_<first>   the segment being written

A record is `length, crc32c, txid, msgpack edit`. At start, the newest image
is loaded and every later edit replayed; a torn record at the very end (a
crash in the middle of an append, never acknowledged) is cut off. A checkpoint
writes a new image (to a temporary name, then renamed), starts a new segment,
and removes images and segments older than the retained ones.
"""

from __future__ import annotations

import logging
import os
import re
import struct
import threading
from pathlib import Path

import msgpack
from crc32c import crc32c

from emrlab_common.durability import fsync_directory, write_durably
from hdfs.namenode import edits

logger = logging.getLogger(__name__)

RECORD_HEADER = struct.Struct(">IIQ")  # payload length, crc32c of txid+payload, txid
IMAGE_VERSION = 1
_SEGMENT = re.compile(r"^edits_(\d+)-(\d+)$")
_IN_PROGRESS = re.compile(r"^edits_inprogress_(\d+)$")
_IMAGE = re.compile(r"^fsimage_(\d+)$")


class StorageError(Exception):
    """The name directory is damaged beyond a torn last record: refuse to start."""


class EditLog:
    def __init__(self, directory: Path):
        self.directory = directory / "current"
        self.directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)  # the namespace is the NameNode's alone: no container reads the image or edits
        self.last_written_txid = 0
        self.last_synced_txid = 0
        self.segment_first_txid = 0
        self.last_checkpoint_txid = 0
        self._file = None
        self._buffer = bytearray()
        self._buffer_lock = threading.Lock()
        self._sync_lock = threading.Lock()

    # ------------------------------------------------------------ start

    def load(self, load_image, replay) -> int:
        """Load the newest image (`load_image(dict)`), replay later edits (`replay(edit)`); return the last txid."""
        images = sorted((int(m.group(1)), path) for path in self.directory.iterdir() if (m := _IMAGE.match(path.name)))
        txid = 0
        if images:
            txid, path = images[-1]
            data = path.read_bytes()
            if crc32c(data[4:]) != int.from_bytes(data[:4], "big"):
                raise StorageError(f"{path} is corrupt (checksum mismatch)")
            load_image(msgpack.unpackb(data[4:], strict_map_key=False))
            logger.info("loaded image %s (txid %d)", path.name, txid)
        self.last_checkpoint_txid = txid
        segments = self._segments()
        for index, (first, path) in enumerate(segments):
            is_last = index == len(segments) - 1
            for record_txid, edit in self._read_segment(path, truncate_torn_tail=is_last):
                if record_txid <= txid:
                    continue
                if record_txid != txid + 1:
                    raise StorageError(f"edit log gap: expected txid {txid + 1}, found {record_txid} in {path.name}")
                replay(edit)
                txid = record_txid
        logger.info("replayed edits up to txid %d", txid)
        self.last_written_txid = self.last_synced_txid = txid
        self._finish_segments()
        self._open_segment(txid + 1)
        return txid

    def _segments(self) -> list[tuple[int, Path]]:
        found = []
        for path in self.directory.iterdir():
            match = _SEGMENT.match(path.name) or _IN_PROGRESS.match(path.name)
            if match:
                found.append((int(match.group(1)), path))
        return sorted(found)

    def _read_segment(self, path: Path, truncate_torn_tail: bool):
        data = path.read_bytes()
        position = 0
        while position < len(data):
            header_end = position + RECORD_HEADER.size
            if header_end <= len(data):
                length, checksum, txid = RECORD_HEADER.unpack_from(data, position)
                body = data[position + 8:header_end + length]
                if header_end + length <= len(data) and crc32c(body) == checksum:
                    yield txid, edits.decode(data[header_end:header_end + length])
                    position = header_end + length
                    continue
            if not truncate_torn_tail:
                raise StorageError(f"{path.name} is corrupt at byte {position}")
            logger.warning("cutting a torn record off the end of %s at byte %d (it was never acknowledged)", path.name, position)
            with open(path, "r+b") as file:
                file.truncate(position)
                os.fsync(file.fileno())
            return

    def _finish_segments(self) -> None:
        """Give in-progress segments left by a crash their final names (or drop empty ones)."""
        for first, path in self._segments():
            if not _IN_PROGRESS.match(path.name):
                continue
            records = list(self._read_segment(path, truncate_torn_tail=True))
            if records:
                path.rename(self.directory / f"edits_{first}-{records[-1][0]}")
            else:
                path.unlink()

    def _open_segment(self, first_txid: int) -> None:
        self.segment_first_txid = first_txid
        self._file = open(self.directory / f"edits_inprogress_{first_txid}", "ab")
        fsync_directory(self.directory)

    # ------------------------------------------------------------ logging

    def append(self, edit) -> int:
        """Buffer one edit (call under the namesystem lock); it is durable after `sync`."""
        payload = edits.encode(edit)
        with self._buffer_lock:
            self.last_written_txid += 1
            txid_bytes = self.last_written_txid.to_bytes(8, "big")
            header = RECORD_HEADER.pack(len(payload), crc32c(txid_bytes + payload), self.last_written_txid)
            self._buffer += header + payload
            return self.last_written_txid

    def sync(self, txid: int) -> None:
        """Return once every edit up to `txid` is on disk; one fsync serves all waiting callers."""
        if self.last_synced_txid >= txid:
            return
        with self._sync_lock:
            if self.last_synced_txid >= txid:
                return
            with self._buffer_lock:
                data, self._buffer = bytes(self._buffer), bytearray()
                batch_last_txid = self.last_written_txid
            self._file.write(data)
            self._file.flush()
            os.fsync(self._file.fileno())
            self.last_synced_txid = batch_last_txid

    # ------------------------------------------------------------ checkpoints

    def checkpoint(self, image: dict, retained: int) -> None:
        """Save `image` (taken at `last_written_txid`, under the namesystem lock) and roll the log."""
        txid = self.last_written_txid
        self.sync(txid)
        payload = msgpack.packb({**image, "version": IMAGE_VERSION, "txid": txid})
        write_durably(self.directory / f"fsimage_{txid}", crc32c(payload).to_bytes(4, "big") + payload)
        self._roll()
        self.last_checkpoint_txid = txid
        self._purge(retained)
        logger.info("checkpoint: saved fsimage_%d", txid)

    def _roll(self) -> None:
        with self._sync_lock:
            self._file.close()
            in_progress = self.directory / f"edits_inprogress_{self.segment_first_txid}"
            if self.last_written_txid >= self.segment_first_txid:
                in_progress.rename(self.directory / f"edits_{self.segment_first_txid}-{self.last_written_txid}")
            else:
                in_progress.unlink()
            self._open_segment(self.last_written_txid + 1)

    def _purge(self, retained: int) -> None:
        images = sorted(int(m.group(1)) for path in self.directory.iterdir() if (m := _IMAGE.match(path.name)))
        keep_from = images[-retained:][0] if images else 0
        for txid in images:
            if txid < keep_from:
                (self.directory / f"fsimage_{txid}").unlink()
        for path in self.directory.iterdir():
            match = _SEGMENT.match(path.name)
            if match and int(match.group(2)) <= keep_from:
                path.unlink()

    @property
    def transactions_since_checkpoint(self) -> int:
        return self.last_written_txid - self.last_checkpoint_txid

    def close(self) -> None:
        if self._file is not None:
            self.sync(self.last_written_txid)
            self._file.close()
            self._file = None

"""The block scanner: finds corruption that no reader has touched yet.

Bits rot on disks that nobody reads. The scanner re-reads every finalized
replica once per `dfs.datanode.scan.period.hours`, checking each chunk against
its stored checksum, at no more than `dfs.block.scanner.volume.bytes.per.second`
so it never competes with real work. A replica that fails is told to the
state machine (`BadReplicaFound`), which reports it to the NameNode; that
copies a good replica elsewhere and then deletes the bad one.
"""

from __future__ import annotations

import logging
import threading
import time

from hdfs import checksum
from hdfs.datanode.events import BadReplicaFound
from hdfs.datanode.node import DataNode, block_message
from hdfs.datanode.storage import Replica, ReplicaState
from hdfs.errors import ChecksumMismatch

logger = logging.getLogger(__name__)

IDLE_POLL_S = 1.0
READ_BYTES = 1 << 20


def replica_is_intact(replica: Replica, bytes_per_checksum: int, throttle=None) -> bool:
    """Re-read a replica and compare every chunk with its stored checksum."""
    chunk_group = max(1, READ_BYTES // bytes_per_checksum)
    try:
        with open(replica.block_path, "rb") as block_file, open(replica.meta_path, "rb") as meta_file:
            meta_file.seek(checksum.META_HEADER.size)
            total = 0
            while data := block_file.read(chunk_group * bytes_per_checksum):
                expected = meta_file.read(((len(data) + bytes_per_checksum - 1) // bytes_per_checksum) * checksum.CHECKSUM_BYTES)
                if checksum.first_mismatch(data, expected, bytes_per_checksum) is not None:
                    return False
                total += len(data)
                if throttle:
                    throttle(len(data))
            return total == replica.length_bytes and not meta_file.read(1)
    except OSError:
        return False


class BlockScanner:
    def __init__(self, datanode: DataNode):
        self.datanode = datanode
        self.last_scanned_s: dict[int, float] = {}

    def run(self, stop: threading.Event) -> None:
        period_s = self.datanode.config.scan_period_s
        if period_s <= 0:
            return
        while not stop.is_set():
            due = self._next_due(period_s)
            if due is None:
                stop.wait(IDLE_POLL_S)
                continue
            try:
                self._scan(due, stop)
            except OSError:  # one unreadable replica must not end the scanner: report it and go on with the rest
                logger.exception("scanning %s failed; reporting it as corrupt", due)
                self.last_scanned_s[due.block_id] = time.monotonic()
                self.datanode.tell(BadReplicaFound(block_message(due), "the block scanner (unreadable)"))

    def _next_due(self, period_s: float) -> Replica | None:
        now = time.monotonic()
        finalized = [replica for replica in self.datanode.storage.all_replicas() if replica.state is ReplicaState.FINALIZED]
        due = [replica for replica in finalized if now - self.last_scanned_s.get(replica.block_id, -period_s) >= period_s]
        return min(due, key=lambda replica: self.last_scanned_s.get(replica.block_id, 0.0), default=None)

    def _scan(self, replica: Replica, stop: threading.Event) -> None:
        rate = self.datanode.config.scan_bytes_per_second

        def throttle(bytes_read: int) -> None:
            stop.wait(bytes_read / rate)

        self.last_scanned_s[replica.block_id] = time.monotonic()
        stamp = replica.generation_stamp  # a recovery changes a replica in place: then this scan says nothing
        try:
            bytes_per_checksum = self.datanode.storage.read_bytes_per_checksum(replica)
        except (OSError, ChecksumMismatch):
            bytes_per_checksum = 0
        if not self._unchanged(replica, stamp):
            return  # deleted, replaced or recovered while we were looking
        intact = bytes_per_checksum > 0 and replica_is_intact(replica, bytes_per_checksum, throttle)
        if not intact and self._unchanged(replica, stamp):
            self.datanode.tell(BadReplicaFound(block_message(replica), "the block scanner"))

    def _unchanged(self, replica: Replica, stamp: int) -> bool:
        return (self.datanode.storage.get(replica.block_id) is replica and replica.state is ReplicaState.FINALIZED
                and replica.generation_stamp == stamp)

"""The directory scanner: what is on disk against what the DataNode believes it holds.

Hadoop's DirectoryScanner, every `dfs.datanode.directoryscan.interval`. Files
go missing or change behind the DataNode's back (a disk error, an operator's
`rm`, a student's experiment); without this, the NameNode would go on
counting a replica that is gone, and fsck would say HEALTHY. Each difference
is reported the way the NameNode already understands:

  - a finalized replica whose block or `.meta` file is gone: forgotten, and
    reported deleted (the NameNode copies the block from another replica);
  - a replica whose block file is not its length, or whose `.meta` file does
    not hold one checksum per chunk: reported corrupt (it is copied, then
    this one is deleted);
  - a finalized replica on disk the DataNode did not know: adopted, and
    reported received (the NameNode deletes it if no file wants it).

Replicas being written are left alone: their files grow while we look.
"""

from __future__ import annotations

import enum
import logging
import threading
from dataclasses import dataclass

from hdfs import checksum
from hdfs.datanode.storage import Replica, ReplicaState, Storage
from hdfs.errors import ChecksumMismatch

logger = logging.getLogger(__name__)


class Difference(enum.Enum):
    MISSING = "missing on disk"
    DAMAGED = "length or checksums differ on disk"
    UNKNOWN = "on disk, not in memory"


@dataclass(frozen=True)
class Finding:
    replica: Replica
    difference: Difference
    detail: str


def damage_of(replica: Replica) -> str:
    """Why a finalized replica's files do not match what the DataNode believes, or ""."""
    try:
        block_bytes = replica.block_path.stat().st_size
        meta_bytes = replica.meta_path.stat().st_size
        with open(replica.meta_path, "rb") as meta:
            bytes_per_checksum = checksum.parse_meta_header(meta.read(checksum.META_HEADER.size))
    except FileNotFoundError as error:
        return f"missing file {error.filename}"
    except (OSError, ChecksumMismatch) as error:
        return str(error)
    if block_bytes != replica.length_bytes:
        return f"block file is {block_bytes} bytes, the replica {replica.length_bytes}"
    chunks = (block_bytes + bytes_per_checksum - 1) // bytes_per_checksum
    if meta_bytes != checksum.META_HEADER.size + chunks * checksum.CHECKSUM_BYTES:
        return f".meta file is {meta_bytes} bytes, not one checksum per chunk"
    return ""


def scan(storage: Storage) -> list[Finding]:
    """Compare disk and memory once; bring memory in line; return what differed."""
    findings = []
    with storage.lock:
        on_disk = storage.finalized_on_disk()
        for block_id, replica in list(storage.replicas.items()):
            if replica.state is not ReplicaState.FINALIZED:
                continue
            if not (replica.block_path.exists() and replica.meta_path.exists()):
                del storage.replicas[block_id]
                replica.block_path.unlink(missing_ok=True)
                replica.meta_path.unlink(missing_ok=True)
                findings.append(Finding(replica, Difference.MISSING, "block or .meta file deleted"))
                continue
            detail = damage_of(replica)
            if detail:
                findings.append(Finding(replica, Difference.DAMAGED, detail))
        for block_id, replica in on_disk.items():
            if block_id not in storage.replicas:
                storage.replicas[block_id] = replica
                findings.append(Finding(replica, Difference.UNKNOWN, "adopted"))
    return findings


class DirectoryScanner:
    def __init__(self, datanode):
        self.datanode = datanode
        self.reported_damaged: set[tuple[int, int]] = set()  # (block id, stamp): said once, not every pass

    def run(self, stop: threading.Event) -> None:
        interval_s = self.datanode.config.directory_scan_interval_s
        if interval_s <= 0:
            return
        while not stop.wait(interval_s):
            try:
                self.scan_once()
            except OSError:  # a disk error must not end the thread; the next pass tries again (a bug does end it)
                logger.exception("directory scan failed")

    def scan_once(self) -> list[Finding]:
        findings = [finding for finding in scan(self.datanode.storage)
                    if (finding.replica.block_id, finding.replica.generation_stamp) not in self.reported_damaged]
        for finding in findings:
            logger.warning("directory scan: %s %s (%s)", finding.replica, finding.difference.value, finding.detail)
            match finding.difference:
                case Difference.MISSING:
                    self.datanode.block_deleted(finding.replica)
                case Difference.DAMAGED:
                    self.reported_damaged.add((finding.replica.block_id, finding.replica.generation_stamp))
                    self.datanode.bad_block_found(finding.replica)
                case Difference.UNKNOWN:
                    self.datanode.block_received(finding.replica)
        return findings

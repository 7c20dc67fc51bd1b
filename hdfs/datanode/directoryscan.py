"""The directory scanner: what is on disk against what the DataNode believes it holds.

Hadoop's DirectoryScanner, every `dfs.datanode.directoryscan.interval`. Files
go missing or change behind the DataNode's back (a disk error, an operator's
`rm`, a student's experiment); without this, the NameNode would go on
counting a replica that is gone, and fsck would say HEALTHY. The scan only
looks; what differs goes to the state machine as one event
(`DirectoryScanFinished`), which decides (`state.py`) and the actor carries
it out:

  - a finalized replica whose block or `.meta` file is gone: forgotten, and
    reported deleted (the NameNode copies the block from another replica);
  - a replica whose block file is not its length, or whose `.meta` file does
    not hold one checksum per chunk: reported corrupt, once (it is copied,
    then this one is deleted);
  - a finalized replica on disk the DataNode did not know: adopted, and
    reported received (the NameNode deletes it if no file wants it).

Replicas being written or under recovery are left alone: their files change while we look.
"""

from __future__ import annotations

import logging
import threading

from hdfs import checksum
from hdfs.datanode.events import Difference, DirectoryScanFinished, Discrepancy
from hdfs.datanode.node import block_message
from hdfs.datanode.storage import Replica, ReplicaState, Storage
from hdfs.errors import ChecksumMismatch

logger = logging.getLogger(__name__)

COUNTER_OF_DIFFERENCE = {Difference.MISSING: "DirectoryScanMissingReplicas",
                         Difference.DAMAGED: "DirectoryScanDamagedReplicas",
                         Difference.UNKNOWN: "DirectoryScanUnknownReplicas"}  # node.ACTIVITY_COUNTERS, on /jmx


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


def scan(storage: Storage) -> list[Discrepancy]:
    """Compare disk and memory once; what differed (nothing is changed here)."""
    found = []
    with storage.lock:
        on_disk = storage.finalized_on_disk()
        for replica in storage.replicas.values():
            if replica.state is not ReplicaState.FINALIZED:
                continue
            if not (replica.block_path.exists() and replica.meta_path.exists()):
                found.append(_discrepancy(replica, Difference.MISSING, "block or .meta file deleted"))
                continue
            detail = damage_of(replica)
            if detail:
                found.append(_discrepancy(replica, Difference.DAMAGED, detail))
        for block_id, replica in on_disk.items():
            if block_id not in storage.replicas:
                found.append(_discrepancy(replica, Difference.UNKNOWN, "to adopt"))
    return found


def _discrepancy(replica: Replica, difference: Difference, detail: str) -> Discrepancy:
    return Discrepancy(block_message(replica), difference, detail, replica.block_path)


class DirectoryScanner:
    def __init__(self, datanode):
        self.datanode = datanode

    def run(self, stop: threading.Event) -> None:
        interval_s = self.datanode.config.directory_scan_interval_s
        if interval_s <= 0:
            return
        while not stop.wait(interval_s):
            try:
                self.scan_once()
            except OSError:  # a disk error must not end the thread; the next pass tries again (a bug does end it)
                logger.exception("directory scan failed")

    def scan_once(self) -> list[Discrepancy]:
        found = scan(self.datanode.storage)
        for discrepancy in found:
            self.datanode.count(COUNTER_OF_DIFFERENCE[discrepancy.difference])
        if found:
            self.datanode.tell(DirectoryScanFinished(tuple(found)))
        return found

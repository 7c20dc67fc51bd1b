"""A DataNode's disk: replicas as plain files, each with its checksums beside it.

    <data dir>/current/VERSION                     this DataNode's uuid (stable across restarts)
    <data dir>/current/rbw/blk_<id>                a replica being written
    <data dir>/current/rbw/blk_<id>_<stamp>.meta   its checksums: header, then one CRC32C per chunk
    <data dir>/current/finalized/subdir<n>/...     finished replicas, spread over subdirectories

Durable: the files. Rebuilt at start: the replica map, by scanning the disk
(a replica that was under recovery comes back as its files say: finalized or
being written).

A replica's life is Hadoop's ReplicaState, trimmed (`REPLICA_TRANSITIONS`):
RBW while its pipeline writes it, FINALIZED once the last packet is in,
RUR (under recovery) from InitReplicaRecovery until UpdateReplicaUnderRecovery
truncates it, gives it the recovery's stamp and finalizes it. Only a FINALIZED
replica is read, copied, scanned or reported finalized. A write to a replica
under recovery is refused: the NameNode judged its writer gone.
Paths are built only from integers (block id, generation stamp), so nothing
on the wire can point a DataNode outside its directory.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import re
import threading
import uuid as uuid_module
from dataclasses import dataclass
from pathlib import Path

from emrlab_common.errors import FailedPrecondition, InvalidArgument
from emrlab_common.lifecycle import next_state
from hdfs import checksum
from hdfs.errors import FileAlreadyExists, FileNotFound

logger = logging.getLogger(__name__)

SUBDIRECTORIES = 32
_BLOCK_FILE = re.compile(r"^blk_(\d+)$")
_META_FILE = re.compile(r"^blk_(\d+)_(\d+)\.meta$")


class ReplicaState(enum.Enum):
    RBW = "rbw"  # being written
    FINALIZED = "finalized"
    RUR = "rur"  # under recovery: only that recovery may change it


class ReplicaEvent(enum.Enum):
    FINALIZE = "finalize"  # the pipeline's last packet is written
    BEGIN_RECOVERY = "begin recovery"  # InitReplicaRecovery, from a recovery's leader
    RECOVERED = "recovered"  # UpdateReplicaUnderRecovery: truncated to the agreed length, the new stamp, finished


_R, _RE = ReplicaState, ReplicaEvent
REPLICA_TRANSITIONS: dict[tuple[ReplicaState, ReplicaEvent], ReplicaState] = {
    (_R.RBW, _RE.FINALIZE): _R.FINALIZED,
    (_R.RBW, _RE.BEGIN_RECOVERY): _R.RUR,
    (_R.FINALIZED, _RE.BEGIN_RECOVERY): _R.RUR,  # finalized here, but its block is not complete on the NameNode
    (_R.RUR, _RE.BEGIN_RECOVERY): _R.RUR,  # a newer recovery takes over from one whose leader went away
    (_R.RUR, _RE.RECOVERED): _R.FINALIZED,
}


@dataclass(eq=False)
class Replica:
    block_id: int
    generation_stamp: int
    length_bytes: int
    state: ReplicaState  # changed only by `handle`
    block_path: Path
    meta_path: Path
    recovery_id: int = 0  # while RUR: the recovery (a new generation stamp) it is under

    def handle(self, event: ReplicaEvent, cause: str = "") -> None:
        self.state = next_state(REPLICA_TRANSITIONS, self.state, event, f"replica {self}", cause)

    def __str__(self) -> str:
        return f"blk_{self.block_id}_{self.generation_stamp}"


class ReplicaWriter:
    """Appends packets to a replica being written; `Storage.finalize` finishes it."""

    def __init__(self, replica: Replica, bytes_per_checksum: int):
        self.replica = replica
        self.bytes_per_checksum = bytes_per_checksum
        self.block_file = open(replica.block_path, "wb")
        self.meta_file = open(replica.meta_path, "wb")
        self.meta_file.write(checksum.meta_header(bytes_per_checksum))

    def write(self, offset_in_block: int, data: bytes, checksums: bytes) -> None:
        if offset_in_block != self.replica.length_bytes:
            raise InvalidArgument(f"{self.replica}: packet at offset {offset_in_block}, "
                                  f"expected {self.replica.length_bytes}")
        if self.replica.state is not ReplicaState.RBW:  # a recovery took it over: its writer was judged gone
            raise FailedPrecondition(f"{self.replica} is {self.replica.state.value}: no more writes")
        self.block_file.write(data)
        self.meta_file.write(checksums)
        self.replica.length_bytes += len(data)

    def close(self, sync: bool = False) -> None:
        for file in (self.block_file, self.meta_file):
            if file.closed:
                continue
            file.flush()
            if sync:
                os.fsync(file.fileno())
            file.close()

    def discard(self) -> None:
        """Close without keeping what is still buffered: the write failed (a full disk cannot take those bytes
        either), and its files are about to be deleted."""
        for file in (self.block_file, self.meta_file):
            try:
                file.close()
            except OSError as error:  # the file is closed all the same; its buffered bytes go with it
                logger.info("%s: closing a failed write: %s", self.replica, error)


class Storage:
    def __init__(self, data_dir: Path, sync_on_close: bool = False):
        self.root = data_dir / "current"
        self.sync_on_close = sync_on_close
        self.lock = threading.Lock()
        self.replicas: dict[int, Replica] = {}
        (self.root / "rbw").mkdir(parents=True, exist_ok=True)
        (self.root / "finalized").mkdir(parents=True, exist_ok=True)
        data_dir.chmod(0o700)  # Hadoop's dfs.datanode.data.dir.perm: no container reads a replica off the disk
        self.datanode_uuid = self._load_or_create_uuid()
        self._scan_disk()

    def _load_or_create_uuid(self) -> str:
        version = self.root / "VERSION"
        if version.exists():
            return json.loads(version.read_text())["datanode_uuid"]
        datanode_uuid = str(uuid_module.uuid4())
        version.write_text(json.dumps({"datanode_uuid": datanode_uuid, "layout_version": 1}) + "\n")
        return datanode_uuid

    def _scan_disk(self) -> None:
        self.replicas = self._replicas_on_disk(ReplicaState.FINALIZED)
        for block_id, replica in self._replicas_on_disk(ReplicaState.RBW).items():
            known = self.replicas.get(block_id)
            if known is None or replica.generation_stamp > known.generation_stamp:
                self.replicas[block_id] = replica
        logger.info("found %d replicas on disk", len(self.replicas))

    def finalized_on_disk(self) -> dict[int, Replica]:
        """The finalized replicas the files say we have (for the directory scanner; call under `lock`)."""
        return self._replicas_on_disk(ReplicaState.FINALIZED)

    def _replicas_on_disk(self, state: ReplicaState) -> dict[int, Replica]:
        found: dict[int, Replica] = {}
        directory = self.root / ("finalized" if state is ReplicaState.FINALIZED else "rbw")
        for meta_path in directory.rglob("blk_*.meta"):
            match = _META_FILE.match(meta_path.name)
            block_path = meta_path.with_name(f"blk_{match.group(1)}") if match else None
            if block_path is None or not block_path.exists():
                continue
            block_id, generation_stamp = int(match.group(1)), int(match.group(2))
            known = found.get(block_id)
            if known is not None and known.generation_stamp >= generation_stamp:
                continue
            found[block_id] = Replica(block_id, generation_stamp, block_path.stat().st_size, state, block_path, meta_path)
        return found

    def _paths(self, block_id: int, generation_stamp: int, state: ReplicaState) -> tuple[Path, Path]:
        assert isinstance(block_id, int) and isinstance(generation_stamp, int)
        if state is ReplicaState.RBW:
            directory = self.root / "rbw"
        else:
            directory = self.root / "finalized" / f"subdir{block_id % SUBDIRECTORIES}"
        return directory / f"blk_{block_id}", directory / f"blk_{block_id}_{generation_stamp}.meta"

    # ------------------------------------------------------------ writing

    def create_rbw(self, block_id: int, generation_stamp: int, bytes_per_checksum: int) -> ReplicaWriter:
        """A new replica being written. It never replaces a finalized replica (only block recovery
        changes one, and a stale one is deleted when the NameNode says so), nor one being written at
        the same or a newer generation stamp: a stranger's write cannot destroy data."""
        with self.lock:
            existing = self.replicas.get(block_id)
            if existing is not None and (existing.state is not ReplicaState.RBW
                                         or existing.generation_stamp >= generation_stamp):
                raise FileAlreadyExists(f"replica {existing} already exists ({existing.state.value}): "
                                        f"a write may not replace it")
            if existing is not None:
                self._delete_files(existing)
            block_path, meta_path = self._paths(block_id, generation_stamp, ReplicaState.RBW)
            replica = Replica(block_id, generation_stamp, 0, ReplicaState.RBW, block_path, meta_path)
            self.replicas[block_id] = replica
            return ReplicaWriter(replica, bytes_per_checksum)

    def finalize(self, writer: ReplicaWriter) -> Replica:
        writer.close(sync=self.sync_on_close)
        replica = writer.replica
        with self.lock:
            if replica.state is not ReplicaState.RBW:
                raise FailedPrecondition(f"{replica} is {replica.state.value}: its recovery finalizes it, not its writer")
            block_path, meta_path = self._paths(replica.block_id, replica.generation_stamp, ReplicaState.FINALIZED)
            block_path.parent.mkdir(exist_ok=True)
            os.replace(replica.meta_path, meta_path)
            os.replace(replica.block_path, block_path)
            replica.block_path, replica.meta_path = block_path, meta_path
            replica.handle(ReplicaEvent.FINALIZE, f"{replica.length_bytes} bytes")
            return replica

    def abort(self, writer: ReplicaWriter) -> None:
        """A write that failed: its partial replica is worthless, unless a recovery took it over."""
        writer.discard()
        with self.lock:
            if writer.replica.state is not ReplicaState.RBW:
                return  # under recovery: what is on disk is the recovery's to settle
            if self.replicas.get(writer.replica.block_id) is writer.replica:
                del self.replicas[writer.replica.block_id]
            self._delete_files(writer.replica)

    # ------------------------------------------------------------ reading and removing

    def get(self, block_id: int) -> Replica | None:
        with self.lock:
            return self.replicas.get(block_id)

    def get_finalized(self, block_id: int, generation_stamp: int) -> Replica:
        replica = self.get(block_id)
        if replica is None or replica.state is not ReplicaState.FINALIZED:
            raise FileNotFound(f"replica blk_{block_id} not found (or not finalized) on this DataNode")
        if replica.generation_stamp < generation_stamp:
            raise FileNotFound(f"replica {replica} is older than requested stamp {generation_stamp}")
        return replica

    def read_bytes_per_checksum(self, replica: Replica) -> int:
        with open(replica.meta_path, "rb") as meta:
            return checksum.parse_meta_header(meta.read(checksum.META_HEADER.size))

    def delete(self, block_id: int) -> Replica | None:
        with self.lock:
            replica = self.replicas.pop(block_id, None)
            if replica is not None:
                self._delete_files(replica)
            return replica

    def forget(self, block_id: int, generation_stamp: int) -> Replica | None:
        """Drop a finalized replica whose files are gone (the directory scan found them missing), if it is
        still that replica; the other file, if one is left, goes too. The replica forgotten, or None."""
        with self.lock:
            replica = self.replicas.get(block_id)
            if (replica is None or replica.generation_stamp != generation_stamp or replica.state is not ReplicaState.FINALIZED
                    or (replica.block_path.exists() and replica.meta_path.exists())):
                return None
            del self.replicas[block_id]
            self._delete_files(replica)
            return replica

    def adopt(self, block_id: int, generation_stamp: int, block_path: Path) -> Replica | None:
        """Take in finalized files nobody knew of (the directory scan found them at `block_path`, the
        `.meta` file beside it), if the block is still unknown and its files are there. The replica
        adopted, or None."""
        meta_path = block_path.with_name(f"blk_{block_id}_{generation_stamp}.meta")
        with self.lock:
            if block_id in self.replicas or not (block_path.exists() and meta_path.exists()):
                return None
            replica = Replica(block_id, generation_stamp, block_path.stat().st_size, ReplicaState.FINALIZED,
                              block_path, meta_path)
            self.replicas[block_id] = replica
            return replica

    def _delete_files(self, replica: Replica) -> None:
        replica.block_path.unlink(missing_ok=True)
        replica.meta_path.unlink(missing_ok=True)

    def all_replicas(self) -> list[Replica]:
        with self.lock:
            return list(self.replicas.values())

    def used_bytes(self) -> int:
        with self.lock:
            return sum(replica.length_bytes for replica in self.replicas.values())

    # ------------------------------------------------------------ block recovery

    def recoverable_length(self, replica: Replica) -> int:
        """Bytes of a replica covered by checksums on disk (a crash can leave data without them)."""
        bytes_per_checksum = self.read_bytes_per_checksum(replica)
        data_bytes = replica.block_path.stat().st_size
        chunks = (replica.meta_path.stat().st_size - checksum.META_HEADER.size) // checksum.CHECKSUM_BYTES
        return min(data_bytes, chunks * bytes_per_checksum)

    def begin_recovery(self, replica: Replica, recovery_id: int) -> None:
        """Put a replica under recovery `recovery_id` (a newer stamp): only that recovery may change it."""
        with self.lock:
            if recovery_id <= replica.generation_stamp:
                raise FailedPrecondition(f"recovery {recovery_id} of {replica} is not newer than the replica")
            if replica.recovery_id > recovery_id:  # Hadoop's RecoveryInProgressException
                raise FailedPrecondition(f"{replica} is under a newer recovery {replica.recovery_id} than {recovery_id}")
            replica.handle(ReplicaEvent.BEGIN_RECOVERY, f"recovery {recovery_id}")
            replica.recovery_id = recovery_id

    def recover(self, block_id: int, new_generation_stamp: int, new_length: int) -> Replica:
        """Truncate a replica under this recovery to the agreed length, give it the new stamp, finalize it."""
        with self.lock:
            replica = self.replicas.get(block_id)
            if replica is None:
                raise FileNotFound(f"replica blk_{block_id} not found for recovery")
            if replica.state is not ReplicaState.RUR or replica.recovery_id != new_generation_stamp:
                raise FailedPrecondition(f"{replica} is not under recovery {new_generation_stamp}: "
                                         f"InitReplicaRecovery comes first")
            bytes_per_checksum = self.read_bytes_per_checksum(replica)
            chunks = (new_length + bytes_per_checksum - 1) // bytes_per_checksum
            with open(replica.block_path, "r+b") as block_file:
                block_file.truncate(new_length)
            with open(replica.meta_path, "r+b") as meta_file:
                meta_file.truncate(checksum.META_HEADER.size + chunks * checksum.CHECKSUM_BYTES)
            if new_length % bytes_per_checksum:
                self._rewrite_last_checksum(replica.block_path, replica.meta_path, new_length, bytes_per_checksum)
            block_path, meta_path = self._paths(block_id, new_generation_stamp, ReplicaState.FINALIZED)
            block_path.parent.mkdir(exist_ok=True)
            os.replace(replica.meta_path, meta_path)
            os.replace(replica.block_path, block_path)
            replica.block_path, replica.meta_path = block_path, meta_path
            replica.generation_stamp, replica.length_bytes, replica.recovery_id = new_generation_stamp, new_length, 0
            replica.handle(ReplicaEvent.RECOVERED, f"{new_length} bytes")
            return replica

    @staticmethod
    def _rewrite_last_checksum(block_path: Path, meta_path: Path, length: int, bytes_per_checksum: int) -> None:
        """After truncating inside a chunk, that chunk's checksum must cover only what is left."""
        chunk_start = length - length % bytes_per_checksum
        with open(block_path, "rb") as block_file:
            block_file.seek(chunk_start)
            tail = block_file.read()
        with open(meta_path, "r+b") as meta_file:
            meta_file.seek(checksum.META_HEADER.size + (chunk_start // bytes_per_checksum) * checksum.CHECKSUM_BYTES)
            meta_file.write(checksum.chunk_checksums(tail, bytes_per_checksum))

"""The DataNode process's state, shared by its threads.

`DataNode` owns the storage and the outboxes to the NameNode (replicas
received and deleted, bad replicas found); the actor thread (`actor.py`)
empties the outboxes and runs the NameNode's commands, the servicer
(`transfer.py`) moves block bytes, and the scanner (`scanner.py`) looks for
rot. Nothing here is durable beyond the replica files themselves.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import shutil
import threading
import time
from pathlib import Path

from emrlab_common.clusterdir import ClusterDir
from emrlab_common.protos import hdfs_pb2, hdfs_pb2_grpc
from emrlab_common.rpc import connect
from hdfs.blocktoken import AccessMode, BlockKey, verify
from hdfs.datanode.config import DataNodeConfig
from hdfs.datanode.storage import Replica, Storage

logger = logging.getLogger(__name__)

PEER_CHANNELS_MAX = 64
# Replicas received or deleted, waiting for the actor to tell the NameNode. Past this many (a NameNode
# unreachable for long while writes go on) they give way to one full block report, which says it all.
OUTBOX_BLOCKS_MAX = 10_000
# Corrupt replicas waiting to be reported. Past this many the rest wait for the scanner's next pass.
BAD_BLOCKS_MAX = 1_000
LOCALITY_SECRET_FILE_NAME = "shortcircuit.secret"


def block_message(replica: Replica) -> hdfs_pb2.Block:
    return hdfs_pb2.Block(block_id=replica.block_id, generation_stamp=replica.generation_stamp,
                          length_bytes=replica.length_bytes)


class DataNode:
    def __init__(self, config: DataNodeConfig, cluster_dir: ClusterDir, node_id: str, data_dir: Path):
        self.config = config
        self.cluster_dir = cluster_dir
        self.node_id = node_id
        self.storage = Storage(data_dir, config.sync_on_close)
        self.uuid = self.storage.datanode_uuid
        self.address = ""  # set once the server is bound
        self.xfer_port = 0  # the streaming port (xceiver.py), if it serves one
        self.active_transfers = 0
        self._outbox_lock = threading.Lock()
        self._received: list[hdfs_pb2.Block] = []
        self._deleted: list[hdfs_pb2.Block] = []
        self._bad: list[hdfs_pb2.Block] = []
        self._full_report_wanted = False  # the outbox overflowed: a full block report replaces it
        self.outbox_blocks_max, self.bad_blocks_max = OUTBOX_BLOCKS_MAX, BAD_BLOCKS_MAX
        self.outbox_ready = threading.Event()
        self._channels: dict[str, object] = {}
        self._channels_lock = threading.Lock()
        self.block_keys: dict[int, BlockKey] = {}  # from the NameNode, at registration and on heartbeats
        self.locality_secret_path, self.locality_secret = write_locality_secret(data_dir)

    # ------------------------------------------------------------ who may do what

    def set_block_keys(self, keys: list[BlockKey]) -> None:
        self.block_keys = {key.key_id: key for key in keys}
        logger.info("block keys now %s", sorted(self.block_keys))

    def check_block_token(self, token: bytes, block: hdfs_pb2.Block, mode: AccessMode) -> None:
        """InvalidBlockToken unless tokens are off or `token` allows `mode` on this block."""
        if self.config.block_access_token_enabled:
            verify(self.block_keys, token, block.block_id, block.generation_stamp, mode, time.time())

    def is_local(self, proof: bytes) -> bool:
        """Whether a caller read the secret file only processes on this node can read."""
        return hmac.compare_digest(proof, self.locality_secret)

    def datanode_id(self) -> hdfs_pb2.DatanodeId:
        return hdfs_pb2.DatanodeId(datanode_uuid=self.uuid, node_id=self.node_id, address=self.address,
                                   xfer_port=self.xfer_port)

    # ------------------------------------------------------------ outboxes to the NameNode

    def block_received(self, replica: Replica) -> None:
        with self._outbox_lock:
            if self._room_for_blocks(1):
                self._received.append(block_message(replica))
        self.outbox_ready.set()

    def block_deleted(self, replica: Replica) -> None:
        with self._outbox_lock:
            if self._room_for_blocks(1):
                self._deleted.append(block_message(replica))
        self.outbox_ready.set()

    def bad_block_found(self, replica: Replica) -> None:
        logger.warning("replica %s is corrupt; reporting it to the NameNode", replica)
        with self._outbox_lock:
            if len(self._bad) < self.bad_blocks_max:
                self._bad.append(block_message(replica))
            else:
                logger.warning("%d corrupt replicas wait to be reported (BAD_BLOCKS_MAX): %s waits for the "
                               "scanner's next pass", len(self._bad), replica)
        self.outbox_ready.set()

    def take_outbox(self) -> tuple[list, list, list]:
        with self._outbox_lock:
            taken = (self._received, self._deleted, self._bad)
            self._received, self._deleted, self._bad = [], [], []
            self.outbox_ready.clear()
            return taken

    def return_outbox(self, received: list, deleted: list, bad: list) -> None:
        """Put back what could not be sent, to try again."""
        with self._outbox_lock:
            if self._room_for_blocks(len(received) + len(deleted)):
                self._received[:0], self._deleted[:0] = received, deleted
            self._bad[:0] = bad[: max(0, self.bad_blocks_max - len(self._bad))]

    def take_full_report_wanted(self) -> bool:
        """Whether the outbox overflowed since the last call (then a full block report is due at once)."""
        with self._outbox_lock:
            wanted, self._full_report_wanted = self._full_report_wanted, False
            return wanted

    def _room_for_blocks(self, count: int) -> bool:
        """Under the outbox lock: whether `count` more received/deleted entries fit. If not, the outbox
        collapses: its entries go, and a full block report (all that is on disk) will say it all instead."""
        if len(self._received) + len(self._deleted) + count <= self.outbox_blocks_max:
            return True
        if not self._full_report_wanted:
            logger.warning("more than %d replicas received or deleted wait for the NameNode (OUTBOX_BLOCKS_MAX): "
                           "a full block report replaces them", self.outbox_blocks_max)
        self._received, self._deleted = [], []
        self._full_report_wanted = True
        return False

    # ------------------------------------------------------------ space and peers

    def space(self) -> tuple[int, int, int]:
        """(capacity, used by blocks, remaining) in bytes."""
        disk = shutil.disk_usage(self.storage.root)
        capacity = self.config.capacity_bytes or disk.total
        used = self.storage.used_bytes()
        remaining = max(0, min(disk.free, capacity - used) - self.config.reserved_bytes)
        return capacity, used, remaining

    def peer(self, address: str) -> hdfs_pb2_grpc.DataTransferProtocolStub:
        """A stub for another DataNode (channels are kept, a bounded number)."""
        with self._channels_lock:
            channel = self._channels.get(address)
            if channel is None:
                if len(self._channels) >= PEER_CHANNELS_MAX:
                    self._channels.pop(next(iter(self._channels))).close()
                channel = self._channels[address] = connect(address)
            return hdfs_pb2_grpc.DataTransferProtocolStub(channel)

    def close(self) -> None:
        """Close the channels to other DataNodes (at shutdown)."""
        with self._channels_lock:
            channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            channel.close()


def write_locality_secret(data_dir: Path) -> tuple[Path, bytes]:
    """A new random secret in a file only this node's processes (and only its user) can read."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCALITY_SECRET_FILE_NAME
    secret = secrets.token_hex(32).encode()
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(secret)
    os.replace(temporary, path)
    return path, secret

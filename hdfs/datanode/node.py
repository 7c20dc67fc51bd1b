"""The DataNode process's state, shared by its threads.

`DataNode` owns the storage, the block keys and the channels to other
DataNodes. The servicers (`transfer.py`, `xceiver.py`) move block bytes and
the scanners (`scanner.py`, `directoryscan.py`) look for rot; what they find
for the NameNode to hear of (a replica finalized or deleted, a bad replica, a
directory scan's differences) they `tell` as events, which the actor
(`actor.py`) hands to the state machine (`state.py`). Nothing here is durable
beyond the replica files themselves.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

from emrlab_common.channels import ChannelCache, ChannelHold
from emrlab_common.clusterdir import ClusterDir
from emrlab_common.protos import hdfs_pb2, hdfs_pb2_grpc
from emrlab_common.rpc import connect
from hdfs.blocktoken import AccessMode, BlockKey, verify
from hdfs.datanode.config import DataNodeConfig
from hdfs.datanode.events import Event
from hdfs.datanode.peers import PEER_CHANNELS_MAX
from hdfs.datanode.storage import Replica, Storage

logger = logging.getLogger(__name__)

LOCALITY_SECRET_FILE_NAME = "shortcircuit.secret"
# What /jmx's DataNodeActivity bean counts (http.py), since the process started. BlocksGetLocalPathInfo is
# Hadoop's name (short-circuit accesses granted); the directory scan's are ours: replicas a scan found differing.
ACTIVITY_COUNTERS = ("BlocksGetLocalPathInfo", "DirectoryScanMissingReplicas", "DirectoryScanDamagedReplicas",
                     "DirectoryScanUnknownReplicas")


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
        self._listener: Callable[[Event], None] | None = None
        self.peers = ChannelCache(connect, hdfs_pb2_grpc.DataTransferProtocolStub, limit=PEER_CHANNELS_MAX)
        self.block_keys: dict[int, BlockKey] = {}  # from the NameNode, at registration and on heartbeats
        self.locality_secret_path, self.locality_secret = write_locality_secret(data_dir)
        self.activity = dict.fromkeys(ACTIVITY_COUNTERS, 0)
        self._activity_lock = threading.Lock()

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

    # ------------------------------------------------------------ what the NameNode is to hear of

    def listen(self, listener: Callable[[Event], None]) -> None:
        """Who hears the events the DataNode's threads tell: the actor (one, set before those threads start)."""
        assert self._listener is None, "the DataNode already has a listener"
        self._listener = listener

    def tell(self, event: Event) -> None:
        assert self._listener is not None, f"{event!r} told before the actor listens"
        self._listener(event)

    def count(self, counter: str) -> None:
        """One more of an activity counter (servicer and scanner threads call it, so under a lock)."""
        assert counter in self.activity, f"no activity counter {counter!r}"
        with self._activity_lock:
            self.activity[counter] += 1

    # ------------------------------------------------------------ space and peers

    def space(self) -> tuple[int, int, int]:
        """(capacity, used by blocks, remaining) in bytes."""
        disk = shutil.disk_usage(self.storage.root)
        capacity = self.config.capacity_bytes or disk.total
        used = self.storage.used_bytes()
        remaining = max(0, min(disk.free, capacity - used) - self.config.reserved_bytes)
        return capacity, used, remaining

    def peer(self, address: str) -> ChannelHold:
        """A hold on the channel to another DataNode: `with datanode.peer(address) as stub:` (peers.py).
        Unavailable once the DataNode is stopping."""
        return self.peers.hold(address)

    def close(self) -> None:
        """Close the channels to other DataNodes (at shutdown): idle ones now, held ones as their users finish."""
        self.peers.close()


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

"""The HDFS client: what `emrlab dfs`, MapReduce tasks and your own code use.

    from hdfs import Client
    client = Client.for_cluster()                 # finds the NameNode in the cluster directory
    with client.create("/data/words.txt") as out:
        out.write(b"to be or not to be\\n")
    with client.open("hdfs:///data/words.txt") as file:
        print(file.read())

Paths may be `hdfs:///a/b`, `/a/b`, or relative to the home directory
`/user/<name>`. Namespace calls go to the NameNode; bytes go straight
to and from DataNodes (`reader.py`, `writer.py`). A writer holds a lease on
its file, renewed by a background thread while any file is open.

This file holds what every call needs: the channels, the NameNode call with
its credentials, the server defaults, and the lease renewer. The calls
themselves are in `Client`'s mixins: namespace.py (status, list, glob, mkdirs,
rename, ...), files.py (open, create, append, upload, download, and the
NameNode calls the streams make) and admin.py (fsck, dfsadmin).

The client owns its channels: one to the NameNode and at most
DATANODE_CHANNELS_MAX to DataNodes, in an emrlab_common.channels.ChannelCache
(the least recently used idle one is closed when another is needed; one a
read or a write pipeline streams on closes when that stream lets go).
`close()` (or leaving a `with` block) aborts open writers, stops the lease
renewer and waits for it, then closes every channel, so that no renewal runs
on a closed channel and nothing is left behind.
"""

from __future__ import annotations

import os
import threading
import uuid as uuid_module
from pathlib import Path

from emrlab_common import credentials
from emrlab_common.channels import ChannelCache, ChannelHold
from emrlab_common.clusterdir import ClusterDir
from emrlab_common.config import load
from emrlab_common.errors import EmrlabError, PermissionDenied
from emrlab_common.protos import hdfs_pb2, hdfs_pb2_grpc
from emrlab_common.rpc import call, connect, current_user
from hdfs import paths
from hdfs.client.admin import AdminCalls
from hdfs.client.config import ClientConfig
from hdfs.client.files import FileCalls
from hdfs.client.namespace import BlockLocation, NamespaceCalls
from hdfs.client.writer import OutputStream

NAMENODE_DEADLINE_S = 30.0
DATANODE_CHANNELS_MAX = 64  # channels kept open to DataNodes; past it the least recently used idle one is closed
IDEMPOTENT_ATTEMPTS = 3
RENEWER_JOIN_TIMEOUT_S = NAMENODE_DEADLINE_S + 5.0  # close() waits out at most one renewal in flight
NODE_ID_ENVIRONMENT_VARIABLE = "EMRLAB_NODE_ID"

__all__ = ["BlockLocation", "Client", "call_credentials"]


class Client(NamespaceCalls, FileCalls, AdminCalls):
    """One user's connection to one HDFS: the channels, the NameNode call, the lease renewer.

    What it can do is in its mixins, one file each, as Hadoop's DFSClient leaves streams,
    leases and administration to DFSInputStream/DFSOutputStream, LeaseRenewer and DFSAdmin:
    the namespace (namespace.py), files and the calls their streams make (files.py), and
    administration (admin.py). All of them are called on `Client` itself."""

    def __init__(self, namenode_address: str, *, user: str | None = None, config: ClientConfig | None = None,
                 node_id: str | None = None, cluster_root: Path | None = None):
        self.namenode_address = namenode_address
        self.user = user or current_user()
        self.config = config or ClientConfig()
        self.node_id = node_id if node_id is not None else os.environ.get(NODE_ID_ENVIRONMENT_VARIABLE, "")
        self.client_name = f"DFSClient_{os.getpid()}_{uuid_module.uuid4().hex[:8]}"
        self._namenode_channel = connect(namenode_address)
        self._namenode = hdfs_pb2_grpc.ClientProtocolStub(self._namenode_channel)
        self._datanode_channels = ChannelCache(connect, hdfs_pb2_grpc.DataTransferProtocolStub,
                                               limit=DATANODE_CHANNELS_MAX)
        self._locality_proofs: dict[str, bytes] = {}  # DataNode address -> its short-circuit secret, once read
        self._lock = threading.Lock()
        self._open_writers: set[OutputStream] = set()
        self._renewer: threading.Thread | None = None
        self._renewer_stop = threading.Event()
        self._defaults: dict | None = None
        self.cluster_root = cluster_root  # where the cluster key is, for token authentication

    @classmethod
    def for_cluster(cls, cluster_dir: ClusterDir | str | None = None, *, user: str | None = None,
                    properties: dict[str, str] | None = None) -> Client:
        """A client for the cluster in `cluster_dir` (default: $EMRLAB_CLUSTER or ~/.emrlab/cluster)."""
        if not isinstance(cluster_dir, ClusterDir):
            cluster_dir = ClusterDir.resolve(cluster_dir)
        merged = cluster_dir.properties()
        merged.update(properties or {})
        return cls(cluster_dir.address_of("namenode"), user=user, config=load(ClientConfig, merged),
                   cluster_root=cluster_dir.root)

    def close(self) -> None:
        """Abort open writers, stop the lease renewer and wait for it, then close every channel. Idempotent."""
        for writer in list(self._open_writers):
            writer.abort()
        self._renewer_stop.set()
        renewer = self._renewer
        if renewer is not None:
            renewer.join(RENEWER_JOIN_TIMEOUT_S)
        self._datanode_channels.close()  # a read still streaming closes its channel when it lets go
        self._namenode_channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exception) -> None:
        self.close()

    def resolve(self, path: str) -> str:
        return paths.resolve(path, self.user)

    # ------------------------------------------------------------ calls

    def _credentials(self) -> tuple[tuple[str, str], ...]:
        return call_credentials(self.config.authentication, self.cluster_root, self.user)

    def delegation_token(self) -> str:
        """A token naming this user that another process can present (write it to a token file)."""
        return self._call(self._namenode.GetDelegationToken, hdfs_pb2.GetDelegationTokenRequest()).token

    def _call(self, method, request, idempotent: bool = True, attempts_max: int = IDEMPOTENT_ATTEMPTS):
        return call(method, request, timeout_s=NAMENODE_DEADLINE_S, user=self.user, metadata=self._credentials(),
                    attempts_max=attempts_max if idempotent else 1, peer="namenode")

    def _datanode(self, address: str) -> ChannelHold:
        """A hold on the channel to a DataNode: `with client._datanode(address) as stub:`; a stream keeps
        its hold until it ends. Unavailable once the client is closed."""
        return self._datanode_channels.hold(address)

    def server_defaults(self) -> dict:
        if self._defaults is None:
            response = self._call(self._namenode.GetServerDefaults, hdfs_pb2.GetServerDefaultsRequest())
            self._defaults = {
                "block_size_bytes": response.block_size_bytes, "replication": response.replication,
                "bytes_per_checksum": response.bytes_per_checksum,
                "write_packet_size_bytes": response.write_packet_size_bytes,
                "lease_hard_limit_s": response.lease_hard_limit_s,
            }
        return self._defaults

    # ------------------------------------------------------------ the lease renewer, for open writers

    def _writer_closed(self, writer: OutputStream) -> None:
        with self._lock:
            self._open_writers.discard(writer)

    def _start_lease_renewer(self, hard_limit_s: float) -> None:
        if self._renewer is not None and self._renewer.is_alive():
            return
        interval_s = min(30.0, max(0.1, hard_limit_s / 4))

        def renew() -> None:
            while not self._renewer_stop.wait(interval_s):
                with self._lock:
                    if not self._open_writers:
                        self._renewer = None
                        return
                try:  # one attempt: the next round is the retry, and close() waits for at most this call
                    self._call(self._namenode.RenewLease, hdfs_pb2.RenewLeaseRequest(client_name=self.client_name),
                               attempts_max=1)
                except EmrlabError:
                    continue  # the NameNode may be restarting; the next round tries again

        self._renewer = threading.Thread(target=renew, daemon=True, name="lease-renewer")
        self._renewer.start()


def call_credentials(authentication: str, cluster_root: Path | None, user: str) -> tuple[tuple[str, str], ...]:
    """What proves who we are in token mode (to the NameNode, and to YARN's ResourceManager): a delegation
    token file ($HADOOP_TOKEN_FILE_LOCATION), or a statement signed with the cluster key; nothing in simple mode."""
    if credentials.check_mode(authentication) == "simple":
        return ()
    token_file = os.environ.get(credentials.TOKEN_FILE_ENVIRONMENT_VARIABLE)
    if token_file:
        return ((credentials.DELEGATION_METADATA_KEY, Path(token_file).read_text().strip()),)
    try:
        key = credentials.key_path(cluster_root).read_bytes() if cluster_root else None
    except OSError:
        key = None
    if key is None:
        raise PermissionDenied(f"secure mode: no delegation token (${credentials.TOKEN_FILE_ENVIRONMENT_VARIABLE}) "
                               f"and the cluster key is not readable by this user")
    return credentials.proof_metadata(key, user, kind="user")

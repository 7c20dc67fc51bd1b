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

The client owns its channels: one to the NameNode and at most
DATANODE_CHANNELS_MAX to DataNodes (the least recently used is closed when
another is needed). `close()` (or leaving a `with` block) aborts open
writers, stops the lease renewer and waits for it, then closes every channel,
so that no renewal runs on a closed channel and nothing is left behind.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import threading
import uuid as uuid_module
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from emrlab_common.clusterdir import ClusterDir
from emrlab_common.config import load
from emrlab_common import credentials
from emrlab_common.errors import EmrlabError, PermissionDenied
from emrlab_common.protos import hdfs_pb2, hdfs_pb2_grpc
from emrlab_common.rpc import call, connect, current_user, stream
from hdfs import paths
from hdfs.paths import has_glob
from hdfs.client.config import ClientConfig
from hdfs.client.reader import InputStream
from hdfs.client.writer import OutputStream
from hdfs.errors import FileNotFound, PathIsDirectory
from hdfs.protocol import ContentSummary, FileStatus

NAMENODE_DEADLINE_S = 30.0
DATANODE_CHANNELS_MAX = 64  # channels kept open to DataNodes; past it the least recently used is closed
IDEMPOTENT_ATTEMPTS = 3
RENEWER_JOIN_TIMEOUT_S = NAMENODE_DEADLINE_S + 5.0  # close() waits out at most one renewal in flight
COPY_CHUNK_BYTES = 1 << 20
NODE_ID_ENVIRONMENT_VARIABLE = "EMRLAB_NODE_ID"


@dataclass(frozen=True)
class BlockLocation:
    offset_bytes: int
    length_bytes: int
    hosts: tuple[str, ...]  # node ids holding a live replica, e.g. ("core-2", "core-1")


class Client:
    def __init__(self, namenode_address: str, *, user: str | None = None, config: ClientConfig | None = None,
                 node_id: str | None = None, cluster_root: Path | None = None):
        self.namenode_address = namenode_address
        self.user = user or current_user()
        self.config = config or ClientConfig()
        self.node_id = node_id if node_id is not None else os.environ.get(NODE_ID_ENVIRONMENT_VARIABLE, "")
        self.client_name = f"DFSClient_{os.getpid()}_{uuid_module.uuid4().hex[:8]}"
        self._namenode_channel = connect(namenode_address)
        self._namenode = hdfs_pb2_grpc.ClientProtocolStub(self._namenode_channel)
        self._datanode_channels: OrderedDict[str, object] = OrderedDict()  # least recently used first
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
        with self._lock:
            channels = [self._namenode_channel, *self._datanode_channels.values()]
            self._datanode_channels.clear()
        for channel in channels:
            channel.close()

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

    def _datanode(self, address: str) -> hdfs_pb2_grpc.DataTransferProtocolStub:
        with self._lock:
            channel = self._datanode_channels.get(address)
            if channel is None:
                if len(self._datanode_channels) >= DATANODE_CHANNELS_MAX:
                    self._datanode_channels.popitem(last=False)[1].close()
                channel = self._datanode_channels[address] = connect(address)
            self._datanode_channels.move_to_end(address)
            # Inside the lock: building a stub on a channel another thread has just evicted crashes grpc.
            return hdfs_pb2_grpc.DataTransferProtocolStub(channel)

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

    # ------------------------------------------------------------ the namespace

    def status(self, path: str) -> FileStatus:
        path = self.resolve(path)
        response = self._call(self._namenode.GetFileInfo, hdfs_pb2.GetFileInfoRequest(path=path))
        if not response.exists:
            raise FileNotFound(f"{path}: No such file or directory")
        return FileStatus.from_proto(response.status)

    def exists(self, path: str) -> bool:
        try:
            self.status(path)
            return True
        except FileNotFound:
            return False

    def list(self, path: str) -> list[FileStatus]:
        """A directory's entries sorted by name (a file lists as itself), fetched page by page."""
        path = self.resolve(path)
        entries, start_after = [], ""
        while True:
            response = self._call(self._namenode.GetListing, hdfs_pb2.GetListingRequest(path=path, start_after=start_after))
            entries += [FileStatus.from_proto(entry) for entry in response.entries]
            if not response.remaining_entries or not response.entries:
                return entries
            start_after = response.entries[-1].path.rsplit("/", 1)[-1]

    def glob(self, pattern: str) -> list[str]:
        """The existing paths that match `pattern`, sorted, as Hadoop's globStatus:
        `*`, `?` and `[...]` match within one path component. A pattern with no
        such characters matches itself if it exists."""
        pattern = self.resolve(pattern)
        candidates, listed = ["/"], True  # listed: every candidate came from a listing, so it exists
        for component in pattern.strip("/").split("/"):
            if not component:
                continue
            if not has_glob(component):
                candidates, listed = [f"{base.rstrip('/')}/{component}" for base in candidates], False
                continue
            matched = []
            for base in candidates:
                try:
                    entries = self.list(base)
                except FileNotFound:
                    continue
                matched += [entry.path for entry in entries  # a file lists as itself: it has no children
                            if entry.path != base and fnmatch.fnmatchcase(entry.path.rsplit("/", 1)[-1], component)]
            candidates, listed = matched, True
        return sorted(path for path in candidates if listed or self.exists(path))

    def walk(self, path: str) -> Iterator[tuple[FileStatus, list[FileStatus], list[FileStatus]]]:
        """Like os.walk: (directory, its subdirectories, its files), top down (a loop: no recursion on depth)."""
        top = self.status(path)
        if not top.is_directory:
            return
        pending = [top]
        while pending:
            directory = pending.pop()
            entries = self.list(directory.path)
            directories = [entry for entry in entries if entry.is_directory]
            yield directory, directories, [entry for entry in entries if not entry.is_directory]
            pending.extend(reversed(directories))

    def mkdirs(self, path: str, permission: int = 0o777, create_parent: bool = True) -> None:
        self._call(self._namenode.Mkdirs, hdfs_pb2.MkdirsRequest(
            path=self.resolve(path), permission=permission & ~self.config.umask, create_parent=create_parent))

    def delete(self, path: str, recursive: bool = False) -> None:
        self._call(self._namenode.Delete, hdfs_pb2.DeleteRequest(path=self.resolve(path), recursive=recursive),
                   idempotent=False)

    def rename(self, source: str, destination: str) -> str:
        """Move `source` to `destination` (into it, if it is a directory); returns the final path."""
        response = self._call(self._namenode.Rename, hdfs_pb2.RenameRequest(
            source=self.resolve(source), destination=self.resolve(destination)), idempotent=False)
        return response.final_path

    def set_replication(self, path: str, replication: int) -> str:
        """Returns a warning if the replication was capped by the number of live DataNodes."""
        response = self._call(self._namenode.SetReplication, hdfs_pb2.SetReplicationRequest(
            path=self.resolve(path), replication=replication))
        return response.warning

    def chmod(self, path: str, permission: int) -> None:
        self._call(self._namenode.SetPermission, hdfs_pb2.SetPermissionRequest(path=self.resolve(path), permission=permission))

    def chown(self, path: str, owner: str = "", group: str = "") -> None:
        self._call(self._namenode.SetOwner, hdfs_pb2.SetOwnerRequest(path=self.resolve(path), owner=owner, group=group))

    def content_summary(self, path: str) -> ContentSummary:
        response = self._call(self._namenode.GetContentSummary, hdfs_pb2.GetContentSummaryRequest(path=self.resolve(path)))
        return ContentSummary(response.length_bytes, response.file_count, response.directory_count,
                              response.space_consumed_bytes)

    def block_locations(self, path: str) -> list[BlockLocation]:
        """Where each block of a file lives: what MapReduce splits and schedules by."""
        response = self._block_locations(self.resolve(path))
        return [BlockLocation(block.offset_bytes, block.block.length_bytes,
                              tuple(location.node_id for location in block.locations))
                for block in response.blocks]

    def file_checksum(self, path: str) -> str:
        """MD5 of the blocks' MD5s of their chunk CRC32Cs, as `hdfs dfs -checksum` (MD5-of-MD5-of-CRC32C)."""
        block_digests = []
        for block in self._block_locations(self.resolve(path)).blocks:
            for location in block.locations:
                try:
                    response = call(self._datanode(location.address).BlockChecksum,
                                    hdfs_pb2.BlockChecksumRequest(block=block.block, block_token=block.block_token),
                                    user=self.user, peer=location.node_id)
                    block_digests.append(response.md5_of_checksums)
                    break
                except EmrlabError:
                    continue
            else:
                raise FileNotFound(f"no replica of blk_{block.block.block_id} answered")
        return "MD5-of-MD5-of-CRC32C " + hashlib.md5(b"".join(block_digests)).hexdigest()

    # ------------------------------------------------------------ files

    def open(self, path: str) -> InputStream:
        path = self.resolve(path)
        located = self._block_locations(path)
        return InputStream(self, path, located)

    def create(self, path: str, *, overwrite: bool = False, replication: int | None = None,
               block_size_bytes: int | None = None, permission: int = 0o666,
               on_warning: Callable[[str], None] | None = None) -> OutputStream:
        path = self.resolve(path)
        defaults = self.server_defaults()
        request = hdfs_pb2.CreateRequest(
            path=path, permission=permission & ~self.config.umask, client_name=self.client_name, overwrite=overwrite,
            create_parent=True, replication=replication or self.config.replication,
            block_size_bytes=block_size_bytes or self.config.block_size_bytes)
        response = self._call(self._namenode.Create, request, idempotent=False)
        if response.warning and on_warning:
            on_warning(response.warning)
        return self._writer(path, response.status, defaults)

    def append(self, path: str) -> OutputStream:
        """Open an existing file for writing at its end (`-appendToFile`); new bytes go into new blocks."""
        path = self.resolve(path)
        defaults = self.server_defaults()
        response = self._call(self._namenode.Append, hdfs_pb2.AppendRequest(path=path, client_name=self.client_name),
                              idempotent=False)
        return self._writer(path, response.status, defaults, response.last_block if response.has_last_block else None)

    def _writer(self, path: str, status: hdfs_pb2.FileStatus, defaults: dict,
                previous: hdfs_pb2.Block | None = None) -> OutputStream:
        writer = OutputStream(self, path, FileStatus.from_proto(status), defaults, status.replication, previous)
        with self._lock:
            self._open_writers.add(writer)
            self._start_lease_renewer(defaults["lease_hard_limit_s"])
        return writer

    def upload(self, local_path: str | Path, path: str, *, overwrite: bool = False,
               progress: Callable[[int], None] | None = None, **create_options) -> FileStatus:
        """Copy a local file into HDFS (`-put`), streaming it block by block."""
        with open(local_path, "rb") as source, self.create(path, overwrite=overwrite, **create_options) as target:
            while chunk := source.read(COPY_CHUNK_BYTES):
                target.write(chunk)
                if progress:
                    progress(len(chunk))
        return self.status(path)

    def download(self, path: str, local_path: str | Path, *, progress: Callable[[int], None] | None = None) -> None:
        """Copy an HDFS file to the local disk (`-get`); the local file appears only when complete."""
        local_path = Path(local_path)
        if self.status(path).is_directory:
            raise PathIsDirectory(f"{self.resolve(path)}: Is a directory")
        temporary = local_path.with_name(f".{local_path.name}._COPYING_")
        try:
            with self.open(path) as source, open(temporary, "wb") as target:
                for chunk in source.chunks():
                    target.write(chunk)
                    if progress:
                        progress(len(chunk))
            os.replace(temporary, local_path)
        finally:
            temporary.unlink(missing_ok=True)

    def read_bytes(self, path: str) -> bytes:
        with self.open(path) as file:
            return file.read()

    def write_bytes(self, path: str, data: bytes, *, overwrite: bool = False, **create_options) -> None:
        with self.create(path, overwrite=overwrite, **create_options) as file:
            file.write(data)

    # ------------------------------------------------------------ administration

    def fsck(self, path: str = "/") -> tuple[list[hdfs_pb2.FsckFile], hdfs_pb2.FsckSummary]:
        files, summary = [], None
        for part in stream(self._namenode.Fsck, hdfs_pb2.FsckRequest(path=self.resolve(path)), user=self.user,
                           metadata=self._credentials(),
                           peer="namenode", timeout_s=NAMENODE_DEADLINE_S * 4):
            if part.HasField("summary"):
                summary = part.summary
            else:
                files.append(part.file)
        return files, summary

    def datanode_report(self) -> hdfs_pb2.GetDatanodeReportResponse:
        return self._call(self._namenode.GetDatanodeReport, hdfs_pb2.GetDatanodeReportRequest())

    def admin_states(self) -> dict[str, str]:
        """Each DataNode's admin state by node id: "NORMAL", "DECOMMISSION_INPROGRESS" or "DECOMMISSIONED"."""
        return {node.id.node_id: hdfs_pb2.DatanodeInfo.AdminState.Name(node.admin_state)
                for node in self.datanode_report().datanodes}

    def refresh_nodes(self) -> hdfs_pb2.RefreshNodesResponse:
        """Make the NameNode re-read its exclude file (`hdfs dfsadmin -refreshNodes`)."""
        return self._call(self._namenode.RefreshNodes, hdfs_pb2.RefreshNodesRequest())

    def decommission_check(self, node_ids: list[str]) -> str:
        """Why decommissioning these DataNodes would leave a file short of replicas, or "" if it would not."""
        response = self._call(self._namenode.CheckDecommission, hdfs_pb2.CheckDecommissionRequest(node_ids=node_ids))
        return response.reason

    def safe_mode(self, action: str = "get") -> tuple[bool, str]:
        actions = {"get": hdfs_pb2.SAFEMODE_GET, "enter": hdfs_pb2.SAFEMODE_ENTER, "leave": hdfs_pb2.SAFEMODE_LEAVE}
        response = self._call(self._namenode.SetSafeMode, hdfs_pb2.SetSafeModeRequest(action=actions[action]))
        return response.safe_mode, response.status

    # ------------------------------------------------------------ for the reader and writer

    def _block_locations(self, path: str) -> hdfs_pb2.GetBlockLocationsResponse:
        return self._call(self._namenode.GetBlockLocations, hdfs_pb2.GetBlockLocationsRequest(
            path=path, client_node_id=self.node_id))

    def _add_block(self, path: str, previous: hdfs_pb2.Block | None, excluded: set[str]) -> hdfs_pb2.LocatedBlock:
        request = hdfs_pb2.AddBlockRequest(path=path, client_name=self.client_name,
                                           excluded_datanode_uuids=sorted(excluded), favored_node_id=self.node_id)
        if previous is not None:
            request.previous.CopyFrom(previous)
            request.has_previous = True
        return self._call(self._namenode.AddBlock, request, idempotent=False).block

    def _abandon_block(self, path: str, block: hdfs_pb2.Block) -> None:
        self._call(self._namenode.AbandonBlock, hdfs_pb2.AbandonBlockRequest(
            path=path, client_name=self.client_name, block=block))

    def _complete(self, path: str, last: hdfs_pb2.Block | None) -> bool:
        request = hdfs_pb2.CompleteRequest(path=path, client_name=self.client_name)
        if last is not None:
            request.last.CopyFrom(last)
            request.has_last = True
        return self._call(self._namenode.Complete, request).completed

    def _report_bad_block(self, block: hdfs_pb2.Block, datanode_uuid: str) -> None:
        self._call(self._namenode.ReportBadBlocks, hdfs_pb2.ReportBadBlocksRequest(
            block=block, datanode_uuid=datanode_uuid, reason="checksum mismatch on read"))

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

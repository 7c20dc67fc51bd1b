"""Container log files: read on a node by its NodeManager, gathered by `emrlab logs` from every node.

Each NodeManager keeps `<log dir>/<application>/<container>/stdout|stderr`
after the application ends (Hadoop without log aggregation). `emrlab logs`
asks every node's NodeManager for an application's files; a node whose
NodeManager is gone (LOST, decommissioned) is read from its directory in the
cluster dir instead, since emrlab's nodes share this machine's disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from emrlab_common.clusterdir import ClusterDir
from emrlab_common.errors import DeadlineExceeded, EmrlabError, Unavailable
from emrlab_common.protos import yarn_pb2, yarn_pb2_grpc
from emrlab_common.rpc import call, connect

LOG_BYTES_MAX = 16 << 20  # per file in one answer
NM_DEADLINE_S = 10.0


@dataclass(frozen=True)
class LogFile:
    node_id: str
    container_id: str
    name: str
    content: bytes
    length_bytes: int


def read_logs(log_root: Path, node_id: str, application_id: str, container_id: str = "",
              bytes_max: int = 0) -> list[LogFile]:
    """The log files of an application's containers under one node's log dir (the last `bytes_max` of each)."""
    root = log_root / application_id
    directories = [root / container_id] if container_id else sorted(root.glob("container_*"))
    limit = min(bytes_max or LOG_BYTES_MAX, LOG_BYTES_MAX)
    files = []
    for directory in directories:
        for path in sorted(directory.glob("*")) if directory.is_dir() else ():
            length = path.stat().st_size
            with open(path, "rb") as file:
                file.seek(max(0, length - limit))
                files.append(LogFile(node_id, directory.name, path.name, file.read(limit), length))
    return files


def gather_logs(cluster_dir: ClusterDir, nodes, application_id: str, container_id: str = "",
                bytes_max: int = 0) -> list[LogFile]:
    """Every node's log files for an application: from its NodeManager, else from its disk."""
    files = []
    for node in nodes:
        try:
            with connect(node.address) as channel:
                stub = yarn_pb2_grpc.ContainerManagementProtocolStub(channel)
                response = call(stub.GetContainerLogs, yarn_pb2.GetContainerLogsRequest(
                    application_id=application_id, container_id=container_id, bytes_max=bytes_max),
                    timeout_s=NM_DEADLINE_S, peer=f"nodemanager-{node.node_id}")
            files += [LogFile(node.node_id, item.container_id, item.name, item.content, item.length_bytes)
                      for item in response.files]
        except (Unavailable, DeadlineExceeded):
            files += read_logs(_log_root(cluster_dir, node.node_id), node.node_id, application_id, container_id,
                               bytes_max)
        except EmrlabError:
            continue
    return sorted(files, key=lambda item: (item.container_id, item.name))


def _log_root(cluster_dir: ClusterDir, node_id: str) -> Path:
    record = cluster_dir.read_daemon(f"nodemanager-{node_id}")
    if record is not None and record.extra.get("log_dir"):
        return Path(record.extra["log_dir"])
    return cluster_dir.node_dir(node_id) / "userlogs"

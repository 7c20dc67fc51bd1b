"""The administration half of `Client`: what `hdfs fsck` and `hdfs dfsadmin` ask the NameNode.

`AdminCalls` is a mixin of `Client` (client.py), as Hadoop keeps these calls in
DFSAdmin and HdfsAdmin beside the DFSClient: a file system check, the DataNode
report and admin states, decommissioning (refresh the exclude file, check that no
file would be left short of replicas) and safe mode.
"""

from __future__ import annotations

from emrlab_common.protos import hdfs_pb2
from emrlab_common.rpc import stream

FSCK_DEADLINE_S = 120.0  # four NameNode call deadlines: fsck walks the whole namespace under the path


class AdminCalls:
    """Needs of its `Client`: `resolve`, `_call`, `_credentials`, `_namenode`, `user`."""

    def fsck(self, path: str = "/") -> tuple[list[hdfs_pb2.FsckFile], hdfs_pb2.FsckSummary]:
        files, summary = [], None
        for part in stream(self._namenode.Fsck, hdfs_pb2.FsckRequest(path=self.resolve(path)), user=self.user,
                           metadata=self._credentials(),
                           peer="namenode", timeout_s=FSCK_DEADLINE_S):
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

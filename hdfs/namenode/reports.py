"""Reports over a subtree: content summaries (`dfs -count`, `dfs -du`) and fsck.

Both walk the namespace under a path and only read; they live apart from the
operations that change it. A content summary counts files, directories and
bytes (and the space their replicas take); fsck lists every file's blocks with
where their replicas are: live and in service (they count towards
replication), corrupt, or on decommissioning and decommissioned DataNodes
(readable, but not counted).
"""

from __future__ import annotations

from dataclasses import dataclass

from hdfs.namenode.blocks import BlockManager
from hdfs.namenode.datanodes import AdminState, DatanodeDescriptor
from hdfs.namenode.events import BlockRef
from hdfs.namenode.inodes import INode, INodeFile, subtree
from hdfs.protocol import ContentSummary


@dataclass(frozen=True)
class FsckBlock:
    block: BlockRef
    live: tuple[DatanodeDescriptor, ...]  # in service: these count towards replication
    corrupt: tuple[DatanodeDescriptor, ...]
    expected_replication: int
    decommissioning: tuple[DatanodeDescriptor, ...] = ()  # readable, but not counted
    decommissioned: tuple[DatanodeDescriptor, ...] = ()


def content_summary(inode: INode) -> ContentSummary:
    """Bytes, files, directories and space consumed (bytes times replication) under `inode`."""
    length = files = directories = consumed = 0
    for node in subtree(inode):
        if isinstance(node, INodeFile):
            files += 1
            length += node.length_bytes()
            consumed += node.length_bytes() * node.replication
        else:
            directories += 1
    return ContentSummary(length, files, directories, consumed)


def fsck_blocks(blocks: BlockManager, inode: INodeFile) -> list[FsckBlock]:
    """Each of a file's blocks with its replicas sorted by what they count for."""
    report = []
    for block in inode.blocks:
        live = blocks.live_replicas(block)
        report.append(FsckBlock(
            block.ref(), tuple(replica for replica in live if replica.in_service),
            tuple(blocks.corrupt_replicas(block)), inode.replication,
            tuple(replica for replica in live if replica.admin_state is AdminState.DECOMMISSION_INPROGRESS),
            tuple(replica for replica in live if replica.admin_state is AdminState.DECOMMISSIONED)))
    return report

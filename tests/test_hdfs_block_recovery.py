"""Unit tests of block recovery's decisions (hdfs/datanode/recovery.py), no network: the agreed length, who
takes part, and what the NameNode is told."""

from __future__ import annotations

from emrlab_common.protos import hdfs_pb2
from hdfs.datanode.recovery import commit_request, plan_recovery

BLOCK = hdfs_pb2.Block(block_id=7, generation_stamp=1001, length_bytes=4096)


def location(name: str) -> hdfs_pb2.DatanodeId:
    return hdfs_pb2.DatanodeId(datanode_uuid=f"uuid-{name}", node_id=name, address=f"{name}:1")


def holds(length_bytes: int) -> hdfs_pb2.InitReplicaRecoveryResponse:
    return hdfs_pb2.InitReplicaRecoveryResponse(has_replica=True, replica=hdfs_pb2.Block(
        block_id=7, generation_stamp=1001, length_bytes=length_bytes))


def test_every_replica_is_cut_to_the_shortest_and_one_without_it_takes_no_part():
    plan = plan_recovery([(location("core-1"), holds(3000)), (location("core-2"), hdfs_pb2.InitReplicaRecoveryResponse()),
                          (location("core-3"), holds(2560))])
    assert plan.agreed_length_bytes == 2560
    assert [participant.node_id for participant in plan.participants] == ["core-1", "core-3"]


def test_the_namenode_hears_of_the_truncated_replicas_under_the_new_stamp():
    plan = plan_recovery([(location("core-1"), holds(3000)), (location("core-2"), holds(2560))])
    request = commit_request(BLOCK, 1002, plan, ["uuid-core-2"])  # core-1's truncation failed: it is left out
    assert (request.block.block_id, request.block.generation_stamp, request.block.length_bytes) == (7, 1002, 2560)
    assert list(request.datanode_uuids) == ["uuid-core-2"] and not request.delete_block


def test_no_replica_left_deletes_the_block_and_none_truncated_commits_nothing():
    assert plan_recovery([]) is None
    assert plan_recovery([(location("core-1"), hdfs_pb2.InitReplicaRecoveryResponse())]) is None
    request = commit_request(BLOCK, 1002, None, [])
    assert request.delete_block and request.block == BLOCK
    plan = plan_recovery([(location("core-1"), holds(3000))])
    assert commit_request(BLOCK, 1002, plan, []) is None

"""Block recovery's decisions, pure (Hadoop's BlockRecoveryWorker.syncBlock without the calls).

When a writer vanishes, the NameNode picks one DataNode to lead the recovery
of its last block (a RecoverBlock command). The leader's I/O is in
`actor.py`: it asks every replica's DataNode what it holds
(InitReplicaRecovery, which puts the replica under recovery), has each
truncate to the agreed length under the new generation stamp
(UpdateReplicaUnderRecovery) and tells the NameNode the result
(CommitBlockSynchronization). What to do with the answers is decided here,
so a test checks it without a network:

- no replica answered: the NameNode is told to delete the block (nothing of
  it survives);
- else every replica that answered is cut to the shortest one's length: the
  bytes all of them hold (each says only what its checksums cover);
- the NameNode is told of the replicas that were truncated; if none was, the
  recovery failed and the NameNode starts another after its deadline.
"""

from __future__ import annotations

from dataclasses import dataclass

from emrlab_common.protos import hdfs_pb2


@dataclass(frozen=True)
class RecoveryPlan:
    """What the leader does once every replica answered InitReplicaRecovery."""

    agreed_length_bytes: int
    participants: tuple[hdfs_pb2.DatanodeId, ...]  # one per DataNode that holds a replica to truncate


def plan_recovery(answers: list[tuple[hdfs_pb2.DatanodeId, hdfs_pb2.InitReplicaRecoveryResponse]]) -> RecoveryPlan | None:
    """The plan from the answers that came (a DataNode that could not be reached has none); None: delete."""
    lengths: dict[str, tuple[hdfs_pb2.DatanodeId, int]] = {}
    for location, response in answers:
        if response.has_replica:
            lengths[location.datanode_uuid] = (location, response.replica.length_bytes)
    if not lengths:
        return None
    agreed = min(length for _, length in lengths.values())
    return RecoveryPlan(agreed, tuple(location for location, _ in lengths.values()))


def commit_request(block: hdfs_pb2.Block, new_generation_stamp: int, plan: RecoveryPlan | None,
                   updated_uuids: list[str]) -> hdfs_pb2.CommitBlockSynchronizationRequest | None:
    """What the NameNode is told: the block deleted (no plan), or recovered on the replicas that were
    truncated. None: no replica could be truncated, so there is nothing to commit."""
    if plan is None:
        return hdfs_pb2.CommitBlockSynchronizationRequest(block=block, delete_block=True)
    if not updated_uuids:
        return None
    recovered = hdfs_pb2.Block(block_id=block.block_id, generation_stamp=new_generation_stamp,
                               length_bytes=plan.agreed_length_bytes)
    return hdfs_pb2.CommitBlockSynchronizationRequest(block=recovered, datanode_uuids=updated_uuids)

"""Where new replicas go: Hadoop's default placement, without racks.

The first replica goes on the writer's own node when the writer runs on a
DataNode (a map task writing its output, say): the write costs no network
and the reader that follows is likely there too. The others go on distinct
nodes chosen at random among those with room, lightly loaded ones first, so
that data and work spread over the cluster. Never two replicas on one node.
"""

from __future__ import annotations

import random

from hdfs.namenode.datanodes import DatanodeDescriptor, stable_order

LOAD_FACTOR_MAX = 2.0  # as dfs.namenode.redundancy.considerLoad: skip nodes busier than twice the average


def choose_targets(
    count: int,
    live: list[DatanodeDescriptor],
    excluded: set[str],
    favored: DatanodeDescriptor | None,
    block_size_bytes: int,
    rng: random.Random,
) -> list[DatanodeDescriptor]:
    """Up to `count` distinct live DataNodes, none in `excluded`, favored one first."""
    # In a stable order before the shuffle, so that the seed alone decides (not the order the caller had).
    candidates = sorted((node for node in live if node.uuid not in excluded and node.remaining_bytes >= block_size_bytes),
                        key=stable_order)
    if not candidates:
        return []
    average_load = sum(node.active_transfers for node in candidates) / len(candidates)
    rng.shuffle(candidates)
    # Stable sort: random order among equally loaded nodes, overloaded ones last.
    candidates.sort(key=lambda node: node.active_transfers > LOAD_FACTOR_MAX * max(average_load, 1))
    if favored is not None and favored in candidates:
        candidates.remove(favored)
        candidates.insert(0, favored)
    return candidates[:count]

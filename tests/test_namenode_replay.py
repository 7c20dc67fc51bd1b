"""A failing run replays from its seed: the NameNode's random choices depend on the seed and the events only.

Not on the DataNodes' storage uuids (random per DataNode), nor on the order they registered in, nor on
the process's string hashing: two namesystems with one seed, fed the same events, place the same replicas,
give readers the same order, copy from the same source and delete the same excess replicas.
"""

from __future__ import annotations

import uuid as uuid_module

from hdfs.namenode.events import (
    AddBlock,
    BlockRef,
    BlocksReceivedAndDeleted,
    Complete,
    Create,
    DatanodeHeartbeat,
    DatanodeRegistered,
    InvalidateCommand,
    SetReplication,
    TransferCommand,
)
from tests.namenode_fixtures import SUPERUSER, FakeClock, commands_for, make_namesystem, run, tick

NODES = 7
FILES = 6
CAPACITY_BYTES = 1 << 40


def decisions(node_order: list[int], uuid_of, seed: int) -> list:
    """Everything random the NameNode decided in one scripted run, named by node id (uuids differ per run)."""
    clock = FakeClock()
    namesystem = make_namesystem(clock=clock, seed=seed)
    uuids = {index: uuid_of(index) for index in node_order}
    for index in node_order:
        run(namesystem, DatanodeRegistered(uuids[index], f"core-{index}", f"127.0.0.1:{9000 + index}",
                                           CAPACITY_BYTES))
    node_id = {uuid: f"core-{index}" for index, uuid in uuids.items()}

    def heartbeats() -> list:
        commands = []
        for index in sorted(uuids):  # the same events, in the same order, in both runs
            commands += commands_for(namesystem, DatanodeHeartbeat(uuids[index], CAPACITY_BYTES, 0,
                                                                   CAPACITY_BYTES, 0))
        return commands

    heartbeats()
    seen: list = []
    for number in range(FILES):
        path = f"/f{number}"
        run(namesystem, Create(SUPERUSER, path, 0o644, "client-1", False, True, 3, 0))
        located = run(namesystem, AddBlock(SUPERUSER, path, "client-1", None, frozenset(), "")).located
        seen.append(("placed", path, [node.node_id for node in located.locations]))
        ref = BlockRef(located.block.block_id, located.block.generation_stamp, 10)
        for node in located.locations:
            run(namesystem, BlocksReceivedAndDeleted(node.uuid, (ref,), ()))
        assert run(namesystem, Complete(path, "client-1", ref)).completed
    for number in range(FILES):
        _, located, _ = namesystem.block_locations(SUPERUSER, f"/f{number}", 0, 0, "")
        seen.append(("read", number, [node.node_id for block in located for node in block.locations]))
    for number in range(FILES):  # excess replicas: which one goes is the block map's choice
        run(namesystem, SetReplication(SUPERUSER, f"/f{number}", 2))
    clock.tick(2)
    tick(namesystem)
    for command in heartbeats():
        if isinstance(command, InvalidateCommand):
            seen.append(("deleted", sorted(block.block_id for block in command.blocks)))
    seen.append(("holders", sorted((block.block_id, sorted(node.node_id for node in
                                                            namesystem.blocks.live_replicas(block)))
                                   for block in namesystem.blocks.blocks.values())))
    for number in range(FILES):  # under-replicated again: the source and targets of each copy
        run(namesystem, SetReplication(SUPERUSER, f"/f{number}", 4))
    clock.tick(2)
    tick(namesystem)
    for command in heartbeats():
        if isinstance(command, TransferCommand):
            seen.append(("copied", command.block.block_id, [node.node_id for node in command.targets]))
    transfers = [(block_id, sorted(node_id[uuid] for uuid in pending.targets))
                 for block_id, pending in sorted(namesystem.blocks.pending.items())]
    seen.append(("pending", transfers))
    return seen


def test_one_seed_and_the_same_events_give_the_same_decisions_whatever_the_uuids_and_registration_order():
    first = decisions(list(range(1, NODES + 1)), lambda index: f"uuid-{index}", seed=42)
    other_uuids = decisions(list(range(1, NODES + 1)), lambda index: str(uuid_module.uuid4()), seed=42)
    other_order = decisions(list(range(NODES, 0, -1)), lambda index: str(uuid_module.uuid4()), seed=42)
    assert first == other_uuids
    assert first == other_order
    assert any(entry[0] == "deleted" for entry in first) and any(entry[0] == "copied" for entry in first)


def test_another_seed_gives_other_decisions():
    """The seed is what decides: otherwise the test above could not fail."""
    runs = [decisions(list(range(1, NODES + 1)), lambda index: f"uuid-{index}", seed=seed) for seed in (1, 2)]
    assert runs[0] != runs[1]

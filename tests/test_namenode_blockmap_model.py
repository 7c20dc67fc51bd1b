"""The block map against pretend DataNodes, by hypothesis: files written, deleted and re-replicated while
DataNodes die, come back with what their disks still hold, and find corrupt replicas.

The DataNodes here are dicts (block id -> replica) that carry out the NameNode's commands as a real
DataNode does: copy to the targets, delete, and on a restart register and send a full block report.
After every step the block map's own invariants hold (`BlockManager.validate_state`); after the
cluster has been left alone long enough, every file's block has its replication on the running
DataNodes (or all of them, if fewer), the NameNode's view of where replicas are is what the disks
hold, and no disk keeps a replica of a deleted file.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from hdfs.errors import NoDatanodes
from hdfs.namenode.events import (
    AddBlock,
    BadBlocksReported,
    BlockRef,
    BlockReport,
    BlocksReceivedAndDeleted,
    Complete,
    Create,
    DatanodeRegistered,
    Delete,
    InvalidateCommand,
    RegisterCommand,
    SetReplication,
    TransferCommand,
)
from tests.namenode_fixtures import SUPERUSER, FakeClock, add_datanodes, heartbeat, make_namesystem, run, tick

DATANODES = 4
CAPACITY_BYTES = 1 << 40
PENDING_TIMEOUT_S = 20  # a copy to a DataNode that died before it arrived is scheduled again after this
SETTLE_S = 60  # past the 12 s it takes to declare a silent DataNode dead, then a pending timeout, then more passes


class BlockMapMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.clock = FakeClock()
        self.namesystem = make_namesystem(
            clock=self.clock, properties={"dfs.namenode.reconstruction.pending.timeout-sec": str(PENDING_TIMEOUT_S)})
        self.uuids = add_datanodes(self.namesystem, DATANODES, CAPACITY_BYTES)
        self.disks: dict[str, dict[int, BlockRef]] = {uuid: {} for uuid in self.uuids}
        self.running = set(self.uuids)
        self.files: dict[str, int] = {}  # path -> replication
        self.deleted_block_ids: set[int] = set()
        self.file_number = 0

    # ------------------------------------------------------------ the pretend DataNodes

    def _register(self, uuid: str) -> None:
        """A DataNode (re)starting: register, then report every replica on its disk."""
        index = self.uuids.index(uuid) + 1
        run(self.namesystem, DatanodeRegistered(uuid, f"core-{index}", f"127.0.0.1:{9000 + index}", CAPACITY_BYTES))
        run(self.namesystem, BlockReport(uuid, tuple((ref, True) for ref in self.disks[uuid].values())))

    def _heartbeat(self, uuid: str) -> None:
        commands = heartbeat(self.namesystem, uuid, CAPACITY_BYTES)
        for command in commands:
            match command:
                case RegisterCommand():
                    self._register(uuid)
                case TransferCommand(block, targets):
                    if block.block_id not in self.disks[uuid]:
                        continue  # deleted meanwhile: the copy fails, the NameNode times it out
                    for target in targets:
                        if target.uuid in self.running:
                            self.disks[target.uuid][block.block_id] = block
                            run(self.namesystem, BlocksReceivedAndDeleted(target.uuid, (block,), ()))
                case InvalidateCommand(blocks):
                    gone = [ref for ref in blocks if self.disks[uuid].pop(ref.block_id, None) is not None]
                    run(self.namesystem, BlocksReceivedAndDeleted(uuid, (), tuple(gone)))

    def _seconds_pass(self, seconds: int) -> None:
        for _ in range(seconds):
            self.clock.tick(1)
            for uuid in sorted(self.running):
                self._heartbeat(uuid)
            tick(self.namesystem)

    # ------------------------------------------------------------ rules

    @rule(replication=st.integers(min_value=1, max_value=3))
    def write_file(self, replication):
        self.file_number += 1
        path, client = f"/f{self.file_number}", f"client-{self.file_number}"
        run(self.namesystem, Create(SUPERUSER, path, 0o644, client, False, True, replication, 0))
        stopped = set(self.uuids) - self.running  # a client leaves out DataNodes it cannot reach
        try:
            located = run(self.namesystem, AddBlock(SUPERUSER, path, client, None, frozenset(stopped), "")).located
        except NoDatanodes:
            assert run(self.namesystem, Complete(path, client, None)).completed
            self.files[path] = replication
            return
        ref = BlockRef(located.block.block_id, located.block.generation_stamp, 10)
        for node in located.locations:
            self.disks[node.uuid][ref.block_id] = ref
            run(self.namesystem, BlocksReceivedAndDeleted(node.uuid, (ref,), ()))
        assert run(self.namesystem, Complete(path, client, ref)).completed
        self.files[path] = replication

    @precondition(lambda self: self.files)
    @rule(data=st.data())
    def delete_file(self, data):
        path = data.draw(st.sampled_from(sorted(self.files)))
        self.deleted_block_ids |= {block.block_id for block in self.namesystem.namespace.get_file(path).blocks}
        run(self.namesystem, Delete(SUPERUSER, path, False))
        del self.files[path]

    @precondition(lambda self: self.files)
    @rule(data=st.data(), replication=st.integers(min_value=1, max_value=4))
    def set_replication(self, data, replication):
        path = data.draw(st.sampled_from(sorted(self.files)))
        run(self.namesystem, SetReplication(SUPERUSER, path, replication))
        self.files[path] = replication

    @precondition(lambda self: len(self.running) > 1)
    @rule(data=st.data())
    def datanode_dies(self, data):
        self.running.discard(data.draw(st.sampled_from(sorted(self.running))))

    @precondition(lambda self: len(self.running) < DATANODES)
    @rule(data=st.data())
    def datanode_returns(self, data):
        uuid = data.draw(st.sampled_from(sorted(set(self.uuids) - self.running)))
        self.running.add(uuid)
        self._register(uuid)

    @precondition(lambda self: any(self.disks[uuid] for uuid in self.running))
    @rule(data=st.data())
    def replica_goes_bad(self, data):
        """The block scanner finds a replica corrupt; the DataNode reports it and stops serving it."""
        uuid = data.draw(st.sampled_from(sorted(uuid for uuid in self.running if self.disks[uuid])))
        ref = self.disks[uuid].pop(data.draw(st.sampled_from(sorted(self.disks[uuid]))))
        run(self.namesystem, BadBlocksReported(uuid, (ref,)))

    @rule(seconds=st.integers(min_value=1, max_value=15))
    def time_passes(self, seconds):
        self._seconds_pass(seconds)

    @rule()
    def left_alone(self):
        """With nothing else happening, the NameNode brings every block to its replication, and no further."""
        self._seconds_pass(SETTLE_S)
        blocks = self.namesystem.blocks
        for path, replication in self.files.items():
            for block in self.namesystem.namespace.get_file(path).blocks:
                on_disks = {uuid for uuid in self.running if block.block_id in self.disks[uuid]}
                known = {node.uuid for node in blocks.live_replicas(block)}
                assert known == on_disks, f"{path} {block}: the NameNode thinks {known}, the disks hold {on_disks}"
                if on_disks:  # a block whose every replica was lost stays lost: nothing to copy from
                    assert len(on_disks) == min(replication, len(self.running)), (path, block, on_disks)
        for uuid in self.running:
            assert not self.disks[uuid].keys() & self.deleted_block_ids, f"{uuid} keeps replicas of deleted files"

    @invariant()
    def block_map_is_consistent(self):
        self.namesystem.blocks.validate_state()


BlockMapMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
TestBlockMapAgainstPretendDataNodes = BlockMapMachine.TestCase

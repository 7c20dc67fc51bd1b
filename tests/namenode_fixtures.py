"""Builders for NameNode state-machine tests: a fake clock and a namesystem with no I/O."""

from __future__ import annotations

import random

from emrlab_common.config import load
from hdfs.namenode.config import NameNodeConfig
from hdfs.namenode.events import (
    DatanodeCommand,
    DatanodeHeartbeat,
    DatanodeRegistered,
    Event,
    Reply,
    SetSafeMode,
    Tick,
    datanode_commands,
)
from hdfs.namenode.namesystem import Namesystem

SUPERUSER = "hdfs"
MiB = 1 << 20


class FakeClock:
    def __init__(self, now_s: float = 1000.0):
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s

    def tick(self, seconds: float) -> None:
        self.now_s += seconds


GROUPS = {SUPERUSER: frozenset({"supergroup"}), "alice": frozenset({"alice", "staff"}), "bob": frozenset({"bob", "staff"})}

TEST_PROPERTIES = {
    "dfs.blocksize": "1m",
    "dfs.heartbeat.interval": "1",
    "dfs.namenode.heartbeat.recheck-interval": "1000",
    "dfs.namenode.safemode.extension": "0",
    "dfs.namenode.redundancy.interval.seconds": "1",
    "dfs.namenode.lease-hard-limit-sec": "10",
}


class ClockedNamesystem(Namesystem):
    """A namesystem beside the fake clock its test advances (the namesystem reads no clock: the helpers below
    hand it `clock()` with each event)."""

    def __init__(self, clock: FakeClock, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.clock = clock


def make_namesystem(clock=None, journal=None, properties=None, leave_safe_mode=True, seed=7) -> ClockedNamesystem:
    config = load(NameNodeConfig, {**TEST_PROPERTIES, **(properties or {})})
    clock = clock or FakeClock()
    namesystem = ClockedNamesystem(clock, config, SUPERUSER, clock(), journal if journal is not None else [].append,
                                   lambda user: GROUPS.get(user, frozenset()), random.Random(seed))
    if leave_safe_mode:
        run(namesystem, SetSafeMode("leave"))
    return namesystem


def run(namesystem: ClockedNamesystem, event: Event) -> Reply:
    """Hand `event` to the namesystem at its clock's time: its one reply (the state's invariants checked after)."""
    commands = namesystem.handle(event, namesystem.clock())
    namesystem.validate_state()
    (reply,) = [command for command in commands if isinstance(command, Reply)]
    return reply


def commands_for(namesystem: ClockedNamesystem, event: Event) -> list[DatanodeCommand]:
    """Hand a DataNode's `event` to the namesystem at its clock's time: the commands its response carries."""
    commands = namesystem.handle(event, namesystem.clock())
    namesystem.validate_state()
    return datanode_commands(commands)


def heartbeat(namesystem: ClockedNamesystem, uuid: str, capacity_bytes: int = 1 << 40) -> list[DatanodeCommand]:
    """A heartbeat from an empty DataNode of `capacity_bytes`: the commands it gets back."""
    return commands_for(namesystem, DatanodeHeartbeat(uuid, capacity_bytes, 0, capacity_bytes, 0))


def tick(namesystem: ClockedNamesystem) -> None:
    """The monitors' pass at the clock's time (it answers nothing: its DataNode commands wait for heartbeats)."""
    assert namesystem.handle(Tick(), namesystem.clock()) == []
    namesystem.validate_state()


def add_datanodes(namesystem: ClockedNamesystem, count: int, capacity_bytes: int = 1 << 40) -> list[str]:
    uuids = []
    for index in range(1, count + 1):
        uuid = f"uuid-{index}"
        run(namesystem, DatanodeRegistered(uuid, f"core-{index}", f"127.0.0.1:{9000 + index}", capacity_bytes))
        commands_for(namesystem, DatanodeHeartbeat(uuid, capacity_bytes, 0, capacity_bytes, 0))
        uuids.append(uuid)
    return uuids

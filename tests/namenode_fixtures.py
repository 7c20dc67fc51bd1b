"""Builders for NameNode state-machine tests: a fake clock and a namesystem with no I/O."""

from __future__ import annotations

import random

from emrlab_common.config import load
from hdfs.namenode.config import NameNodeConfig
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


def make_namesystem(clock=None, journal=None, properties=None, leave_safe_mode=True) -> Namesystem:
    config = load(NameNodeConfig, {**TEST_PROPERTIES, **(properties or {})})
    namesystem = Namesystem(config, SUPERUSER, clock or FakeClock(), journal if journal is not None else [].append,
                            lambda user: GROUPS.get(user, frozenset()), random.Random(7))
    if leave_safe_mode:
        namesystem.set_safe_mode("leave")
    return namesystem


def add_datanodes(namesystem: Namesystem, count: int, capacity_bytes: int = 1 << 40) -> list[str]:
    uuids = []
    for index in range(1, count + 1):
        uuid = f"uuid-{index}"
        namesystem.register_datanode(uuid, f"core-{index}", f"127.0.0.1:{9000 + index}", capacity_bytes)
        namesystem.heartbeat(uuid, capacity_bytes, 0, capacity_bytes, 0)
        uuids.append(uuid)
    return uuids

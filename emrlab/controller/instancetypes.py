"""EC2 instance types, and what a NodeManager of that type can honestly offer on this machine.

The table (instance_types.json beside this file, or the file named by
`emrlab.instance-types.file`) lists real types with their vCPUs, memory and
prices. A cluster of three m5.xlarge core nodes asks for 12 vCPUs and 48 GiB;
a laptop has fewer, so each NodeManager advertises its type scaled down by one
factor for the whole cluster (never below 1 vcore and 256 MB), and the
controller says so. Containers then fit the machine instead of 8 maps fighting
over 2 cores.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from emrlab_common.errors import InvalidArgument

TABLE_PATH = Path(__file__).with_name("instance_types.json")
TABLE_KEY = "emrlab.instance-types.file"
MACHINE_MEMORY_SHARE = 0.5   # leave the other half to the daemons, the page cache and the user
CONTAINER_MEMORY_MB_MIN = 256
MEMORY_KEY = "yarn.nodemanager.resource.memory-mb"
VCORES_KEY = "yarn.nodemanager.resource.cpu-vcores"


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpus: int
    memory_gib: float
    on_demand_usd_per_hour: float
    spot_usd_per_hour: float
    emr_usd_per_hour: float


_table_path = ""  # the cluster's emrlab.instance-types.file; set once per process by use_table_from


def use_table_from(properties: dict[str, str]) -> None:
    """Read instance types from the cluster's own table when it names one (emrlab.instance-types.file)."""
    global _table_path
    _table_path = properties.get(TABLE_KEY, "")
    load_table(_table_path)  # a missing or malformed table is one clear error now, not later


@lru_cache(maxsize=4)
def load_table(path_text: str = "") -> dict[str, InstanceType]:
    path = Path(path_text) if path_text else TABLE_PATH
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise InvalidArgument(f"cannot read the instance-type table {path}: {error}") from None
    table = {}
    for name, row in document.items():
        if name.startswith("_"):
            continue
        try:
            table[name] = InstanceType(name, int(row["vcpus"]), float(row["memory_gib"]),
                                       float(row["on_demand_usd_per_hour"]), float(row["spot_usd_per_hour"]),
                                       float(row["emr_usd_per_hour"]))
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidArgument(f"{path}: instance type {name!r} is malformed ({error})") from None
    return table


def instance_type(name: str, where: str = "InstanceType") -> InstanceType:
    table = load_table(_table_path)
    if name not in table:
        raise InvalidArgument(f"{where}: unknown instance type {name!r} (known: {', '.join(sorted(table))})")
    return table[name]


@dataclass(frozen=True)
class NodeResources:
    memory_mb: int
    vcores: int

    def properties(self) -> dict[str, str]:
        """The NodeManager settings that make it offer these resources, as EMR writes them in yarn-site."""
        return {MEMORY_KEY: str(self.memory_mb), VCORES_KEY: str(self.vcores)}


def machine_capacity() -> tuple[int, int]:
    """(cores, memory MB) of this machine."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1 << 20)
    return cores, memory_mb


def scaled_resources(node_types: list[InstanceType], cores: int, memory_mb: int) -> tuple[list[NodeResources], float]:
    """Each node's type scaled by one factor so the cluster fits `cores` and half of `memory_mb`; and the factor.

    The cluster keeps at least `cores + 1` vcores (an ApplicationMaster and one task per core), handed out
    round robin, and each node at least 1 GiB per vcore so memory is never what stops a container.
    """
    wanted_vcores = sum(kind.vcpus for kind in node_types) or 1
    wanted_memory_mb = sum(kind.memory_gib * 1024 for kind in node_types) or 1
    factor = min(1.0, cores / wanted_vcores, memory_mb * MACHINE_MEMORY_SHARE / wanted_memory_mb)
    vcores = [max(1, round(kind.vcpus * factor)) for kind in node_types]
    index = 0
    while node_types and sum(vcores) < min(cores + 1, wanted_vcores):
        vcores[index % len(vcores)] += 1
        index += 1
    resources = [NodeResources(max(CONTAINER_MEMORY_MB_MIN * 4 * count, int(kind.memory_gib * 1024 * factor)) // 128 * 128,
                               count)
                 for kind, count in zip(node_types, vcores)]
    return resources, factor

"""The fault harness's network: each worker node in its own network namespace (`--netns`).

    root namespace: bridge emrt<N>br, 10.213.<N>.1/24  <- the NameNode and the ResourceManager listen here
        veth emrt<N>v1 <-> eth0 in namespace emrt<N>-core-1, 10.213.<N>.11  <- its DataNode and NodeManager
        veth emrt<N>v2 <-> eth0 in namespace emrt<N>-core-2, 10.213.<N>.12
        ...

N is the first bridge number nobody on this host holds yet, so two runs side by side do not meet. Nodes talk
to each other and to the primary through the bridge; a partition sets one node's veth down (it hears nobody
and nobody hears it); a degraded link adds `tc netem delay 200ms loss 10%` on both ends of that veth, or, in a
kernel without netem (no sch_netem module, as in some sandboxes), a 256 kbit/s token bucket (`tc tbf`): a slow
link instead of a lossy one, and the harness says which. `close()` removes everything it made, even after
a failure half-way through `create()`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Self

from emrlab.launcher import Placement

SUBNET = "10.213.{}.0/24"
NETEM = ("netem", "delay", "200ms", "loss", "10%")
SLOW_LINK = ("tbf", "rate", "256kbit", "burst", "16kbit", "latency", "400ms")


def unavailable_reason() -> str | None:
    """Why network namespaces cannot be made here, or None if they can."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add)"
    if shutil.which("ip") is None or shutil.which("tc") is None:
        return "the ip and tc commands (iproute2) are not installed"
    probe = f"emrt-probe-{os.getpid()}"
    result = subprocess.run(["ip", "netns", "add", probe], check=False, capture_output=True, text=True)
    if result.returncode != 0:
        return f"the kernel refuses network namespaces: {result.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], check=False, capture_output=True)
    return None


def ip(*arguments: str, namespace: str = "", check: bool = True) -> subprocess.CompletedProcess:
    command = ["ip", *(["netns", "exec", namespace, "ip"] if namespace else []), *arguments]
    result = subprocess.run(command, check=False, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {result.stderr.strip()}")
    return result


class Network:
    """A bridge in the root namespace and one namespace per worker node, on 10.213.<N>.0/24."""

    def __init__(self, node_ids: list[str]):
        self.node_ids = list(node_ids)
        self.number = 0          # N, once the bridge is ours
        self.made: list[tuple[str, str]] = []  # ("link" | "netns", name), to remove in reverse
        self.degraded: set[str] = set()
        self.netem = True

    # ------------------------------------------------------------ names and addresses

    @property
    def bridge(self) -> str:
        return f"emrt{self.number}br"

    def namespace(self, node_id: str) -> str:
        return f"emrt{self.number}-{node_id}"

    def veth(self, node_id: str) -> str:
        return f"emrt{self.number}v{self.node_ids.index(node_id) + 1}"

    @property
    def primary_address(self) -> str:
        return f"10.213.{self.number}.1"

    def address(self, node_id: str) -> str:
        return f"10.213.{self.number}.{self.node_ids.index(node_id) + 11}"

    def primary_properties(self) -> dict[str, str]:
        """The primary's daemons listen on the bridge, where every namespace reaches them."""
        host = self.primary_address
        return {"dfs.namenode.rpc-address": f"{host}:0", "dfs.namenode.http-address": f"{host}:0",
                "yarn.resourcemanager.address": f"{host}:0", "yarn.resourcemanager.webapp.address": f"{host}:0"}

    def placement(self, node_id: str) -> Placement:
        """A node's daemons run in its namespace and bind and advertise its address there."""
        host = self.address(node_id)
        keys = ("dfs.datanode.address", "dfs.datanode.http.address", "yarn.nodemanager.address",
                "yarn.nodemanager.webapp.address")
        arguments = tuple(part for key in keys for part in ("-D", f"{key}={host}:0"))
        return Placement(prefix=("ip", "netns", "exec", self.namespace(node_id)), arguments=arguments)

    # ------------------------------------------------------------ making and removing

    def create(self) -> None:
        for number in range(1, 255):
            if ip("link", "add", f"emrt{number}br", "type", "bridge", check=False).returncode == 0:
                self.number = number
                break
        else:
            raise RuntimeError("no free 10.213.N.0/24 test network (bridges emrt1br to emrt254br all exist)")
        self.made.append(("link", self.bridge))
        ip("addr", "add", f"{self.primary_address}/24", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")
        for node_id in self.node_ids:
            namespace, veth = self.namespace(node_id), self.veth(node_id)
            ip("netns", "add", namespace)
            self.made.append(("netns", namespace))
            ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", namespace)
            self.made.append(("link", veth))
            ip("link", "set", veth, "master", self.bridge, "up")
            ip("addr", "add", f"{self.address(node_id)}/24", "dev", "eth0", namespace=namespace)
            ip("link", "set", "eth0", "up", namespace=namespace)
            ip("link", "set", "lo", "up", namespace=namespace)

    def close(self) -> None:
        for kind, name in reversed(self.made):
            if kind == "link":
                ip("link", "del", name, check=False)  # a veth's peer goes with it
            else:
                ip("netns", "del", name, check=False)
        self.made.clear()

    def __enter__(self) -> Self:
        try:
            self.create()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exception) -> None:
        self.close()

    # ------------------------------------------------------------ faults

    def partition(self, node_id: str) -> None:
        ip("link", "set", self.veth(node_id), "down")

    def heal_partition(self, node_id: str) -> None:
        ip("link", "set", self.veth(node_id), "up")

    def degrade(self, node_id: str) -> str:
        """Add latency and loss (or, without netem, a slow link) on both ends of the node's link; what was done."""
        qdisc = NETEM if self.netem else SLOW_LINK
        result = self._qdisc("add", node_id, qdisc)
        if result.returncode != 0 and self.netem and "unknown" in result.stderr.lower():
            self.netem, qdisc = False, SLOW_LINK  # this kernel has no sch_netem
            result = self._qdisc("add", node_id, qdisc)
        if result.returncode != 0:
            raise RuntimeError(f"tc qdisc add {' '.join(qdisc)}: {result.stderr.strip()}")
        self.degraded.add(node_id)
        return ("netem delay 200ms loss 10%" if self.netem
                else "a 256 kbit/s link (tc tbf; this kernel has no netem for delay and loss)")

    def restore(self, node_id: str) -> None:
        self._qdisc("del", node_id, ())
        self.degraded.discard(node_id)

    def _qdisc(self, action: str, node_id: str, qdisc: tuple[str, ...]) -> subprocess.CompletedProcess:
        tail = ("root", *qdisc)
        host_side = subprocess.run(["tc", "qdisc", action, "dev", self.veth(node_id), *tail],
                                   check=False, capture_output=True, text=True)
        if host_side.returncode != 0:
            return host_side
        return subprocess.run(["ip", "netns", "exec", self.namespace(node_id), "tc", "qdisc", action, "dev", "eth0",
                               *tail], check=False, capture_output=True, text=True)

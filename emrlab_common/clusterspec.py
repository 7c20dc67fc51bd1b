"""The cluster spec, `<dir>/cluster.json`: what a cluster is made of, in one typed, versioned record.

Whoever creates a cluster writes it: the launcher (`emrlab.launcher.up`, for tests,
benchmarks and the demo) or the cluster controller (`emrlab cluster up`), which
rewrites the node list as instances come and go. The launcher's health checks,
the controller and `emrlab cluster status` read it, and every daemon and client
reads its `properties` (the cluster-wide `-D`, what a `*-site.xml` holds on EMR).

Daemons read nothing else of it: what one needs is given to it where it is
started, as `-D key=value` (a NodeManager's node label, the NameNode's
superuser), so that a daemon's inputs are its command line and its
configuration, as a Hadoop daemon's are.

The file carries a `version`. One of another version, or one missing a field,
is refused with one clear error (`ClusterSpecError`) instead of being half
understood; a change to the format gets a new version number.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from emrlab_common.errors import FailedPrecondition

SPEC_VERSION = 1
CORE = "CORE"
TASK = "TASK"


class ClusterSpecError(FailedPrecondition):
    """cluster.json is not a spec this emrlab reads."""


@dataclass(frozen=True)
class NodeSpec:
    """One worker node: `core-1`, `task-2`, or an instance's node name under the controller."""

    node_id: str
    group: str  # CORE or TASK, EMR's instance group role: which daemons it runs, and its YARN node label
    market: str = "ON_DEMAND"  # or SPOT
    instance_id: str = ""  # the controller's instance id, when the controller made the node


@dataclass(frozen=True)
class ClusterSpec:
    nodes: tuple[NodeSpec, ...]
    properties: Mapping[str, str]
    superuser: str  # who owns HDFS's root and may administer the cluster
    services: tuple[str, ...]  # hdfs, yarn
    created: str  # local time, ISO 8601, of the first start
    cluster_id: str = ""  # j-..., under the controller
    version: int = SPEC_VERSION
    nodes_by_id: Mapping[str, NodeSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "properties", MappingProxyType(dict(self.properties)))
        object.__setattr__(self, "nodes_by_id", MappingProxyType({node.node_id: node for node in self.nodes}))

    def in_group(self, group: str) -> tuple[NodeSpec, ...]:
        return tuple(node for node in self.nodes if node.group == group)

    def to_json(self) -> str:
        document = {
            "version": self.version,
            "nodes": [_node_document(node) for node in self.nodes],
            "properties": dict(self.properties),
            "superuser": self.superuser,
            "services": list(self.services),
            "created": self.created,
        }
        if self.cluster_id:
            document["cluster_id"] = self.cluster_id
        return json.dumps(document, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str = "cluster.json") -> ClusterSpec:
        """Parse a spec, or raise ClusterSpecError saying what is wrong with it."""
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise ClusterSpecError(f"{source} is not JSON ({error.msg} at line {error.lineno})") from None
        if not isinstance(document, dict):
            raise ClusterSpecError(f"{source} is not a cluster spec (a JSON object)")
        version = document.get("version")
        if version != SPEC_VERSION:
            found = "has no version (written by an older emrlab)" if version is None else f"is version {version!r}"
            raise ClusterSpecError(f"{source} {found}; this emrlab reads cluster spec version {SPEC_VERSION}. "
                                   f"Recreate the cluster: emrlab cluster down --delete, then emrlab cluster up")
        missing = [name for name in ("nodes", "properties", "superuser", "services", "created") if name not in document]
        if missing:
            raise ClusterSpecError(f"{source} has no {', '.join(missing)} field(s)")
        nodes, properties, services = document["nodes"], document["properties"], document["services"]
        if not (isinstance(nodes, list) and all(isinstance(node, dict) and {"id", "group"} <= node.keys()
                                                for node in nodes)):
            raise ClusterSpecError(f"{source}: nodes must be a list of objects with an id and a group")
        if not (isinstance(properties, dict) and all(isinstance(value, str) for value in properties.values())):
            raise ClusterSpecError(f"{source}: properties must be an object of strings")
        if not (isinstance(services, list) and all(isinstance(name, str) for name in services)):
            raise ClusterSpecError(f"{source}: services must be a list of names")
        return cls(
            nodes=tuple(NodeSpec(node["id"], node["group"], node.get("market", "ON_DEMAND"),
                                 node.get("instance_id", "")) for node in nodes),
            properties=properties, superuser=str(document["superuser"]), services=tuple(services),
            created=str(document["created"]), cluster_id=str(document.get("cluster_id", "")), version=version)


def _node_document(node: NodeSpec) -> dict:
    document = {"id": node.node_id, "group": node.group, "market": node.market}
    if node.instance_id:
        document["instance_id"] = node.instance_id
    return document

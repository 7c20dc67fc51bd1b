"""Hadoop's hosts files (`dfs.hosts.exclude`, `yarn.resourcemanager.nodes.exclude-path`).

One node name a line; `#` starts a comment; blank lines are ignored. A
missing file is an empty list, as in Hadoop, so a cluster needs none until
it first decommissions a node.
"""

from __future__ import annotations

from pathlib import Path


def read_hosts_file(path: Path) -> set[str]:
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return set()
    return {line.split("#", 1)[0].strip() for line in lines} - {""}

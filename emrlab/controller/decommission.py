"""Taking a node out gracefully, as EMR does before it terminates an instance: YARN first, HDFS for core nodes.

YARN's graceful decommission lets the node's running containers finish (within a timeout) and
waits for the applications that used it, so a reducer can still fetch its map output; HDFS's
decommission (an exclude file and -refreshNodes) copies every replica the node holds elsewhere
before it is DECOMMISSIONED. The shell runs these on its worker threads.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from emrlab_common.clusterdir import ClusterDir
from emrlab_common.errors import EmrlabError

logger = logging.getLogger(__name__)

POLL_S = 0.5
GONE_FROM_YARN = (None, "DECOMMISSIONED", "LOST", "SHUTDOWN")


def exclude_datanode(cluster_dir: ClusterDir, node_name: str, superuser: str) -> None:
    """Add the node to the NameNode's exclude file (dfs.hosts.exclude) and have it re-read (-refreshNodes)."""
    from hdfs import Client

    record = cluster_dir.read_daemon("namenode")
    exclude = Path(record.extra.get("exclude_path") if record else cluster_dir.root / "dfs.exclude")
    names = set(exclude.read_text().split()) if exclude.exists() else set()
    exclude.write_text("".join(f"{name}\n" for name in sorted(names | {node_name})))
    with Client.for_cluster(cluster_dir, user=superuser) as client:
        client.refresh_nodes()


def decommission_datanode(cluster_dir: ClusterDir, node_name: str, superuser: str, deadline: float) -> None:
    """Exclude the node and wait until HDFS says DECOMMISSIONED (every replica it held is elsewhere)."""
    from hdfs import Client

    exclude_datanode(cluster_dir, node_name, superuser)
    with Client.for_cluster(cluster_dir, user=superuser) as client:
        while time.monotonic() < deadline:
            if client.admin_states().get(node_name, "DECOMMISSIONED") == "DECOMMISSIONED":
                return
            time.sleep(POLL_S)
    logger.warning("%s is still decommissioning in HDFS at the deadline; it goes anyway", node_name)


def decommission_in_yarn(cluster_dir: ClusterDir, node_name: str, superuser: str, timeout_s: float,
                         deadline: float | None = None) -> None:
    """Start YARN's graceful decommission; with a `deadline` (monotonic), wait until the node is out."""
    from yarn.client import YarnClient

    try:
        with YarnClient.for_cluster(cluster_dir, user=superuser) as client:
            client.decommission_nodes([node_name], graceful=True, timeout_s=timeout_s)
            while deadline is not None and time.monotonic() < deadline:
                states = {node.node_id: node.state.value for node in client.nodes()}
                if states.get(node_name) in GONE_FROM_YARN:
                    return
                time.sleep(POLL_S)
    except EmrlabError as error:
        logger.warning("decommissioning %s in YARN: %s", node_name, error.message)

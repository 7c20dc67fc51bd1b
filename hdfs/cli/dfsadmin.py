"""`emrlab dfsadmin -report | -refreshNodes | -safemode get|enter|leave|wait`: HDFS administration.

`-refreshNodes` makes the NameNode re-read its exclude file (`dfs.hosts.exclude`,
<cluster dir>/dfs.exclude by default): listed DataNodes are decommissioned
(their replicas copied to other nodes first), the others recommissioned.
"""

from __future__ import annotations

import argparse
import time

from emrlab_common.command import CommandContext, CommandParser
from emrlab_common.config import format_size
from emrlab_common.protos import hdfs_pb2
from hdfs import Client

EPILOG = """examples:
  emrlab dfsadmin -report
  emrlab dfsadmin -safemode get
  emrlab dfsadmin -safemode enter     # read-only, for maintenance (superuser)
  echo core-3 >> ~/.emrlab/cluster/dfs.exclude
  emrlab dfsadmin -refreshNodes       # core-3: Decommission in progress, then Decommissioned
"""
DECOMMISSION_STATUS = {
    hdfs_pb2.DatanodeInfo.NORMAL: "Normal",
    hdfs_pb2.DatanodeInfo.DECOMMISSION_INPROGRESS: "Decommission in progress",
    hdfs_pb2.DatanodeInfo.DECOMMISSIONED: "Decommissioned",
}
SAFE_MODE_WAIT_POLL_S = 0.5


def sized(value: int) -> str:
    return f"{value} ({format_size(value)}B)"


def main(argv: list[str], context: CommandContext) -> int:
    parser = CommandParser(prog="emrlab dfsadmin", description="HDFS administration.", epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("-report", action="store_true", help="capacity, usage and every DataNode")
    group.add_argument("-refreshNodes", action="store_true", help="re-read the exclude file (dfs.hosts.exclude)")
    group.add_argument("-safemode", choices=["get", "enter", "leave", "wait"], help="query or change safe mode")
    args = parser.parse_args(argv)
    with Client.for_cluster(context.cluster_dir, properties=context.definitions) as client:
        if args.safemode:
            if args.safemode == "wait":
                while client.safe_mode("get")[0]:
                    time.sleep(SAFE_MODE_WAIT_POLL_S)
                print("Safe mode is OFF")
                return 0
            on, status = client.safe_mode(args.safemode)
            print(f"Safe mode is {'ON' if on else 'OFF'}")
            if on and args.safemode == "get":
                print(status)
            return 0
        if args.refreshNodes:
            response = client.refresh_nodes()
            print(f"Refresh nodes successful (read {response.exclude_path})")
            for title, node_ids in (("decommissioning", response.decommissioning),
                                    ("recommissioned", response.recommissioned)):
                if node_ids:
                    print(f"{title}: {', '.join(node_ids)}")
            return 0
        report(client.datanode_report())
    return 0


def report(response) -> None:
    live = [node for node in response.datanodes if node.live]
    dead = [node for node in response.datanodes if not node.live]
    capacity = sum(node.capacity_bytes for node in live)
    used = sum(node.dfs_used_bytes for node in live)
    remaining = sum(node.remaining_bytes for node in live)
    print(f"Configured Capacity: {sized(capacity)}")
    print(f"Present Capacity: {sized(used + remaining)}")
    print(f"DFS Remaining: {sized(remaining)}")
    print(f"DFS Used: {sized(used)}")
    print(f"DFS Used%: {100.0 * used / capacity if capacity else 0:.2f}%")
    print("Replicated Blocks:")
    print(f"\tUnder replicated blocks: {response.under_replicated_blocks}")
    print(f"\tBlocks with corrupt replicas: {response.corrupt_blocks}")
    print(f"\tMissing blocks: {response.missing_blocks}")
    if response.safe_mode:
        print("\nSafe mode is ON")
    print("\n-------------------------------------------------")
    for title, nodes in (("Live", live), ("Dead", dead)):
        print(f"{title} datanodes ({len(nodes)}):\n")
        for node in nodes:
            node_capacity = node.capacity_bytes or 1
            print(f"Name: {node.id.address} ({node.id.node_id})")
            print(f"Hostname: {node.id.node_id}")
            print(f"Decommission Status : {DECOMMISSION_STATUS[node.admin_state]}")
            print(f"Configured Capacity: {sized(node.capacity_bytes)}")
            print(f"DFS Used: {sized(node.dfs_used_bytes)}")
            print(f"Non DFS Used: {sized(max(0, node.capacity_bytes - node.dfs_used_bytes - node.remaining_bytes))}")
            print(f"DFS Remaining: {sized(node.remaining_bytes)}")
            print(f"DFS Used%: {100.0 * node.dfs_used_bytes / node_capacity:.2f}%")
            print(f"DFS Remaining%: {100.0 * node.remaining_bytes / node_capacity:.2f}%")
            print(f"Xceivers: {node.active_transfers}")
            print(f"Last contact: {time.strftime('%a %b %d %H:%M:%S %Z %Y', time.localtime(time.time() - node.last_heartbeat_age_s))}")
            print(f"Num of Blocks: {node.block_count}\n")

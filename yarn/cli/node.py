"""`emrlab node -list [-all] [-states S,...] | -status NODE`: the cluster's NodeManagers, as `yarn node`."""

from __future__ import annotations

import argparse

from emrlab_common.command import CommandContext, CommandParser
from yarn.cli import print_table
from yarn.client import YarnClient
from yarn.errors import NodeNotFound
from yarn.records import NodeState

EPILOG = """examples:
  emrlab node -list                      # RUNNING, NEW, UNHEALTHY and DECOMMISSIONING nodes
  emrlab node -list -all                 # ... and LOST and DECOMMISSIONED ones
  emrlab node -list -states LOST,DECOMMISSIONED
  emrlab node -status core-1
"""
DEFAULT_STATES = (NodeState.NEW, NodeState.RUNNING, NodeState.UNHEALTHY, NodeState.DECOMMISSIONING)
HEADER = ("Node-Id", "Node-State", "Node-Label", "Number-of-Running-Containers",
          "Memory-Used", "Memory-Total", "VCores-Used", "VCores-Total")


def main(argv: list[str], context: CommandContext) -> int:
    parser = CommandParser(prog="emrlab node", description="List the cluster's NodeManagers and their resources.",
                           epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("-list", action="store_true", help="list nodes")
    action.add_argument("-status", metavar="NODE", help="print one node's report")
    parser.add_argument("-all", action="store_true", help="with -list: nodes in every state")
    parser.add_argument("-states", metavar="STATES", help="with -list: comma-separated node states")
    args = parser.parse_args(argv)
    with YarnClient.for_cluster(context.cluster_dir) as client:
        if args.status:
            return _status(client, args.status)
        if args.all:
            states = ()
        elif args.states:
            states = [name.strip() for name in args.states.split(",") if name.strip()]
        else:
            states = DEFAULT_STATES
        nodes = sorted(client.nodes(states), key=lambda node: node.node_id)
    print(f"Total Nodes:{len(nodes)}")
    rows = [HEADER] + [(node.node_id, node.state.value, node.label, str(node.num_containers),
                        f"{node.used.memory_mb}MB", f"{node.capability.memory_mb}MB", str(node.used.vcores),
                        str(node.capability.vcores)) for node in nodes]
    print_table(rows)
    return 0


def _status(client: YarnClient, node_id: str) -> int:
    matches = [node for node in client.nodes() if node.node_id == node_id]
    if not matches:
        raise NodeNotFound(f"Could not find the node report for node id : {node_id}")
    node = matches[0]
    print("Node Report : ")
    for name, value in [("Node-Id", node.node_id), ("Rack", "/default-rack"), ("Node-State", node.state.value),
                        ("Node-Address", node.address), ("Last-Health-Update", f"{node.last_heartbeat_age_s:.1f}s ago"),
                        ("Health-Report", node.health_report), ("Containers", node.num_containers),
                        ("Memory-Used", f"{node.used.memory_mb}MB"), ("Memory-Capacity", f"{node.capability.memory_mb}MB"),
                        ("CPU-Used", f"{node.used.vcores} vcores"), ("CPU-Capacity", f"{node.capability.vcores} vcores"),
                        ("Node-Labels", node.label)]:
        print(f"\t{name} : {value}")
    return 0

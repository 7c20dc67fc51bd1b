"""`emrlab rmadmin -refreshNodes [-g [TIMEOUT]] | -decommission NODE,... [-g [TIMEOUT]]`, as `yarn rmadmin`.

Hadoop decommissions nodes listed in the exclude file
(`yarn.resourcemanager.nodes.exclude-path`, here <cluster dir>/yarn.exclude
by default) when told `-refreshNodes`; `-g` makes it graceful: the nodes take
no new containers and leave when theirs finish, or after TIMEOUT seconds.
`-decommission` is emrlab's shortcut that names the nodes directly.
"""

from __future__ import annotations

import argparse

from emrlab_common.command import CommandContext, CommandParser
from emrlab_common.config import parse_seconds
from emrlab_common.errors import InvalidArgument
from yarn.client import YarnClient

EPILOG = """examples:
  emrlab rmadmin -decommission core-3 -g 60      # graceful: running containers get up to 60 s
  emrlab rmadmin -decommission task-1,task-2     # forceful: their containers are lost now
  echo core-2 >> ~/.emrlab/cluster/yarn.exclude
  emrlab rmadmin -refreshNodes -g 3600           # decommission what the exclude file lists
"""
GRACEFUL_DEFAULT = "default"


def main(argv: list[str], context: CommandContext) -> int:
    parser = CommandParser(prog="emrlab rmadmin", description=__doc__.split("\n\n")[1].replace("\n", " "),
                           epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("-refreshNodes", action="store_true", help="re-read the exclude file")
    action.add_argument("-decommission", metavar="NODES", help="comma-separated node ids to decommission")
    parser.add_argument("-g", "-graceful", nargs="?", const=GRACEFUL_DEFAULT, metavar="TIMEOUT",
                        help="gracefully, waiting up to TIMEOUT seconds (default: "
                             "yarn.resourcemanager.nodemanager-graceful-decommission-timeout-secs)")
    args = parser.parse_args(argv)
    graceful = args.g is not None
    timeout_s = 0.0 if args.g in (None, GRACEFUL_DEFAULT) else parse_seconds(args.g)
    if graceful and timeout_s < 0:
        raise InvalidArgument("-g TIMEOUT cannot be negative")
    with YarnClient.for_cluster(context.cluster_dir) as client:
        if args.refreshNodes:
            response = client.refresh_nodes(graceful=graceful, timeout_s=timeout_s)
            for title, node_ids in (("decommissioning", response.decommissioning),
                                    ("decommissioned", response.decommissioned),
                                    ("recommissioned", response.recommissioned)):
                if node_ids:
                    print(f"{title}: {', '.join(node_ids)}")
            return 0
        node_ids = [name.strip() for name in args.decommission.split(",") if name.strip()]
        if not node_ids:
            raise InvalidArgument("-decommission needs at least one node id")
        for node in client.decommission_nodes(node_ids, graceful=graceful, timeout_s=timeout_s):
            print(f"{node.node_id}: {node.state.value} ({node.num_containers} running container(s))")
    return 0

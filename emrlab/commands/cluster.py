"""`emrlab cluster up | down | status`: a cluster's whole life from the command line."""

from __future__ import annotations

import argparse
import shutil

from emrlab import launcher
from emrlab_common.clusterdir import process_alive
from emrlab_common.command import CommandContext, CommandParser
from emrlab_common.config import parse_size
from emrlab_common.errors import InvalidArgument

EPILOG = """examples:
  emrlab cluster up --core 3 --block-size 1m       # a small cluster in ~/.emrlab/cluster
  emrlab --dir /tmp/lab cluster up --core 4 --task 2 -D dfs.replication=2
  emrlab cluster status
  emrlab cluster down            # stop the daemons; HDFS data stays for the next `up`
  emrlab cluster down --delete   # ... and remove the cluster directory
"""


def main(argv: list[str], context: CommandContext) -> int:
    parser = CommandParser(prog="emrlab cluster", description="Start, inspect and stop a cluster.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", required=True, metavar="up|down|status")
    start = actions.add_parser("up", help="start the daemons and wait until the cluster is healthy", epilog=EPILOG,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    start.add_argument("--core", "--datanodes", type=int, default=3, dest="core",
                       help="core nodes (a DataNode and a NodeManager each; default 3)")
    start.add_argument("--task", type=int, default=0, help="task nodes (a NodeManager each, no HDFS data; default 0)")
    start.add_argument("--block-size", help="dfs.blocksize for new files, e.g. 1m or 128m")
    start.add_argument("--replication", type=int, help="dfs.replication for new files")
    start.add_argument("--services", default=",".join(launcher.SERVICES),
                       help=f"which services to run (default {','.join(launcher.SERVICES)})")
    stop = actions.add_parser("down", help="stop every daemon of the cluster")
    stop.add_argument("--delete", action="store_true", help="also delete the cluster directory and its data")
    actions.add_parser("status", help="show the cluster's daemons")
    args = parser.parse_args(argv)
    cluster_dir = context.cluster_dir
    if args.action == "up":
        return _up(args, context)
    if args.action == "down":
        stopped = launcher.down(cluster_dir)
        print(f"stopped {len(stopped)} daemon(s) in {cluster_dir.root}")
        if args.delete and cluster_dir.root.exists():
            shutil.rmtree(cluster_dir.root)
            print(f"deleted {cluster_dir.root}")
        return 0
    return _status(context)


def _up(args, context: CommandContext) -> int:
    properties = dict(context.definitions)
    if args.block_size:
        properties["dfs.blocksize"] = str(parse_size(args.block_size))
    if args.replication is not None:
        if args.replication < 1:
            raise InvalidArgument("--replication must be at least 1")
        properties["dfs.replication"] = str(args.replication)
    services = tuple(name.strip() for name in args.services.split(",") if name.strip())
    unknown = [name for name in services if name not in launcher.SERVICES]
    if unknown:
        raise InvalidArgument(f"unknown service(s) {', '.join(unknown)}; known: {', '.join(launcher.SERVICES)}")
    cluster_dir = context.cluster_dir
    print(f"starting a cluster in {cluster_dir.root}: 1 primary, {args.core} core, {args.task} task node(s)")
    launcher.up(cluster_dir, core=args.core, task=args.task, properties=properties, services=services,
                progress=lambda line: print(f"  {line}", flush=True))
    print(f"cluster is up. Logs: {cluster_dir.logs_dir}")
    if context.dir_flag:
        print(f"tip: export EMRLAB_CLUSTER={cluster_dir.root} to skip --dir in later commands")
    return 0


def _status(context: CommandContext) -> int:
    cluster_dir = context.cluster_dir
    spec = cluster_dir.read_spec()
    records = cluster_dir.daemons()
    groups = {}
    for node in spec["nodes"]:
        groups.setdefault(node["group"], []).append(node["id"])
    print(f"cluster {cluster_dir.root} (superuser {spec['superuser']})")
    print("nodes: " + ", ".join(f"{group} {len(ids)}" for group, ids in groups.items()))
    if not records:
        print("no daemons running (start them with `emrlab cluster up`)")
        return 1
    print(f"{'DAEMON':<26} {'PID':>7}  {'ADDRESS':<22} STATE")
    dead = 0
    for record in records:
        alive = process_alive(record.pid)
        dead += not alive
        print(f"{record.name:<26} {record.pid:>7}  {record.address:<22} {'running' if alive else 'dead'}")
    print(f"logs: {cluster_dir.logs_dir}")
    return 1 if dead else 0

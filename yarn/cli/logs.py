"""`emrlab logs -applicationId ID [-containerId ID] [-log_files NAME,...]`: container logs, as `yarn logs`."""

from __future__ import annotations

import argparse
import sys

from emrlab_common.command import CommandContext, CommandParser
from emrlab_common.errors import NotFound
from yarn.client import YarnClient
from yarn.containerlogs import gather_logs
from yarn.records import application_of_container, check_application_id

EPILOG = """examples:
  emrlab logs -applicationId application_1700000000000_0001
  emrlab logs -applicationId application_1700000000000_0001 -containerId container_1700000000000_0001_01_000002
  emrlab logs -applicationId application_1700000000000_0001 -log_files stderr -size 4096
"""


def main(argv: list[str], context: CommandContext) -> int:
    parser = CommandParser(prog="emrlab logs", description="Print the stdout/stderr of an application's containers.",
                           epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-applicationId", required=True, metavar="ID")
    parser.add_argument("-containerId", default="", metavar="ID", help="only this container")
    parser.add_argument("-log_files", default="", metavar="NAMES", help="only these files, e.g. stdout,stderr")
    parser.add_argument("-size", type=int, default=0, metavar="BYTES", help="only the last BYTES of each file")
    args = parser.parse_args(argv)
    check_application_id(args.applicationId)
    if args.containerId and application_of_container(args.containerId) != args.applicationId:
        raise NotFound(f"container {args.containerId} does not belong to {args.applicationId}")
    wanted = {name.strip() for name in args.log_files.split(",") if name.strip()}
    with YarnClient.for_cluster(context.cluster_dir) as client:
        client.application_report(args.applicationId)  # unknown application: a clear error
        files = gather_logs(context.cluster_dir, client.nodes(), args.applicationId, args.containerId, args.size)
    files = [item for item in files if not wanted or item.name in wanted]
    if not files:
        raise NotFound(f"no logs for {args.containerId or args.applicationId} on any node")
    output = sys.stdout.buffer
    current = None
    for item in files:
        if item.container_id != current:
            current = item.container_id
            title = f"Container: {item.container_id} on {item.node_id}"
            output.write(f"{title}\n{'=' * len(title)}\n".encode())
        output.write(f"LogType:{item.name}\nLogLength:{item.length_bytes}\nLog Contents:\n".encode())
        output.write(item.content)
        if item.content and not item.content.endswith(b"\n"):
            output.write(b"\n")
        output.write(f"End of LogType:{item.name}\n\n".encode())
    output.flush()
    return 0

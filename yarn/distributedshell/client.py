"""`emrlab distributedshell --num-containers N [options] -- COMMAND...`: YARN's DistributedShell client.

It submits an application whose ApplicationMaster (`appmaster.py`) runs
COMMAND in N containers, follows it to the end, and prints each container's
output. A student sees YARN at work without MapReduce: the AM on a core node,
containers spread over nodes, their logs, their exit statuses.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time

from emrlab_common.command import CommandContext, CommandParser
from emrlab_common.config import load
from emrlab_common.errors import Aborted, DeadlineExceeded, InvalidArgument, Unavailable
from yarn.client import YarnClient
from yarn.containerlogs import gather_logs
from yarn.distributedshell.appmaster import COMMAND_VARIABLE
from yarn.errors import InvalidResourceRequest
from yarn.resourcemanager.config import ResourceManagerConfig
from yarn.records import (
    ApplicationSubmissionContext,
    ContainerLaunchContext,
    FinalApplicationStatus,
    NodeState,
    Resource,
)

EPILOG = """examples:
  emrlab distributedshell --num-containers 3 -- hostname
  emrlab distributedshell --num-containers 2 --container-memory 256 -- 'echo $CONTAINER_ID on $EMRLAB_NODE_ID'
  emrlab distributedshell --num-containers 1 --timeout 30 -- sleep 10
"""
POLL_S = 0.2


def main(argv: list[str], context: CommandContext) -> int:
    if "--" in argv:
        split = argv.index("--")
        argv, command = argv[:split], argv[split + 1:]
    else:
        command = []
    parser = CommandParser(prog="emrlab distributedshell", description="Run a shell command in N YARN containers.",
                           usage="emrlab distributedshell [options] -- COMMAND...", epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-containers", type=int, default=1, help="containers to run the command in (default 1)")
    parser.add_argument("--container-memory", type=int, default=128, metavar="MB", help="memory per container (128)")
    parser.add_argument("--container-vcores", type=int, default=1, metavar="N", help="vcores per container (1)")
    parser.add_argument("--master-memory", type=int, default=128, metavar="MB", help="the ApplicationMaster's memory")
    parser.add_argument("--queue", default="default")
    parser.add_argument("--appname", default="DistributedShell")
    parser.add_argument("--nodes", default="", help="comma-separated node ids to prefer (delay scheduling)")
    parser.add_argument("--shell-env", action="append", default=[], metavar="KEY=VALUE", help="environment for COMMAND")
    parser.add_argument("--timeout", type=float, default=0, metavar="SECONDS", help="kill the application after this")
    args = parser.parse_args(argv)
    if not command:
        raise InvalidArgument("no command: put it after --, e.g. emrlab distributedshell --num-containers 3 -- hostname")
    if args.num_containers < 1 or args.container_memory < 1 or args.container_vcores < 1 or args.master_memory < 1:
        raise InvalidArgument("--num-containers, --container-memory, --container-vcores and --master-memory must be positive")
    for item in args.shell_env:
        if "=" not in item:
            raise InvalidArgument(f"--shell-env expects KEY=VALUE, got {item!r}")
    shell_command = command[0] if len(command) == 1 else shlex.join(command)
    heartbeat_ms = int(load(ResourceManagerConfig, context.properties()).heartbeat_interval_s * 1000)
    with YarnClient.for_cluster(context.cluster_dir) as client:
        _check_fits(client, args)
        app_id = client.new_application()
        am_command = shlex.join([
            "--num-containers", str(args.num_containers), "--container-memory", str(args.container_memory),
            "--container-vcores", str(args.container_vcores), "--heartbeat-ms", str(max(50, heartbeat_ms)),
            "--nodes", args.nodes, *[part for item in args.shell_env for part in ("--shell-env", item)]])
        client.submit_application(ApplicationSubmissionContext(
            app_id, args.appname, ContainerLaunchContext(
                [f"$EMRLAB_PYTHON -m yarn.distributedshell.appmaster {am_command}"], {COMMAND_VARIABLE: shell_command}),
            Resource(args.master_memory, 1), queue=args.queue, application_type="YARN"))
        print(f"Submitted application {app_id}", flush=True)
        report = _follow(client, app_id, args.timeout)
        _print_outputs(context, client, report)
    if report.final_status is not FinalApplicationStatus.SUCCEEDED:
        raise Aborted(f"application {app_id} finished with {report.final_status.value}: {report.diagnostics}")
    print("Application completed successfully")
    return 0


def _check_fits(client: YarnClient, args) -> None:
    """Refuse at once what no node could run, instead of waiting forever."""
    nodes = client.nodes([NodeState.RUNNING])
    if not nodes:
        raise Unavailable("no NodeManager is RUNNING (see `emrlab node -list -all`)")
    largest = max(node.capability.memory_mb for node in nodes)
    if args.container_memory > largest:
        raise InvalidResourceRequest(f"--container-memory {args.container_memory} MB is more than any node offers "
                                     f"(largest: {largest} MB)")
    core = [node.capability.memory_mb for node in nodes if node.label == "CORE"]
    if core and args.master_memory > max(core):
        raise InvalidResourceRequest(f"--master-memory {args.master_memory} MB is more than any CORE node offers "
                                     f"(largest: {max(core)} MB)")


def _follow(client: YarnClient, app_id: str, timeout_s: float):
    deadline = time.monotonic() + timeout_s if timeout_s > 0 else None
    last_state = None
    try:
        while True:
            report = client.application_report(app_id)
            if report.state != last_state:
                last_state = report.state
                print(f"  {app_id} {report.state.value}" + (f" (AM on {report.am_node_id})" if report.am_node_id else ""),
                      flush=True)
            if report.state.is_final:
                return report
            if deadline is not None and time.monotonic() >= deadline:
                client.kill_application(app_id, f"killed by the client after its {timeout_s:.0f}s timeout")
                raise DeadlineExceeded(f"application {app_id} did not finish in {timeout_s:.0f}s; killed it")
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        client.kill_application(app_id, "killed by the client (interrupted)")
        raise


def _print_outputs(context: CommandContext, client: YarnClient, report) -> None:
    for item in gather_logs(context.cluster_dir, client.nodes(), report.application_id):
        if item.container_id != report.am_container_id and item.name == "stdout" and item.content:
            sys.stdout.write(f"--- {item.container_id} on {item.node_id}\n")
            sys.stdout.write(item.content.decode(errors="replace"))
    sys.stdout.flush()

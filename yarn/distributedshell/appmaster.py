"""The distributed shell's ApplicationMaster: run one shell command in N containers, then finish.

    $EMRLAB_PYTHON -m yarn.distributedshell.appmaster --num-containers 3 --container-memory 128

The command comes in $DISTRIBUTEDSHELL_COMMAND. The AM asks for N containers,
starts the command in each as it arrives, and counts completions: exit 0 is a
success, another exit status a failure, and a container lost with its node
(ABORTED, PREEMPTED) is asked for again, since the command did nothing wrong.
It finishes SUCCEEDED if every container succeeded, else FAILED, as YARN's
own DistributedShell does. It is also the smallest complete ApplicationMaster
to read before MapReduce's.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import time
from contextlib import closing

from emrlab_common.errors import EmrlabError
from yarn.amclient import AMRMClient, NMClient
from yarn.records import ContainerExitStatus, ContainerLaunchContext, ContainerRequest, FinalApplicationStatus, Resource

logger = logging.getLogger("distributedshell")

COMMAND_VARIABLE = "DISTRIBUTEDSHELL_COMMAND"
LOST_CONTAINERS_MAX = 100  # asks again for lost containers, but not forever


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m yarn.distributedshell.appmaster")
    parser.add_argument("--num-containers", type=int, default=1)
    parser.add_argument("--container-memory", type=int, default=128, help="MB per container")
    parser.add_argument("--container-vcores", type=int, default=1)
    parser.add_argument("--priority", type=int, default=0)
    parser.add_argument("--nodes", default="", help="preferred node ids, comma-separated")
    parser.add_argument("--heartbeat-ms", type=int, default=1000)
    parser.add_argument("--shell-env", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    command = os.environ.get(COMMAND_VARIABLE, "")
    environment = dict(item.split("=", 1) for item in args.shell_env if "=" in item)

    with closing(AMRMClient.from_environment()) as rm, closing(NMClient()) as nm:  # closed however it ends
        rm.register(socket.gethostname(), 0)
        try:
            final, message = run(rm, nm, args, command, environment)
        except EmrlabError as error:  # e.g. a container larger than any node: fail with the reason, not a traceback
            final, message = FinalApplicationStatus.FAILED, error.message
        rm.finish(final, message)
    logger.info("finished %s: %s", final.value, message)
    return 0


def run(rm: AMRMClient, nm: NMClient, args, command: str,
        environment: dict[str, str]) -> tuple[FinalApplicationStatus, str]:
    """Ask, launch, count; returns the final status and diagnostics."""
    logger.info("registered %s; running %r in %d container(s)", rm.attempt_id, command, args.num_containers)
    request = ContainerRequest(Resource(args.container_memory, args.container_vcores),
                               nodes=tuple(filter(None, args.nodes.split(","))), priority=args.priority)
    for _ in range(args.num_containers):
        rm.add_request(request)
    launched = succeeded = failed = lost = 0
    diagnostics = []
    while succeeded + failed < args.num_containers:
        response = rm.allocate((succeeded + failed) / max(1, args.num_containers))
        for container in response.allocated:
            if launched - lost >= args.num_containers:
                rm.release(container.id)
                continue
            logger.info("launching %r on %s in %s", command, container.node_id, container.id)
            nm.start_container(container, ContainerLaunchContext([command], environment))
            launched += 1
        for status in response.completed:
            if ContainerExitStatus.is_lost(status.exit_status) and lost < LOST_CONTAINERS_MAX:
                lost += 1
                logger.info("%s was lost (%s); asking for another", status.container_id, status.diagnostics)
                rm.add_request(request)
            elif status.exit_status == 0:
                succeeded += 1
            else:
                failed += 1
                diagnostics.append(f"{status.container_id} exit status {status.exit_status}: {status.diagnostics}".strip())
            logger.info("%s completed with exit status %d", status.container_id, status.exit_status)
        time.sleep(args.heartbeat_ms / 1000)
    final = FinalApplicationStatus.SUCCEEDED if failed == 0 else FinalApplicationStatus.FAILED
    summary = f"{succeeded} succeeded, {failed} failed, {lost} lost and run again"
    return final, summary + (f"; {'; '.join(diagnostics[:3])}" if diagnostics else "")


if __name__ == "__main__":
    sys.exit(main())

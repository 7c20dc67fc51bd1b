"""The `emrlab` command: one entry point, one module per subcommand.

Each subcommand lives with the subsystem it drives (`emrlab dfs` in `hdfs`,
`emrlab node` in `yarn`, ...) as a function `main(argv, context) -> int`, and
is imported only when used, so `emrlab --help` stays fast.
"""

from __future__ import annotations

import difflib
import importlib
import signal
import sys
import threading

from emrlab_common.command import EXIT_USAGE, run_command
from emrlab_common.logs import configure_command_logging
from emrlab_common.shadowing import hdfs_shadowed

# name -> (module with main(argv, context), one-line summary)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("emrlab.commands.demo", "the whole stack in one command: a cluster, HDFS, a word count on YARN"),
    "cluster": ("emrlab.commands.cluster", "a managed cluster: up | down | status | describe | list-instances | resize | terminate | ..."),
    "step": ("emrlab.commands.step", "steps on a cluster, as `aws emr add-steps`: add | list | describe | cancel"),
    "spot": ("emrlab.commands.spot", "spot instances: interrupt them, and the spot lab (experiment)"),
    "dfs": ("hdfs.cli.dfs", "file system commands, as `hdfs dfs`: -put, -get, -ls, -cat, -rm, ..."),
    "fsck": ("hdfs.cli.fsck", "check HDFS health: blocks, replicas, corruption"),
    "dfsadmin": ("hdfs.cli.dfsadmin", "HDFS administration: -report, -safemode"),
    "node": ("yarn.cli.node", "YARN NodeManagers, as `yarn node`: -list [-all], -status NODE"),
    "application": ("yarn.cli.application", "YARN applications, as `yarn application`: -list, -status ID, -kill ID"),
    "logs": ("yarn.cli.logs", "container logs of an application, as `yarn logs`: -applicationId ID"),
    "rmadmin": ("yarn.cli.rmadmin", "YARN administration: -decommission NODE -g TIMEOUT, -refreshNodes"),
    "distributedshell": ("yarn.distributedshell.client", "run a shell command in N YARN containers: --num-containers N -- CMD"),
    "examples": ("mapreduce.commands.examples", "run a built-in example job: wordcount, grep, invertedindex, sort, join"),
    "streaming": ("mapreduce.commands.streaming", "Hadoop Streaming: -input IN -output OUT -mapper CMD -reducer CMD"),
    "job": ("mapreduce.commands.job", "run a MapReduce job: run JOB.py -r inline|local|cluster IN... -o OUT"),
}

USAGE = """usage: emrlab [--dir DIR] [-D key=value ...] COMMAND [ARGS ...]

Commands:
{commands}

Every command takes --help. The cluster is found in --dir DIR, else $EMRLAB_CLUSTER,
else ~/.emrlab/cluster. -D key=value sets any configuration key (Hadoop's names).

Example:
  emrlab demo
"""


def usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = (f"  {name:<{width}}  {summary}" for name, (_, summary) in COMMANDS.items())
    return USAGE.format(commands="\n".join(lines))


def command_position(argv: list[str]) -> int | None:
    """Index of the command name, skipping generic options that may come before it."""
    index = 0
    while index < len(argv):
        if argv[index] in ("--dir", "-D"):
            index += 2
        elif argv[index].startswith(("--dir=", "-D")):
            index += 1
        else:
            return index
    return None


def _register_reporters() -> None:
    """What the managed cluster adds to the reports of the layers below it (a job's cost share)."""
    from emrlab.controller.jobcost import job_cost_lines
    from emrlab_common.hooks import JOB_FINISHED_REPORTERS

    if job_cost_lines not in JOB_FINISHED_REPORTERS:
        JOB_FINISHED_REPORTERS.append(job_cost_lines)


def _let_ctrl_c_through() -> None:
    """Ctrl-C stops a command (a job's client then kills its job), whatever the parent left: Python keeps
    SIGINT ignored when it starts with it ignored, and a blocked SIGINT is inherited across exec."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    configure_command_logging()
    _let_ctrl_c_through()
    position = command_position(argv)
    if position is None or argv[position] not in COMMANDS:
        asked_for_help = position is not None and argv[position] in ("-h", "--help", "help")
        if position is not None and not asked_for_help:
            close = difflib.get_close_matches(argv[position], COMMANDS, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            print(f"emrlab: unknown command {argv[position]!r} ({hint}emrlab --help lists the commands)",
                  file=sys.stderr)
            return EXIT_USAGE
        print(usage(), file=sys.stdout if asked_for_help else sys.stderr, end="")
        return 0 if asked_for_help else EXIT_USAGE
    if problem := hdfs_shadowed():
        print(f"emrlab: {problem}", file=sys.stderr)
        return 1
    name = argv[position]
    _register_reporters()
    module_name, _ = COMMANDS[name]
    command = importlib.import_module(module_name).main
    return run_command(command, argv[:position] + argv[position + 1:], prog=f"emrlab {name}")

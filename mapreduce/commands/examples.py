"""`emrlab examples`: run a built-in example job (their source is in mapreduce/examples/).

    emrlab examples NAME INPUT... OUTPUT [-r RUNNER] [--reducers N] [-D key=value] [job args]

The default runner is `cluster` when a cluster is running (and the cluster
runner is installed), else `local`.
"""

from __future__ import annotations

import sys

from emrlab_common.clusterdir import ClusterDir, process_alive
from emrlab_common.command import EXIT_USAGE, CommandContext
from emrlab_common.errors import InvalidArgument
from mapreduce.commands.job import run_job

EXAMPLES = {
    "wordcount": ("mapreduce.examples.wordcount:WordCount", "count the words of the input"),
    "grep": ("mapreduce.examples.grep:Grep", "count the matches of --pattern REGEX, most frequent first"),
    "invertedindex": ("mapreduce.examples.invertedindex:InvertedIndex", "for each word, the files it is in"),
    "sort": ("mapreduce.examples.sort:Sort", "sort lines in one total order (sampled range partitioner)"),
    "join": ("mapreduce.examples.join:Join", "inner join of two tab-separated inputs on their first field"),
}
RESOURCE_MANAGER_DAEMON = "resourcemanager"

USAGE = """usage: emrlab examples NAME INPUT... OUTPUT [-r inline|local|cluster] [--reducers N] [job args]

Examples (their source: mapreduce/examples/NAME.py, ready to copy):
{examples}

The default runner is cluster when a cluster is running, else local.

Example:
  emrlab examples wordcount books/ counts -r local
"""


def usage() -> str:
    width = max(map(len, EXAMPLES))
    return USAGE.format(examples="\n".join(f"  {name:<{width}}  {summary}" for name, (_, summary) in EXAMPLES.items()))


def default_runner(context: CommandContext, prog: str) -> str:
    """`cluster` when a ResourceManager is alive in the cluster directory, else `local`
    (said on stderr, so that nobody mistakes a local run for a cluster run)."""
    cluster_dir = ClusterDir.resolve(context.dir_flag)
    try:
        record = cluster_dir.read_daemon(RESOURCE_MANAGER_DAEMON)
        if record is not None and process_alive(record.pid):
            return "cluster"
    except OSError:
        pass
    print(f"{prog}: no cluster is running in {cluster_dir.root}, so this runs on the local runner "
          f"with local paths (-r local to say so, `emrlab cluster up` to start a cluster)", file=sys.stderr)
    return "local"


def has_runner_flag(argv: list[str]) -> bool:
    return any(argument in ("-r", "--runner") or argument.startswith(("--runner=", "-r")) for argument in argv)


def main(argv: list[str], context: CommandContext) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage(), end="", file=sys.stdout if argv else sys.stderr)
        return 0 if argv else EXIT_USAGE
    name, rest = argv[0], argv[1:]
    if name not in EXAMPLES:
        raise InvalidArgument(f"unknown example {name!r} (choose from {', '.join(EXAMPLES)})")
    prog = f"emrlab examples {name}"
    runner = None if has_runner_flag(rest) else default_runner(context, prog)
    return run_job(EXAMPLES[name][0], rest, context, prog=prog, output_positional=True,
                   default_runner=runner or "local")

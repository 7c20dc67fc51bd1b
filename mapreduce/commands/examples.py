"""`emrlab examples`: run a built-in example job (their source is in mapreduce/examples/).

    emrlab examples NAME INPUT... OUTPUT [-r RUNNER] [--reducers N] [-D key=value] [job args]

The default runner is `cluster` when a cluster is running, else `local`, as
for every job command (said in one line on stderr).
"""

from __future__ import annotations

import sys

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


def main(argv: list[str], context: CommandContext) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage(), end="", file=sys.stdout if argv else sys.stderr)
        return 0 if argv else EXIT_USAGE
    name, rest = argv[0], argv[1:]
    if name not in EXAMPLES:
        raise InvalidArgument(f"unknown example {name!r} (choose from {', '.join(EXAMPLES)})")
    return run_job(EXAMPLES[name][0], rest, context, prog=f"emrlab examples {name}", output_positional=True)

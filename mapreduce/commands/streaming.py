"""`emrlab streaming`: run Hadoop Streaming commands as a job (see `mapreduce/streaming.py`).

    emrlab streaming -input IN [-input IN2] -output OUT -mapper CMD [-combiner CMD] [-reducer CMD|NONE]
                     [-file F ...] [-numReduceTasks N] [-D key=value] [-r inline|local|cluster]

The default runner is `cluster` when a cluster is running, else `local`, as for `emrlab examples`.
"""

from __future__ import annotations

import argparse
import os
import sys

from emrlab_common.command import EXIT_USAGE, CommandContext, CommandParser
from emrlab_common.errors import InvalidArgument
from mapreduce.commands.job import choose_runner, run_job
from mapreduce.runners import RUNNERS
from mapreduce.streaming import FILES_KEY

USAGE = """usage: emrlab streaming -input IN -output OUT -mapper CMD [-combiner CMD] [-reducer CMD|NONE]
                        [-file FILE ...] [-numReduceTasks N] [-D key=value] [-r RUNNER]

Runs any programs as mapper and reducer, with Hadoop Streaming's conventions: lines in on
stdin, key<TAB>value lines out on stdout, reporter:counter:G,N,AMOUNT on stderr.
Runners: {runners} (default: cluster when a cluster is running, else local).

Example:
  emrlab streaming -input books -output counts -mapper 'python3 map.py' -reducer 'python3 reduce.py' \\
      -file map.py -file reduce.py -r local
"""


def parser() -> argparse.ArgumentParser:
    result = CommandParser(prog="emrlab streaming", add_help=False)
    result.add_argument("-input", action="append", required=True)
    result.add_argument("-output", required=True)
    result.add_argument("-mapper", required=True)
    result.add_argument("-combiner")
    result.add_argument("-reducer")
    result.add_argument("-file", action="append", default=[])
    result.add_argument("-numReduceTasks", type=int)
    result.add_argument("-r", "--runner")
    result.add_argument("-q", "--quiet", action="store_true")
    return result


def main(argv: list[str], context: CommandContext) -> int:
    if not argv or argv[0] in ("-h", "--help", "-help"):
        print(USAGE.format(runners=", ".join(RUNNERS)), end="",
              file=sys.stdout if argv else sys.stderr)
        return 0 if argv else EXIT_USAGE
    options = parser().parse_args(argv)
    runner = options.runner or choose_runner(context, "emrlab streaming")
    for path in options.file:
        if "://" not in path and not os.path.exists(path):
            raise InvalidArgument(f"-file {path}: no such file")
    if options.file:
        context.definitions[FILES_KEY] = ",".join(
            path if "://" in path else os.path.abspath(path) for path in options.file)
    reducer = options.reducer
    if options.numReduceTasks == 0:
        reducer = "NONE"
    elif options.numReduceTasks is not None:
        context.definitions["mapreduce.job.reduces"] = str(options.numReduceTasks)
    arguments = ["--mapper", options.mapper]
    if options.combiner:
        arguments += ["--combiner", options.combiner]
    if reducer:
        arguments += ["--reducer", reducer]
    job_argv = ["-r", runner, *options.input, "-o", options.output, *arguments]
    if options.quiet:
        job_argv.append("-q")
    return run_job("mapreduce.streaming:StreamingJob", job_argv, context, prog="emrlab streaming")

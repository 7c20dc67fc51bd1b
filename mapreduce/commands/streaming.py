"""`emrlab streaming`: Hadoop Streaming's command line (see `mapreduce/streaming/streamjob.py`).

    emrlab streaming [-D key=value] [-files F,G#alias] [-archives A.tgz#name] \\
        -input IN [-input IN2] -output OUT -mapper CMD [-combiner CMD] [-reducer CMD|NONE] \\
        [-file F] [-partitioner CLASS] [-numReduceTasks N] [-cmdenv NAME=VALUE] \\
        [-inputformat CLASS] [-outputformat CLASS] [-lazyOutput] [-verbose] [-r inline|local|cluster]

The options are Hadoop's, as its Streaming documentation writes them: the
generic ones (`-D`, `-files`, `-archives`, `-libjars`) and the streaming ones,
with `-file` and `-jobconf` accepted with Hadoop's deprecation notes. Java
classes are accepted where emrlab has the same thing (IdentityMapper and
IdentityReducer as `cat`, the text formats, the hash and key field
partitioners); any other `org.apache.hadoop` class is one clear error.
"""

from __future__ import annotations

import argparse
import os
import sys

from emrlab_common.command import EXIT_USAGE, CommandContext, CommandParser
from emrlab_common.config import parse_definition
from emrlab_common.errors import InvalidArgument
from mapreduce.commands.job import choose_runner, run_job
from mapreduce.runners import RUNNERS
from mapreduce.streaming.streamjob import ARCHIVES_KEY, CMDENV_KEY, FILES_KEY
from mapreduce.task.output import LAZY_OUTPUT_KEY

JAVA_PREFIX = "org.apache.hadoop."
IDENTITY_CLASSES = {"org.apache.hadoop.mapred.lib.IdentityMapper", "org.apache.hadoop.mapred.lib.IdentityReducer",
                    "org.apache.hadoop.mapreduce.Mapper", "org.apache.hadoop.mapreduce.Reducer"}
TEXT_INPUT_FORMATS = {"org.apache.hadoop.mapred.TextInputFormat", "org.apache.hadoop.mapred.KeyValueTextInputFormat",
                      "org.apache.hadoop.mapreduce.lib.input.TextInputFormat",
                      "org.apache.hadoop.mapreduce.lib.input.KeyValueTextInputFormat"}
TEXT_OUTPUT_FORMATS = {"org.apache.hadoop.mapred.TextOutputFormat",
                       "org.apache.hadoop.mapreduce.lib.output.TextOutputFormat"}
PARTITIONER_KEY = "mapreduce.job.partitioner.class"

USAGE = """usage: emrlab streaming [-D key=value] [-files F,G#alias] [-archives A.tgz#name]
           -input IN [-input IN2] -output OUT -mapper CMD [-combiner CMD] [-reducer CMD|NONE]
           [-file F] [-partitioner CLASS] [-numReduceTasks N] [-cmdenv NAME=VALUE]
           [-inputformat CLASS] [-outputformat CLASS] [-lazyOutput] [-verbose] [-r RUNNER]

Runs any programs as mapper and reducer, with Hadoop Streaming's conventions: lines in on
stdin, key<TAB>value lines out on stdout, reporter:counter:G,N,AMOUNT on stderr.
Runners: {runners} (default: cluster when a cluster is running, else local).

Example:
  emrlab streaming -files map.py,reduce.py -input books -output counts \\
      -mapper map.py -reducer reduce.py -numReduceTasks 2
"""


def parser() -> argparse.ArgumentParser:
    result = CommandParser(prog="emrlab streaming", add_help=False, allow_abbrev=False)
    result.add_argument("-input", action="append", required=True)
    result.add_argument("-output", required=True)
    result.add_argument("-mapper", required=True)
    result.add_argument("-combiner")
    result.add_argument("-reducer")
    result.add_argument("-file", action="append", default=[])
    result.add_argument("-files", action="append", default=[])
    result.add_argument("-archives", action="append", default=[])
    result.add_argument("-libjars", action="append", default=[])
    result.add_argument("-cmdenv", action="append", default=[])
    result.add_argument("-jobconf", action="append", default=[])
    result.add_argument("-partitioner")
    result.add_argument("-inputformat")
    result.add_argument("-outputformat")
    result.add_argument("-numReduceTasks", type=int)
    result.add_argument("-lazyOutput", action="store_true")
    result.add_argument("-verbose", action="store_true")
    result.add_argument("-r", "--runner")
    result.add_argument("-q", "--quiet", action="store_true")
    return result


def main(argv: list[str], context: CommandContext) -> int:
    if not argv or argv[0] in ("-h", "--help", "-help", "-info"):
        print(USAGE.format(runners=", ".join(RUNNERS)), end="", file=sys.stdout if argv else sys.stderr)
        return 0 if argv else EXIT_USAGE
    options = parser().parse_args(argv)
    definitions = context.definitions
    for text in options.jobconf:
        print("-jobconf option is deprecated, please use -D instead.", file=sys.stderr)
        key, value = parse_definition(text)
        definitions[key] = value
    if options.file:
        print("-file option is deprecated, please use generic option -files instead.", file=sys.stderr)
    if options.libjars:
        print("emrlab streaming: warning: -libjars ignored: emrlab runs no Java", file=sys.stderr)
    files = [*options.file, *(item for value in options.files for item in value.split(",") if item)]
    archives = [item for value in options.archives for item in value.split(",") if item]
    if files:
        definitions[FILES_KEY] = ",".join(local_entry(entry, "-files") for entry in files)
    if archives:
        definitions[ARCHIVES_KEY] = ",".join(local_entry(entry, "-archives") for entry in archives)
    if options.cmdenv:
        for text in options.cmdenv:
            if "=" not in text or not text.partition("=")[0]:
                raise InvalidArgument(f"-cmdenv {text!r}: expected NAME=VALUE")
        definitions[CMDENV_KEY] = " ".join(options.cmdenv)
    if options.partitioner:
        definitions[PARTITIONER_KEY] = options.partitioner
    check_format(options.inputformat, TEXT_INPUT_FORMATS, "-inputformat")
    check_format(options.outputformat, TEXT_OUTPUT_FORMATS, "-outputformat")
    if options.lazyOutput:
        definitions[LAZY_OUTPUT_KEY] = "org.apache.hadoop.mapred.TextOutputFormat"
    mapper = command_of(options.mapper, "-mapper")
    combiner = command_of(options.combiner, "-combiner") if options.combiner else None
    reducer = command_of(options.reducer, "-reducer") if options.reducer else None
    if options.numReduceTasks is not None:
        if options.numReduceTasks < 0:
            raise InvalidArgument(f"-numReduceTasks {options.numReduceTasks}: must be 0 or more")
        if options.numReduceTasks == 0:
            reducer = "NONE"
        else:
            definitions["mapreduce.job.reduces"] = str(options.numReduceTasks)
    arguments = ["--mapper", mapper]
    if combiner:
        arguments += ["--combiner", combiner]
    if reducer:
        arguments += ["--reducer", reducer]
    runner = options.runner or choose_runner(context, "emrlab streaming")
    if options.verbose:
        print(f"emrlab streaming: runner={runner} mapper={mapper!r} combiner={combiner!r} reducer={reducer!r}",
              file=sys.stderr)
        for key, value in sorted(definitions.items()):
            print(f"emrlab streaming: -D {key}={value}", file=sys.stderr)
    job_argv = ["-r", runner, *options.input, "-o", options.output, *arguments]
    if options.quiet:
        job_argv.append("-q")
    return run_job("mapreduce.streaming.streamjob:StreamingJob", job_argv, context, prog="emrlab streaming")


def local_entry(entry: str, option: str) -> str:
    """A `path[#name]` entry with a local path made absolute (and checked), as the runners ship it."""
    path, hash_sign, name = entry.partition("#")
    if "://" in path:
        return entry
    if not os.path.exists(path):
        raise InvalidArgument(f"{option} {path}: no such file")
    if hash_sign and (not name or "/" in name):
        raise InvalidArgument(f"{option} {entry}: the name after # must be a plain file name")
    return os.path.abspath(path) + hash_sign + name


def command_of(text: str, option: str) -> str:
    """A command, or a Java class emrlab has an equivalent of."""
    if text == "NONE" and option == "-reducer":
        return text
    if text.startswith(JAVA_PREFIX) and " " not in text:
        if text in IDENTITY_CLASSES:
            return "cat"
        raise InvalidArgument(f"{option} {text}: emrlab runs commands, not Java classes; supported classes: "
                              f"{', '.join(sorted(IDENTITY_CLASSES))} (as cat)")
    return text


def check_format(name: str | None, supported: set[str], option: str) -> None:
    if name and name not in supported:
        raise InvalidArgument(f"{option} {name} is not supported (supported: {', '.join(sorted(supported))})")

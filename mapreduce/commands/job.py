"""`emrlab job`: run a job, on any runner.

    emrlab job run JOB.py -r inline|local|cluster|spark INPUT... -o OUTPUT [--reducers N] [-D k=v] [job args]

A job file run as a script (`python job.py -r local IN -o OUT`, through
`Job.run()`) takes the same arguments. Subcommands are a table: the cluster's
`-list`, `-status ID`, `-kill ID` and `-history ID` join it as more entries.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Callable

from emrlab_common.clusterdir import ClusterDir, process_alive
from emrlab_common.command import EXIT_USAGE, CommandContext, CommandParser, run_command
from emrlab_common.errors import InvalidArgument
from mapreduce.api.deprecation import translate, warn_on_stderr
from mapreduce.api.errors import JobFailed
from mapreduce.api.job import passthru_argv
from mapreduce.api.spec import JobSpec
from mapreduce.commands.jobstatus import SUBCOMMANDS as CLUSTER_SUBCOMMANDS
from mapreduce.runners import RUNNERS, runner_class
from mapreduce.runners.monitor import JobMonitor
from mapreduce.streaming.loader import instantiate, is_mrjob_class, load_job_class, reference_of
from mapreduce.streaming.mrjob_compat import add_upload_switches, argument_actions, upload_argv

RESOURCE_MANAGER_DAEMON = "resourcemanager"
STDIN = STDOUT = "-"

USAGE = """usage: emrlab job run JOB.py[:Class] [-r RUNNER] INPUT... [-o OUTPUT] [--reducers N] [-D key=value] [job args]
       emrlab job -list | -status JOB_ID | -kill JOB_ID | -history JOB_ID   (jobs on the cluster)

Runs a MapReduce job: a Python file with a subclass of mapreduce.Job (or of mrjob's MRJob).
Without -o the output is written to stdout when the job is done; - as an INPUT reads stdin.
Runners: {runners} (default: cluster when a cluster is running, else local).

Example:
  emrlab job run wordcount.py -r local books/*.txt -o counts --reducers 4
"""


def runner_parser(prog: str, output_positional: bool = False) -> argparse.ArgumentParser:
    shape = "INPUT... OUTPUT" if output_positional else "INPUT... [-o OUTPUT]"
    parser = CommandParser(prog=prog, add_help=True,
                             usage=f"{prog} [-r RUNNER] {shape} [--reducers N] [-D key=value] [job args]")
    parser.add_argument("-r", "--runner", help=f"one of {', '.join(RUNNERS)} (default: the cluster when one is "
                        "running, else local)")
    if not output_positional:
        parser.add_argument("-o", "--output-dir", default=STDOUT,
                            help="the job's output directory (must not exist); without it (or -), "
                                 "the output is written to stdout when the job is done")
    parser.add_argument("--reducers", "--num-reducers", type=int, dest="reducers",
                        help="number of reduce tasks (mapreduce.job.reduces)")
    parser.add_argument("--spark-master", help="with -r spark: the Spark master URL (spark.master; default local[CPUs])")
    parser.add_argument("-q", "--quiet", action="store_true", help="print no progress or counters")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="input files or directories")
    return parser


def run_job(reference: str, argv: list[str], context: CommandContext, prog: str = "emrlab job run",
            output_positional: bool = False, default_runner: str | None = None) -> int:
    """Parse runner and job arguments, run the job, print where its output is.

    With `output_positional` the last plain argument is the output (`emrlab examples`).
    Without -r, the runner is `default_runner`, else the cluster when one is running."""
    job_class = load_job_class(reference)
    parser = runner_parser(prog, output_positional)
    actions = job_actions(job_class)
    for action in actions:
        parser._add_action(action)
    if is_mrjob_class(job_class):
        add_upload_switches(parser)
    options = parser.parse_intermixed_args(argv)
    if output_positional:
        if len(options.inputs) < 2:
            raise InvalidArgument(f"usage: {prog} INPUT... OUTPUT")
        options.inputs, options.output_dir = options.inputs[:-1], options.inputs[-1]
    properties = translate(dict(context.definitions), warn=warn_on_stderr)
    if options.reducers is not None:
        if options.reducers < 0:
            raise InvalidArgument("--reducers must be 0 or more")
        properties["mapreduce.job.reduces"] = str(options.reducers)
    job_arguments = passthru_argv(actions, options)
    if is_mrjob_class(job_class):
        job_arguments += upload_argv(options)
    # The job built with its real arguments before anything else, as mrjob builds it.
    job = instantiate(job_class, job_arguments)
    for warning in getattr(job, "client_warnings", list)():
        print(f"{prog}: warning: {warning}", file=sys.stderr)
    runner_name = options.runner or default_runner or choose_runner(context, prog)
    with StandardStreams(runner_name, context) as streams:
        inputs = tuple(streams.input_path() if path == STDIN else path for path in options.inputs)
        to_stdout = options.output_dir == STDOUT
        output_dir = streams.output_dir() if to_stdout else options.output_dir
        spec = JobSpec(job_reference=reference, input_paths=inputs, output_dir=output_dir,
                       job_arguments=tuple(job_arguments), properties=properties,
                       cluster_dir=context.dir_flag, job_name=job_class.__name__)
        runner = runner_class(runner_name)()
        try:
            result = runner.run(spec, JobMonitor(quiet=options.quiet))
        except JobFailed as error:
            if options.quiet:
                raise
            # The monitor has printed the whole story; end with its last line, not a second copy.
            last_line = error.message.rstrip().splitlines()[-1].strip() if error.message.strip() else "failed"
            raise JobFailed(f"the job failed: {last_line} (details above)") from None
        if to_stdout:
            streams.write_output(output_dir)
        elif not options.quiet:
            print(f"Output: {result.output_dir}", file=sys.stderr)
    return 0

class StandardStreams:
    """`-` as an input (standard input, copied where the runner reads) and no output (a
    temporary output directory, written to stdout when the job is done), as mrjob does;
    whatever this makes is removed at the end."""

    def __init__(self, runner_name: str, context: CommandContext):
        self.on_cluster = runner_name == "cluster"
        self.context = context
        self.local_dir: str | None = None
        self.cluster_paths: list[str] = []
        self._client = None

    def __enter__(self) -> StandardStreams:
        return self

    def __exit__(self, *exc_info) -> None:
        if self.local_dir:
            shutil.rmtree(self.local_dir, ignore_errors=True)
        if self._client is not None:
            for path in self.cluster_paths:
                self._client.delete(path, recursive=True)
            self._client.close()

    def input_path(self) -> str:
        data = sys.stdin.buffer.read()
        if self.on_cluster:
            path = self._cluster_path("stdin")
            self.client().write_bytes(path, data)
            return path
        path = os.path.join(self._local(), "stdin")
        with open(path, "wb") as copy:
            copy.write(data)
        return path

    def output_dir(self) -> str:
        return self._cluster_path("output") if self.on_cluster else os.path.join(self._local(), "output")

    def write_output(self, output_dir: str) -> None:
        out = sys.stdout.buffer
        if self.on_cluster:
            client = self.client()
            for status in sorted(client.list(output_dir), key=lambda status: status.name):
                if status.name.startswith("part-"):
                    out.write(client.read_bytes(status.path))
        else:
            for name in sorted(os.listdir(output_dir)):
                if name.startswith("part-"):
                    with open(os.path.join(output_dir, name), "rb") as part:
                        shutil.copyfileobj(part, out)
        out.flush()

    def client(self):
        if self._client is None:
            from hdfs import Client

            self._client = Client.for_cluster(ClusterDir.resolve(self.context.dir_flag))
        return self._client

    def _local(self) -> str:
        if self.local_dir is None:
            self.local_dir = tempfile.mkdtemp(prefix="emrlab-job-streams-")
        return self.local_dir

    def _cluster_path(self, name: str) -> str:
        path = f"/tmp/emrlab-{name}-{secrets.token_hex(6)}"
        self.cluster_paths.append(path)
        return path


def job_actions(job_class: type) -> list:
    """The job's own command-line switches, read without building the job (whose
    required arguments are not parsed yet)."""
    if is_mrjob_class(job_class):
        return argument_actions(job_class)
    return list(job_class(args=None).passthru_actions)


def choose_runner(context: CommandContext, prog: str) -> str:
    """`cluster` when a ResourceManager is alive in the cluster directory, else `local`
    (said on stderr in one line, so that nobody mistakes a local run for a cluster run)."""
    cluster_dir = ClusterDir.resolve(context.dir_flag)
    try:
        record = cluster_dir.read_daemon(RESOURCE_MANAGER_DAEMON)
        if record is not None and process_alive(record.pid):
            print(f"{prog}: a cluster is running in {cluster_dir.root}, so this runs on the cluster runner "
                  f"(-r local to run here)", file=sys.stderr)
            return "cluster"
    except OSError:
        pass
    print(f"{prog}: no cluster is running in {cluster_dir.root}, so this runs on the local runner "
          f"with local paths (-r local to say so, `emrlab cluster up` to start a cluster)", file=sys.stderr)
    return "local"


def run_main(argv: list[str], context: CommandContext) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE.format(runners=", ".join(RUNNERS)), end="")
        return 0 if argv else EXIT_USAGE
    location = argv[0]
    if not location.partition(":")[0].endswith(".py"):
        raise InvalidArgument(f"expected a job file (JOB.py or JOB.py:Class), got {location!r}")
    job_class = load_job_class(location)
    reference = location if ":" in location else f"{location}:{job_class.__qualname__}"
    return run_job(reference, argv[1:], context, prog=f"emrlab job run {location}")


# subcommand -> function(argv, context) -> exit code
SUBCOMMANDS: dict[str, Callable[[list[str], CommandContext], int]] = {
    "run": run_main,
    **CLUSTER_SUBCOMMANDS,  # -list, -status, -kill, -history
}


def main(argv: list[str], context: CommandContext) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE.format(runners=", ".join(RUNNERS)), end="",
              file=sys.stdout if argv else sys.stderr)
        return 0 if argv else EXIT_USAGE
    if argv[0] not in SUBCOMMANDS:
        raise InvalidArgument(f"unknown job subcommand {argv[0]!r} (choose from {', '.join(SUBCOMMANDS)})")
    return SUBCOMMANDS[argv[0]](argv[1:], context)


def run_job_class(job_class: type, argv: list[str]) -> int:
    """`Job.run()`: the job's file as its own command line."""
    reference = reference_of(job_class)
    return run_command(lambda rest, context: run_job(reference, rest, context, prog=sys.argv[0]), argv,
                       prog=job_class.__name__)

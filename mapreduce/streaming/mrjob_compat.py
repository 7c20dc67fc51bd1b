"""Running an unmodified mrjob `MRJob` class on emrlab's runners, as mrjob runs it on Hadoop.

    emrlab job run mr_word_count.py -r local IN -o OUT

mrjob's Hadoop runner turns each `MRStep` into a Hadoop Streaming step whose
mapper, combiner and reducer are the job's own file run again as a command:

    python mr_word_count.py --step-num=0 --mapper [the job's passthrough arguments]

This adapter does the same, so every part of a step is mrjob's own code in
the task: its protocols (`INPUT_PROTOCOL`, `INTERNAL_PROTOCOL`,
`OUTPUT_PROTOCOL`), methods that return None, `mapper_raw`, the
`*_pre_filter` commands in front of a task (`PRE | python job.py --mapper`),
the `*_cmd` commands, `increment_counter` and `set_status` (as Streaming's
`reporter:` lines on stderr). The engine only moves lines: it sorts them by
their key's encoded bytes (the text before the first tab) as Hadoop does, so a
reducer that depends on key order gets mrjob's answer, and it writes the last
step's lines to the output as they are.

Around the steps, the adapter gives the runners what mrjob's runner gives
Hadoop: `JOBCONF` and a step's `jobconf`, `SORT_VALUES` (values sorted within
a key), and the support files (`FILES`, `DIRS`, `ARCHIVES`, `add_file_arg`
values and the `--files`/`--dirs`/`--archives` switches) that every task finds
in its working directory. A `mapper_raw` step gets one whole input file per
map task, copied next to the task (mrjob's input manifest). JarStep and
SparkStep steps are refused with the reason.

mrjob is an optional extra: `pip install 'emrlab[mrjob]'`.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

from emrlab_common.config import load
from emrlab_common.errors import InvalidArgument
from mapreduce.api.job import Step
from mapreduce.streaming.streamjob import StreamingConfig, output_text

# One split per file (FileInputFormat's rule with a minimum split size larger than any file).
WHOLE_FILE_SPLIT_BYTES = str(2**63 - 1)
SPLIT_MIN_SIZE_KEY = "mapreduce.input.fileinputformat.split.minsize"
# Formats that are what emrlab reads and writes anyway.
TEXT_FORMATS = {"org.apache.hadoop.mapred.TextInputFormat", "org.apache.hadoop.mapred.TextOutputFormat",
                "org.apache.hadoop.mapreduce.lib.input.TextInputFormat",
                "org.apache.hadoop.mapreduce.lib.output.TextOutputFormat"}
_UPLOAD_SWITCHES = (("--files", "upload_files"), ("--dirs", "upload_dirs"), ("--archives", "upload_archives"))
_WHY_NOT = {
    "jar": "a JarStep runs a Java jar, and emrlab has no JVM",
    "spark": "a SparkStep runs on Spark, not on emrlab's MapReduce",
    "spark_jar": "a SparkJarStep runs a Java jar on Spark, and emrlab has no JVM",
    "spark_script": "a SparkScriptStep runs on Spark, not on emrlab's MapReduce",
}


def build_mrjob(job_class: type, arguments: list[str]):
    """The job built as mrjob builds it, with its real arguments (so `required=True`,
    `load_args` checks and `arg_parser.error` give one clear line)."""
    try:
        return job_class(args=list(arguments))
    except ValueError as error:
        raise InvalidArgument(f"{job_class.__name__}: {error}") from None


def argument_actions(job_class: type) -> list[argparse.Action]:
    """The job's own switches (passthrough and file arguments), read from its
    `configure_args` without parsing any command line."""
    probe = job_class.__new__(job_class)
    probe._passthru_arg_dests, probe._file_arg_dests = set(), set()
    probe.arg_parser = argparse.ArgumentParser(add_help=False)
    probe.configure_args()
    dests = probe._passthru_arg_dests | probe._file_arg_dests
    return [action for action in probe.arg_parser._actions if action.dest in dests]


def add_upload_switches(parser: argparse.ArgumentParser) -> None:
    """mrjob's --files, --dirs and --archives (comma-separated, `#name` renames)."""
    for switch, _ in _UPLOAD_SWITCHES:
        parser.add_argument(switch, action="append", default=[], metavar="PATH[#NAME],...",
                            help=f"mrjob's {switch}: shipped to every task's working directory")


def upload_argv(options: argparse.Namespace) -> list[str]:
    argv = []
    for switch, _ in _UPLOAD_SWITCHES:
        for value in getattr(options, switch[2:], []):
            argv += [switch, value]
    return argv


class MRJobAdapter:
    """An MRJob presented as an emrlab job: its steps as Streaming commands."""

    def __init__(self, job_class: type, arguments: list[str]):
        self.job_class = job_class
        self.mrjob = build_mrjob(job_class, arguments)
        self.SORT_VALUES = bool(self.mrjob.sort_values())
        self.JOBCONF = {key: _jobconf_text(value) for key, value in (self.mrjob.jobconf() or {}).items()
                        if value is not None}
        self.config: dict = {}
        self._task = None
        self._extra_args = self.mrjob._non_option_kwargs()["extra_args"]

    # ------------------------------------------------------------ what the runners ask

    def steps(self) -> list[Step]:
        return [self._step(index, description) for index, description in enumerate(self.mrjob._steps_desc())]

    def partitioner(self):
        """The job's PARTITIONER (Hadoop's KeyFieldBasedPartitioner, with its jobconf options) or a hash."""
        properties = dict(self.config)
        if self.mrjob.partitioner() and not self.SORT_VALUES:
            properties["mapreduce.job.partitioner.class"] = self.mrjob.partitioner()
        return load(StreamingConfig, properties).partitioner()

    def step_properties(self, step_index: int, context) -> dict:
        return {}

    def format_output(self, key, value) -> str:
        """The last step's lines are written as the job wrote them (mrjob's OUTPUT_PROTOCOL)."""
        return output_text(key, value)

    def support_files(self) -> tuple[list[str], list[str]]:
        """("path#name" files and directories, "path#name" archives) for every task's working
        directory, with FILES, DIRS and ARCHIVES resolved as mrjob does (next to the job's file)."""
        upload = self.mrjob._job_kwargs()
        files = [_named(path) for path in [*upload["upload_files"], *upload["upload_dirs"]]]
        files += [f"{os.path.abspath(arg['path'])}#{arg['name'] or os.path.basename(arg['path'])}"
                  for arg in self._extra_args if isinstance(arg, dict)]
        return files, [_named(path) for path in upload["upload_archives"]]

    def client_warnings(self) -> list[str]:
        """What this job asks for that emrlab ignores, one line each (said once, by the client)."""
        warnings = []
        for what, value in (("HADOOP_INPUT_FORMAT", self.mrjob.hadoop_input_format()),
                            ("HADOOP_OUTPUT_FORMAT", self.mrjob.hadoop_output_format())):
            if value and value not in TEXT_FORMATS:
                warnings.append(f"{what} {value} has no equivalent in emrlab; the job reads and writes text lines")
        if self.mrjob.libjars():
            warnings.append("LIBJARS are ignored: emrlab runs no Java")
        return warnings

    # ------------------------------------------------------------ steps as commands

    def _step(self, index: int, description: dict) -> Step:
        kind = description.get("type")
        if kind != "streaming":
            why = _WHY_NOT.get(kind, f"a {kind} step is not a MapReduce step")
            raise InvalidArgument(f"step {index} of {self.job_class.__name__} is not an MRStep: {why}")
        jobconf = {key: _jobconf_text(value) for key, value in (description.get("jobconf") or {}).items()}
        raw = bool(description.get("input_manifest"))
        if raw:
            jobconf[SPLIT_MIN_SIZE_KEY] = WHOLE_FILE_SPLIT_BYTES
        commands = {part: self._command(index, part, description[part], raw and part == "mapper")
                    for part in ("mapper", "combiner", "reducer") if part in description}
        return Step(mapper_cmd=commands.get("mapper"), combiner_cmd=commands.get("combiner"),
                    reducer_cmd=commands.get("reducer"), jobconf=jobconf)

    def _command(self, index: int, part: str, substep: dict, raw_input: bool) -> str:
        if substep["type"] == "command":
            command = substep["command"]
            return command if isinstance(command, str) else shlex.join(command)
        words = [sys.executable, os.path.abspath(self.mrjob.mr_job_script()), f"--step-num={index}",
                 f"--{part}", *self._task_arguments()]
        if raw_input:
            words = [sys.executable, "-m", "mapreduce.streaming.mrjob_compat", "raw-input", *words]
        command = shlex.join(words)
        if substep.get("pre_filter"):
            command = f"{substep['pre_filter']} | {command}"
        return command

    def _task_arguments(self) -> list[str]:
        """The job's arguments for its tasks: file arguments name the copy in the working directory."""
        return [arg["name"] or os.path.basename(arg["path"]) if isinstance(arg, dict) else arg
                for arg in self._extra_args]


def _named(path: str) -> str:
    path, _, name = path.partition("#")
    return f"{os.path.abspath(path)}#{name or os.path.basename(path.rstrip('/'))}"


def _jobconf_text(value) -> str:
    """mrjob's rule for JOBCONF values: booleans as Java writes them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---------------------------------------------------------------- mapper_raw in the task


def raw_input_main(command: list[str]) -> int:
    """A `mapper_raw` task: copy the map's whole input file next to it, then run the job's
    mapper with the copy's path and the file's URI, as mrjob's manifest wrapper does."""
    from mapreduce.api.fs import filesystem_for

    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)  # the engine's lines are not the mapper's input; the file is
    uri = os.environ["mapreduce_map_input_file"]
    cluster_dir = os.environ.get("emrlab_cluster_dir") or os.environ.get("EMRLAB_CLUSTER")
    fs = filesystem_for(uri, cluster_dir)
    handle, local_path = tempfile.mkstemp(prefix="input-", suffix=os.path.splitext(uri)[1], dir=os.getcwd())
    try:
        try:
            with fs.open(uri) as source, os.fdopen(handle, "wb") as copy:
                shutil.copyfileobj(source, copy)
        finally:
            fs.close()
        return subprocess.call([*command, local_path, uri], stdin=subprocess.DEVNULL)
    finally:
        os.remove(local_path)


if __name__ == "__main__":
    if sys.argv[1:2] != ["raw-input"]:
        sys.exit("usage: python -m mapreduce.streaming.mrjob_compat raw-input COMMAND...")
    sys.exit(raw_input_main(sys.argv[2:]))

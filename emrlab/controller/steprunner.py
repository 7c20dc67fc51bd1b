"""One step, run as command-runner.jar runs it on EMR's primary node.

    python -m emrlab.controller.steprunner --dir CLUSTER_DIR --step-dir STEP_LOG_DIR -- ARGS...

ARGS are what command-runner.jar gets: an emrlab command without the word
`emrlab` (`job run …`, `streaming …`, `dfs …`), Hadoop's spellings of them
(`hadoop-streaming …`, `hdfs dfs …`, `hadoop fs …`), or any other program.
The step writes `stdout`, `stderr` and `controller` (what ran, when, and how it
ended) in its log directory, and `exit_status` last. It runs in its own
session, so it outlives a controller killed with -9; the restarted controller
reads `exit_status` (or finds the process still running) instead of running
the step again.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from emrlab_common.clusterdir import write_json_atomically
from emrlab_common.daemon import daemon_environment

MODULE = "emrlab.controller.steprunner"
EMRLAB_COMMANDS = {"job", "streaming", "dfs", "fsck", "dfsadmin", "examples", "node", "application", "logs",
                   "rmadmin", "distributedshell"}


def step_command(args: list[str]) -> list[str]:
    """The process command-runner.jar would start for `args`."""
    emrlab = [sys.executable, "-m", "emrlab"]
    if args[0] == "hadoop-streaming":
        return emrlab + ["streaming", *args[1:]]
    if args[:2] in (["hdfs", "dfs"], ["hadoop", "fs"], ["hadoop", "dfs"]):
        return emrlab + ["dfs", *args[2:]]
    if args[0] == "emrlab":
        return emrlab + args[1:]
    if args[0] in EMRLAB_COMMANDS:
        return emrlab + args
    return list(args)


def stop_leftover_steps(root: Path) -> list[int]:
    """Stop the steps a dead controller left running (`cluster down` after a crash); returns their pids.

    A step's pid file names it; its command line (this module, its step directory) tells it from a process
    that got the same pid later. SIGTERM to its session, as a cancel does: it still writes its exit status.
    """
    stopped = []
    for pid_file in root.glob("logs/*/steps/*/pid"):
        try:
            pid = int(pid_file.read_text())
            command_line = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if MODULE.encode() in command_line and str(pid_file.parent).encode() in command_line:
            try:
                os.killpg(pid, signal.SIGTERM)
                stopped.append(pid)
            except (ProcessLookupError, PermissionError):
                pass
    return stopped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emrlab.controller.steprunner")
    parser.add_argument("--dir", required=True)
    parser.add_argument("--step-dir", required=True)
    parser.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    args = options.args[1:] if options.args[:1] == ["--"] else options.args
    step_dir = Path(options.step_dir)
    step_dir.mkdir(parents=True, exist_ok=True)
    (step_dir / "pid").write_text(str(os.getpid()))
    command = step_command(args)
    environment = dict(daemon_environment(), EMRLAB_CLUSTER=options.dir)
    with open(step_dir / "controller", "a") as controller:
        controller.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} INFO startExec '{shlex.join(command)}'\n")
        controller.flush()
        try:
            with open(step_dir / "stdout", "ab") as stdout, open(step_dir / "stderr", "ab") as stderr:
                process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                           env=environment, cwd=options.dir)
                signal.signal(signal.SIGTERM, lambda number, frame: process.terminate())
                exit_code = process.wait()
        except OSError as error:
            controller.write(f"cannot start {command[0]}: {error.strerror}\n")
            exit_code = 127
        controller.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} INFO Step {'succeeded' if exit_code == 0 else 'failed'}"
                         f" with exitCode {exit_code}\n")
    write_json_atomically(step_dir / "exit_status", {"exit_code": exit_code})
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The controller shell's steps: each step runs as its own process, watched until it exits.

A part of `ControllerShell` (shell.py). A StartStep command starts `emrlab.controller.steprunner`
in a new session with the step's arguments; its pid goes to the step's log directory so that a
restarted controller adopts a step still running. CancelStep sends SIGTERM to the step's process
group. The monitor calls `_check_steps`: a watched step whose process is gone has exited, with the
exit code the runner wrote to `exit_status` (none if it died before writing it).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys

from emrlab.controller.messages import StartStep, StepExited
from emrlab_common.clusterdir import process_alive
from emrlab_common.daemon import daemon_environment

logger = logging.getLogger(__name__)


class StepProcesses:
    """Needs of its `ControllerShell`: `cluster_dir`, `step_processes`, `watched_steps`, `step_logs`, `_report`."""

    def _start_step(self, command: StartStep) -> None:
        step_dir = self.step_logs(command.step_id)
        step_dir.mkdir(parents=True, exist_ok=True)
        process = subprocess.Popen(
            [sys.executable, "-m", "emrlab.controller.steprunner", "--dir", str(self.cluster_dir.root),
             "--step-dir", str(step_dir), "--", *command.args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(step_dir / "runner.err", "ab"),
            start_new_session=True, env=daemon_environment())
        (step_dir / "pid").write_text(str(process.pid))
        self.step_processes[command.step_id] = process
        self.watched_steps.add(command.step_id)
        logger.info("step %s started (pid %d): %s", command.step_id, process.pid, " ".join(command.args))

    def _step_pid(self, step_id: str) -> int | None:
        try:
            return int((self.step_logs(step_id) / "pid").read_text())
        except (OSError, ValueError):
            return None

    def _cancel_step(self, step_id: str) -> None:
        pid = self._step_pid(step_id)
        if pid is not None and process_alive(pid):
            try:
                os.killpg(pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
        self.watched_steps.add(step_id)

    def _check_steps(self) -> None:
        for step_id in list(self.watched_steps):
            process = self.step_processes.get(step_id)
            if process is not None and process.poll() is None:
                continue
            pid = self._step_pid(step_id)
            if process is None and pid is not None and process_alive(pid):
                continue  # adopted after a restart, still running
            self.watched_steps.discard(step_id)
            self.step_processes.pop(step_id, None)
            try:
                exit_code = json.loads((self.step_logs(step_id) / "exit_status").read_text())["exit_code"]
            except (OSError, ValueError, KeyError):
                exit_code = None
            self._report(StepExited(step_id, exit_code))

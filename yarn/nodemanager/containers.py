"""One container on this node: its environment, its process group, its end.

A container runs `bash -c "<commands joined by &&>"` as a child process in a
new session (so its own process group): stopping it signals the whole group,
SIGTERM first and SIGKILL after `yarn.nodemanager.sleep-delay-before-sigkill.ms`,
and whatever the command left behind dies with it. stdout and stderr go to
`<log dir>/<application>/<container>/stdout|stderr`.

The pid of every running container is written to `<local dir>/pids/`, so that
`emrlab cluster down` can kill containers whose NodeManager was killed -9
(`kill_leftover_containers`).

Lifecycle: NEW -> LOCALIZING -> RUNNING -> DONE (reported as COMPLETE with an
exit status: the process's own, or one of YARN's negative ContainerExitStatus
values when the NodeManager ended it).
"""

from __future__ import annotations

import enum
import logging
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from yarn.records import (
    Container,
    ContainerExitStatus,
    ContainerLaunchContext,
    ContainerState,
    ContainerStatus,
    application_of_container,
    attempt_of_container,
)

logger = logging.getLogger(__name__)

SOURCE_ROOT = str(Path(__file__).resolve().parents[2])


class ContainerPhase(enum.Enum):
    NEW = "NEW"
    LOCALIZING = "LOCALIZING"
    RUNNING = "RUNNING"
    KILLING = "KILLING"
    DONE = "DONE"


@dataclass(frozen=True)
class ContainerPaths:
    work_dir: Path
    log_dir: Path
    pid_file: Path


def container_environment(container: Container, context: ContainerLaunchContext, user: str, *, node_address: str,
                          cluster_dir: str, local_dirs: list[str], paths: ContainerPaths) -> dict[str, str]:
    """What a container sees in its environment (a pure function, so a test can read it)."""
    host, _, port = node_address.rpartition(":")
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "CONTAINER_ID": container.id,
        "APPLICATION_ID": application_of_container(container.id),
        "APPLICATION_ATTEMPT_ID": attempt_of_container(container.id),
        "NM_HOST": host,
        "NM_PORT": port,
        "NM_ADDRESS": node_address,
        "LOCAL_DIRS": ",".join(local_dirs),
        "LOG_DIRS": str(paths.log_dir),
        "LOG_DIR": str(paths.log_dir),
        "USER": user,
        "HADOOP_USER_NAME": user,
        "HOME": str(paths.work_dir),
        "PWD": str(paths.work_dir),
        "EMRLAB_NODE_ID": container.node_id,
        "EMRLAB_CLUSTER": cluster_dir,
        "EMRLAB_PYTHON": sys.executable,
        "PYTHONPATH": os.pathsep.join(dict.fromkeys(filter(None, [SOURCE_ROOT, *os.environ.get("PYTHONPATH", "").split(os.pathsep)]))),
        "PYTHONUNBUFFERED": "1",
    }
    for variable in ("EMRLAB_LOG_LEVEL", "TMPDIR"):
        if variable in os.environ:
            environment[variable] = os.environ[variable]
    environment.update(context.environment)
    return environment


def expand_command(command: str, paths: ContainerPaths) -> str:
    """Hadoop's placeholders: <LOG_DIR> is the container's log dir."""
    return command.replace("<LOG_DIR>", str(paths.log_dir))


class ContainerProcess:
    """The running side of one container. Thread-safe; `on_done` is called once, with its final status."""

    def __init__(self, container: Container, context: ContainerLaunchContext, user: str, paths: ContainerPaths,
                 sigkill_delay_s: float):
        self.container = container
        self.context = context
        self.user = user
        self.paths = paths
        self.sigkill_delay_s = sigkill_delay_s
        self.phase = ContainerPhase.NEW
        self.pid = 0
        self.exit_status = ContainerExitStatus.INVALID
        self.diagnostics = ""
        self._kill_reason: tuple[int, str] | None = None
        self._lock = threading.Lock()
        self.done = threading.Event()

    @property
    def application_id(self) -> str:
        return application_of_container(self.container.id)

    def status(self) -> ContainerStatus:
        if self.phase is ContainerPhase.DONE:
            return ContainerStatus(self.container.id, ContainerState.COMPLETE, self.exit_status, self.diagnostics)
        state = ContainerState.RUNNING if self.phase in (ContainerPhase.RUNNING, ContainerPhase.KILLING) else ContainerState.NEW
        return ContainerStatus(self.container.id, state, ContainerExitStatus.INVALID, "")

    def begin_localizing(self) -> None:
        with self._lock:
            if self.phase is ContainerPhase.NEW:
                self.phase = ContainerPhase.LOCALIZING

    def launch(self, environment: dict[str, str]) -> None:
        """Start the process (after localization); a thread waits for it to end."""
        with self._lock:
            if self._kill_reason is not None:
                self._finish(*self._kill_reason)
                return
            command = " && ".join(expand_command(item, self.paths) for item in self.context.commands) or "true"
            self.paths.log_dir.mkdir(parents=True, exist_ok=True)
            with open(self.paths.log_dir / "stdout", "ab") as stdout, open(self.paths.log_dir / "stderr", "ab") as stderr:
                process = subprocess.Popen(["bash", "-c", command], cwd=self.paths.work_dir, env=environment,
                                           stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                           start_new_session=True)
            self.pid = process.pid
            self.phase = ContainerPhase.RUNNING
            write_pid_file(self.paths.pid_file, process.pid)
        logger.info("%s launched, pid %d: %s", self.container.id, process.pid, command)
        threading.Thread(target=self._wait, args=(process,), name=f"wait-{self.container.id}", daemon=True).start()

    def fail(self, exit_status: int, diagnostics: str) -> None:
        """End a container that never ran (localization failed)."""
        with self._lock:
            self._finish(exit_status, diagnostics)

    def _wait(self, process: subprocess.Popen) -> None:
        code = process.wait()
        _kill_group(process.pid, signal.SIGKILL)  # whatever the command left running in its group
        with self._lock:
            if self._kill_reason is not None:
                self._finish(*self._kill_reason)
            else:
                diagnostics = "" if code == 0 else f"Exception from container-launch. Exit code: {code}"
                self._finish(code if code >= 0 else 128 - code, diagnostics)

    def _finish(self, exit_status: int, diagnostics: str) -> None:
        if self.phase is ContainerPhase.DONE:
            return
        self.exit_status, self.diagnostics, self.phase = exit_status, diagnostics, ContainerPhase.DONE
        self.paths.pid_file.unlink(missing_ok=True)
        logger.info("%s completed, exit status %d%s", self.container.id, exit_status,
                    f": {diagnostics}" if diagnostics else "")
        self.done.set()

    def stop(self, exit_status: int, diagnostics: str) -> None:
        """SIGTERM the container's process group, then SIGKILL after the grace delay. Idempotent."""
        with self._lock:
            if self.phase is ContainerPhase.DONE or self._kill_reason is not None:
                return
            self._kill_reason = (exit_status, diagnostics)
            if self.phase is not ContainerPhase.RUNNING:
                if self.phase is ContainerPhase.NEW:
                    self._finish(exit_status, diagnostics)
                return  # a localizing container finishes when `launch` sees the kill reason
            self.phase = ContainerPhase.KILLING
            pid = self.pid
        logger.info("%s stopping (%s)", self.container.id, diagnostics)
        _kill_group(pid, signal.SIGTERM)
        if not self.done.wait(self.sigkill_delay_s):
            _kill_group(pid, signal.SIGKILL)


def _kill_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


# ---------------------------------------------------------------- pid files (for leftovers)

def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot: with the pid, it names one process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def write_pid_file(path: Path, pid: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{pid} {_start_time(pid)}\n")


def kill_leftover_containers(root: Path) -> int:
    """Kill every container process group recorded in pid files under `root`; returns how many."""
    killed = 0
    for pid_file in root.glob("nodes/*/nm-local-dir/pids/*.pid"):
        try:
            pid_text, _, started = pid_file.read_text().strip().partition(" ")
            pid = int(pid_text)
        except (OSError, ValueError):
            continue
        if started and _start_time(pid) == started:
            _kill_group(pid, signal.SIGKILL)
            killed += 1
        pid_file.unlink(missing_ok=True)
    return killed

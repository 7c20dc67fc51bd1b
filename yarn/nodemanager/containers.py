"""One container on this node as the operating system sees it: its environment, its process group, its pid file.

A container runs `bash -c "<commands joined by &&>"` as a child process in a
new session (so its own process group): stopping it signals the whole group,
SIGTERM first and SIGKILL after `yarn.nodemanager.sleep-delay-before-sigkill.ms`,
and whatever the command left behind dies with it. stdout and stderr go to
`<log dir>/<application>/<container>/stdout|stderr`.

The pid of every running container is written to `<local dir>/pids/`, so that
`emrlab cluster down` can kill containers whose NodeManager was killed -9
(`kill_leftover_containers`).

The container's lifecycle is in `state.py`; `executor.py` starts and signals
the process with the functions here.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from emrlab_common.credentials import TOKEN_FILE_ENVIRONMENT_VARIABLE
from yarn.nodemanager.linuxexecutor import TOKEN_FILE_NAME
from yarn.nodemanager.records import ContainerPaths
from yarn.records import Container, ContainerLaunchContext, application_of_container, attempt_of_container

SOURCE_ROOT = str(Path(__file__).resolve().parents[2])


def container_environment(container: Container, context: ContainerLaunchContext, user: str, *, node_address: str,
                          cluster_dir: str, local_dirs: list[str], paths: ContainerPaths,
                          isolated: bool = False) -> dict[str, str]:
    """What a container sees in its environment (a pure function, so a test can read it). `isolated`: it runs
    as its user's account (LinuxContainerExecutor), with a temporary directory of its own."""
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
    if context.tokens:  # the executor writes it there, readable by the container's account only
        environment[TOKEN_FILE_ENVIRONMENT_VARIABLE] = str(paths.work_dir / TOKEN_FILE_NAME)
    if isolated:
        environment["TMPDIR"] = str(paths.work_dir / "tmp")
    return environment


def expand_command(command: str, paths: ContainerPaths) -> str:
    """Hadoop's placeholders: <LOG_DIR> is the container's log dir."""
    return command.replace("<LOG_DIR>", str(paths.log_dir))


def kill_group(pid: int, sig: int) -> None:
    """Signal a container's whole process group; one that is gone already is fine."""
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


def kill_leftover_containers(root: Path, node_id: str = "*") -> int:
    """Kill every container process group recorded in pid files under `root` (of one node, or all); returns how many."""
    killed = 0
    for pid_file in root.glob(f"nodes/{node_id}/nm-local-dir/pids/*.pid"):
        try:
            pid_text, _, started = pid_file.read_text().strip().partition(" ")
            pid = int(pid_text)
        except (OSError, ValueError):
            continue
        if started and _start_time(pid) == started:
            kill_group(pid, signal.SIGKILL)
            killed += 1
        pid_file.unlink(missing_ok=True)
    return killed

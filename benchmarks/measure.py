"""Measuring one command: wall time, CPU time of every process it started, and their peak memory.

- CPU: `getrusage(RUSAGE_CHILDREN)` before and after, which counts every
  descendant that was waited for (a JVM's Python workers, a runner's task
  processes), plus, for a cluster, what its daemons spent meanwhile
  (`/proc/PID/stat`: their own time and that of the containers they reaped).
  The suite's process is made a child subreaper (prctl), so that a process
  orphaned on the way (PySpark's JVM outlives its Python driver for a moment)
  comes back to it, is waited for, and its CPU time counted too.
- Peak memory: the largest sum of resident set sizes of the command's process
  tree (and the daemons' trees), sampled every SAMPLE_INTERVAL_S.

Linux only (/proc).
"""

from __future__ import annotations

import os
import resource
import subprocess
import threading
import time
from dataclasses import dataclass

SAMPLE_INTERVAL_S = 0.1
ORPHANS_WAIT_S = 60
PR_SET_CHILD_SUBREAPER = 36
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


class CommandFailed(Exception):
    pass


@dataclass(frozen=True)
class Measurement:
    wall_s: float
    cpu_s: float
    peak_memory_bytes: int
    stdout: str = ""
    first_task_s: float | None = None  # the command's start to its job's first task attempt's (from job history)


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as file:
            text = file.read()
    except OSError:
        return None
    return text[text.rfind(")") + 2:].split()  # fields from the state (field 3) on


def process_cpu_s(pid: int) -> float:
    """User + system time of a process and of its children it has reaped."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    return sum(int(value) for value in fields[11:15]) / CLOCK_TICKS_PER_S


def tree_memory_bytes(roots: list[int]) -> int:
    """Sum of the resident set sizes of `roots` and all their descendants."""
    children: dict[int, list[int]] = {}
    resident: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = _stat_fields(int(name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(name))
                resident[int(name)] = int(fields[21]) * PAGE_BYTES
    total, pending, seen = 0, list(roots), set()
    while pending:
        pid = pending.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += resident.get(pid, 0)
        pending.extend(children.get(pid, ()))
    return total


def become_subreaper() -> None:
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _children_of(parent: int) -> list[int]:
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = _stat_fields(int(name))
            if fields is not None and int(fields[1]) == parent:
                pids.append(int(name))
    return pids


def reap_orphans(keep: tuple[int, ...]) -> None:
    """Wait for descendants orphaned to this process (not the daemons in `keep`) to end."""
    deadline = time.monotonic() + ORPHANS_WAIT_S
    while time.monotonic() < deadline:
        orphans = [pid for pid in _children_of(os.getpid()) if pid not in keep]
        if not orphans:
            return
        for pid in orphans:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        time.sleep(0.05)


def children_cpu_s() -> float:
    """User + system time of every child process this one has waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(command: list[str], daemon_pids: tuple[int, ...] = (), environment: dict | None = None,
            cwd: str | None = None, timeout_s: float = 3600) -> Measurement:
    """Run `command` to its end; raise CommandFailed with its last stderr line if it fails."""
    become_subreaper()
    # Children from before (another engine's daemons, up for the whole suite) are not this command's.
    running_before = tuple(_children_of(os.getpid()))
    cpu_before = children_cpu_s() + sum(process_cpu_s(pid) for pid in daemon_pids)
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment, cwd=cwd,
                               text=True)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(SAMPLE_INTERVAL_S):
            peak[0] = max(peak[0], tree_memory_bytes([process.pid, *daemon_pids]))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise CommandFailed(f"{' '.join(command)} took over {timeout_s:.0f} s") from None
    finally:
        done.set()
        sampler.join()
    wall_s = time.perf_counter() - started
    reap_orphans(keep=(*daemon_pids, *running_before))
    cpu_s = children_cpu_s() + sum(process_cpu_s(pid) for pid in daemon_pids) - cpu_before
    if process.returncode != 0:
        lines = [line for line in stderr.splitlines() if line.strip()]
        raise CommandFailed(f"{' '.join(command[:6])}... exited {process.returncode}: "
                            f"{lines[-1] if lines else '(no stderr)'}")
    return Measurement(wall_s, cpu_s, peak[0], stdout)

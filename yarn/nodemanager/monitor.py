"""The containers monitor: each container's process-tree memory, and YARN's pmem check.

Every `yarn.nodemanager.container-monitor.interval-ms` the NodeManager reads
/proc once, adds up the resident memory of every process in each container's
session (a container is started as a session leader, so its whole process
tree shares its session id), and kills a container that uses more than it was
given, with exit status KILLED_EXCEEDED_PMEM (-104) and Hadoop's diagnostic.
"""

from __future__ import annotations

import os
from pathlib import Path

from emrlab_common.config import format_size

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def resident_bytes_by_session(proc: Path = Path("/proc")) -> dict[int, int]:
    """Session id -> resident bytes of all its processes, from /proc/<pid>/stat."""
    totals: dict[int, int] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone since we listed it
        session, rss_pages = int(fields[3]), int(fields[21])
        totals[session] = totals.get(session, 0) + rss_pages * PAGE_BYTES
    return totals


def over_limit_diagnostics(container_id: str, pid: int, used_bytes: int, limit_bytes: int) -> str | None:
    """Hadoop's message when a container is over its physical memory, else None."""
    if used_bytes <= limit_bytes:
        return None
    return (f"Container [pid={pid},containerID={container_id}] is running beyond physical memory limits. "
            f"Current usage: {format_size(used_bytes)}B of {format_size(limit_bytes)}B physical memory used. "
            "Killing container.")

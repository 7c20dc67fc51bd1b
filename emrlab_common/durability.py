"""Making bytes survive a crash: what the NameNode's edit log and the cluster controller's journal share.

A file's data is durable once it is fsync'd; a new or renamed file's *name* is
durable once its directory is fsync'd too. `write_durably` does both for a
whole file (written to a temporary name, fsync'd, renamed over the old one).
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_durably(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    fsync_directory(path.parent)

"""Logging setup: one file per daemon, one line per state transition.

Modules log through `logging.getLogger(__name__)`; a daemon calls
`configure_daemon_logging` once so that its log reads as a trace of what it
did and why. Commands log warnings to stderr only.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(levelname)-5s %(name)s: %(message)s"
LEVEL_ENVIRONMENT_VARIABLE = "EMRLAB_LOG_LEVEL"


def configure_daemon_logging(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get(LEVEL_ENVIRONMENT_VARIABLE, "INFO").upper())


def configure_command_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get(LEVEL_ENVIRONMENT_VARIABLE, "WARNING").upper())

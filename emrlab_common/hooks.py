"""Hooks a higher layer registers for a lower one to call, so dependencies keep flowing one way.

MapReduce's cluster client knows nothing of the managed cluster above it, yet a
student wants to see what a job cost when it ends. The `emrlab` command
registers a reporter here at start; the client calls every reporter with the
cluster directory and the finished job's history summary, and prints the lines
it returns:

    JOB_FINISHED_REPORTERS.append(lambda cluster_dir, summary: [f"cost: ..."])
"""

from __future__ import annotations

import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

JOB_FINISHED_REPORTERS: list[Callable[[str, dict], list[str]]] = []


def job_finished_lines(cluster_dir: str, summary: dict) -> list[str]:
    """What every registered reporter has to say about a finished job (a reporter's failure is logged, not raised)."""
    lines: list[str] = []
    for reporter in JOB_FINISHED_REPORTERS:
        try:
            lines += reporter(cluster_dir, summary)
        except Exception as error:  # a report is a courtesy: it must never fail (or clutter) the job the user ran
            logger.warning("a job-finished report could not be made: %s: %s", type(error).__name__, error)
    return lines

"""What a job's client prints while it runs: Hadoop's ` map X% reduce Y%` lines and counters.

Every runner (inline, local, cluster) reports to a `JobMonitor`:

    monitor.job_started(job_id, tracking_url="")
    monitor.progress(map_progress, reduce_progress)   # fractions 0..1, as often as you like
    monitor.job_succeeded(job_id, counters) / monitor.job_failed(job_id, message)

On a terminal the progress is one line redrawn in place with a bar (drawn as
`emrlab_common.progress` draws transfers); otherwise
(logs, pipes, tests) a new line is printed only when a percentage changes, as
Hadoop's client does.
"""

from __future__ import annotations

import sys
import time

from emrlab_common.progress import BAR_WIDTH, REDRAWS_PER_SECOND
from mapreduce.api.counters import Counters


class JobMonitor:
    def __init__(self, stream=None, interactive: bool | None = None, quiet: bool = False):
        self.stream = stream or sys.stderr
        self.interactive = (getattr(self.stream, "isatty", lambda: False)() if interactive is None
                            else interactive)
        self.quiet = quiet
        self.last_percentages: tuple[int, int] | None = None
        self._last_draw = 0.0
        self._line_open = False

    def _print(self, text: str) -> None:
        if self.quiet:
            return
        if self._line_open:
            self.stream.write("\n")
            self._line_open = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def info(self, text: str) -> None:
        self._print(text)

    def warning(self, text: str) -> None:
        """One line the user sees even with -q: something beside the job went wrong, the job did not."""
        quiet, self.quiet = self.quiet, False
        try:
            self._print(f"WARN {text}")
        finally:
            self.quiet = quiet

    def job_started(self, job_id: str, tracking_url: str = "") -> None:
        self.last_percentages = None
        if tracking_url:
            self._print(f"The url to track the job: {tracking_url}")
        self._print(f"Running job: {job_id}")

    def progress(self, map_progress: float, reduce_progress: float) -> None:
        percentages = (int(map_progress * 100), int(reduce_progress * 100))
        if self.quiet or percentages == self.last_percentages:
            return
        if self.interactive:
            now = time.monotonic()
            if now - self._last_draw < 1 / REDRAWS_PER_SECOND and percentages != (100, 100):
                return
            self._last_draw = now
            done = (map_progress + reduce_progress) / 2
            bar = "#" * int(BAR_WIDTH * done) + "." * (BAR_WIDTH - int(BAR_WIDTH * done))
            self.stream.write(f"\r map {percentages[0]}% reduce {percentages[1]}% [{bar}] ")
            self.stream.flush()
            self._line_open = True
        else:
            self._print(f" map {percentages[0]}% reduce {percentages[1]}%")
        self.last_percentages = percentages

    def job_succeeded(self, job_id: str, counters: Counters) -> None:
        self._print(f"Job {job_id} completed successfully")
        self._print(counters.format())

    def job_failed(self, job_id: str, message: str, counters: Counters | None = None) -> None:
        self._print(f"Job {job_id} failed with state FAILED due to: {message}")
        if counters is not None:
            self._print(counters.format())

"""The JobHistory server's pages: one MapReduce job's counters, attempts, and a timeline.

    /jobhistory                  the server's front page
    /jobhistory/job/<job id>     one job: live from its ApplicationMaster while it runs, else from its history
    /jmx                         Hadoop:service=JobHistoryServer,name=JobHistoryServer

YARN knows containers, not map and reduce attempts; the job's own
ApplicationMaster knows those (and its history file, once it is done). As in
Hadoop, the ResourceManager's application page links to the job's page here
(the tracking URL the AM registers) instead of rendering MapReduce itself. The
page reads the job's summary exactly as `emrlab job -status` does.

The timeline has one row per node and one bar per attempt, placed by its start
and finish time: colour says map or reduce, pattern says the outcome (failed
striped, killed grey, preempted grey striped, running pale). Waves show up as
columns of bars, stragglers as long ones, re-runs as a second bar for one task.
"""

from __future__ import annotations

import time

from emrlab_common import web
from emrlab_common.errors import EmrlabError
from hdfs import Client
from mapreduce.appmaster.tracking import JOB_PAGE_PREFIX
from mapreduce.jobhistory.summary import job_summary as find_summary
from yarn.client import YarnClient

REFRESH_S = 2
NAV = [("/jobhistory", "JobHistory"), ("/jmx", "JMX")]
FINAL_STATES = ("SUCCEEDED", "FAILED", "KILLED")
TIMELINE_LABEL_WIDTH_EM = 8
BAR_PITCH_PX = 16


def job_summary(cluster_dir, job_id: str) -> dict:
    """The job's summary (the shape of its history file); EmrlabError if it cannot be found."""
    with Client.for_cluster(cluster_dir) as hdfs_client, YarnClient.for_cluster(cluster_dir) as yarn_client:
        return find_summary(hdfs_client, yarn_client, job_id)


def outcome(attempt: dict) -> str:
    """SUCCEEDED, FAILED, KILLED, PREEMPTED (a killed attempt whose container was taken back) or RUNNING."""
    state = attempt["state"]
    if state == "KILLED" and "preempt" in (attempt.get("diagnostics") or "").lower():
        return "PREEMPTED"
    if state in ("SUCCEEDED", "FAILED", "KILLED"):
        return state
    return "RUNNING"


def job_section(summary: dict, now_s: float | None = None) -> str:
    now_s = time.time() if now_s is None else now_s
    progress = (f"<p id=\"job-line\">Job {web.escape(summary['job_id'])} ({web.escape(summary.get('name', ''))}): "
                f"<b id=\"job-state\">{web.escape(summary['state'])}</b>, "
                f"map {summary.get('map_progress', 0) * 100:.0f}% {web.progress_bar(summary.get('map_progress', 0))} "
                f"reduce {summary.get('reduce_progress', 0) * 100:.0f}% {web.progress_bar(summary.get('reduce_progress', 0))}"
                f"{'; step ' + str(summary['step_index'] + 1) + ' of ' + str(summary['step_count']) if summary.get('step_count', 1) > 1 else ''}</p>")
    diagnostics = f"<p>{web.escape(summary['diagnostics'])}</p>" if summary.get("diagnostics") else ""
    return (progress + diagnostics + "<h2>Timeline</h2>" + timeline(summary["attempts"], now_s)
            + "<h2>Task attempts</h2>" + attempts_table(summary["attempts"])
            + "<h2>Counters</h2>" + counters_table(summary.get("counters") or {}))


def timeline(attempts: list[dict], now_s: float) -> str:
    started = [attempt for attempt in attempts if attempt.get("start_time_s")]
    if not started:
        return "<p>No attempt has started yet.</p>"
    first_s = min(attempt["start_time_s"] for attempt in started)
    last_s = max(attempt.get("finish_time_s") or now_s for attempt in started)
    span_s = max(last_s - first_s, 0.001)
    rows = []
    for node_id in sorted({attempt["node_id"] or "(unassigned)" for attempt in started}):
        on_node = sorted((attempt for attempt in started if (attempt["node_id"] or "(unassigned)") == node_id),
                         key=lambda attempt: attempt["start_time_s"])
        slot_free_s: list[float] = []  # attempts that overlap in time go in separate slots of the node's row
        bars = []
        for attempt in on_node:
            end_s = attempt.get("finish_time_s") or now_s
            slot = next((index for index, free_s in enumerate(slot_free_s) if free_s <= attempt["start_time_s"]),
                        len(slot_free_s))
            slot_free_s[slot:slot + 1] = [end_s]
            left = (attempt["start_time_s"] - first_s) / span_s * 100
            width = max(0.4, (end_s - attempt["start_time_s"]) / span_s * 100)
            title = (f"{attempt['attempt_id']} {outcome(attempt)} {end_s - attempt['start_time_s']:.1f}s"
                     f"{' ' + attempt['locality'] if attempt.get('locality') else ''}")
            bars.append(f'<div class="bar {web.escape(attempt["kind"])} {outcome(attempt)}" '
                        f'data-attempt="{web.escape(attempt["attempt_id"])}" title="{web.escape(title)}" '
                        f'style="left:{left:.2f}%;width:{width:.2f}%;top:{slot * BAR_PITCH_PX + 2}px"></div>')
        height_px = max(1, len(slot_free_s)) * BAR_PITCH_PX + 4
        rows.append(f'<div style="display:flex"><div style="width:{TIMELINE_LABEL_WIDTH_EM}em">{web.escape(node_id)}</div>'
                    f'<div class="lane" style="flex:1;height:{height_px}px">{"".join(bars)}</div></div>')
    legend = ('<p><span class="bar map" style="position:static;display:inline-block;width:1em"></span> map '
              '<span class="bar reduce" style="position:static;display:inline-block;width:1em"></span> reduce; '
              'striped red: failed, grey: killed, grey striped: preempted, pale: running. '
              f'{span_s:.1f} s from the first attempt\'s start.</p>')
    return f'<div id="timeline">{"".join(rows)}</div>{legend}'


def attempts_table(attempts: list[dict]) -> str:
    return web.table(
        ["Attempt", "Type", "State", "Progress", "Node", "Locality", "Duration (s)", "Diagnostics"],
        ([attempt["attempt_id"], attempt["kind"], outcome(attempt), f"{attempt.get('progress', 0) * 100:.0f}%",
          attempt["node_id"], attempt.get("locality", ""),
          f"{(attempt.get('finish_time_s') or time.time()) - attempt['start_time_s']:.1f}" if attempt.get("start_time_s") else "",
          (attempt.get("diagnostics") or "")[:200]] for attempt in attempts))


def counters_table(counters: dict[str, dict[str, int]]) -> str:
    return web.table(["Group", "Counter", "Value"],
                     ([group, name, value] for group, values in sorted(counters.items())
                      for name, value in sorted(values.items())))


class JobHistoryWeb:
    """The routes of the JobHistory server's web pages."""

    def __init__(self, cluster_dir):
        self.cluster_dir = cluster_dir

    def routes(self) -> dict[str, web.Handler]:
        return {"/": lambda request: web.redirect("/jobhistory", 302), "/jobhistory": self.front_page,
                JOB_PAGE_PREFIX: self.job_page, "/jmx": self.jmx}

    def front_page(self, request: web.Request) -> web.Response:
        return web.page("JobHistory", "<p>Each MapReduce job's page is /jobhistory/job/&lt;job id&gt;; "
                                      "the ResourceManager's application pages link to it.</p>", NAV)

    def job_page(self, request: web.Request) -> web.Response:
        job_id = request.path[len(JOB_PAGE_PREFIX):].strip("/")
        try:
            summary = job_summary(self.cluster_dir, job_id)
        except EmrlabError as error:
            return web.page("Job not found", f"<p>{web.escape(error.message)}</p>", NAV)
        return web.page(f"Job {job_id}", job_section(summary), NAV,
                        refresh_s=None if summary["state"] in FINAL_STATES else REFRESH_S)

    def jmx(self, request: web.Request) -> web.Response:
        return web.jmx_response(request, [{"name": "Hadoop:service=JobHistoryServer,name=JobHistoryServer",
                                           "modelerType": "JobHistoryServer"}])

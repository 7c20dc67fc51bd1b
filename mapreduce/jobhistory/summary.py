"""A job's summary, in the shape of its history file: live from its ApplicationMaster while it runs, else from
the history file the AM wrote to HDFS (what Hadoop's job client does when it falls back to the JobHistory server).

`emrlab job -status` and the JobHistory server's job page both read it here.
"""

from __future__ import annotations

from emrlab_common.errors import EmrlabError, NotFound
from mapreduce.appmaster.history import read_history, summary_from_report
from mapreduce.appmaster.records import application_id_for
from mapreduce.runners.cluster import am_report
from yarn.records import ApplicationState


def job_summary(hdfs, yarn, job_id: str) -> dict:
    """The live report from the AM if the job runs, else its history."""
    try:
        report = yarn.application_report(application_id_for(job_id))
    except EmrlabError:
        report = None
    if report is not None and not report.state.is_final and report.am_address:
        try:
            return summary_from_report(am_report(report, job_id, include_attempts=True))
        except EmrlabError:
            pass
    if report is not None and report.state in (ApplicationState.NEW, ApplicationState.SUBMITTED,
                                               ApplicationState.ACCEPTED, ApplicationState.RUNNING):
        try:
            return read_history(hdfs, job_id)  # the AM has written it and is on its way out
        except NotFound:
            pass  # not started yet (or not registered): the job is being prepared
        return {"job_id": job_id, "name": report.name, "user": report.user, "state": "PREP",
                "map_progress": 0.0, "reduce_progress": 0.0, "counters": {}, "attempts": [], "diagnostics": ""}
    return read_history(hdfs, job_id)

"""The job's tracking URL: its page on the cluster's JobHistory server, which the AM registers with YARN.

The ResourceManager's application page links to it, as Hadoop's links to the
AM's web UI and to the JobHistory server, without knowing MapReduce. The
server itself (`mapreduce/jobhistory/`) serves the pages at JOB_PAGE_PREFIX.
"""

from __future__ import annotations

from emrlab_common import tls
from emrlab_common.errors import EmrlabError

DAEMON_NAME = "jobhistory"  # the JobHistory server's record in the cluster directory: `python -m mapreduce.jobhistory`
JOB_PAGE_PREFIX = "/jobhistory/job/"


def tracking_url(cluster_dir, job_id: str) -> str:
    """The job's page on the cluster's JobHistory server, for the AM to register as its tracking URL;
    "" when the cluster runs none (the ResourceManager's page then has no link)."""
    try:
        record = cluster_dir.read_daemon(DAEMON_NAME)
        scheme = "https" if tls.modes(cluster_dir.properties())[1] else "http"
    except (OSError, EmrlabError):
        return ""
    http_address = record.extra.get("http_address") if record else None
    return f"{scheme}://{http_address}{JOB_PAGE_PREFIX}{job_id}" if http_address else ""

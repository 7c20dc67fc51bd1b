"""A job's file as its own command line: `python wordcount.py -r local IN -o OUT`.

`mapreduce.Job`, the class a user's job subclasses, is the API's Job
(`mapreduce/api/job.py`) with `run()` added here. The API itself knows nothing
of the command line that runs a job, so that the loader, the tasks and the
runners, which all use the API, never lead back to the command line (as
Hadoop's Job does not depend on the ToolRunner that a job's main() calls).
"""

from __future__ import annotations

import sys

from mapreduce.api import job as api


class Job(api.Job):
    __doc__ = api.Job.__doc__

    @classmethod
    def run(cls) -> None:
        """Make the job's file its own command line: `python job.py -r local IN -o OUT`."""
        # Imported here, not above: the command line brings in every runner and the YARN and HDFS
        # clients (seconds of imports), and every task process that loads a job file imports this module.
        from mapreduce.commands.job import run_job_class

        sys.exit(run_job_class(cls, sys.argv[1:]))

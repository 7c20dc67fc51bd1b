"""The JobHistory server (Hadoop's `mapred historyserver`): every MapReduce job's web page.

    summary.py    a job's summary: live from its AM while it runs, else its history file (also `emrlab job -status`)
    web.py        the pages: a job's progress, timeline, attempts and counters
    __main__.py   the process: `python -m mapreduce.jobhistory`, started with YARN's daemons

The ApplicationMaster registers its job's page here as the application's tracking
URL (`appmaster/tracking.py`), so that the ResourceManager's page links to it, as Hadoop's RM links to
the AM's web UI and to the JobHistory server, without knowing MapReduce.
"""

"""MapReduce: the job API, runners, map and reduce tasks, and the shuffle.

    from mapreduce import Job, Step

Start reading at `job.py` (what a job is), then `task.py` (what a map and a
reduce attempt do), `mapbuffer.py` and `merger.py` (sorting and merging), and
`runners/` (where attempts run). `examples/` holds jobs to copy; `appmaster/`
runs a job on the YARN cluster.
"""

from mapreduce.job import Job, Step

__all__ = ["Job", "Step"]

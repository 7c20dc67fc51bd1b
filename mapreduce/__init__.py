"""MapReduce: the job API, the task side, the runners, the ApplicationMaster and the shuffle.

    from mapreduce import Job, Step

The packages, in reading order, each importing only those above it (tests/test_layering.py
checks it, and lists the few imports still waiting to be moved; each package's `__init__.py`
gives its own reading order):

    api/         what a user writes against (Hadoop's org.apache.hadoop.mapreduce):
                 Job and Step, keys as sortable bytes, partitioners, counters, errors,
                 the file systems a job reads and writes
    streaming/   jobs that are not a Job class: Hadoop Streaming commands, mrjob jobs,
                 and the loader that finds a job from its reference
    task/        what one map or reduce attempt does (Hadoop's mapred.MapTask and
                 ReduceTask): splits and the record reader, the sort buffer, spills,
                 the merge, the output committer; in a container, YarnChild
    appmaster/   the MapReduce ApplicationMaster: one job on the YARN cluster
    shuffle/     map output served by each NodeManager (the reducers fetch it: task/reduce/)
    runners/     where attempts run (inline, local, cluster, spark): submission
                 checks, planning the steps, following the job
    jobhistory/  the JobHistory server: each job's web page, which YARN's pages link to
    commands/    the command lines: `emrlab job`, `emrlab streaming`, `emrlab examples`, and
                 `Job.run()` (jobfile.py): a job's file as its own command line
    examples/    jobs to copy: word count, grep, sort, join, inverted index
"""

import emrlab_common  # noqa: F401  first: turns gRPC's fork handlers off before grpc loads (see there)
from mapreduce.api.job import Step
from mapreduce.commands.jobfile import Job  # the API's Job with run(): the file as its own command line

__all__ = ["Job", "Step"]

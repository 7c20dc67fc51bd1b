"""Jobs that are not a Job class: Hadoop Streaming commands and mrjob jobs (Hadoop's org.apache.hadoop.streaming).

Read in this order:

    loader.py        finding a job's class from its reference ("job.py:WordCount", "package.module:Class")
    streamjob.py     Hadoop Streaming: the mapper and reducer as commands on stdin/stdout (StreamJob; the task
                     side that feeds them records is task/pipes.py)
    mrjob_compat.py  an unmodified mrjob MRJob run as mrjob runs it on Hadoop: its steps as Streaming steps
"""

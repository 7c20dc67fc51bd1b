"""A reduce attempt's side of the shuffle: copying its partition of every map's output
(Hadoop's org.apache.hadoop.mapreduce.task.reduce).

    scheduler.py  decisions, pure: which output next, host penalties, when to give up (ShuffleSchedulerImpl)
    fetcher.py    its shell, the I/O: copy the partition from every finished map (Fetcher)
    channels.py   the gRPC channels to the NodeManagers' shuffle services, cached and bounded

The other side, which serves map output from each NodeManager, is `mapreduce/shuffle/`.
"""

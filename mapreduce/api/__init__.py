"""The job API: what a user's job is written against (Hadoop's org.apache.hadoop.mapreduce).

Read in this order:

    job.py           Job and Step: a job is a class of generator methods (mapper, combiner, reducer)
    keys.py          keys encoded as bytes that sort the way the keys do (the shuffle compares bytes)
    partitioners.py  which reduce task gets a key (HashPartitioner, TotalOrderPartitioner, ...)
    keyfields.py     Hadoop's key field specs (-k1,2 -k3nr): partition and sort by some fields
    counters.py      named totals with Hadoop's group and counter names
    spec.py          JobSpec and JobResult: what a client asks a runner to run, and what it gets back
    fs.py            the file systems a job reads and writes: the local disk or HDFS
    errors.py        the operating errors a user sees, each one clear line
    deprecation.py   Hadoop 1's configuration names, mapped to the new ones as Hadoop maps them
"""

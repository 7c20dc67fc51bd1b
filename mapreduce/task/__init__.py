"""The task side: what one map or reduce attempt does (Hadoop's mapred.MapTask and ReduceTask).

Read in this order, following a record from the input to the output:

    attempt.py     TaskAttempt and running it: run_map_attempt, run_reduce_attempt
    steps.py       the attempt's job loaded from its reference, and its step's phases
    phases.py      a step's Python map, combine and reduce as the functions the attempt calls
    pipes.py       a Streaming step's phases: its commands as those functions (Hadoop's PipeMapRed)
    formats.py     which records a step reads and writes: text lines, or msgpack between steps
    splits.py      input splits, and the line record reader that reads each line once
    sampling.py    a seeded sample of the input's lines, split by split, before a job starts (Hadoop's
                   InputSampler; examples/sort.py picks its TotalOrderPartitioner boundaries from it)
    mapbuffer.py   the map side's sort buffer: collect, combine, spill sorted runs, merge them
    segments.py    the spill format: sorted segments of records and an index per partition (Hadoop's IFile)
    reduce/        the reduce side's shuffle: fetching its partition of every map's output (Hadoop's
                   task.reduce: ShuffleSchedulerImpl, Fetcher)
    merger.py      the reduce side's merge of many segments in bounded memory (Hadoop's MergeManager)
    output.py      FileOutputCommitter: no reader sees a failed or half-written attempt's output
    config.py      TaskConfig: the settings an attempt reads (sort buffer, spills, merge, memory)

In a YARN container (the cluster runner):

    yarnchild.py   the container's entry point, `python -m mapreduce.task.yarnchild` (Hadoop's YarnChild)
    umbilical.py   how the task talks to its ApplicationMaster (Hadoop's TaskUmbilicalProtocol)
"""

"""MapReduce's command lines.

    job.py        `emrlab job`: run a job, on any runner
    jobfile.py    `Job.run()`: a job's file as its own command line (`python wordcount.py -r local IN -o OUT`)
    jobstatus.py  `emrlab job -list | -status | -kill | -history`, as `mapred job` has them
    streaming.py  `emrlab streaming`: Hadoop Streaming's command line
    examples.py   `emrlab examples`: run a built-in example job (mapreduce/examples/)
"""

"""The MapReduce ApplicationMaster: one per job, in the job's first YARN container.

    records.py      ids, lifecycles (with their transition tables), events and commands
    job.py          JobStateMachine: the pure state of a job, its tasks and attempts
    config.py       AppMasterConfig: Hadoop's keys for attempts, slow start, timeouts, memory
    description.py  the job as the client stages it (job.json)
    server.py       gRPC servicers: TaskUmbilical (tasks) and MRClientProtocol (clients)
    master.py       MRAppMaster: the shell that runs the machine against YARN and HDFS
    history.py      the job history file written to HDFS at the end
    __main__.py     the process: `python -m mapreduce.appmaster`
"""

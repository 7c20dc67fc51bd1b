"""The MapReduce ApplicationMaster: one per job, in the job's first YARN container.

    records.py      ids, lifecycles (enums with (state, event) -> state tables), events and commands
    tasks.py        Task, Attempt and TaskBook: the tasks and attempts, their queries and moves
    requests.py     RequestBook: which attempt each YARN container request is for
    retries.py      what attempts report; failed and killed attempts, maxattempts, timeouts
    assignment.py   container requests, which attempt gets a container (locality), slow start
    job.py          JobStateMachine: the pure state of a job, made of the parts above and below
    preemption.py   what lost and decommissioning nodes mean for attempts and map output;
                    when reducers are killed to make room for maps that cannot get a container
    plan.py         a job's steps planned: inputs, outputs, reducers and configuration of each (the
                    runners plan with it too, so that a job means the same wherever it runs)
    config.py       AppMasterConfig: Hadoop's keys for attempts, slow start, preemption, timeouts, memory
    description.py  the job as the client stages it (job.json)
    server.py       gRPC servicers: TaskUmbilical (tasks) and MRClientProtocol (clients)
    master.py       MRAppMaster: the shell that runs the machine against YARN and HDFS
    containers.py   YarnContainers, the shell's YARN side: allocate answers, requests, launches, held containers
    history.py      the job history file written to HDFS at the end
    tracking.py     the tracking URL it registers with YARN: the job's page on the JobHistory server
    recovery.py     the recovery log a later AM attempt resumes the job from
    __main__.py     the process: `python -m mapreduce.appmaster`
"""

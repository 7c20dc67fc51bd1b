"""The NodeManager: launches, watches and kills containers on one node, and hosts aux services.

Reading order:

    records.py      container and application lifecycles (transition tables), events in, commands out
    state.py        NodeManagerState: the pure state machine, `handle(event, now_s) -> commands`
    executor.py     ContainerExecutor: carries the commands out (localizer pool, launches, the reaper)
    linuxexecutor.py  whose a container is and which OS account it runs as (secure mode's LinuxContainerExecutor)
    containers.py   a container's environment, process group and pid file (`kill_leftover_containers`)
    localizer.py    local resources fetched from HDFS or linked from file:///
    monitor.py      process-tree memory from /proc and Hadoop's pmem diagnostic
    node.py         NodeManager: the shell, one lock around the state, events in from every thread
    actor.py        the heartbeat to the ResourceManager (Hadoop's NodeStatusUpdater)
    server.py       ContainerManagementProtocol: thin gRPC servicers
    auxservices.py  aux services (MapReduce's shuffle) loaded by class name
    http.py         its web page, `/ws/v1/node/info` and `/jmx`
    config.py       NodeManagerConfig: Hadoop's keys and defaults
    __main__.py     the process: `python -m yarn.nodemanager`
"""

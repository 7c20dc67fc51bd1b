"""The distributed shell: a minimal YARN application that runs one shell command in N containers.

    client.py     `emrlab distributedshell`: submits the application (YARN's DistributedShell Client)
    appmaster.py  its ApplicationMaster: asks for N containers, runs the command in each, then finishes
"""

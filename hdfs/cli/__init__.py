"""HDFS's commands: `emrlab dfs`, `emrlab fsck`, `emrlab dfsadmin`.

    dfs/         `emrlab dfs`: the command table in dfs/__init__.py, one module per group of
                 commands as Hadoop's FsShell groups them (listing, display, copying, tree,
                 attributes), what they share in dfs/common.py
    fsck.py      `emrlab fsck`: HDFS's health, as Hadoop's fsck reports it
    dfsadmin.py  `emrlab dfsadmin`: -report, -refreshNodes, -safemode
    modes.py     permission modes as `chmod` takes them (octal or symbolic)
"""

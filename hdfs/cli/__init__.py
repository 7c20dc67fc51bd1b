"""HDFS's commands: `emrlab dfs`, `emrlab fsck`, `emrlab dfsadmin`."""

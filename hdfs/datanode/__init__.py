"""The DataNode: stores block replicas on a core node's disk and moves them.

  storage.py   replicas as files with checksums beside them
  transfer.py  write pipelines and reads (DataTransferProtocol)
  actor.py     heartbeats, block reports and the NameNode's commands
  scanner.py   background verification of every replica
  node.py      the state those threads share; __main__.py, the process
"""

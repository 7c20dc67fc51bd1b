"""The DataNode: stores block replicas on a core node's disk and moves them.

Read in this order:

  state.py          its side of the NameNode conversation, a pure state machine:
                    `handle(event, now_s) -> commands`, the bound on copies at once
  actor.py          the shell around it (Hadoop's BPServiceActor): calls, retries, a bounded copy pool
  node.py           what its threads share: the storage, the bounded outboxes to the NameNode, peer channels
  storage.py        replicas as files with checksums beside them
  transfer.py       write pipelines and reads over gRPC (DataTransferProtocol)
  xceiver.py        the same on the streaming port, as raw packets (hdfs/datatransfer.py)
  scanner.py        background verification of every replica (the block scanner)
  directoryscan.py  what is on disk against what it believes it holds
  http.py           its web page, `/jmx` and WebHDFS's data side
  config.py         DataNodeConfig: Hadoop's keys and defaults; __main__.py, the process
"""

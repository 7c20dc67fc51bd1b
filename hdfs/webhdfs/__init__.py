"""WebHDFS: Hadoop's REST API for HDFS, served by the NameNode and the DataNodes.

    curl -i "http://NAMENODE_HTTP/webhdfs/v1/user/alice?op=LISTSTATUS&user.name=alice"
    curl -L "http://NAMENODE_HTTP/webhdfs/v1/data/words.txt?op=OPEN&user.name=alice"
    curl -L -X PUT -T words.txt "http://NAMENODE_HTTP/webhdfs/v1/data/words.txt?op=CREATE&user.name=alice"

As in Hadoop, the NameNode answers the namespace operations itself and sends
the ones that move bytes (OPEN, CREATE, APPEND, GETFILECHECKSUM) to a DataNode
with a 307 redirect; the DataNode then acts as an ordinary HDFS client of the
NameNode, streaming between the HTTP connection and the block pipeline.

What both sides share is here:

  - `requests.py`: a request's path under /webhdfs/v1 and its `op`, checked
    against the HTTP method,
  - `shapes.py`: the JSON shapes (FileStatus, ContentSummary, ...) and the
    RemoteException errors with the status codes Hadoop maps them to,
  - `tokens.py`: who a request is from in token mode, and the token
    operations (GET/RENEW/CANCELDELEGATIONTOKEN).

Each side lives with its daemon: `hdfs/namenode/webhdfs.py` (the NameNode's),
`hdfs/datanode/webhdfs.py` (the DataNode's).
"""

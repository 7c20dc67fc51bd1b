"""HDFS: a NameNode holding the namespace, DataNodes holding replicated blocks, and a client.

    from hdfs import Client
    client = Client.for_cluster()
    client.upload("words.txt", "/data/words.txt")

Read in this order (each package's `__init__.py` gives its own):

    namenode/       the namespace and the block map: start at hdfs/namenode/__init__.py
    datanode/       block replicas on one node's disk, and the conversation with the NameNode
    client/         what programs use: `Client`, reading and writing streams
    protocol.py     plain records shared by the NameNode and its clients, and their proto forms
    paths.py        HDFS paths as users type them
    pipeline.py     the sending end of a write pipeline (clients and DataNodes alike)
    datatransfer.py the streaming data transfer protocol on a plain TCP socket
    checksum.py     per-chunk CRC32C checksums; blocktoken.py, block access tokens
    errors.py       HDFS's operating errors
    webhdfs/        Hadoop's REST API, served by the NameNode and the DataNodes
    cli/            `emrlab dfs`, `fsck`, `dfsadmin`
"""

import emrlab_common  # noqa: F401  first: turns gRPC's fork handlers off before grpc loads (see there)
from hdfs.client import BlockLocation, Client
from hdfs.protocol import ContentSummary, FileStatus

__all__ = ["BlockLocation", "Client", "ContentSummary", "FileStatus"]

"""The HDFS client library: `Client`, and the streams it opens.

Read in this order:

    client.py     Client: its channels, the NameNode call, the lease renewer; made of the three mixins below
    namespace.py  NamespaceCalls: status, list, glob, walk, mkdirs, rename, permissions, block locations, checksums
    files.py      FileCalls: open, create, append, upload, download, and the NameNode calls the streams make
    admin.py      AdminCalls: fsck and dfsadmin (DataNode report, decommissioning, safe mode)
    reader.py     InputStream: block by block, from the closest healthy replica, checking every chunk
    writer.py     OutputStream: bytes become packets, packets flow down a pipeline of DataNodes
    config.py     ClientConfig: Hadoop's dfs.client.* keys and defaults
"""

from hdfs.client.client import BlockLocation, Client
from hdfs.client.reader import InputStream
from hdfs.client.writer import OutputStream

__all__ = ["BlockLocation", "Client", "InputStream", "OutputStream"]

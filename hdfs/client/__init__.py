"""The HDFS client library: `Client`, and the streams it opens.

Read in this order:

    client.py   Client: the namespace calls to the NameNode, block locations, checksums
    reader.py   InputStream: block by block, from the closest healthy replica, checking every chunk
    writer.py   OutputStream: bytes become packets, packets flow down a pipeline of DataNodes
    config.py   ClientConfig: Hadoop's dfs.client.* keys and defaults
"""

from hdfs.client.client import BlockLocation, Client
from hdfs.client.reader import InputStream
from hdfs.client.writer import OutputStream

__all__ = ["BlockLocation", "Client", "InputStream", "OutputStream"]

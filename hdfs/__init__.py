"""HDFS: a NameNode holding the namespace, DataNodes holding replicated blocks, and a client.

    from hdfs import Client
    client = Client.for_cluster()
    client.upload("words.txt", "/data/words.txt")

See `hdfs/namenode/__init__.py` for where to start reading the NameNode.
"""

from hdfs.client import BlockLocation, Client
from hdfs.protocol import ContentSummary, FileStatus

__all__ = ["BlockLocation", "Client", "ContentSummary", "FileStatus"]

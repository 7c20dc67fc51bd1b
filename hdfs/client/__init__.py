"""The HDFS client library: `Client`, and the streams it opens."""

from hdfs.client.client import BlockLocation, Client
from hdfs.client.reader import InputStream
from hdfs.client.writer import OutputStream

__all__ = ["BlockLocation", "Client", "InputStream", "OutputStream"]

"""A DataNode that resets a streaming read before it answers (killed, or cut off by a partition): the reader
raises an emrlab error it tries the next replica on, not a raw ConnectionResetError (found by the fault harness:
the error escaped the client)."""

import socket
import struct
import threading

import pytest

from emrlab_common.errors import EmrlabError
from emrlab_common.protos import hdfs_pb2
from hdfs.client.reader import _streamed_packets


def test_a_reset_before_the_datanodes_answer_is_an_emrlab_error():
    listener = socket.create_server(("127.0.0.1", 0))

    def reset_the_first_caller():
        connection, _ = listener.accept()
        connection.recv(64)
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with RST
        connection.close()

    thread = threading.Thread(target=reset_the_first_caller)
    thread.start()
    replica = hdfs_pb2.DatanodeId(node_id="core-9", address="127.0.0.1:1", xfer_port=listener.getsockname()[1])
    with pytest.raises(EmrlabError, match="read from core-9 broke"):
        next(_streamed_packets(replica, hdfs_pb2.ReadBlockRequest(), timeout_s=10))
    thread.join(10)
    listener.close()

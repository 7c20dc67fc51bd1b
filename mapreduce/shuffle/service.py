"""The ShuffleService servicer: streams one reduce partition of one map attempt's output.

Thin: it checks the request, finds the application's local dir through the
callable it is given (the NodeManager knows which user ran which application),
and streams the bytes `mapoutput.read_partition` finds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from emrlab_common.errors import NotFound
from emrlab_common.protos import mapreduce_pb2, mapreduce_pb2_grpc
from emrlab_common.rpc import servicer_method
from mapreduce.shuffle.mapoutput import check_fetch, read_partition

logger = logging.getLogger(__name__)


class ShuffleServicer(mapreduce_pb2_grpc.ShuffleServiceServicer):
    def __init__(self, application_dir: Callable[[str], Path | None]):
        """`application_dir(application id)` is the app's local dir on this node, or None if unknown."""
        self.application_dir = application_dir

    @servicer_method
    def FetchMapOutput(self, request, context):
        application_id = check_fetch(request.job_id, request.map_attempt_id)
        directory = self.application_dir(application_id)
        if directory is None:
            raise NotFound(f"application {application_id} has no map output on this node")
        length, records, chunks = read_partition(directory, request.map_attempt_id, request.partition)
        logger.debug("serving %s partition %d: %d bytes", request.map_attempt_id, request.partition, length)
        first = True
        for chunk in chunks:
            yield mapreduce_pb2.FetchMapOutputResponse(
                data=chunk, segment_length_bytes=length if first else 0, segment_records=records if first else 0)
            first = False
        if first:  # an empty segment still answers with its (zero) length
            yield mapreduce_pb2.FetchMapOutputResponse(segment_length_bytes=0, segment_records=records)

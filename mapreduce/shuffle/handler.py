"""ShuffleHandler: the NodeManager aux service that serves map output to reducers.

Loaded by every NodeManager as `mapreduce_shuffle` (see yarn.nodemanager.auxservices).
It shares the NodeManager's gRPC server, so reducers reach it at the node's
NM address, which is what the AM hands them in map completion events.

It remembers which user runs each application on this node (told by
`initialize_application`), because an application's local dir is per user;
nothing else is kept, and nothing is durable: the map output itself lives in
the application's local dir and goes away with the application.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from emrlab_common.protos import mapreduce_pb2_grpc
from mapreduce.shuffle.service import ShuffleServicer
from yarn.nodemanager.auxservices import AuxiliaryService, AuxServiceContext

logger = logging.getLogger(__name__)


class ShuffleHandler(AuxiliaryService):
    def __init__(self, context: AuxServiceContext):
        super().__init__(context)
        self._users: dict[str, str] = {}  # application id -> user
        self._lock = threading.Lock()

    def add_servicers(self, server) -> None:
        mapreduce_pb2_grpc.add_ShuffleServiceServicer_to_server(ShuffleServicer(self.application_dir), server)

    def initialize_application(self, application_id: str, user: str, service_data: bytes) -> None:
        with self._lock:
            self._users[application_id] = user
        logger.info("shuffle: %s (user %s) on %s", application_id, user, self.context.node_id)

    def stop_application(self, application_id: str) -> None:
        with self._lock:
            self._users.pop(application_id, None)

    def application_dir(self, application_id: str) -> Path | None:
        with self._lock:
            user = self._users.get(application_id)
        return None if user is None else self.context.application_dir(user, application_id)

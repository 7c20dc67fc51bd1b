"""Auxiliary services: code that lives inside every NodeManager (MapReduce's shuffle is one).

Configured as in Hadoop:

    yarn.nodemanager.aux-services=mapreduce_shuffle
    yarn.nodemanager.aux-services.mapreduce_shuffle.class=mapreduce.shuffle:ShuffleHandler

A service is built with an `AuxServiceContext`, adds its gRPC servicers to the
NodeManager's own server (so it is reached at the node's NM_ADDRESS), hears
when an application starts and stops on this node, and is closed at shutdown.
`initialize_application` is called on the first container of an application
on this node, with that container's `service_data[NAME]` (b"" if none), and
again if a later container brings data the service has not had yet.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from emrlab_common.clusterdir import ClusterDir
from emrlab_common.errors import InvalidArgument

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AuxServiceContext:
    name: str
    node_id: str
    cluster_dir: ClusterDir
    properties: dict[str, str]
    application_dir: Callable[[str, str], Path]  # (user, application id) -> the app's local dir on this node


class AuxiliaryService:
    """Base class: override what you need."""

    def __init__(self, context: AuxServiceContext):
        self.context = context

    def add_servicers(self, server) -> None:
        """Register gRPC servicers on the NodeManager's server (before it starts)."""

    def initialize_application(self, application_id: str, user: str, service_data: bytes) -> None:
        """An application's container arrived on this node."""

    def stop_application(self, application_id: str) -> None:
        """The application finished; its local files are about to be deleted."""

    def close(self) -> None:
        """The NodeManager is stopping."""


def load_aux_services(properties: dict[str, str], names_text: str, make_context) -> dict[str, AuxiliaryService]:
    """Build the configured services; `make_context(name)` gives each its context."""
    services: dict[str, AuxiliaryService] = {}
    for name in filter(None, (part.strip() for part in names_text.split(","))):
        key = f"yarn.nodemanager.aux-services.{name}.class"
        class_path = properties.get(key, "")
        module_name, _, class_name = class_path.partition(":")
        if not module_name or not class_name:
            raise InvalidArgument(f"{key} must be package.module:ClassName, got {class_path!r}")
        try:
            service_class = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as error:
            raise InvalidArgument(f"cannot load aux service {name} from {class_path}: {error}") from None
        services[name] = service_class(make_context(name))
        logger.info("loaded aux service %s (%s)", name, class_path)
    return services

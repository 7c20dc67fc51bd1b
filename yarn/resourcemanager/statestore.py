"""The ResourceManager's state store: what a restarted RM needs to recover its applications.

Hadoop's RMStateStore, with its FileSystemRMStateStore layout (emrlab's
files are JSON, so a student can `cat` them):

    <store dir>/FSRMStateRoot/EpochNode                       how many times this RM has started
    <store dir>/FSRMStateRoot/RMAppRoot/<application id>      one application and its attempts
    <store dir>/FSRMStateRoot/RMAddress                       emrlab's: where the RM last listened

An application's file holds what the client submitted (its submission
context with its tokens, user, queue, time: the store is the RM's alone, 0700) and, for each AM attempt, its AM container and
whether it registered; once the application ends, its final state. Each
write replaces the whole file durably (written aside, fsync'd, renamed, its
directory fsync'd: `emrlab_common.durability`) before the RM answers the call
that changed it. What is *not* here is rebuilt at start: nodes and running
containers come from the NodeManagers as they re-register, pending requests
from the ApplicationMasters as they re-register.

A damaged file (unreadable JSON, a missing field) is Hadoop's lenient
behaviour (`yarn.fail-fast` false): that one application is skipped with a
warning in the RM's log, and its file renamed `<name>.corrupt` so nothing is
silently deleted; every other application is recovered.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from emrlab_common.durability import fsync_directory, write_durably
from emrlab_common.errors import Unavailable
from yarn.records import (
    ApplicationState,
    ApplicationSubmissionContext,
    Container,
    ContainerLaunchContext,
    FinalApplicationStatus,
    Resource,
    check_application_id,
)
from yarn.resourcemanager.applications import RMApp

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
ROOT_NAME = "FSRMStateRoot"
APPS_NAME = "RMAppRoot"
EPOCH_NAME = "EpochNode"
ADDRESS_NAME = "RMAddress"
CORRUPT_SUFFIX = ".corrupt"


@dataclass(frozen=True)
class RMState:
    """What `load` found: the epoch this start runs in, and the applications."""

    epoch: int
    applications: list[RMApp]
    skipped: list[str]  # file names of damaged applications


class FileSystemRMStateStore:
    def __init__(self, directory: Path):
        self.root = Path(directory) / ROOT_NAME
        self.apps_dir = self.root / APPS_NAME

    def load(self) -> RMState:
        """Read the store and start a new epoch (one more RM start), durably."""
        try:
            self.apps_dir.mkdir(parents=True, exist_ok=True)
            self.root.chmod(0o700)  # submissions carry secure mode's delegation tokens, as Hadoop's store does
            epoch = self._read_epoch() + 1
            write_durably(self.root / EPOCH_NAME, f"{epoch}\n".encode())
        except OSError as error:
            raise Unavailable(f"cannot use the ResourceManager state store {self.root}: {error}") from None
        applications, skipped = [], []
        for path in sorted(self.apps_dir.iterdir()):
            if not path.name.startswith("application_") or path.name.endswith((CORRUPT_SUFFIX, ".tmp")):
                continue
            try:
                applications.append(application_from_record(json.loads(path.read_bytes())))
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
                logger.warning("skipping damaged application state %s (%s: %s); that application is lost",
                               path, type(error).__name__, error)
                os.replace(path, path.with_name(path.name + CORRUPT_SUFFIX))
                skipped.append(path.name)
        return RMState(epoch, applications, skipped)

    def store(self, app: RMApp) -> None:
        write_durably(self.apps_dir / app.application_id,
                      json.dumps(application_record(app), indent=1, sort_keys=True).encode())

    def remove(self, application_id: str) -> None:
        """The RM no longer remembers it (yarn.resourcemanager.max-completed-applications)."""
        try:
            (self.apps_dir / application_id).unlink()
        except FileNotFoundError:
            return
        fsync_directory(self.apps_dir)

    def previous_address(self) -> str:
        """Where the RM listened before: a restart takes the same port if it can (a real RM's port is fixed),
        so running ApplicationMasters and clients find it again; "" if unknown."""
        try:
            return (self.root / ADDRESS_NAME).read_text().strip()
        except OSError:
            return ""

    def record_address(self, address: str) -> None:
        write_durably(self.root / ADDRESS_NAME, f"{address}\n".encode())

    def _read_epoch(self) -> int:
        try:
            return int((self.root / EPOCH_NAME).read_text().strip() or 0)
        except FileNotFoundError:
            return 0
        except ValueError:
            logger.warning("damaged %s; starting from epoch 0", self.root / EPOCH_NAME)
            return 0


# ---------------------------------------------------------------- records <-> JSON

def application_record(app: RMApp) -> dict:
    context = app.context
    return {
        "version": FORMAT_VERSION,
        "context": {
            "application_id": context.application_id, "name": context.name, "queue": context.queue,
            "application_type": context.application_type, "max_app_attempts": context.max_app_attempts,
            "resource": _resource_record(context.resource), "am_container": _launch_context_record(context.am_container),
        },
        "user": app.user, "queue": app.queue, "submit_time_ms": app.submit_time_ms, "attempts_max": app.attempts_max,
        "state": app.state.value, "final_status": app.final_status.value, "diagnostics": app.diagnostics,
        "finish_time_ms": app.finish_time_ms,
        "attempts": [{
            "number": attempt.number, "registered": attempt.registered, "host": attempt.host,
            "rpc_port": attempt.rpc_port, "tracking_url": attempt.tracking_url,
            "counts_toward_max": attempt.counts_toward_max,
            "am_container": _container_record(attempt.am_container) if attempt.am_container else None,
        } for attempt in app.attempts],
    }


def application_from_record(record: dict) -> RMApp:
    if record.get("version") != FORMAT_VERSION:
        raise ValueError(f"unknown format version {record.get('version')!r}")
    stored = record["context"]
    context = ApplicationSubmissionContext(
        check_application_id(stored["application_id"]), stored["name"], _launch_context(stored["am_container"]),
        _resource(stored["resource"]), stored["queue"], stored["application_type"], stored["max_app_attempts"])
    app = RMApp(context, record["user"], record["queue"], int(record["submit_time_ms"]), int(record["attempts_max"]),
                ApplicationState(record["state"]), FinalApplicationStatus(record["final_status"]),
                record["diagnostics"], int(record["finish_time_ms"]))
    for stored_attempt in record["attempts"]:
        attempt = app.new_attempt()
        if attempt.number != stored_attempt["number"]:
            raise ValueError(f"attempt {stored_attempt['number']} out of order")
        attempt.registered = bool(stored_attempt["registered"])
        attempt.host, attempt.rpc_port = stored_attempt["host"], int(stored_attempt["rpc_port"])
        attempt.tracking_url = stored_attempt["tracking_url"]
        attempt.counts_toward_max = bool(stored_attempt["counts_toward_max"])
        if stored_attempt["am_container"] is not None:
            attempt.am_container = _container(stored_attempt["am_container"])
    return app


def _resource_record(resource: Resource) -> dict:
    return {"memory_mb": resource.memory_mb, "vcores": resource.vcores}


def _resource(record: dict) -> Resource:
    return Resource(int(record["memory_mb"]), int(record["vcores"]))


def _launch_context_record(context: ContainerLaunchContext) -> dict:
    return {"commands": list(context.commands), "environment": dict(context.environment),
            "local_resources": dict(context.local_resources),
            "service_data": {name: base64.b64encode(data).decode() for name, data in context.service_data.items()},
            "tokens": context.tokens, "application_acls": dict(context.application_acls)}


def _launch_context(record: dict) -> ContainerLaunchContext:
    return ContainerLaunchContext(list(record["commands"]), dict(record["environment"]), dict(record["local_resources"]),
                                  {name: base64.b64decode(data) for name, data in record["service_data"].items()},
                                  record["tokens"], dict(record.get("application_acls", {})))


def _container_record(container: Container) -> dict:
    return {"id": container.id, "node_id": container.node_id, "node_address": container.node_address,
            "resource": _resource_record(container.resource), "priority": container.priority,
            "allocation_request_id": container.allocation_request_id}


def _container(record: dict) -> Container:
    return Container(record["id"], record["node_id"], record["node_address"], _resource(record["resource"]),
                     int(record["priority"]), int(record["allocation_request_id"]))


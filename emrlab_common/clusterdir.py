"""The cluster directory: where a cluster keeps its state and publishes its daemons.

    <dir>/cluster.json          the cluster spec (clusterspec.py): nodes, properties, superuser
    <dir>/daemons/<name>.json   one per running daemon: its pid and address (written once bound)
    <dir>/logs/<name>.log       each daemon's log
    <dir>/namenode/             the NameNode's edit log and image (durable namespace)
    <dir>/nodes/<node id>/      a node's own disk: DataNode blocks, NodeManager local dirs

Every command finds its cluster as `--dir DIR`, else `$EMRLAB_CLUSTER`, else
the per-user default `~/.emrlab/cluster`. Because daemons bind ephemeral ports
and publish them here, two clusters in two directories run side by side.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from emrlab_common import tls
from emrlab_common.clusterspec import ClusterSpec
from emrlab_common.errors import Unavailable

ENVIRONMENT_VARIABLE = "EMRLAB_CLUSTER"
DEFAULT_PATH = Path("~/.emrlab/cluster")


@dataclass(frozen=True)
class DaemonRecord:
    name: str
    pid: int
    address: str
    node_id: str = ""
    extra: dict = field(default_factory=dict)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); its /proc status says it is gone.
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "\nState:\tZ" not in status


def write_json_atomically(path: Path, value) -> None:
    write_text_atomically(path, json.dumps(value, indent=2, sort_keys=True) + "\n")


def write_text_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


class ClusterDir:
    def __init__(self, root: Path | str):
        self.root = Path(root).expanduser().absolute()

    @classmethod
    def resolve(cls, flag: str | None = None) -> ClusterDir:
        return cls(flag or os.environ.get(ENVIRONMENT_VARIABLE) or DEFAULT_PATH)

    def __repr__(self) -> str:
        return f"ClusterDir({str(self.root)!r})"

    # Layout.
    @property
    def spec_path(self) -> Path:
        return self.root / "cluster.json"

    @property
    def daemons_dir(self) -> Path:
        return self.root / "daemons"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def namenode_dir(self) -> Path:
        return self.root / "namenode"

    def node_dir(self, node_id: str) -> Path:
        return self.root / "nodes" / node_id

    def log_path(self, daemon_name: str) -> Path:
        return self.logs_dir / f"{daemon_name}.log"

    # The cluster's specification.
    def exists(self) -> bool:
        return self.spec_path.exists()

    def read_spec(self) -> ClusterSpec:
        try:
            text = self.spec_path.read_text()
        except FileNotFoundError:
            raise Unavailable(f"no cluster in {self.root}: start one with `emrlab cluster up`") from None
        return ClusterSpec.from_json(text, str(self.spec_path))

    def write_spec(self, spec: ClusterSpec) -> None:
        write_text_atomically(self.spec_path, spec.to_json())

    def properties(self) -> dict[str, str]:
        """The cluster-wide configuration properties (`-D` given to `cluster up`)."""
        return dict(self.read_spec().properties) if self.exists() else {}

    # Daemons.
    def publish_daemon(self, record: DaemonRecord) -> None:
        write_json_atomically(self.daemons_dir / f"{record.name}.json", asdict(record))

    def withdraw_daemon(self, name: str, pid: int) -> None:
        """Remove a daemon's record, unless a newer process has replaced it."""
        record = self.read_daemon(name)
        if record is not None and record.pid == pid:
            (self.daemons_dir / f"{name}.json").unlink(missing_ok=True)

    def read_daemon(self, name: str) -> DaemonRecord | None:
        try:
            record = DaemonRecord(**json.loads((self.daemons_dir / f"{name}.json").read_text()))
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        tls.note_daemon(self, record)  # in secure mode, what reaches this daemon is its cluster's client certificate
        return record

    def daemons(self) -> list[DaemonRecord]:
        if not self.daemons_dir.is_dir():
            return []
        records = (self.read_daemon(path.stem) for path in sorted(self.daemons_dir.glob("*.json")))
        return [record for record in records if record is not None]

    def address_of(self, name: str) -> str:
        """The address of a running daemon, or a clear error saying how to start it."""
        record = self.read_daemon(name)
        if record is None or not process_alive(record.pid):
            raise Unavailable(
                f"{name} is not running in {self.root}: start the cluster with `emrlab cluster up`"
                f" (or point --dir / ${ENVIRONMENT_VARIABLE} at a running one)"
            )
        return record.address

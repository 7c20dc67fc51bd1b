"""The shell every daemon process runs in.

A daemon's `__main__` parses the same few arguments (`--dir`, `--node`,
`-D key=value`), logs to `<dir>/logs/<name>.log`, binds its server, publishes
its address in the cluster directory, and runs until SIGTERM or SIGINT, then
shuts down gracefully and withdraws its record:

    with DaemonProcess.start("namenode", argv) as process:
        ...build the state, start the server on process.bind_address(...)...
        process.publish(f"127.0.0.1:{port}")
        process.wait_for_stop()

The launcher (`emrlab cluster up`) starts daemons as `python -m hdfs.namenode
--dir DIR`; a student can start one by hand the same way.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from emrlab_common import limits, tls
from emrlab_common.clusterdir import ClusterDir, DaemonRecord
from emrlab_common.config import parse_definition
from emrlab_common.errors import EmrlabError
from emrlab_common.logs import configure_daemon_logging

logger = logging.getLogger(__name__)


def daemon_environment() -> dict[str, str]:
    """The environment a daemon, step or bootstrap action starts with: ours, importing this very checkout."""
    environment = dict(os.environ)
    source_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [source_root, environment.get("PYTHONPATH")]))
    return environment


class DaemonProcess:
    def __init__(self, name: str, cluster_dir: ClusterDir, node_id: str, properties: dict[str, str]):
        self.name = name
        self.cluster_dir = cluster_dir
        self.node_id = node_id
        self.properties = properties
        self._stop_requested = threading.Event()

    @classmethod
    def start(cls, kind: str, argv: list[str] | None = None) -> DaemonProcess:
        parser = argparse.ArgumentParser(prog=f"python -m {kind}", description=f"Run one {kind} daemon.")
        parser.add_argument("--dir", required=True, help="the cluster directory")
        parser.add_argument("--node", default="", help="the node this daemon runs on, e.g. core-1")
        parser.add_argument("--log-dir", help="where its log goes (default <dir>/logs; the controller gives each "
                                              "instance its own, as EMR does)")
        parser.add_argument("-D", dest="definitions", action="append", default=[], metavar="KEY=VALUE")
        args = parser.parse_args(argv)
        cluster_dir = ClusterDir(args.dir)
        name = kind.rsplit(".", 1)[-1] + (f"-{args.node}" if args.node else "")
        try:
            properties = cluster_dir.properties()
            properties.update(parse_definition(text) for text in args.definitions)
            tls.use_daemon(cluster_dir.root, name, properties)  # secure mode: this daemon's own certificate
            limits.configure(properties)  # what one client may ask of this daemon's servers
        except EmrlabError as error:
            sys.exit(f"{name}: {error.message}")
        configure_daemon_logging(Path(args.log_dir) / f"{name}.log" if args.log_dir else cluster_dir.log_path(name))
        process = cls(name, cluster_dir, args.node, properties)
        signal.signal(signal.SIGTERM, process._on_signal)
        signal.signal(signal.SIGINT, process._on_signal)
        logger.info("%s starting, pid %d, cluster %s", name, os.getpid(), cluster_dir.root)
        return process

    def _on_signal(self, signal_number, frame) -> None:
        logger.info("%s received %s, stopping", self.name, signal.Signals(signal_number).name)
        self._stop_requested.set()

    def request_stop(self) -> None:
        self._stop_requested.set()

    def stop_when_a_thread_crashes(self) -> None:
        """A thread that dies of a bug (say, an InvalidTransition) stops the daemon instead of leaving it half alive."""

        def on_crash(args: threading.ExceptHookArgs) -> None:
            logger.critical("%s: thread %s crashed; stopping", self.name, args.thread.name if args.thread else "?",
                            exc_info=(args.exc_type, args.exc_value, args.exc_traceback))
            self.request_stop()

        threading.excepthook = on_crash

    @property
    def stopping(self) -> bool:
        return self._stop_requested.is_set()

    def publish(self, address: str, **extra) -> None:
        record = DaemonRecord(self.name, os.getpid(), address, self.node_id, extra)
        self.cluster_dir.publish_daemon(record)
        logger.info("%s serving on %s", self.name, address)

    def wait_for_stop(self, poll_s: float = 0.5) -> None:
        # Waiting in short slices keeps the main thread able to run signal handlers.
        while not self._stop_requested.wait(poll_s):
            pass

    def __enter__(self) -> DaemonProcess:
        return self

    def __exit__(self, error_type, error, traceback) -> bool:
        self.cluster_dir.withdraw_daemon(self.name, os.getpid())
        if error_type is None:
            logger.info("%s stopped", self.name)
            return False
        if issubclass(error_type, EmrlabError):
            logger.error("%s failed: %s", self.name, error.message)
            print(f"{self.name}: {error.message}", file=sys.stderr)
            sys.exit(1)
        logger.exception("%s crashed", self.name)
        return False

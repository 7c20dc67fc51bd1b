"""`python -m yarn.resourcemanager --dir CLUSTER_DIR [-D key=value ...]`: run the ResourceManager."""

import logging
import threading
from pathlib import Path

from emrlab_common.config import load
from emrlab_common.credentials import check_mode, ensure_key
from emrlab_common.daemon import DaemonProcess
from emrlab_common.errors import Unavailable
from emrlab_common.rpc import create_server
from emrlab_common.web import start_http_server
from yarn.resourcemanager.config import ResourceManagerConfig
from yarn.resourcemanager.http import ResourceManagerHttpConfig, ResourceManagerWeb
from yarn.resourcemanager.server import ResourceManager, register_servicers
from yarn.resourcemanager.statestore import FileSystemRMStateStore

SHUTDOWN_GRACE_S = 1.0
EXCLUDE_FILE_NAME = "yarn.exclude"
STORE_DIR = "resourcemanager/rmstore"  # under the cluster dir: the RM's own directory

logger = logging.getLogger("yarn.resourcemanager")


def main(argv: list[str] | None = None) -> None:
    with DaemonProcess.start("yarn.resourcemanager", argv) as process:
        process.stop_when_a_thread_crashes()
        config = load(ResourceManagerConfig, process.properties)
        exclude_path = Path(config.exclude_path) if config.exclude_path else process.cluster_dir.root / EXCLUDE_FILE_NAME
        store = None
        if config.recovery_enabled:
            store = FileSystemRMStateStore(Path(config.store_path) if config.store_path
                                           else process.cluster_dir.root / STORE_DIR)
        token_mode = check_mode(config.authentication) == "token"
        rm = ResourceManager(config, exclude_path, store=store,
                             cluster_key=ensure_key(process.cluster_dir.root) if token_mode else None)
        logger.info("authentication: %s, ACLs %s", "token (a caller proves its user: a delegation token or the "
                    "cluster key)" if token_mode else "simple (the user a call names is believed; the lab default)",
                    "on" if rm.access.enabled else "off (yarn.acl.enable)")
        server, port = listen(config.address, store.previous_address() if store else "", rm)
        if store is not None:
            store.record_address(f"{config.address.rsplit(':', 1)[0]}:{port}")
        stop = threading.Event()
        monitor = threading.Thread(target=rm.run_monitor, args=(stop,), name="monitor", daemon=True)
        monitor.start()
        http_config = load(ResourceManagerHttpConfig, process.properties)
        http_server, http_port = start_http_server(
            http_config.webapp_address, ResourceManagerWeb(rm, process.cluster_dir).routes(), name="resourcemanager")
        process.publish(f"{config.address.rsplit(':', 1)[0]}:{port}",
                        cluster_timestamp_ms=rm.state.cluster_timestamp_ms, exclude_path=str(exclude_path),
                        http_address=f"{http_config.webapp_address.rsplit(':', 1)[0]}:{http_port}")
        process.wait_for_stop()
        http_server.stop()
        server.stop(SHUTDOWN_GRACE_S).wait()
        stop.set()
        monitor.join()


def listen(address: str, previous: str, rm: ResourceManager):
    """With recovery and an ephemeral port (port 0), the port of the RM's previous run if it is free."""
    if previous and address.endswith(":0") and previous.rsplit(":", 1)[0] == address.rsplit(":", 1)[0]:
        try:
            return create_server(previous, register_servicers(rm), name="resourcemanager")
        except Unavailable:
            pass
    return create_server(address, register_servicers(rm), name="resourcemanager")


if __name__ == "__main__":
    main()

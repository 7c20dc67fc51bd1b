"""`python -m hdfs.namenode --dir CLUSTER_DIR [-D key=value ...]`: run the NameNode."""

import logging
import threading
from pathlib import Path

from emrlab_common.config import load
from emrlab_common.credentials import check_mode, ensure_key
from emrlab_common.daemon import DaemonProcess
from emrlab_common.rpc import create_server, current_user
from emrlab_common.web import start_http_server
from hdfs.namenode.config import NameNodeConfig
from hdfs.namenode.http import NameNodeHttpConfig, NameNodeWeb
from hdfs.namenode.server import NameNode, register_servicers

SHUTDOWN_GRACE_S = 2.0
EXCLUDE_FILE_NAME = "dfs.exclude"

logger = logging.getLogger("hdfs.namenode")


def main(argv: list[str] | None = None) -> None:
    with DaemonProcess.start("hdfs.namenode", argv) as process:
        process.stop_when_a_thread_crashes()
        config = load(NameNodeConfig, process.properties)
        superuser = config.superuser or current_user()
        exclude_path = Path(config.exclude_path) if config.exclude_path else process.cluster_dir.root / EXCLUDE_FILE_NAME
        secure = config.block_access_token_enabled or check_mode(config.authentication) != "simple"
        cluster_key = ensure_key(process.cluster_dir.root) if secure else None
        logger.info("authentication: %s", "simple (the user a call names is believed; "
                    "-D hadoop.security.authentication=token makes callers prove it)"
                    if config.authentication == "simple" else "token (callers prove who they are)")
        namenode = NameNode(config, process.cluster_dir.namenode_dir, superuser, exclude_path=exclude_path,
                            cluster_key=cluster_key)
        server, port = create_server(config.rpc_address, register_servicers(namenode), name="namenode")
        stop_monitors = threading.Event()
        monitors = threading.Thread(target=namenode.run_monitors, args=(stop_monitors,), name="monitors", daemon=True)
        monitors.start()
        host = config.rpc_address.rsplit(":", 1)[0]
        http_config = load(NameNodeHttpConfig, process.properties)
        web = NameNodeWeb(namenode, process.cluster_dir, f"{host}:{port}")
        http_server, http_port = start_http_server(http_config.http_address, web.routes(), name="namenode")
        process.publish(f"{host}:{port}", exclude_path=str(exclude_path),
                        http_address=f"{http_config.http_address.rsplit(':', 1)[0]}:{http_port}")
        process.wait_for_stop()
        http_server.stop()
        server.stop(SHUTDOWN_GRACE_S).wait()
        stop_monitors.set()
        monitors.join()
        namenode.close()


if __name__ == "__main__":
    main()

"""`python -m yarn.nodemanager --dir CLUSTER_DIR --node core-1 [-D key=value ...]`: run a NodeManager."""

import threading

from emrlab_common.config import load
from emrlab_common.daemon import DaemonProcess
from emrlab_common.rpc import create_server
from emrlab_common.web import start_http_server
from yarn.nodemanager.actor import ResourceManagerActor
from yarn.nodemanager.auxservices import AuxServiceContext, load_aux_services
from yarn.nodemanager.config import NodeManagerConfig
from yarn.nodemanager.http import NodeManagerHttpConfig, NodeManagerWeb
from yarn.nodemanager.node import NodeManager
from yarn.nodemanager.server import register_servicers
from yarn.records import ContainerExitStatus

SHUTDOWN_GRACE_S = 1.0


DEFAULT_NODE_LABEL = "CORE"  # whoever starts a NodeManager gives it its node's group; alone, it is a core node


def main(argv: list[str] | None = None) -> None:
    with DaemonProcess.start("yarn.nodemanager", argv) as process:
        process.stop_when_a_thread_crashes()
        config = load(NodeManagerConfig, process.properties)
        node_id = process.node_id or "nodemanager"
        node = NodeManager(config, process.cluster_dir, node_id, config.node_label or DEFAULT_NODE_LABEL)
        node.aux_services = load_aux_services(process.properties, config.aux_services, lambda name: AuxServiceContext(
            name, node_id, process.cluster_dir, dict(process.properties), node.application_dir))
        server, port = create_server(config.address, register_servicers(node), name="nodemanager")
        node.address = f"{config.address.rsplit(':', 1)[0]}:{port}"
        stop = threading.Event()
        threads = [
            threading.Thread(target=ResourceManagerActor(node, process.request_stop).run, args=(stop,),
                             name="actor", daemon=True),
            threading.Thread(target=_monitor, args=(node, stop), name="monitor", daemon=True),
        ]
        for thread in threads:
            thread.start()
        http_config = load(NodeManagerHttpConfig, process.properties)
        http_server, http_port = start_http_server(http_config.webapp_address, NodeManagerWeb(node).routes(),
                                                   name="nodemanager")
        process.publish(node.address, label=node.label, memory_mb=config.memory_mb, vcores=config.vcores,
                        local_dir=str(node.local_dir), log_dir=str(node.log_dir),
                        http_address=f"{http_config.webapp_address.rsplit(':', 1)[0]}:{http_port}")
        process.wait_for_stop()
        http_server.stop()
        stop.set()
        node.stop_all(ContainerExitStatus.KILLED_BY_RESOURCEMANAGER, "Container killed: the NodeManager is stopping")
        for service in node.aux_services.values():
            service.close()
        node.close()
        server.stop(SHUTDOWN_GRACE_S).wait()


def _monitor(node: NodeManager, stop: threading.Event) -> None:
    while not stop.wait(node.config.monitor_interval_s):
        node.check_memory()


if __name__ == "__main__":
    main()

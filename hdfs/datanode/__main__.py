"""`python -m hdfs.datanode --dir CLUSTER_DIR --node core-1 [-D key=value ...]`: run a DataNode."""

import threading
from pathlib import Path

from emrlab_common.config import load
from emrlab_common.daemon import DaemonProcess
from emrlab_common.rpc import create_server
from emrlab_common.web import start_http_server
from hdfs.datanode.actor import NameNodeActor
from hdfs.datanode.config import DataNodeConfig
from hdfs.datanode.directoryscan import DirectoryScanner
from hdfs.datanode.http import DataNodeHttpConfig, DataNodeWeb
from hdfs.datanode.node import DataNode
from hdfs.datanode.scanner import BlockScanner
from hdfs.datanode.transfer import register_servicer
from hdfs.datanode.xceiver import DataXceiverServer

SHUTDOWN_GRACE_S = 1.0


def main(argv: list[str] | None = None) -> None:
    with DaemonProcess.start("hdfs.datanode", argv) as process:
        process.stop_when_a_thread_crashes()  # a bug in the actor or a scanner stops the DataNode, loudly
        config = load(DataNodeConfig, process.properties)
        node_id = process.node_id or "datanode"
        data_dir = Path(config.data_dir) if config.data_dir else process.cluster_dir.node_dir(node_id) / "data"
        datanode = DataNode(config, process.cluster_dir, node_id, data_dir)
        actor = NameNodeActor(datanode)  # listening before any thread can tell the DataNode of a replica
        server, port = create_server(config.address, register_servicer(datanode),
                                     threads_max=config.transfer_threads_max, name="datanode")
        host = config.address.rsplit(":", 1)[0]
        datanode.address = f"{host}:{port}"
        xceivers = None
        if config.streaming_transfer:
            xceivers = DataXceiverServer(datanode, host.strip("[]"), config.transfer_threads_max)
            datanode.xfer_port = xceivers.port
        stop = threading.Event()
        threads = [
            threading.Thread(target=actor.run, args=(stop,), name="actor", daemon=True),
            threading.Thread(target=BlockScanner(datanode).run, args=(stop,), name="scanner", daemon=True),
            threading.Thread(target=DirectoryScanner(datanode).run, args=(stop,), name="directory-scanner", daemon=True),
        ]
        if xceivers is not None:
            threads.append(threading.Thread(target=xceivers.run, name="xceiver-server", daemon=True))
        for thread in threads:
            thread.start()
        http_config = load(DataNodeHttpConfig, process.properties)
        http_server, http_port = start_http_server(http_config.http_address, DataNodeWeb(datanode).routes(),
                                                   name="datanode")
        process.publish(datanode.address, datanode_uuid=datanode.uuid, data_dir=str(data_dir),
                        http_address=f"{http_config.http_address.rsplit(':', 1)[0]}:{http_port}")
        process.wait_for_stop()
        http_server.stop()
        stop.set()
        if xceivers is not None:
            xceivers.stop()
        server.stop(SHUTDOWN_GRACE_S).wait()
        datanode.close()


if __name__ == "__main__":
    main()

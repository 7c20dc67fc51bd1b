"""A DataNode's web server: a small status page, `/jmx`, and WebHDFS's data side.

    /                       the node, its space and its replicas
    /jmx                    Hadoop:service=DataNode,name=FSDatasetState (Capacity, DfsUsed, Remaining, NumBlocks...),
                            DataNodeInfo, DataNodeActivity (BlocksGetLocalPathInfo, the directory scan's finds)
    /webhdfs/v1/PATH?op=..  where the NameNode redirects OPEN, CREATE, APPEND (hdfs/datanode/webhdfs.py)
"""

from __future__ import annotations

from dataclasses import dataclass

from emrlab_common import web
from emrlab_common.config import format_size, load, parse_text, setting
from hdfs.client.config import ClientConfig
from hdfs.datanode.webhdfs import DataNodeWebHdfs
from hdfs.webhdfs.requests import PREFIX


@dataclass(frozen=True)
class DataNodeHttpConfig:
    http_address: str = setting(
        "dfs.datanode.http.address", "127.0.0.1:0", parse_text,
        "Where the DataNode's web page and WebHDFS data transfers listen (Hadoop: 0.0.0.0:9864); "
        "port 0 picks a free one.")


class DataNodeWeb:
    def __init__(self, datanode):
        self.datanode = datanode
        self.webhdfs = DataNodeWebHdfs(datanode.node_id, load(ClientConfig, datanode.cluster_dir.properties()))

    def routes(self) -> dict[str, web.Handler]:
        return {"/": self.page, "/jmx": self.jmx, PREFIX + "/": self.webhdfs.handle}

    def _numbers(self) -> dict:
        capacity, used, remaining = self.datanode.space()
        return {"capacity": capacity, "used": used, "remaining": remaining,
                "replicas": len(self.datanode.storage.all_replicas()), "transfers": self.datanode.active_transfers}

    def jmx(self, request: web.Request) -> web.Response:
        numbers = self._numbers()
        return web.jmx_response(request, [
            {"name": "Hadoop:service=DataNode,name=FSDatasetState", "modelerType": "FSDatasetState",
             "Capacity": numbers["capacity"], "DfsUsed": numbers["used"], "Remaining": numbers["remaining"],
             "NumBlocks": numbers["replicas"], "StorageInfo": str(self.datanode.storage.root)},
            {"name": "Hadoop:service=DataNode,name=DataNodeInfo", "modelerType": "DataNodeInfo",
             "DatanodeHostname": self.datanode.node_id, "DataPort": self.datanode.address,
             "XceiverCount": numbers["transfers"], "DatanodeUuid": self.datanode.uuid},
            {"name": "Hadoop:service=DataNode,name=DataNodeActivity", "modelerType": "DataNodeActivity",
             **self.datanode.activity},
        ])

    def page(self, request: web.Request) -> web.Response:
        numbers = self._numbers()
        rows = [("Node", self.datanode.node_id), ("Data transfer address", self.datanode.address),
                ("Datanode UUID", self.datanode.uuid), ("Capacity", format_size(numbers["capacity"])),
                ("DFS Used", format_size(numbers["used"])), ("Remaining", format_size(numbers["remaining"])),
                ("Replicas", numbers["replicas"]), ("Active transfers", numbers["transfers"])]
        return web.page(f"DataNode {self.datanode.node_id}", web.table(["", ""], rows),
                        [("/", "Overview"), ("/jmx", "JMX")], refresh_s=5)

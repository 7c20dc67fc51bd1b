"""A NodeManager's web server: a small status page, `/ws/v1/node/info` and `/jmx`.

    /                   the node, its label, its resources and its containers
    /ws/v1/node/info    {"nodeInfo": {...}} with YARN's field names
    /jmx                Hadoop:service=NodeManager,name=NodeManagerMetrics
"""

from __future__ import annotations

from dataclasses import dataclass

from emrlab_common import web
from emrlab_common.config import parse_text, setting
from yarn.records import ContainerState


@dataclass(frozen=True)
class NodeManagerHttpConfig:
    webapp_address: str = setting(
        "yarn.nodemanager.webapp.address", "127.0.0.1:0", parse_text,
        "Where the NodeManager's web page listens (Hadoop: 0.0.0.0:8042); port 0 picks a free one.")


class NodeManagerWeb:
    def __init__(self, node):
        self.node = node

    def routes(self) -> dict[str, web.Handler]:
        return {"/": self.page, "/ws/v1/node": self.info, "/ws/v1/node/info": self.info, "/jmx": self.jmx}

    def _running(self) -> list:
        return [status for status in self.node.statuses_for_heartbeat() if status.state is not ContainerState.COMPLETE]

    def info(self, request: web.Request) -> web.Response:
        capability = self.node.capability
        return web.json_response({"nodeInfo": {
            "id": self.node.node_id, "nodeHostName": self.node.node_id, "nodeManagerVersion": "emrlab",
            "totalVmemAllocatedContainersMB": capability.memory_mb, "totalPmemAllocatedContainersMB": capability.memory_mb,
            "totalVCoresAllocatedContainers": capability.vcores, "nodeLabels": [self.node.label],
            "address": self.node.address, "numContainers": len(self._running()),
        }})

    def jmx(self, request: web.Request) -> web.Response:
        return web.jmx_response(request, [{
            "name": "Hadoop:service=NodeManager,name=NodeManagerMetrics", "modelerType": "NodeManagerMetrics",
            "ContainersRunning": len(self._running()), "AvailableGB": self.node.capability.memory_mb // 1024,
            "AvailableVCores": self.node.capability.vcores,
        }])

    def page(self, request: web.Request) -> web.Response:
        rows = [("Node", self.node.node_id), ("Label", self.node.label), ("Address", self.node.address),
                ("Memory", f"{self.node.capability.memory_mb} MB"), ("VCores", self.node.capability.vcores)]
        containers = web.table(["Container", "State", "Exit status", "Diagnostics"],
                               ([status.container_id, status.state.value, status.exit_status, status.diagnostics[:200]]
                                for status in self.node.statuses_for_heartbeat()))
        return web.page(f"NodeManager {self.node.node_id}", web.table(["", ""], rows) + "<h2>Containers</h2>" + containers,
                        [("/", "Overview"), ("/jmx", "JMX")], refresh_s=5)

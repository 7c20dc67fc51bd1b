"""The ResourceManager's web server: its pages and their JSON twins with YARN's field names.

    /cluster                     metrics, nodes and applications (refreshes itself)
    /cluster/app/<application>   one application, with a link to its own page (its tracking URL: a MapReduce
                                 job's page on the JobHistory server, with counters, attempts and a timeline)
    /ws/v1/cluster/info          {"clusterInfo": {...}}
    /ws/v1/cluster/metrics       {"clusterMetrics": {"appsSubmitted", "appsRunning", ..., "totalMB", ...}}
    /ws/v1/cluster/nodes         {"nodes": {"node": [...]}}
    /ws/v1/cluster/apps[/<id>]   {"apps": {"app": [...]}} / {"app": {...}}
    /jmx                         Hadoop:service=ResourceManager,name=ClusterMetrics and QueueMetrics,q0=root

Everything is read from the live state under the RM's lock; nothing here is stored.

With ACLs on (yarn/resourcemanager/acls.py) an application's diagnostics, tracking URL and AM are shown
only to who may view it: in token mode the user of a `?delegation=<token>` parameter (as WebHDFS takes
one), in simple mode `?user.name=`; anyone else is Hadoop's anonymous web user, dr.who.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from emrlab_common import web
from emrlab_common.config import parse_text, setting
from emrlab_common.credentials import verify
from emrlab_common.errors import EmrlabError
from yarn.records import ApplicationReport, ApplicationState, NodeReport, NodeState

REFRESH_S = 2
NAV = [("/cluster", "Cluster"), ("/ws/v1/cluster/metrics", "metrics JSON"), ("/jmx", "JMX")]
APPLICATIONS_PREFIX = "/cluster/app/"
APPLICATION_JSON_PREFIX = "/ws/v1/cluster/apps/"
ANONYMOUS = "dr.who"  # Hadoop's hadoop.http.staticuser.user


@dataclass(frozen=True)
class ResourceManagerHttpConfig:
    webapp_address: str = setting(
        "yarn.resourcemanager.webapp.address", "127.0.0.1:0", parse_text,
        "Where the ResourceManager's web pages and REST API listen (Hadoop: 0.0.0.0:8088); port 0 picks a free one.")


def application_json(report: ApplicationReport, cluster_timestamp_ms: int, now_ms: int) -> dict:
    finished = report.finish_time_ms or 0
    return {
        "id": report.application_id, "user": report.user, "name": report.name, "queue": report.queue,
        "state": report.state.value, "finalStatus": report.final_status.value,
        "progress": round(report.progress * 100, 1), "trackingUI": "History" if report.state.is_final else "ApplicationMaster",
        "trackingUrl": report.tracking_url, "diagnostics": report.diagnostics, "clusterId": cluster_timestamp_ms,
        "applicationType": report.application_type, "startedTime": report.start_time_ms, "finishedTime": finished,
        "elapsedTime": (finished or now_ms) - report.start_time_ms if report.start_time_ms else 0,
        "amContainerLogs": "", "amHostHttpAddress": report.am_node_id,
        "allocatedMB": report.used.memory_mb, "allocatedVCores": report.used.vcores,
        "runningContainers": report.running_containers, "runCount": report.attempts,
        "currentAppAttemptId": report.current_attempt_id,
    }


def tracking_link(report: ApplicationReport):
    """The application's own page, as the application registered it: YARN renders no framework's details
    (Hadoop's RM links to a MapReduce AM's web UI, and to the JobHistory server once the job is done)."""
    if not report.tracking_url.startswith(("http://", "https://")):
        return report.tracking_url or "N/A"
    return web.link(report.tracking_url, "History" if report.state.is_final else "ApplicationMaster")


def node_json(report: NodeReport, now_ms: int) -> dict:
    return {
        "id": report.node_id, "rack": "/default-rack", "state": report.state.value,
        "nodeHostName": report.node_id, "nodeHTTPAddress": "", "address": report.address,
        "lastHealthUpdate": int(now_ms - report.last_heartbeat_age_s * 1000), "healthReport": report.health_report,
        "numContainers": report.num_containers, "usedMemoryMB": report.used.memory_mb,
        "availMemoryMB": report.capability.memory_mb - report.used.memory_mb,
        "usedVirtualCores": report.used.vcores,
        "availableVirtualCores": report.capability.vcores - report.used.vcores,
        "nodeLabels": [report.label] if report.label else [],
    }


class ResourceManagerWeb:
    def __init__(self, rm, cluster_dir):
        self.rm = rm
        self.cluster_dir = cluster_dir
        self.started_ms = int(time.time() * 1000)

    def routes(self) -> dict[str, web.Handler]:
        return {
            "/": lambda request: web.redirect("/cluster", 302), "/cluster": self.cluster_page,
            APPLICATIONS_PREFIX: self.application_page, "/jmx": self.jmx,
            "/ws/v1/cluster": self.info, "/ws/v1/cluster/info": self.info, "/ws/v1/cluster/metrics": self.metrics,
            "/ws/v1/cluster/nodes": self.nodes, "/ws/v1/cluster/apps": self.applications,
            APPLICATION_JSON_PREFIX: self.application,
        }

    # ------------------------------------------------------------ the numbers

    def _reports(self) -> tuple[list[ApplicationReport], list[NodeReport]]:
        with self.rm.lock:
            return self.rm.state.application_reports(), self.rm.state.node_reports(now_s=self.rm.clock())

    def _viewer(self, request: web.Request) -> str:
        if not self.rm.token_mode:
            return request.query.get("user.name", ANONYMOUS)
        token = request.query.get("delegation", "")
        try:
            return verify(self.rm.cluster_key, token, "delegation") if token else ANONYMOUS
        except EmrlabError:
            return ANONYMOUS

    def _visible_reports(self, request: web.Request) -> list[ApplicationReport]:
        viewer = self._viewer(request)
        with self.rm.lock:
            return [self.rm.visible(viewer, report) for report in self.rm.state.application_reports()]

    def _visible_report(self, request: web.Request, application_id: str) -> ApplicationReport:
        viewer = self._viewer(request)
        with self.rm.lock:
            return self.rm.visible(viewer, self.rm.state.application_report(application_id))

    def _metrics(self, applications: list[ApplicationReport], nodes: list[NodeReport]) -> dict:
        def count_apps(*states: ApplicationState) -> int:
            return sum(report.state in states for report in applications)

        def count_nodes(state: NodeState) -> int:
            return sum(report.state is state for report in nodes)

        active = [node for node in nodes if node.state in (NodeState.RUNNING, NodeState.DECOMMISSIONING)]
        total_mb, total_vcores = sum(node.capability.memory_mb for node in active), sum(node.capability.vcores for node in active)
        used_mb, used_vcores = sum(node.used.memory_mb for node in active), sum(node.used.vcores for node in active)
        return {
            "appsSubmitted": len(applications), "appsCompleted": count_apps(ApplicationState.FINISHED),
            "appsPending": count_apps(ApplicationState.NEW, ApplicationState.SUBMITTED, ApplicationState.ACCEPTED),
            "appsRunning": count_apps(ApplicationState.RUNNING), "appsFailed": count_apps(ApplicationState.FAILED),
            "appsKilled": count_apps(ApplicationState.KILLED),
            "reservedMB": 0, "availableMB": total_mb - used_mb, "allocatedMB": used_mb, "totalMB": total_mb,
            "reservedVirtualCores": 0, "availableVirtualCores": total_vcores - used_vcores,
            "allocatedVirtualCores": used_vcores, "totalVirtualCores": total_vcores,
            "containersAllocated": sum(node.num_containers for node in nodes), "containersReserved": 0,
            "containersPending": 0,
            "totalNodes": len(active), "activeNodes": count_nodes(NodeState.RUNNING),
            "lostNodes": count_nodes(NodeState.LOST), "unhealthyNodes": count_nodes(NodeState.UNHEALTHY),
            "decommissioningNodes": count_nodes(NodeState.DECOMMISSIONING),
            "decommissionedNodes": count_nodes(NodeState.DECOMMISSIONED), "rebootedNodes": 0, "shutdownNodes": 0,
        }

    # ------------------------------------------------------------ JSON

    def info(self, request: web.Request) -> web.Response:
        return web.json_response({"clusterInfo": {
            "id": self.rm.state.cluster_timestamp_ms, "startedOn": self.started_ms, "state": "STARTED",
            "haState": "ACTIVE", "resourceManagerVersion": "emrlab", "hadoopVersion": "emrlab"}})

    def metrics(self, request: web.Request) -> web.Response:
        return web.json_response({"clusterMetrics": self._metrics(*self._reports())})

    def nodes(self, request: web.Request) -> web.Response:
        _, nodes = self._reports()
        wanted = {state.strip().upper() for state in request.query.get("states", "").split(",") if state.strip()}
        now_ms = int(self.rm.clock() * 1000)
        chosen = [node_json(node, now_ms) for node in nodes if not wanted or node.state.value in wanted]
        return web.json_response({"nodes": {"node": chosen} if chosen else None})

    def applications(self, request: web.Request) -> web.Response:
        applications = self._visible_reports(request)
        wanted = {state.strip().upper() for state in request.query.get("states", "").split(",") if state.strip()}
        now_ms = int(self.rm.clock() * 1000)
        chosen = [application_json(report, self.rm.state.cluster_timestamp_ms, now_ms) for report in applications
                  if not wanted or report.state.value in wanted]
        return web.json_response({"apps": {"app": chosen} if chosen else None})

    def application(self, request: web.Request) -> web.Response:
        application_id = request.path[len(APPLICATION_JSON_PREFIX):].strip("/")
        try:
            report = self._visible_report(request, application_id)
        except EmrlabError as error:
            return web.json_response({"RemoteException": {
                "exception": "NotFoundException", "message": f"java.lang.Exception: {error.message}",
                "javaClassName": "org.apache.hadoop.yarn.webapp.NotFoundException"}}, status=404)
        return web.json_response({"app": application_json(report, self.rm.state.cluster_timestamp_ms,
                                                          int(self.rm.clock() * 1000))})

    def jmx(self, request: web.Request) -> web.Response:
        metrics = self._metrics(*self._reports())
        return web.jmx_response(request, [
            {"name": "Hadoop:service=ResourceManager,name=ClusterMetrics", "modelerType": "ClusterMetrics",
             "NumActiveNMs": metrics["activeNodes"], "NumLostNMs": metrics["lostNodes"],
             "NumUnhealthyNMs": metrics["unhealthyNodes"], "NumDecommissioningNMs": metrics["decommissioningNodes"],
             "NumDecommissionedNMs": metrics["decommissionedNodes"]},
            {"name": "Hadoop:service=ResourceManager,name=QueueMetrics,q0=root", "modelerType": "QueueMetrics,q0=root",
             "AppsSubmitted": metrics["appsSubmitted"], "AppsRunning": metrics["appsRunning"],
             "AppsPending": metrics["appsPending"], "AppsCompleted": metrics["appsCompleted"],
             "AppsFailed": metrics["appsFailed"], "AppsKilled": metrics["appsKilled"],
             "AllocatedMB": metrics["allocatedMB"], "AvailableMB": metrics["availableMB"],
             "AllocatedVCores": metrics["allocatedVirtualCores"], "AvailableVCores": metrics["availableVirtualCores"],
             "AllocatedContainers": metrics["containersAllocated"]},
        ])

    # ------------------------------------------------------------ pages

    def cluster_page(self, request: web.Request) -> web.Response:
        applications, nodes = self._reports()
        metrics = self._metrics(applications, nodes)
        metric_table = web.table(list(metrics)[:6] + ["Memory used/total", "VCores used/total", "Active Nodes",
                                                      "Lost Nodes", "Decommissioning Nodes", "Decommissioned Nodes"],
                                 [[*list(metrics.values())[:6],
                                   f"{metrics['allocatedMB']} MB / {metrics['totalMB']} MB",
                                   f"{metrics['allocatedVirtualCores']} / {metrics['totalVirtualCores']}",
                                   metrics["activeNodes"], metrics["lostNodes"], metrics["decommissioningNodes"],
                                   metrics["decommissionedNodes"]]])
        node_table = web.table(
            ["Node", "Label", "State", "Address", "Containers", "Memory used", "Memory total", "VCores used",
             "Last heartbeat (s ago)", "Health report"],
            ([node.node_id, node.label, node.state.value, node.address, node.num_containers, node.used.memory_mb,
              node.capability.memory_mb, node.used.vcores, f"{node.last_heartbeat_age_s:.1f}", node.health_report]
             for node in sorted(nodes, key=lambda node: node.node_id)),
            row_class=lambda row: row[2])
        application_table = web.table(
            ["ID", "User", "Name", "Type", "State", "Final status", "Progress", "Running containers", "Started"],
            ([web.link(APPLICATIONS_PREFIX + report.application_id, report.application_id), report.user, report.name,
              report.application_type, report.state.value, report.final_status.value,
              web.Markup(f"{web.progress_bar(report.progress)} {report.progress * 100:.0f}%"),
              report.running_containers,
              time.strftime("%H:%M:%S", time.localtime(report.start_time_ms / 1000)) if report.start_time_ms else ""]
             for report in sorted(applications, key=lambda report: report.application_id, reverse=True)))
        body = (f"<h2>Cluster Metrics</h2>{metric_table}<h2>Cluster Nodes</h2>{node_table}"
                f"<h2>Applications</h2>{application_table}")
        return web.page("All Applications", body, NAV, refresh_s=REFRESH_S)

    def application_page(self, request: web.Request) -> web.Response:
        application_id = request.path[len(APPLICATIONS_PREFIX):].strip("/")
        try:
            report = self._visible_report(request, application_id)
        except EmrlabError as error:
            return web.page("Application not found", f"<p>{web.escape(error.message)}</p>", NAV)
        rows = [("User", report.user), ("Name", report.name), ("Application Type", report.application_type),
                ("Queue", report.queue), ("State", report.state.value), ("FinalStatus", report.final_status.value),
                ("Progress", f"{report.progress * 100:.0f}%"), ("Attempts", report.attempts),
                ("AM container", f"{report.am_container_id} on {report.am_node_id}"),
                ("Tracking URL", tracking_link(report)), ("Diagnostics", report.diagnostics)]
        body = web.table(["", ""], rows)
        return web.page(f"Application {application_id}", body, NAV,
                        refresh_s=None if report.state.is_final else REFRESH_S)


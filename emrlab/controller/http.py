"""The cluster controller's web page and its JSON twins, in the shape of the EMR console's cluster page.

    /                             state, groups, instances (markets, notices), steps, the bill, interruptions
    /steps/<step id>              one step: its command, times and the tail of its stdout and stderr
    /api/describe-cluster         what `aws emr describe-cluster` prints
    /api/list-instances           what `aws emr list-instances` prints
    /api/list-steps               what `aws emr list-steps` prints
    /api/cost                     what `emrlab cluster cost --output json` prints
    /jmx                          emrlab:service=ClusterController,name=Cluster

Everything is read from the live state under the shell's lock; nothing here is stored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from emrlab.controller import views
from emrlab.controller.cost import cluster_cost
from emrlab.controller.records import InstanceState
from emrlab.controller.shell import ControllerShell
from emrlab_common import web
from emrlab_common.config import parse_text, setting

REFRESH_S = 2
LOG_TAIL_BYTES = 8192
NAV = [("/", "Cluster"), ("/api/describe-cluster", "describe-cluster JSON"), ("/api/list-instances", "instances JSON"),
       ("/api/list-steps", "steps JSON"), ("/api/cost", "cost JSON"), ("/jmx", "JMX")]
STEP_PREFIX = "/steps/"


@dataclass(frozen=True)
class ControllerHttpConfig:
    http_address: str = setting(
        "emrlab.controller.http-address", "127.0.0.1:0", parse_text,
        "Where the controller's web page listens (EMR's console is its web page); port 0 picks a free one.")


class ControllerWeb:
    def __init__(self, shell: ControllerShell):
        self.shell = shell

    def routes(self) -> dict:
        return {"/": self.overview, "/api/describe-cluster": self.describe, "/api/list-instances": self.instances,
                "/api/list-steps": self.steps, "/api/cost": self.cost, "/jmx": self.jmx, STEP_PREFIX: self.step}

    def _read(self, build):
        with self.shell.lock:
            return build(self.shell.state)

    # ------------------------------------------------------------ JSON twins

    def describe(self, request: web.Request) -> web.Response:
        return web.json_response(self._read(views.describe_cluster))

    def instances(self, request: web.Request) -> web.Response:
        return web.json_response(self._read(views.list_instances))

    def steps(self, request: web.Request) -> web.Response:
        return web.json_response(self._read(views.list_steps))

    def cost(self, request: web.Request) -> web.Response:
        return web.json_response(self._read(lambda state: cluster_cost(state, time.time())))

    def jmx(self, request: web.Request) -> web.Response:
        def bean(state):
            running = sum(instance.state is InstanceState.RUNNING for instance in state.instances.values())
            return [{"name": "emrlab:service=ClusterController,name=Cluster", "ClusterId": state.cluster_id,
                     "State": state.state.value, "RunningInstances": running,
                     "InterruptedInstances": sum(instance.interrupted for instance in state.instances.values()),
                     "Steps": len(state.steps), "TotalCostUsd": cluster_cost(state, time.time())["Total"]["Total"]}]

        return web.jmx_response(request, self._read(bean))

    # ------------------------------------------------------------ pages

    def overview(self, request: web.Request) -> web.Response:
        with self.shell.lock:
            state = self.shell.state
            cluster = views.describe_cluster(state)["Cluster"]
            instances = views.list_instances(state)["Instances"]
            steps = views.list_steps(state)["Steps"]
            bill = cluster_cost(state, time.time())
            notices = {instance.instance_id: instance.notice_s for instance in state.instances.values()}
            due = {instance.instance_id: state.interruption_due_s(instance) for instance in state.instances.values()}
        status = cluster["Status"]
        reason = views.reason_text(status)
        others = {name: url for name, url in web.cluster_urls(self.shell.cluster_dir).items()
                  if name in ("namenode", "resourcemanager")}
        body = [f"<p><b>{web.escape(cluster['Id'])}</b> {web.escape(cluster['Name'])}: <b>{status['State']}</b>"
                + (f" ({web.escape(reason)})" if reason else "")
                + (" · termination protected" if cluster["TerminationProtected"] else "")
                + (" · terminates when its steps are done" if cluster["AutoTerminate"] else "") + "</p>"]
        if others:
            body.append("<p>" + " · ".join(web.link(url, name) for name, url in others.items()) + "</p>")
        body.append("<h2>Instance groups</h2>")
        body.append(web.table(["Id", "Type", "Instance type", "Market", "Running / requested", "State"], [
            [group["Id"], group["InstanceGroupType"], group["InstanceType"], group["Market"],
             f"{group['RunningInstanceCount']} / {group['RequestedInstanceCount']}", group["Status"]["State"]]
            for group in cluster["InstanceGroups"]]))
        body.append("<h2>Instances</h2>")
        rows = []
        for item in instances:
            notice = notices.get(item["Id"])
            spot = ""
            if notice is not None:
                spot = f"notice at {views.timestamp(notice)}"
            elif due.get(item["Id"]) is not None and item["Status"]["State"] == "RUNNING":
                spot = f"interruption due {views.timestamp(due[item['Id']])}"
            rows.append([item["Id"], item["PrivateDnsName"], item["InstanceGroupType"], item["Market"],
                         item["Status"]["State"], views.reason_text(item["Status"]), spot])
        body.append(web.table(["Id", "Node", "Group", "Market", "State", "Reason", "Spot"], rows,
                              row_class=lambda row: "dead" if row[4] == "TERMINATED" else
                              "decommissioning" if row[6].startswith("notice") else ""))
        body.append("<h2>Steps</h2>")
        body.append(web.table(["Id", "Name", "Action on failure", "State", "Reason", "Started", "Ended"], [
            [web.link(f"{STEP_PREFIX}{step['Id']}", step["Id"]), step["Name"], step["ActionOnFailure"],
             step["Status"]["State"], views.reason_text(step["Status"]),
             step["Status"]["Timeline"].get("StartDateTime", ""), step["Status"]["Timeline"].get("EndDateTime", "")]
            for step in steps]))
        total = bill["Total"]
        body.append("<h2>The bill so far</h2>")
        body.append(web.table(["Group", "Market", "Instance type", "Instance-seconds", "EC2 $", "EMR fee $", "Total $"], [
            [group["InstanceGroupType"], group["Market"], group["InstanceType"], f"{group['InstanceSeconds']:.0f}",
             f"{group['Ec2']:.4f}", f"{group['EmrFee']:.4f}", f"{group['Total']:.4f}"] for group in bill["ByGroup"]]
            + [["total", "", "", f"{total['InstanceSeconds']:.0f}", f"{total['Ec2']:.4f}", f"{total['EmrFee']:.4f}",
                f"{total['Total']:.4f}"]]))
        body.append(f"<p>All on demand, the same instance-seconds would cost ${bill['AllOnDemandEquivalent']:.4f}.</p>")
        refresh = REFRESH_S if status["State"] not in ("TERMINATED", "TERMINATED_WITH_ERRORS") else None
        return web.page(f"Cluster {cluster['Id']}", "".join(body), NAV, refresh_s=refresh)

    def step(self, request: web.Request) -> web.Response:
        step_id = request.path[len(STEP_PREFIX):]
        with self.shell.lock:
            steps = views.list_steps(self.shell.state, (step_id,))["Steps"]
        if not steps:
            return web.page("No such step", f"<p>{web.escape(step_id)} is not a step of this cluster.</p>", NAV)
        step = steps[0]
        log_dir = self.shell.step_logs(step_id)
        body = [f"<p><b>{step['Status']['State']}</b> {web.escape(views.reason_text(step['Status']))}</p>",
                f"<p><code>{web.escape(' '.join(step['Config']['Args']))}</code></p>",
                web.table(["", ""], [[name, value] for name, value in step["Status"]["Timeline"].items()])]
        for name in ("stdout", "stderr", "controller"):
            path = log_dir / name
            text = ""
            if path.exists():
                with open(path, "rb") as file:
                    file.seek(max(0, path.stat().st_size - LOG_TAIL_BYTES))
                    text = file.read().decode(errors="replace")
            body.append(f"<h2>{name}</h2><pre>{web.escape(text)}</pre>")
        running = step["Status"]["State"] in ("PENDING", "RUNNING", "CANCEL_PENDING")
        return web.page(f"Step {step_id}: {step['Name']}", "".join(body), NAV, refresh_s=REFRESH_S if running else None)

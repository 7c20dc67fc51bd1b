"""The controller's state in `aws emr`'s JSON shapes, and as readable tables.

`describe_cluster`, `list_instances` and `list_steps` give what `aws emr
describe-cluster`, `list-instances` and `list-steps --output json` print,
field for field where the field means something here (plus two emrlab
additions: `InstanceGroupType` on instances, and `Down` on the cluster, true
from `cluster down` until `cluster up` has its instances back and healthy). The tables are what the same commands
print without `--output json`.
"""

from __future__ import annotations

import datetime

from emrlab.controller.records import InstanceState, Reason
from emrlab.controller.state import ControllerState


def timestamp(time_s: float | None) -> str | None:
    if time_s is None:
        return None
    return datetime.datetime.fromtimestamp(time_s, datetime.timezone.utc).isoformat(timespec="milliseconds")


def _reason(reason: Reason) -> dict:
    return {key: value for key, value in (("Code", reason.code), ("Message", reason.message)) if value}


def _timeline(**times: float | None) -> dict:
    return {name: timestamp(value) for name, value in times.items() if value is not None}


def describe_cluster(state: ControllerState) -> dict:
    groups = []
    for group in state.groups.values():
        running = [instance for instance in state.group_instances(group.instance_group_id, (InstanceState.RUNNING,))]
        groups.append({
            "Id": group.instance_group_id,
            "Name": group.name,
            "Market": group.market.value,
            "InstanceGroupType": group.role.value,
            "InstanceType": group.instance_type,
            "RequestedInstanceCount": group.requested_instance_count,
            "RunningInstanceCount": len(running),
            "Status": {"State": group.state.value, "StateChangeReason": _reason(group.reason)},
        })
    master = state.master()
    cluster = {
        "Id": state.cluster_id,
        "Name": state.name,
        "Status": {
            "State": state.state.value,
            "StateChangeReason": _reason(state.reason),
            "Timeline": _timeline(CreationDateTime=state.created_s, ReadyDateTime=state.ready_s,
                                  EndDateTime=state.ended_s),
        },
        "InstanceCollectionType": "INSTANCE_GROUP",
        "InstanceGroups": groups,
        "AutoTerminate": not state.keep_alive,
        "TerminationProtected": state.termination_protected,
        "StepConcurrencyLevel": state.step_concurrency_level,
        "MasterPublicDnsName": master.node_name if master else "",
        "Down": state.stopped,
    }
    if state.idle_timeout_s is not None:
        cluster["AutoTerminationPolicy"] = {"IdleTimeout": int(state.idle_timeout_s)}
    return {"Cluster": cluster}


def list_instances(state: ControllerState, role: str = "") -> dict:
    instances = []
    for instance in state.instances.values():
        if role and instance.role.value != role:
            continue
        instances.append({
            "Id": instance.instance_id,
            "Ec2InstanceId": instance.ec2_instance_id,
            "PrivateDnsName": instance.node_name,
            "InstanceGroupId": instance.instance_group_id,
            "InstanceGroupType": instance.role.value,
            "Market": instance.market.value,
            "InstanceType": instance.instance_type,
            "Status": {
                "State": instance.state.value,
                "StateChangeReason": _reason(instance.reason),
                "Timeline": _timeline(CreationDateTime=instance.created_s, ReadyDateTime=instance.ready_s,
                                      EndDateTime=instance.ended_s),
            },
        })
        if instance.notice_s is not None:
            # An emrlab addition: EC2's spot/instance-action document, as the instance itself sees it.
            instances[-1]["SpotInstanceAction"] = {"Action": "terminate",
                                                   "Time": timestamp(instance.notice_s + state.spot.notice_s)}
    return {"Instances": instances}


def list_steps(state: ControllerState, step_ids=()) -> dict:
    steps = []
    for step in reversed(list(state.steps.values())):  # newest first, as EMR lists them
        if step_ids and step.step_id not in step_ids:
            continue
        steps.append({
            "Id": step.step_id,
            "Name": step.definition.name,
            "Config": {"Jar": "command-runner.jar", "Properties": {}, "Args": list(step.definition.args)},
            "ActionOnFailure": step.definition.action_on_failure.value,
            "Status": {
                "State": step.state.value,
                "StateChangeReason": _reason(step.reason),
                "Timeline": _timeline(CreationDateTime=step.created_s, StartDateTime=step.started_s,
                                      EndDateTime=step.ended_s),
            },
        })
    return {"Steps": steps}


# ---------------------------------------------------------------- tables


def text_table(header: tuple[str, ...], rows: list[tuple]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip() for row in [header, *rows]]
    return "\n".join(lines)


def reason_text(status: dict) -> str:
    reason = status.get("StateChangeReason", {})
    return " ".join(filter(None, (reason.get("Code"), reason.get("Message"))))


def cluster_table(document: dict) -> str:
    cluster = document["Cluster"]
    status = cluster["Status"]
    head = (f"{cluster['Id']}  {cluster['Name']!r}  {status['State']}"
            + (f"  ({reason_text(status)})" if reason_text(status) else "")
            + ("  termination-protected" if cluster["TerminationProtected"] else "")
            + ("  auto-terminate" if cluster["AutoTerminate"] else ""))
    rows = [(group["Id"], group["InstanceGroupType"], group["InstanceType"], group["Market"],
             f"{group['RunningInstanceCount']}/{group['RequestedInstanceCount']}", group["Status"]["State"])
            for group in cluster["InstanceGroups"]]
    return head + "\n" + text_table(("INSTANCE GROUP", "TYPE", "INSTANCE TYPE", "MARKET", "RUNNING", "STATE"), rows)


def instances_table(document: dict) -> str:
    rows = [(item["Id"], item["PrivateDnsName"], item["InstanceGroupType"], item["Market"], item["InstanceType"],
             item["Status"]["State"], reason_text(item["Status"]) or _notice_text(item))
            for item in document["Instances"]]
    return text_table(("INSTANCE", "NODE", "GROUP", "MARKET", "TYPE", "STATE", "REASON"), rows)


def _notice_text(item: dict) -> str:
    action = item.get("SpotInstanceAction")
    return f"spot interruption notice: terminated at {action['Time']}" if action else ""


def steps_table(document: dict) -> str:
    rows = [(step["Id"], step["Name"], step["ActionOnFailure"], step["Status"]["State"], reason_text(step["Status"]))
            for step in document["Steps"]]
    return text_table(("STEP", "NAME", "ACTION ON FAILURE", "STATE", "REASON"), rows)

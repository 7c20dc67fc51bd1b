"""A job's share of the bill: the instance-seconds of its containers, priced, as the job's client prints it.

Each attempt's container ran on one instance from its start to its finish; those
seconds are priced as `emrlab cluster cost` prices them (cost.span_cost: the
spot price period by period, the EMR fee, a spot instance interrupted in its
first hour free of EC2 charges), and the ApplicationMaster's container is priced
on a core instance for the job's whole life (AMs run on CORE nodes). An
overestimate where containers share a node, but the right order and the right
comparison: the same seconds on demand.
"""

from __future__ import annotations

from pathlib import Path

from emrlab.controller.client import controller_dir, is_managed
from emrlab.controller.cost import span_cost
from emrlab.controller.instancetypes import use_table_from
from emrlab.controller.journal import read_state
from emrlab.controller.records import Role
from emrlab.controller.state import ControllerState
from emrlab_common.clusterdir import ClusterDir


def job_cost(state: ControllerState, summary: dict) -> dict:
    by_node = {}
    for instance in sorted(state.instances.values(), key=lambda item: item.created_s):
        by_node[instance.node_name] = instance  # the newest instance of a name wins
    seconds = cost = on_demand = 0.0
    spans = [(attempt.get("node_id", ""), attempt.get("start_time_s") or 0.0, attempt.get("finish_time_s") or 0.0)
             for attempt in summary.get("attempts", [])]
    core = next((instance for instance in state.instances.values() if instance.role is Role.CORE), None)
    if core is not None:
        spans.append((core.node_name, summary.get("start_time_s") or 0.0, summary.get("finish_time_s") or 0.0))
    for node, start_s, end_s in spans:
        instance = by_node.get(node)
        if instance is None or end_s <= start_s:
            continue
        share = span_cost(state, instance, start_s, end_s)  # priced as `cluster cost` prices the same seconds
        seconds += share["InstanceSeconds"]
        cost += share["Total"]
        on_demand += share["OnDemandEquivalent"]
    return {"ContainerSeconds": round(seconds, 1), "Total": cost, "OnDemandEquivalent": on_demand}


def job_cost_lines(cluster_dir: str, summary: dict) -> list[str]:
    """The line the job's client prints at the end, on a managed cluster."""
    directory = ClusterDir(Path(cluster_dir))
    if not is_managed(directory):
        return []
    use_table_from(directory.properties())
    share = job_cost(read_state(controller_dir(directory)), summary)
    if not share["ContainerSeconds"]:
        return []
    line = (f"Cost of this job: ${share['Total']:.5f} for {share['ContainerSeconds']:.0f} container-seconds "
            f"(all on demand: ${share['OnDemandEquivalent']:.5f}")
    saved = share["OnDemandEquivalent"] - share["Total"]
    return [line + (f"; spot saved {saved / share['OnDemandEquivalent']:.0%})" if saved > 1e-9 else ")")]

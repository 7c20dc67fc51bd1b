"""Talking to the cluster controller, or reading its journal when it is not running.

    with ControllerClient.for_cluster(cluster_dir) as client:
        client.describe_cluster()["Cluster"]["Status"]["State"]     # "WAITING"
        step_ids = client.add_steps([StepConfig(...)])

Read-backs keep answering after the cluster has terminated (or while it is
down): the journal on disk holds everything `describe`, `list-instances` and
`list-steps` show, as EMR keeps a terminated cluster's description.
"""

from __future__ import annotations

import json
import time

from emrlab.controller import views
from emrlab.controller.cost import cluster_cost
from emrlab.controller.definition import scaling_document
from emrlab.controller.journal import read_state
from emrlab_common.clusterdir import ClusterDir, process_alive
from emrlab_common.errors import FailedPrecondition, Unavailable
from emrlab_common.protos import emr_pb2, emr_pb2_grpc
from emrlab_common.rpc import call, connect

CONTROLLER = "controller"
READ_ATTEMPTS_MAX = 3


def controller_dir(cluster_dir: ClusterDir):
    return cluster_dir.root / "controller"


def is_managed(cluster_dir: ClusterDir) -> bool:
    """Whether a controller owns this cluster (`emrlab cluster up` made it), or only its daemons run."""
    return (controller_dir(cluster_dir) / "journal").exists()


def controller_running(cluster_dir: ClusterDir) -> bool:
    record = cluster_dir.read_daemon(CONTROLLER)
    return record is not None and process_alive(record.pid)


class ControllerClient:
    def __init__(self, cluster_dir: ClusterDir):
        self.cluster_dir = cluster_dir
        record = cluster_dir.read_daemon(CONTROLLER)
        self._channel = None
        if record is not None and process_alive(record.pid):
            self._channel = connect(record.address)
            self._stub = emr_pb2_grpc.ElasticMapReduceStub(self._channel)

    @classmethod
    def for_cluster(cls, cluster_dir: ClusterDir) -> ControllerClient:
        if not is_managed(cluster_dir):
            raise Unavailable(f"no managed cluster in {cluster_dir.root}: start one with `emrlab cluster up`")
        return cls(cluster_dir)

    def __enter__(self) -> ControllerClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    @property
    def running(self) -> bool:
        return self._channel is not None

    def _live(self):
        if self._channel is None:
            raise FailedPrecondition(f"the cluster controller is not running in {self.cluster_dir.root} "
                                     "(the cluster is down or terminated; `emrlab cluster up` brings a down one back)")
        return self._stub

    def _read(self, method_name: str, request, field: str, build, *args) -> dict:
        if self._channel is None:
            return build(read_state(controller_dir(self.cluster_dir)), *args)
        response = call(getattr(self._stub, method_name), request, attempts_max=READ_ATTEMPTS_MAX, peer=CONTROLLER)
        return json.loads(getattr(response, field))

    # ------------------------------------------------------------ read-backs (idempotent)

    def describe_cluster(self) -> dict:
        return self._read("DescribeCluster", emr_pb2.DescribeClusterRequest(), "cluster_json", views.describe_cluster)

    def list_instances(self, instance_group_type: str = "") -> dict:
        return self._read("ListInstances", emr_pb2.ListInstancesRequest(instance_group_type=instance_group_type),
                          "instances_json", views.list_instances, instance_group_type)

    def list_steps(self, step_ids=()) -> dict:
        return self._read("ListSteps", emr_pb2.ListStepsRequest(step_ids=list(step_ids)), "steps_json",
                          views.list_steps, tuple(step_ids))

    # ------------------------------------------------------------ changes

    def add_steps(self, steps: list[emr_pb2.StepConfig]) -> list[str]:
        response = call(self._live().AddSteps, emr_pb2.AddStepsRequest(steps=steps), peer=CONTROLLER)
        return list(response.step_ids)

    def cancel_steps(self, step_ids: list[str]) -> dict:
        response = call(self._live().CancelSteps, emr_pb2.CancelStepsRequest(step_ids=step_ids), peer=CONTROLLER)
        return json.loads(response.cancel_steps_json)

    def modify_instance_group(self, instance_group_id: str, count: int, decommission_timeout_s: float) -> None:
        call(self._live().ModifyInstanceGroup, emr_pb2.ModifyInstanceGroupRequest(
            instance_group_id=instance_group_id, instance_count=count, decommission_timeout_s=decommission_timeout_s),
            peer=CONTROLLER, attempts_max=READ_ATTEMPTS_MAX)

    def set_termination_protection(self, protected: bool) -> None:
        call(self._live().SetTerminationProtection,
             emr_pb2.SetTerminationProtectionRequest(termination_protected=protected), peer=CONTROLLER,
             attempts_max=READ_ATTEMPTS_MAX)

    def terminate(self) -> None:
        call(self._live().TerminateJobFlow, emr_pb2.TerminateRequest(), peer=CONTROLLER)

    def interrupt(self, instance_ids=(), instance_group_id: str = "", count: int = 0) -> list[str]:
        response = call(self._live().InterruptInstances, emr_pb2.InterruptInstancesRequest(
            instance_ids=list(instance_ids), instance_group_id=instance_group_id, count=count), peer=CONTROLLER)
        return list(response.instance_ids)

    def put_managed_scaling_policy(self, document: dict | None) -> None:
        call(self._live().PutManagedScalingPolicy, emr_pb2.PutManagedScalingPolicyRequest(
            managed_scaling_policy_json=json.dumps(document) if document is not None else ""), peer=CONTROLLER,
            attempts_max=READ_ATTEMPTS_MAX)

    def managed_scaling_policy(self) -> dict:
        """As `aws emr get-managed-scaling-policy`: {"ManagedScalingPolicy": {...}}, or {} without one."""
        policy = read_state(controller_dir(self.cluster_dir)).scaling
        return {"ManagedScalingPolicy": scaling_document(policy)} if policy is not None else {}

    def cost(self) -> dict:
        """The bill so far, computed from the journal (so it answers after termination too)."""
        return cluster_cost(read_state(controller_dir(self.cluster_dir)), time.time())

    def stop(self) -> None:
        call(self._live().Stop, emr_pb2.StopRequest(), peer=CONTROLLER)

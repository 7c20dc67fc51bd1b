"""The controller's gRPC servicer: requests in as events, answers out in `aws emr`'s JSON shapes.

Thin on purpose: each method turns a request into an event for the shell (which
journals before it returns) or reads the state under the shell's lock.
"""

from __future__ import annotations

import json

from emrlab.controller import views
from emrlab.controller.definition import parse_scaling_policy, with_lab_timing
from emrlab.controller.messages import (
    AddSteps,
    CancelSteps,
    InterruptInstances,
    PutScalingPolicy,
    ResizeGroup,
    SetTerminationProtection,
    StopCluster,
    Terminate,
)
from emrlab.controller.records import ActionOnFailure, InstanceState, Role, StepDefinition, StepState
from emrlab.controller.shell import ControllerShell
from emrlab_common.errors import FailedPrecondition, InvalidArgument
from emrlab_common.protos import emr_pb2, emr_pb2_grpc
from emrlab_common.rpc import servicer_method

STEP_ARGUMENTS_MAX = 4096


def step_definition(config: emr_pb2.StepConfig) -> StepDefinition:
    if not config.name or not config.args:
        raise InvalidArgument("a step needs a name and a command (emrlab step add --name NAME -- COMMAND ...)")
    if len(config.args) > STEP_ARGUMENTS_MAX:
        raise InvalidArgument(f"a step has at most {STEP_ARGUMENTS_MAX} arguments")
    try:
        action = ActionOnFailure(config.action_on_failure or "CONTINUE")
    except ValueError:
        raise InvalidArgument(f"--action-on-failure must be one of {', '.join(item.value for item in ActionOnFailure)}"
                              f", not {config.action_on_failure!r}") from None
    return StepDefinition(config.name, tuple(config.args), action)


class ElasticMapReduceServicer(emr_pb2_grpc.ElasticMapReduceServicer):
    def __init__(self, shell: ControllerShell):
        self.shell = shell

    def _view(self, build, *args) -> str:
        with self.shell.lock:
            return json.dumps(build(self.shell.state, *args))

    @servicer_method
    def DescribeCluster(self, request, context):
        return emr_pb2.DescribeClusterResponse(cluster_json=self._view(views.describe_cluster))

    @servicer_method
    def ListInstances(self, request, context):
        return emr_pb2.ListInstancesResponse(instances_json=self._view(views.list_instances,
                                                                       request.instance_group_type))

    @servicer_method
    def ListSteps(self, request, context):
        return emr_pb2.ListStepsResponse(steps_json=self._view(views.list_steps, tuple(request.step_ids)))

    @servicer_method
    def AddSteps(self, request, context):
        definitions = tuple(step_definition(config) for config in request.steps)
        with self.shell.lock:
            self.shell.submit(AddSteps(definitions))
            step_ids = list(self.shell.state.last_added_step_ids)
        return emr_pb2.AddStepsResponse(step_ids=step_ids)

    @servicer_method
    def CancelSteps(self, request, context):
        with self.shell.lock:
            before = {step_id: step.state for step_id, step in self.shell.state.steps.items()}
            self.shell.submit(CancelSteps(tuple(request.step_ids)))
            results = []
            for step_id in request.step_ids:
                was, now = before[step_id], self.shell.state.steps[step_id].state
                submitted = now in (StepState.CANCELLED, StepState.CANCEL_PENDING) and was != now
                results.append({"StepId": step_id, "Status": "SUBMITTED" if submitted else "FAILED",
                                "Reason": "" if submitted else f"the step is {now.value}"})
        return emr_pb2.CancelStepsResponse(cancel_steps_json=json.dumps({"CancelStepsInfoList": results}))

    @servicer_method
    def ModifyInstanceGroup(self, request, context):
        if request.decommission_timeout_s < 0:
            raise InvalidArgument("--decommission-timeout cannot be negative")
        self._check_hdfs_can_lose(request.instance_group_id, request.instance_count)
        self.shell.submit(ResizeGroup(request.instance_group_id, request.instance_count,
                                      request.decommission_timeout_s))
        return emr_pb2.ModifyInstanceGroupResponse()

    def _check_hdfs_can_lose(self, group_id: str, count: int) -> None:
        """A core shrink must leave every file its replication: ask the NameNode first, as EMR refuses otherwise."""
        from hdfs import Client

        with self.shell.lock:
            group = self.shell.state.groups.get(group_id)
            if group is None or group.role is not Role.CORE:
                return
            victims = [instance.node_name for instance in self.shell.state.shrink_victims(group_id, count)
                       if instance.state is InstanceState.RUNNING]
        if victims:
            with Client.for_cluster(self.shell.cluster_dir, user=self.shell.cluster_dir.read_spec().superuser) as client:
                reason = client.decommission_check(victims)
            if reason:
                raise FailedPrecondition(f"cannot shrink the core group to {count}: {reason}")

    @servicer_method
    def SetTerminationProtection(self, request, context):
        self.shell.submit(SetTerminationProtection(request.termination_protected))
        return emr_pb2.SetTerminationProtectionResponse()

    @servicer_method
    def TerminateJobFlow(self, request, context):
        self.shell.submit(Terminate())
        return emr_pb2.TerminateResponse()

    @servicer_method
    def PutManagedScalingPolicy(self, request, context):
        policy = None
        if request.managed_scaling_policy_json:
            try:
                document = json.loads(request.managed_scaling_policy_json)
            except json.JSONDecodeError as error:
                raise InvalidArgument(f"the managed scaling policy is not valid JSON ({error.msg})") from None
            policy = with_lab_timing(parse_scaling_policy(document, []), self.shell.properties)
        self.shell.submit(PutScalingPolicy(policy))
        return emr_pb2.PutManagedScalingPolicyResponse()

    @servicer_method
    def InterruptInstances(self, request, context):
        if request.count < 0:
            raise InvalidArgument("--count cannot be negative")
        with self.shell.lock:
            commands = self.shell.submit(InterruptInstances(tuple(request.instance_ids), request.instance_group_id,
                                                            request.count))
        return emr_pb2.InterruptInstancesResponse(instance_ids=[command.instance_id for command in commands])

    @servicer_method
    def Stop(self, request, context):
        self.shell.submit(StopCluster())
        return emr_pb2.StopResponse()


def register_servicers(shell: ControllerShell):
    def register(server) -> None:
        emr_pb2_grpc.add_ElasticMapReduceServicer_to_server(ElasticMapReduceServicer(shell), server)

    return register

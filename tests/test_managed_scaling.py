"""EMR managed scaling as the controller's state machine decides it, on a fake clock."""

from __future__ import annotations

import pytest

from emrlab.controller.definition import parse_definition
from emrlab.controller.market import SpotSettings
from emrlab.controller.messages import (
    ClusterCreated,
    ClusterHealthy,
    DecommissionInstance,
    InstanceDecommissioned,
    InstanceProvisioned,
    InstanceStarted,
    LaunchInstance,
    PutScalingPolicy,
    StartCluster,
    YarnLoad,
)
from emrlab.controller.records import (
    GroupDefinition,
    InstanceState,
    ManagedScalingPolicy,
    Market,
    Role,
    derived_id,
)
from emrlab.controller.state import ControllerState
from emrlab_common.errors import FailedPrecondition, InvalidArgument

CLUSTER_ID = "j-SCALING000001"
POLICY = ManagedScalingPolicy(minimum_units=2, maximum_units=6, maximum_on_demand_units=3,
                              cooldown_s=10.0, idle_before_scale_down_s=20.0, decommission_timeout_s=600.0)


def cluster(policy=POLICY, spot_group=True):
    groups = [GroupDefinition("Master", Role.MASTER, "m5.xlarge", 1), GroupDefinition("Core", Role.CORE, "m5.xlarge", 2),
              GroupDefinition("Task", Role.TASK, "m5.xlarge", 0)]
    if spot_group:
        groups.append(GroupDefinition("Spot task", Role.TASK, "m5.xlarge", 0, Market.SPOT))
    created = ClusterCreated(CLUSTER_ID, "scaling", 0.0, True, False, 1, None, (), tuple(groups),
                             tuple(derived_id("ig-", CLUSTER_ID, index) for index in range(len(groups))),
                             SpotSettings(), policy)
    state = ControllerState(1)
    state.create(created, (), 0.0)
    start(state, state.handle(StartCluster(), 0.0), 0.0)
    state.handle(ClusterHealthy(), 0.0)
    return state


def start(state, commands, now_s):
    while launches := [command for command in commands if isinstance(command, LaunchInstance)]:
        commands = []
        for launch in launches:
            state.handle(InstanceProvisioned(launch.instance_id), now_s)
            commands += state.handle(InstanceStarted(launch.instance_id), now_s)


def counts(state):
    return {(group.role.value, group.market.value): group.requested_instance_count for group in state.groups.values()}


def test_pending_containers_add_on_demand_task_nodes_up_to_the_limit_then_spot():
    state = cluster()
    commands = state.handle(YarnLoad(pending_containers=10, busy_nodes=("core-1", "core-2")), 100.0)
    # 2 core + 4 new = MaximumCapacityUnits 6; on demand at most 3 (2 core + 1 task), the rest spot.
    assert counts(state)[("TASK", "ON_DEMAND")] == 1 and counts(state)[("TASK", "SPOT")] == 3
    assert len([command for command in commands if isinstance(command, LaunchInstance)]) == 4
    start(state, commands, 100.0)
    assert state.handle(YarnLoad(10, ()), 105.0) == []  # the cooldown
    assert state.handle(YarnLoad(10, ()), 200.0) == []  # at the maximum
    state.validate_state()


def test_idle_task_nodes_go_by_graceful_decommission_never_below_the_minimum_nor_busy_ones():
    state = cluster(ManagedScalingPolicy(2, 5, None, cooldown_s=0.0, idle_before_scale_down_s=20.0,
                                         decommission_timeout_s=600.0), spot_group=False)
    start(state, state.handle(YarnLoad(3, ()), 10.0), 10.0)
    assert counts(state)[("TASK", "ON_DEMAND")] == 3
    busy = ("task-1",)
    assert state.handle(YarnLoad(0, busy), 20.0) == []    # idle clocks start
    assert state.handle(YarnLoad(0, busy), 35.0) == []    # not idle long enough
    commands = state.handle(YarnLoad(0, busy), 41.0)
    decommissions = [command for command in commands if isinstance(command, DecommissionInstance)]
    # 5 units, minimum 2: three may go, but task-1 is busy (a running job may still fetch its map output).
    assert sorted(command.node_name for command in decommissions) == ["task-2", "task-3"]
    assert all(command.timeout_s == 600.0 for command in decommissions)
    for command in decommissions:
        state.handle(InstanceDecommissioned(command.instance_id), 42.0)
    assert counts(state)[("TASK", "ON_DEMAND")] == 1
    assert state.handle(YarnLoad(0, ()), 100.0) == []   # task-1 is idle from now on
    state.handle(YarnLoad(0, ()), 130.0)
    remaining = [instance for instance in state.instances.values()
                 if instance.role is not Role.MASTER and instance.state is InstanceState.RUNNING
                 and not instance.decommissioning]
    assert len(remaining) == 2  # the core nodes: never scaled, and the minimum
    state.validate_state()


def test_below_the_minimum_it_grows_without_pending_work():
    state = cluster(ManagedScalingPolicy(4, 6, cooldown_s=0.0), spot_group=False)
    state.handle(YarnLoad(0, ()), 5.0)
    assert counts(state)[("TASK", "ON_DEMAND")] == 2


def test_policy_checks():
    state = cluster(policy=None)
    with pytest.raises(InvalidArgument):
        state.handle(PutScalingPolicy(ManagedScalingPolicy(5, 2)), 1.0)
    state.handle(PutScalingPolicy(ManagedScalingPolicy(2, 4)), 1.0)
    assert state.scaling == ManagedScalingPolicy(2, 4)
    state.handle(PutScalingPolicy(None), 2.0)
    assert state.scaling is None and state.handle(YarnLoad(9, ()), 3.0) == []
    definition = parse_definition({"Instances": {"InstanceGroups": [
        {"InstanceRole": "MASTER", "InstanceCount": 1}, {"InstanceRole": "CORE", "InstanceCount": 1}]},
        "ManagedScalingPolicy": {"ComputeLimits": {"UnitType": "Instances", "MinimumCapacityUnits": 1,
                                                   "MaximumCapacityUnits": 4, "MaximumOnDemandCapacityUnits": 2}}})
    assert definition.scaling == ManagedScalingPolicy(1, 4, 2)
    with pytest.raises(InvalidArgument, match="only Instances"):
        parse_definition({"Instances": {"InstanceCount": 2}, "ManagedScalingPolicy": {
            "ComputeLimits": {"UnitType": "VCPU", "MinimumCapacityUnits": 1, "MaximumCapacityUnits": 4}}})
    no_task = ControllerState(1)
    groups = (GroupDefinition("Master", Role.MASTER, "m5.xlarge", 1), GroupDefinition("Core", Role.CORE, "m5.xlarge", 1))
    no_task.create(ClusterCreated(CLUSTER_ID, "x", 0.0, True, False, 1, None, (), groups,
                                  ("ig-A", "ig-B")), (), 0.0)
    with pytest.raises(FailedPrecondition, match="TASK"):
        no_task.handle(PutScalingPolicy(ManagedScalingPolicy(1, 3)), 1.0)

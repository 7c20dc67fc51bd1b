"""The controller's rules for capacity: resizes on request, and EMR managed scaling.

A part of `ControllerState` (state.py). A resize launches instances to grow a group and
gracefully decommissions the youngest to shrink it, never below what HDFS needs. Managed scaling
(ManagedScalingPolicy.ComputeLimits, UnitType Instances: core and task instances, not the master)
looks at YARN each time the shell reports it (YarnLoad): pending containers add task instances,
on-demand ones up to MaximumOnDemandCapacityUnits and spot beyond it; task nodes idle for a while
go, by graceful decommission, which waits for the applications that used the node, so no node is
taken away while a running job may still fetch map output from it (EMR's shuffle-aware
scale-down). Core nodes are never scaled (they hold HDFS). Decisions and their reasons are logged.
"""

from __future__ import annotations

import logging

from emrlab.controller.messages import (
    Command,
    DecommissionInstance,
    GroupChanged,
    InstanceChanged,
    PutScalingPolicy,
    ResizeGroup,
    ScalingPolicyChanged,
    TerminateInstance,
    YarnLoad,
)
from emrlab.controller.records import (
    ClusterState,
    Instance,
    InstanceEvent,
    InstanceGroup,
    InstanceState,
    Market,
    Reason,
    Role,
)
from emrlab_common.errors import FailedPrecondition, InvalidArgument, NotFound

logger = logging.getLogger(__name__)

INSTANCES_PER_GROUP_MAX = 64    # a laptop's worth; each instance is a few OS processes


class CapacityRules:
    # ------------------------------------------------------------ resize

    def _resize(self, event: ResizeGroup, now_s: float) -> list[Command]:
        group = self.groups.get(event.instance_group_id)
        if group is None:
            raise NotFound(f"no instance group {event.instance_group_id} in {self.cluster_id}")
        if self.state not in (ClusterState.RUNNING, ClusterState.WAITING):
            raise FailedPrecondition(f"{self.cluster_id} is {self.state.value}: resize a RUNNING or WAITING cluster")
        if group.role is Role.MASTER:
            raise InvalidArgument("the master instance group cannot be resized")
        if not 0 <= event.count <= INSTANCES_PER_GROUP_MAX:
            raise InvalidArgument(f"--count must be between 0 and {INSTANCES_PER_GROUP_MAX}")
        needed = max(1, self.replication)
        if group.role is Role.CORE and event.count < needed:
            raise FailedPrecondition(
                f"cannot shrink the core group to {event.count}: dfs.replication is {self.replication}, so HDFS needs "
                f"at least {needed} core node(s) (EMR refuses this too)")
        self._record(GroupChanged(group.instance_group_id, group.state, event.count, group.launched))
        live = self.live_instances(group.instance_group_id)
        commands: list[Command] = []
        if len(live) > event.count:
            for instance in self.shrink_victims(group.instance_group_id, event.count):
                if instance.state is InstanceState.RUNNING:
                    self._record(InstanceChanged(instance.instance_id, instance.state, instance.reason, now_s, True))
                    commands.append(self._decommission_command(instance, event.decommission_timeout_s))
                else:
                    self._change_instance(instance, InstanceEvent.TERMINATE, now_s,
                                          Reason("", "Instance group was resized"))
                    commands.append(TerminateInstance(instance.instance_id, instance.node_name))
        else:
            commands += self._replace_missing(group, now_s)
        self._refresh_groups()
        return commands

    def shrink_victims(self, group_id: str, count: int) -> list[Instance]:
        """Which instances a shrink to `count` takes: not-yet-running ones first, then the youngest (least work)."""
        live = self.live_instances(group_id)
        ordered = sorted(live, key=lambda instance: (instance.state is InstanceState.RUNNING, -instance.launch_number))
        return ordered[:max(0, len(live) - count)]

    def _decommission_command(self, instance: Instance, timeout_s: float) -> DecommissionInstance:
        return DecommissionInstance(instance.instance_id, instance.node_name, instance.role, timeout_s)

    # ------------------------------------------------------------ managed scaling

    def _put_scaling_policy(self, event: PutScalingPolicy, now_s: float) -> list[Command]:
        policy = event.policy
        if policy is not None:
            if not 1 <= policy.minimum_units <= policy.maximum_units:
                raise InvalidArgument("ComputeLimits: MinimumCapacityUnits must be at least 1 and at most "
                                      "MaximumCapacityUnits")
            if policy.maximum_on_demand_units is not None and policy.maximum_on_demand_units < 0:
                raise InvalidArgument("ComputeLimits: MaximumOnDemandCapacityUnits cannot be negative")
            if not self._task_groups():
                raise FailedPrecondition("managed scaling here adds and removes task instances: the cluster needs "
                                         "a TASK instance group (its count may be 0)")
        self._record(ScalingPolicyChanged(policy))
        return []

    def _task_groups(self) -> list[InstanceGroup]:
        """The task groups, on-demand first: what managed scaling grows (and spot beyond the on-demand limit)."""
        groups = [group for group in self.groups.values() if group.role is Role.TASK]
        return sorted(groups, key=lambda group: group.market is Market.SPOT)

    def _scaled_units(self) -> list[Instance]:
        return [instance for group in self.groups.values() if group.role is not Role.MASTER
                for instance in self.live_instances(group.instance_group_id)]

    def _scale(self, load: YarnLoad, now_s: float) -> list[Command]:
        policy = self.scaling
        if policy is None or self.state not in (ClusterState.RUNNING, ClusterState.WAITING) or self.stopped:
            return []
        busy = set(load.busy_nodes)
        for instance in self.instances.values():
            if instance.node_name in busy or instance.state is not InstanceState.RUNNING:
                self.idle_since.pop(instance.node_name, None)
            else:
                self.idle_since.setdefault(instance.node_name, now_s)
        if now_s - self.last_scaling_s < policy.cooldown_s:
            return []
        units = self._scaled_units()
        if (load.pending_containers > 0 and len(units) < policy.maximum_units) or len(units) < policy.minimum_units:
            wanted = max(min(load.pending_containers, policy.maximum_units - len(units)),
                         policy.minimum_units - len(units))
            return self._scale_up(wanted, load.pending_containers, units, now_s)
        if load.pending_containers == 0 and len(units) > policy.minimum_units:
            return self._scale_down(len(units) - policy.minimum_units, now_s)
        return []

    def _scale_up(self, wanted: int, pending: int, units: list[Instance], now_s: float) -> list[Command]:
        policy = self.scaling
        on_demand = sum(instance.market is Market.ON_DEMAND for instance in units)
        on_demand_limit = policy.maximum_on_demand_units if policy.maximum_on_demand_units is not None \
            else policy.maximum_units
        commands: list[Command] = []
        for group in self._task_groups():
            room = wanted if group.market is Market.SPOT else min(wanted, max(0, on_demand_limit - on_demand))
            room = min(room, INSTANCES_PER_GROUP_MAX - group.requested_instance_count)
            if room <= 0:
                continue
            count = group.requested_instance_count + room
            logger.info("managed scaling: %d container(s) pending, %d of at most %d unit(s): %s group %s %d -> %d",
                        pending, len(units), policy.maximum_units, group.market.value, group.instance_group_id,
                        group.requested_instance_count, count)
            self._record(GroupChanged(group.instance_group_id, group.state, count, group.launched))
            commands += self._replace_missing(group, now_s)
            wanted -= room
            if group.market is Market.ON_DEMAND:
                on_demand += room
        if commands:
            self.last_scaling_s = now_s
            self._refresh_groups()
        return commands

    def _scale_down(self, surplus: int, now_s: float) -> list[Command]:
        policy = self.scaling
        idle = [instance for group in self._task_groups()
                for instance in self.group_instances(group.instance_group_id, (InstanceState.RUNNING,))
                if not instance.decommissioning and instance.notice_s is None
                and now_s - self.idle_since.get(instance.node_name, now_s) >= policy.idle_before_scale_down_s]
        # On-demand ones first (they cost more), the youngest first.
        idle.sort(key=lambda instance: (instance.market is Market.SPOT, -instance.created_s))
        commands: list[Command] = []
        for instance in idle[:surplus]:
            group = self.groups[instance.instance_group_id]
            logger.info("managed scaling: no container pending and %s (%s) idle for %.0fs: %s group %s %d -> %d "
                        "(graceful decommission, waits for the applications that used it)", instance.instance_id,
                        instance.node_name, now_s - self.idle_since[instance.node_name], group.market.value,
                        group.instance_group_id, group.requested_instance_count, group.requested_instance_count - 1)
            self._record(GroupChanged(group.instance_group_id, group.state, group.requested_instance_count - 1,
                                      group.launched))
            self._record(InstanceChanged(instance.instance_id, instance.state, instance.reason, now_s, True))
            commands.append(self._decommission_command(instance, policy.decommission_timeout_s))
        if commands:
            self.last_scaling_s = now_s
            self._refresh_groups()
        return commands

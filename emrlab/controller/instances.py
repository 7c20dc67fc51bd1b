"""The controller's rules for instances: their lifecycle, failures, replacements and restarts.

A part of `ControllerState` (state.py). An instance is launched (the master first, the others once
it runs), provisioned, bootstrapped and RUNNING once its daemons are up; when its processes die it
is TERMINATED with INSTANCE_FAILURE and a new instance takes its place so its group keeps its
requested count; after `cluster down` the same instances start again on their disks, master first.
"""

from __future__ import annotations

import logging

from emrlab.controller import market
from emrlab.controller.messages import (
    Command,
    GroupChanged,
    InstanceAdded,
    InstanceChanged,
    InstanceFailed,
    LaunchInstance,
    TerminateInstance,
    WaitHealthy,
)
from emrlab.controller.records import (
    INSTANCE_TRANSITIONS,
    ClusterEvent,
    ClusterReason,
    ClusterState,
    Instance,
    InstanceEvent,
    InstanceGroup,
    InstanceGroupState,
    InstanceReason,
    InstanceState,
    Market,
    Reason,
    Role,
    derived_id,
)
from emrlab_common.lifecycle import next_state

logger = logging.getLogger(__name__)


class InstanceRules:
    def _add_instance(self, group: InstanceGroup, now_s: float, from_market: bool = False) -> Instance:
        """A new instance; `from_market`: a spot replacement, which waits for capacity as the market decides."""
        launched = group.launched + 1
        node_name = "master" if group.role is Role.MASTER and launched == 1 else f"{group.role.value.lower()}-{launched}"
        instance_id = derived_id("ci-", self.cluster_id, group.instance_group_id, launched)
        fulfill_at_s = None
        if from_market and group.market is Market.SPOT:
            fulfill_at_s = now_s + market.fulfillment_delay_s(self.spot, self.market_key(group.instance_group_id),
                                                              launched)
        self._record(GroupChanged(group.instance_group_id, group.state, group.requested_instance_count, launched))
        self._record(InstanceAdded(instance_id, group.instance_group_id, node_name, now_s, launched, fulfill_at_s))
        return self.instances[instance_id]


    # ------------------------------------------------------------ instances

    def _change_instance(self, instance: Instance, event: InstanceEvent, now_s: float, reason: Reason = Reason(),
                         decommissioning: bool | None = None) -> None:
        state = next_state(INSTANCE_TRANSITIONS, instance.state, event, f"instance {instance.instance_id}",
                           reason.message)
        self._record(InstanceChanged(instance.instance_id, state, reason, now_s,
                                     instance.decommissioning if decommissioning is None else decommissioning))

    def _launch(self, instance: Instance, now_s: float, restart: bool = False) -> LaunchInstance:
        if instance.state is InstanceState.AWAITING_FULFILLMENT:
            self._change_instance(instance, InstanceEvent.FULFILLED, now_s)
        return LaunchInstance(instance.instance_id, instance.node_name, instance.role, instance.instance_type,
                              () if restart else self.bootstrap_actions, restart)

    def _instance_event(self, instance_id: str, event: InstanceEvent, now_s: float) -> list[Command]:
        instance = self.instances[instance_id]
        if instance.state is InstanceState.TERMINATED:
            return []  # a late report from a launch the cluster no longer wants
        if instance.state is InstanceState.RUNNING and event is InstanceEvent.DAEMONS_STARTED:
            return self._restarted(instance, now_s)
        if instance.state in (InstanceState.BOOTSTRAPPING, InstanceState.RUNNING) and event is InstanceEvent.PROVISIONED:
            return []  # launched again after a controller crash or `cluster down`: provisioned the first time
        self._change_instance(instance, event, now_s)
        if event is InstanceEvent.DAEMONS_STARTED and instance.instance_id in self.restarting:
            return self._restarted(instance, now_s)
        if event is InstanceEvent.PROVISIONED and self.state is ClusterState.STARTING:
            self._change_cluster(ClusterEvent.BOOTSTRAP_STARTED, Reason(), now_s)
        if event is InstanceEvent.DAEMONS_STARTED and instance.market is Market.SPOT:
            due_s = self.interruption_due_s(instance)
            # The market's schedule, in the log, so that a run can be compared with another of the same seed.
            logger.info("spot: %s (%s, %s launch %d) %s (seed %d)", instance.instance_id, instance.node_name,
                        self.market_key(instance.instance_group_id), instance.launch_number,
                        "is never interrupted by the market" if due_s is None
                        else f"gets its interruption notice {due_s - now_s:.1f}s after it starts", self.spot.seed)
        commands: list[Command] = []
        if instance.role is Role.MASTER and event is InstanceEvent.DAEMONS_STARTED:
            for other in self.instances.values():
                if other.state is InstanceState.AWAITING_FULFILLMENT and self._fulfillable(other, now_s):
                    commands.append(self._launch(other, now_s))
        self._refresh_groups()
        return commands + self._check_ready(now_s)

    def _restarted(self, instance: Instance, now_s: float) -> list[Command]:
        """One instance is back after `cluster down`; the master's return lets the others start."""
        self.restarting.discard(instance.instance_id)
        commands: list[Command] = []
        if instance.role is Role.MASTER:
            for other in self.instances.values():
                if other.instance_id in self.restarting:
                    commands.append(self._launch(other, now_s, restart=other.state is InstanceState.RUNNING))
        if not self.restarting:
            commands.append(WaitHealthy(first_start=False))
        return commands

    def _instance_failed(self, event: InstanceFailed, now_s: float) -> list[Command]:
        instance = self.instances[event.instance_id]
        if instance.state is InstanceState.TERMINATED or (self.stopped and self.alive):
            return []
        self._change_instance(instance, InstanceEvent.TERMINATE, now_s, Reason(event.code.value, event.message),
                              decommissioning=False)
        commands: list[Command] = [TerminateInstance(instance.instance_id, instance.node_name)]
        if not self.alive:
            return commands + self._finish_termination(now_s)
        if event.code is InstanceReason.BOOTSTRAP_FAILURE and self.ready_s is None:
            return commands + self._terminate(
                ClusterReason.BOOTSTRAP_FAILURE,
                f"On the {instance.role.value.lower()} instance ({instance.ec2_instance_id}), {event.message}", now_s,
                errors=True)
        if instance.role is Role.MASTER:
            return commands + self._terminate(ClusterReason.INSTANCE_FAILURE,
                                              f"The master node was terminated: {event.message}", now_s, errors=True)
        commands += self._replace_missing(self.groups[instance.instance_group_id], now_s)
        self._refresh_groups()
        return commands

    def _replace_missing(self, group: InstanceGroup, now_s: float, from_market: bool = False) -> list[Command]:
        """Launch instances until the group has its requested count again (after a failure or a resize)."""
        commands: list[Command] = []
        master = self.master()
        while len(self.live_instances(group.instance_group_id)) < group.requested_instance_count:
            instance = self._add_instance(group, now_s, from_market)
            if master is not None and master.state is InstanceState.RUNNING and self._fulfillable(instance, now_s):
                commands.append(self._launch(instance, now_s))
        return commands

    def _instance_decommissioned(self, instance_id: str, now_s: float) -> list[Command]:
        instance = self.instances[instance_id]
        if instance.state is InstanceState.TERMINATED:
            return []
        self._change_instance(instance, InstanceEvent.TERMINATE, now_s,
                              Reason("", "Instance group was resized: the instance was decommissioned"),
                              decommissioning=False)
        self._refresh_groups()
        return [TerminateInstance(instance.instance_id, instance.node_name)] + self._check_ready(now_s)

    def _instance_stopped(self, instance_id: str, now_s: float) -> list[Command]:
        instance = self.instances[instance_id]
        if self.state is ClusterState.TERMINATING and instance.state is not InstanceState.TERMINATED:
            self._change_instance(instance, InstanceEvent.TERMINATE, now_s,
                                  Reason("CLUSTER_TERMINATED", "Instance was terminated with the cluster"),
                                  decommissioning=False)
        return self._finish_termination(now_s) if self.state is ClusterState.TERMINATING else []

    def _refresh_groups(self) -> None:
        for group in self.groups.values():
            if group.state is InstanceGroupState.TERMINATED:
                continue
            instances = [instance for instance in self.group_instances(group.instance_group_id)
                         if instance.state is not InstanceState.TERMINATED]
            running = [instance for instance in instances if instance.state is InstanceState.RUNNING
                       and not instance.decommissioning]
            if self.state is ClusterState.TERMINATING:
                state = group.state
            elif self.ready_s is None and len(running) < group.requested_instance_count:
                bootstrapping = any(instance.state in (InstanceState.BOOTSTRAPPING, InstanceState.RUNNING)
                                    for instance in instances)
                state = InstanceGroupState.BOOTSTRAPPING if bootstrapping else InstanceGroupState.PROVISIONING
            elif len(running) == group.requested_instance_count and len(instances) == len(running):
                state = InstanceGroupState.RUNNING
            else:
                state = InstanceGroupState.RESIZING
            if state is not group.state:
                logger.info("instance group %s %s -> %s", group.instance_group_id, group.state.value, state.value)
                self._record(GroupChanged(group.instance_group_id, state, group.requested_instance_count,
                                          group.launched))

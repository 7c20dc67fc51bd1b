"""The controller's rules for the spot market: notices, kills and replacements, as EC2 and EMR do them.

A part of `ControllerState` (state.py). The market's draws are pure functions of the seed
(market.py); here they become state: a spot instance gets its notice when its seeded life runs
out (or on command), is killed when the notice does, and its group asks for a replacement that
waits in AWAITING_FULFILLMENT until the market has capacity.
"""

from __future__ import annotations

import logging

from emrlab.controller import market
from emrlab.controller.market import SPOT_TERMINATION
from emrlab.controller.messages import (
    Command,
    InterruptInstances,
    KillInstance,
    SpotNotice,
    SpotNoticed,
)
from emrlab.controller.records import (
    ClusterReason,
    Instance,
    InstanceEvent,
    InstanceReason,
    InstanceState,
    Market,
    Reason,
    Role,
)
from emrlab_common.errors import FailedPrecondition, NotFound

logger = logging.getLogger(__name__)


class MarketRules:
    def _fulfillable(self, instance: Instance, now_s: float) -> bool:
        return instance.fulfill_at_s is None or instance.fulfill_at_s <= now_s

    # ------------------------------------------------------------ the spot market

    def interruption_due_s(self, instance: Instance) -> float | None:
        """When the market's seeded schedule sends this spot instance its notice (None: never)."""
        if instance.market is not Market.SPOT or instance.ready_s is None:
            return None
        delay = market.interruption_delay_s(self.spot, self.market_key(instance.instance_group_id),
                                            instance.launch_number)
        return None if delay is None else instance.ready_s + delay

    def market_key(self, group_id: str) -> str:
        """What the market's draws know a group by: its role and place in the definition, the same in every
        cluster made from it (its ig- id is derived from the cluster id, so another run's would differ)."""
        return f"{self.groups[group_id].role.value}-{list(self.groups).index(group_id)}"

    def _run_market(self, now_s: float) -> list[Command]:
        commands: list[Command] = []
        master = self.master()
        for instance in list(self.instances.values()):
            if instance.state is InstanceState.AWAITING_FULFILLMENT and instance.fulfill_at_s is not None:
                if instance.fulfill_at_s <= now_s and master is not None and master.state is InstanceState.RUNNING:
                    commands.append(self._launch(instance, now_s))
            elif instance.state is InstanceState.RUNNING and instance.notice_s is None and not instance.decommissioning:
                due_s = self.interruption_due_s(instance)
                if due_s is not None and due_s <= now_s:
                    commands += self._notice(instance, now_s, "the market's seeded schedule")
            elif instance.notice_s is not None and instance.state is not InstanceState.TERMINATED:
                if now_s >= instance.notice_s + self.spot.notice_s:
                    commands += self._kill(instance, now_s)
        return commands

    def _notice(self, instance: Instance, now_s: float, cause: str) -> list[Command]:
        logger.info("spot: %s (%s) gets its interruption notice (%s); killed at +%.0fs", instance.instance_id,
                    instance.node_name, cause, self.spot.notice_s)
        self._record(SpotNoticed(instance.instance_id, now_s))
        return [SpotNotice(instance.instance_id, instance.node_name, instance.role, now_s,
                           now_s + self.spot.notice_s)]

    def _kill(self, instance: Instance, now_s: float) -> list[Command]:
        logger.info("spot: %s (%s) interrupted: every process killed", instance.instance_id, instance.node_name)
        self._change_instance(instance, InstanceEvent.TERMINATE, now_s,
                              Reason(InstanceReason.INSTANCE_FAILURE.value,
                                     f"{SPOT_TERMINATION}: Spot instance termination (EC2 took the capacity back)"),
                              decommissioning=False)
        commands: list[Command] = [KillInstance(instance.instance_id, instance.node_name)]
        if instance.role is Role.MASTER:
            return commands + self._terminate(ClusterReason.INSTANCE_FAILURE,
                                              "The master node was interrupted by EC2 (spot)", now_s, errors=True)
        commands += self._replace_missing(self.groups[instance.instance_group_id], now_s, from_market=True)
        self._refresh_groups()
        return commands

    def _interrupt_request(self, event: InterruptInstances, now_s: float) -> list[Command]:
        if not self.alive:
            raise FailedPrecondition(f"{self.cluster_id} is {self.state.value}")
        targets: list[Instance] = []
        for instance_id in event.instance_ids:
            instance = self.instances.get(instance_id) or next(
                (item for item in self.instances.values() if item.node_name == instance_id
                 and item.state is not InstanceState.TERMINATED), None)
            if instance is None:
                raise NotFound(f"no instance {instance_id} in {self.cluster_id} (`emrlab cluster list-instances`)")
            if instance.market is not Market.SPOT:
                raise FailedPrecondition(f"{instance.instance_id} ({instance.node_name}) is ON_DEMAND: only spot "
                                         "instances are interrupted")
            if instance.state is not InstanceState.RUNNING or instance.notice_s is not None:
                raise FailedPrecondition(f"{instance.instance_id} ({instance.node_name}) is {instance.state.value}"
                                         + (" and already has its notice" if instance.notice_s is not None else ""))
            targets.append(instance)
        if event.instance_group_id:
            group = self.groups.get(event.instance_group_id)
            if group is None:
                raise NotFound(f"no instance group {event.instance_group_id} in {self.cluster_id}")
            if group.market is not Market.SPOT:
                raise FailedPrecondition(f"the {group.role.value} group is ON_DEMAND: only spot instances are "
                                         "interrupted (put it on spot with Market SPOT or --task-market spot)")
            candidates = {instance.node_name: instance for instance in self.group_instances(group.instance_group_id,
                                                                                             (InstanceState.RUNNING,))
                          if instance.notice_s is None and not instance.decommissioning}
            if event.count > len(candidates):
                raise FailedPrecondition(f"only {len(candidates)} running spot instance(s) in {group.instance_group_id}"
                                         f" can be interrupted, not {event.count}")
            noticed = sum(instance.notice_s is not None for instance in self.instances.values())
            # By node name (the group's n-th instance), not by id: the same seed picks the same in every cluster.
            targets += [candidates[name] for name in market.choose(self.spot, list(candidates), event.count, noticed)]
        commands: list[Command] = []
        for instance in targets:
            commands += self._notice(instance, now_s, "on command")
        return commands

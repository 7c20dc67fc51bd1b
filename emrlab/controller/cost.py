"""What the cluster costs, as EC2 and EMR bill it (a pure function of the journaled state and the time).

The rules modelled (EC2's and EMR's pricing pages):
- EC2 bills Linux instances per second, with a one-minute minimum, from launch
  until the instance is terminated, at the on-demand price or at the spot
  price in force at each moment;
- EMR adds its own per-second fee (also a one-minute minimum) for every
  instance, on demand or spot alike;
- a spot instance that EC2 interrupts within its first hour is not charged for
  its EC2 usage at all (the EMR fee stays); interrupted later, its seconds are
  charged as usual. An instance you terminate is charged for its seconds.
Prices come from the instance-type table (instancetypes.py); spot prices move
as the seeded market decides (market.py).
"""

from __future__ import annotations

from collections import defaultdict

from emrlab.controller import market
from emrlab.controller.instancetypes import InstanceType, instance_type
from emrlab.controller.records import Instance, Market
from emrlab.controller.state import ControllerState

MINIMUM_BILLED_S = 60.0
FREE_INTERRUPTION_WINDOW_S = 3600.0
FIELDS = ("Ec2", "EmrFee", "Total", "InstanceSeconds")


def instance_seconds(instance: Instance, now_s: float) -> float:
    if instance.launched_s is None:
        return 0.0
    end_s = instance.ended_s if instance.ended_s is not None else now_s
    return max(0.0, end_s - instance.launched_s)


def _spot_ec2_usd(state: ControllerState, kind: InstanceType, start_s: float, end_s: float) -> float:
    """The spot price integrated over [start, end), period by period of the market's price changes."""
    period_s = state.spot.price_period_s
    total = 0.0
    moment = start_s
    while moment < end_s:
        age_s = moment - state.created_s
        next_change = state.created_s + (int(age_s // period_s) + 1) * period_s
        until = min(end_s, next_change)
        price = market.spot_price(state.spot, kind.spot_usd_per_hour, kind.name, age_s)
        total += price * (until - moment) / 3600.0
        moment = until
    return total


def instance_bill(state: ControllerState, instance: Instance, now_s: float) -> dict[str, float]:
    kind = instance_type(instance.instance_type)
    used_s = instance_seconds(instance, now_s)
    billed_s = max(MINIMUM_BILLED_S, used_s) if used_s > 0 else 0.0
    start_s = instance.launched_s or 0.0
    if instance.market is Market.SPOT:
        if instance.interrupted and used_s < FREE_INTERRUPTION_WINDOW_S:
            ec2 = 0.0
        else:
            ec2 = _spot_ec2_usd(state, kind, start_s, start_s + billed_s)
    else:
        ec2 = kind.on_demand_usd_per_hour * billed_s / 3600.0
    emr_fee = kind.emr_usd_per_hour * billed_s / 3600.0
    on_demand = (kind.on_demand_usd_per_hour + kind.emr_usd_per_hour) * billed_s / 3600.0
    return {"Ec2": ec2, "EmrFee": emr_fee, "Total": ec2 + emr_fee, "InstanceSeconds": used_s,
            "OnDemandEquivalent": on_demand}


def _summed(bills: list[dict[str, float]]) -> dict[str, float]:
    total = {field: 0.0 for field in FIELDS}
    for bill in bills:
        for field in FIELDS:
            total[field] += bill[field]
    return {field: round(value, 6) if field != "InstanceSeconds" else round(value, 1)
            for field, value in total.items()}


def cluster_cost(state: ControllerState, now_s: float) -> dict:
    """`emrlab cluster cost --output json`: the bill so far, in USD."""
    bills = {instance.instance_id: instance_bill(state, instance, now_s) for instance in state.instances.values()}
    by_market: dict[str, list] = defaultdict(list)
    by_group: dict[str, list] = defaultdict(list)
    for instance in state.instances.values():
        by_market[instance.market.value].append(bills[instance.instance_id])
        by_group[instance.instance_group_id].append(bills[instance.instance_id])
    groups = []
    for group in state.groups.values():
        groups.append({"InstanceGroupId": group.instance_group_id, "InstanceGroupType": group.role.value,
                       "Market": group.market.value, "InstanceType": group.instance_type,
                       **_summed(by_group[group.instance_group_id])})
    on_demand = sum(bill["OnDemandEquivalent"] for bill in bills.values())
    return {
        "ClusterId": state.cluster_id,
        "Currency": "USD",
        "Total": _summed(list(bills.values())),
        "ByMarket": {name: _summed(by_market[name]) for name in (Market.ON_DEMAND.value, Market.SPOT.value)},
        "ByGroup": groups,
        "AllOnDemandEquivalent": round(on_demand, 6),
        "Instances": [{"Id": instance.instance_id, "InstanceGroupType": instance.role.value,
                       "Market": instance.market.value, "InstanceType": instance.instance_type,
                       "Interrupted": instance.interrupted, **_summed([bills[instance.instance_id]])}
                      for instance in state.instances.values() if instance.launched_s is not None],
    }


def cost_table(document: dict) -> str:
    lines = [f"{'GROUP':<18} {'TYPE':<7} {'MARKET':<10} {'INSTANCE TYPE':<13} {'SECONDS':>9} {'EC2 $':>10} "
             f"{'EMR FEE $':>10} {'TOTAL $':>10}"]
    for group in document["ByGroup"]:
        lines.append(f"{group['InstanceGroupId']:<18} {group['InstanceGroupType']:<7} {group['Market']:<10} "
                     f"{group['InstanceType']:<13} {group['InstanceSeconds']:>9.0f} {group['Ec2']:>10.4f} "
                     f"{group['EmrFee']:>10.4f} {group['Total']:>10.4f}")
    total = document["Total"]
    lines.append(f"{'total':<51} {total['InstanceSeconds']:>9.0f} {total['Ec2']:>10.4f} {total['EmrFee']:>10.4f} "
                 f"{total['Total']:>10.4f}")
    on_demand = document["AllOnDemandEquivalent"]
    saved = on_demand - total["Total"]
    lines.append(f"all on demand, the same instance-seconds would cost ${on_demand:.4f}"
                 + (f": spot saved ${saved:.4f} ({saved / on_demand:.0%})" if on_demand and saved > 1e-9 else ""))
    return "\n".join(lines)


def span_cost(state: ControllerState, instance: Instance, begin_s: float, end_s: float) -> dict[str, float]:
    """What [begin, end) of one instance's life cost (a container's or a window's share), and the same on demand.

    The spot price integrated period by period, as for the whole bill; no
    minimums (they belong to the instance's whole life, not to a share of it);
    a spot instance EC2 interrupted in its first hour is free of EC2 charges.
    """
    kind = instance_type(instance.instance_type)
    seconds = max(0.0, end_s - begin_s)
    if instance.market is Market.SPOT:
        free = instance.interrupted and instance_seconds(instance, end_s) < FREE_INTERRUPTION_WINDOW_S
        ec2 = 0.0 if free else _spot_ec2_usd(state, kind, begin_s, end_s)
    else:
        ec2 = kind.on_demand_usd_per_hour * seconds / 3600.0
    fee = kind.emr_usd_per_hour * seconds / 3600.0
    return {"Ec2": ec2, "EmrFee": fee, "Total": ec2 + fee, "InstanceSeconds": seconds,
            "OnDemandEquivalent": (kind.on_demand_usd_per_hour + kind.emr_usd_per_hour) * seconds / 3600.0}


def window_cost(state: ControllerState, start_s: float, end_s: float) -> dict[str, float]:
    """What the cluster's instances cost while [start, end) lasted, and the same all on demand."""
    total = {"Ec2": 0.0, "EmrFee": 0.0, "Total": 0.0, "InstanceSeconds": 0.0, "OnDemandEquivalent": 0.0}
    for instance in state.instances.values():
        if instance.launched_s is None:
            continue
        begin = max(start_s, instance.launched_s)
        end = min(end_s, instance.ended_s if instance.ended_s is not None else end_s)
        if end <= begin:
            continue
        for field, value in span_cost(state, instance, begin, end).items():
            total[field] += value
    return total

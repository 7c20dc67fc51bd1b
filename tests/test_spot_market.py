"""The spot market, interruptions and billing as pure functions and state transitions, on a fake clock."""

from __future__ import annotations

import math
import statistics

import pytest

from emrlab.controller import market
from emrlab.controller.cost import cluster_cost, instance_bill, window_cost
from emrlab.controller.instancetypes import instance_type, scaled_resources
from emrlab.controller.market import SpotSettings, parse_rate, settings_from_properties
from emrlab.controller.messages import (
    ClusterCreated,
    ClusterHealthy,
    InstanceProvisioned,
    InstanceStarted,
    InterruptInstances,
    KillInstance,
    LaunchInstance,
    SpotNotice,
    StartCluster,
    Tick,
)
from emrlab.controller.records import (
    GroupDefinition,
    InstanceState,
    Market,
    Role,
    derived_id,
)
from emrlab.controller.state import ControllerState
from emrlab_common.errors import FailedPrecondition, InvalidArgument

CLUSTER_ID = "j-SPOTTEST00001"


def test_rates_from_advisor_buckets_and_lab_rates():
    assert parse_rate("2/min") == pytest.approx(2 / 60)
    assert parse_rate("2") == pytest.approx(2 / 60)
    assert parse_rate("10/h") == pytest.approx(10 / 3600)
    assert parse_rate("0") == 0
    # "<5%" a month: the chance of an interruption within 30 days is 2.5%.
    rate = parse_rate("<5%")
    assert 1 - math.exp(-rate * market.MONTH_S) == pytest.approx(0.025)
    assert parse_rate(">20%") > parse_rate("15-20%") > parse_rate("5-10%")
    with pytest.raises(InvalidArgument, match="Advisor"):
        parse_rate("often")


def test_settings_from_properties_refuse_nonsense():
    settings = settings_from_properties({"emrlab.spot.seed": "7", "emrlab.spot.notice": "10s",
                                         "emrlab.spot.interruption-rate": "3/min"})
    assert settings.seed == 7 and settings.notice_s == 10 and settings.interruption_rate_per_s == pytest.approx(0.05)
    with pytest.raises(InvalidArgument):
        settings_from_properties({"emrlab.spot.capacity-unavailable-probability": "1.5"})
    with pytest.raises(InvalidArgument):
        settings_from_properties({"emrlab.spot.seed": "x"})


def test_the_schedule_is_the_seeds_alone_and_its_mean_rate_is_right():
    settings = SpotSettings(seed=1, interruption_rate_per_s=1 / 30)
    first = [market.interruption_delay_s(settings, "ig-A", number) for number in range(1, 2001)]
    again = [market.interruption_delay_s(settings, "ig-A", number) for number in range(1, 2001)]
    assert first == again
    other = [market.interruption_delay_s(SpotSettings(seed=2, interruption_rate_per_s=1 / 30), "ig-A", number)
             for number in range(1, 2001)]
    assert first != other
    # Exponential lives with mean 30 s: the sample mean of 2,000 is within 10% (fixed seed, so never flaky).
    assert statistics.mean(first) == pytest.approx(30, rel=0.1)
    # And memoryless: about e^-1 of lives outlast the mean.
    assert sum(delay > 30 for delay in first) / len(first) == pytest.approx(math.exp(-1), abs=0.04)
    assert market.interruption_delay_s(SpotSettings(seed=1), "ig-A", 1) is None


def test_replacements_wait_one_delay_per_try_for_capacity():
    always = SpotSettings(seed=3, replacement_delay_s=5.0)
    assert market.fulfillment_delay_s(always, "ig-A", 4) == 5.0
    scarce = SpotSettings(seed=3, replacement_delay_s=5.0, capacity_unavailable_probability=0.5)
    delays = [market.fulfillment_delay_s(scarce, "ig-A", number) for number in range(1, 1001)]
    assert all(delay % 5.0 == 0 and delay >= 5.0 for delay in delays)
    assert statistics.mean(delays) == pytest.approx(10.0, rel=0.1)  # a geometric number of tries, mean 2


def test_spot_prices_move_within_their_band_and_replay():
    settings = SpotSettings(seed=5, price_period_s=60)
    prices = [market.spot_price(settings, 0.074, "m5.xlarge", age) for age in range(0, 3600, 60)]
    assert len(set(prices)) > 10
    assert all(0.074 * 0.8 - 1e-9 <= price <= 0.074 * 1.2 + 1e-9 for price in prices)
    assert prices == [market.spot_price(settings, 0.074, "m5.xlarge", age) for age in range(0, 3600, 60)]
    assert market.spot_price(settings, 0.074, "m5.xlarge", 10) == market.spot_price(settings, 0.074, "m5.xlarge", 50)


# ---------------------------------------------------------------- interruptions in the state machine


def spot_cluster(rate_per_s=0.0, notice_s=10.0, delay_s=5.0, task=2):
    groups = (GroupDefinition("Master", Role.MASTER, "m5.xlarge", 1),
              GroupDefinition("Core", Role.CORE, "m5.xlarge", 1),
              GroupDefinition("Task", Role.TASK, "m5.xlarge", task, Market.SPOT))
    created = ClusterCreated(CLUSTER_ID, "spot", 0.0, True, False, 1, None, (), groups,
                             tuple(derived_id("ig-", CLUSTER_ID, index) for index in range(3)),
                             SpotSettings(seed=1, interruption_rate_per_s=rate_per_s, notice_s=notice_s,
                                          replacement_delay_s=delay_s))
    state = ControllerState(1)
    state.create(created, (), 0.0)
    commands = state.handle(StartCluster(), 0.0)
    while launches := [command for command in commands if isinstance(command, LaunchInstance)]:
        commands = []
        for launch in launches:
            state.handle(InstanceProvisioned(launch.instance_id), 0.0)
            commands += state.handle(InstanceStarted(launch.instance_id), 0.0)
    state.handle(ClusterHealthy(), 0.0)
    state.take_edits()
    return state


def task_instances(state, states=(InstanceState.RUNNING,)):
    return [instance for instance in state.instances.values() if instance.role is Role.TASK and instance.state in states]


def test_notice_first_then_the_kill_at_the_deadline_then_a_replacement_after_the_delay():
    state = spot_cluster(notice_s=10.0, delay_s=5.0)
    victim = task_instances(state)[0]
    commands = state.handle(InterruptInstances((victim.node_name,)), 100.0)
    assert commands == [SpotNotice(victim.instance_id, victim.node_name, Role.TASK, 100.0, 110.0)]
    assert victim.notice_s == 100.0 and victim.state is InstanceState.RUNNING
    assert state.handle(Tick(), 109.0) == []
    commands = state.handle(Tick(), 110.0)
    assert commands == [KillInstance(victim.instance_id, victim.node_name)]
    assert victim.state is InstanceState.TERMINATED and victim.interrupted
    assert victim.reason.code == "INSTANCE_FAILURE" and "Server.SpotInstanceTermination" in victim.reason.message
    waiting = task_instances(state, (InstanceState.AWAITING_FULFILLMENT,))
    assert len(waiting) == 1 and waiting[0].fulfill_at_s == 115.0
    assert state.handle(Tick(), 114.0) == []
    launch = state.handle(Tick(), 115.0)
    assert [type(command) for command in launch] == [LaunchInstance] and launch[0].instance_id == waiting[0].instance_id
    state.validate_state()


def test_the_seeded_schedule_interrupts_on_its_own():
    state = spot_cluster(rate_per_s=1 / 20, notice_s=2.0)
    due = {instance.instance_id: state.interruption_due_s(instance) for instance in task_instances(state)}
    first = min(due, key=due.get)
    assert state.handle(Tick(), due[first] - 0.01) == []
    notices = state.handle(Tick(), due[first])
    assert [command.instance_id for command in notices if isinstance(command, SpotNotice)] == [first]
    again = spot_cluster(rate_per_s=1 / 20, notice_s=2.0)
    assert {instance.instance_id: again.interruption_due_s(instance) for instance in task_instances(again)} == due


def test_interrupt_refusals():
    state = spot_cluster()
    core = next(instance for instance in state.instances.values() if instance.role is Role.CORE)
    with pytest.raises(FailedPrecondition, match="ON_DEMAND"):
        state.handle(InterruptInstances((core.instance_id,)), 1.0)
    task_group = state.group_of_role(Role.TASK)
    with pytest.raises(FailedPrecondition, match="only 2"):
        state.handle(InterruptInstances((), task_group.instance_group_id, 3), 1.0)
    picked = state.handle(InterruptInstances((), task_group.instance_group_id, 2), 1.0)
    assert len(picked) == 2
    with pytest.raises(FailedPrecondition, match="already has its notice"):
        state.handle(InterruptInstances((picked[0].instance_id,)), 2.0)


# ---------------------------------------------------------------- billing


def test_per_second_billing_with_a_one_minute_minimum_and_the_emr_fee():
    state = spot_cluster()
    core = next(instance for instance in state.instances.values() if instance.role is Role.CORE)
    kind = instance_type("m5.xlarge")
    core.launched_s, core.ended_s = 0.0, 30.0
    bill = instance_bill(state, core, 1000.0)
    assert bill["InstanceSeconds"] == 30.0
    assert bill["Ec2"] == pytest.approx(kind.on_demand_usd_per_hour * 60 / 3600)   # the minimum
    assert bill["EmrFee"] == pytest.approx(kind.emr_usd_per_hour * 60 / 3600)
    core.ended_s = 600.0
    assert instance_bill(state, core, 1000.0)["Ec2"] == pytest.approx(kind.on_demand_usd_per_hour * 600 / 3600)


def test_spot_is_cheaper_and_free_of_ec2_charges_when_interrupted_in_its_first_hour():
    state = spot_cluster(notice_s=10.0)
    victim = task_instances(state)[0]
    survivor = task_instances(state)[1]
    state.handle(InterruptInstances((victim.instance_id,)), 600.0)
    state.handle(Tick(), 610.0)
    bill = instance_bill(state, victim, 2000.0)
    assert bill["Ec2"] == 0.0 and bill["EmrFee"] > 0
    kept = instance_bill(state, survivor, 610.0)
    on_demand_ec2 = instance_type("m5.xlarge").on_demand_usd_per_hour * 610 / 3600
    assert 0 < kept["Ec2"] < on_demand_ec2 * 0.6
    document = cluster_cost(state, 610.0)
    assert document["ByMarket"]["SPOT"]["Total"] < document["ByMarket"]["ON_DEMAND"]["Total"]
    assert document["Total"]["Total"] == pytest.approx(sum(group["Total"] for group in document["ByGroup"]), abs=1e-5)
    assert document["AllOnDemandEquivalent"] > document["Total"]["Total"]
    assert {group["InstanceGroupType"] for group in document["ByGroup"]} == {"MASTER", "CORE", "TASK"}


def test_a_jobs_share_is_the_window_of_instance_seconds():
    state = spot_cluster()
    share = window_cost(state, 100.0, 160.0)
    running = sum(1 for instance in state.instances.values() if instance.launched_s is not None)
    assert share["InstanceSeconds"] == pytest.approx(60.0 * running)
    assert share["Total"] < share["OnDemandEquivalent"]


def test_instance_types_scale_to_the_machine_and_keep_room_for_an_application_master():
    kinds = [instance_type("m5.xlarge")] * 3
    resources, factor = scaled_resources(kinds, cores=2, memory_mb=24 * 1024)
    assert factor < 1
    assert sum(resource.vcores for resource in resources) == 3   # an AM and one task per core
    assert all(resource.memory_mb >= 1024 * resource.vcores for resource in resources)
    roomy, factor = scaled_resources([instance_type("m4.large")], cores=64, memory_mb=512 * 1024)
    assert factor == 1 and roomy[0].vcores == 2 and roomy[0].memory_mb == 8 * 1024
    with pytest.raises(InvalidArgument, match="unknown instance type"):
        instance_type("x9.mega")


def test_a_jobs_cost_is_its_container_seconds_priced_on_their_instances():
    from emrlab.controller.jobcost import job_cost

    state = spot_cluster()
    task = task_instances(state)[0]
    core = next(instance for instance in state.instances.values() if instance.role is Role.CORE)
    summary = {"start_time_s": 100.0, "finish_time_s": 160.0, "attempts": [
        {"node_id": task.node_name, "start_time_s": 110.0, "finish_time_s": 130.0},
        {"node_id": core.node_name, "start_time_s": 110.0, "finish_time_s": 140.0},
        {"node_id": "gone-1", "start_time_s": 110.0, "finish_time_s": 140.0}]}
    share = job_cost(state, summary)
    assert share["ContainerSeconds"] == 20 + 30 + 60   # the unknown node is skipped; the AM counts on a core node
    kind = instance_type("m5.xlarge")
    on_demand_per_s = (kind.on_demand_usd_per_hour + kind.emr_usd_per_hour) / 3600
    assert share["OnDemandEquivalent"] == pytest.approx(110 * on_demand_per_s)
    assert share["Total"] < share["OnDemandEquivalent"]   # the task node's 20 s were spot


def test_a_jobs_cost_prices_spot_seconds_as_the_cluster_bill_does_period_by_period():
    from emrlab.controller.cost import span_cost
    from emrlab.controller.jobcost import job_cost

    state = spot_cluster()
    task = task_instances(state)[0]
    start_s = task.launched_s + 1.0
    end_s = start_s + 6 * state.spot.price_period_s  # across several price changes
    summary = {"start_time_s": 0.0, "finish_time_s": 0.0,  # no AM span: only the attempt counts
               "attempts": [{"node_id": task.node_name, "start_time_s": start_s, "finish_time_s": end_s}]}
    share = job_cost(state, summary)
    same_seconds = span_cost(state, task, start_s, end_s)
    assert share["Total"] == pytest.approx(same_seconds["Total"])
    assert share["ContainerSeconds"] == pytest.approx(end_s - start_s)
    prices = {market.spot_price(state.spot, instance_type(task.instance_type).spot_usd_per_hour,
                                task.instance_type, moment - state.created_s)
              for moment in (start_s, end_s - 1.0)}
    assert len(prices) == 2  # the price moved inside the span, so pricing it all at the start would differ

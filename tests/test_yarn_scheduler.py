"""The scheduler alone: FIFO and fair order, delay scheduling, labels, reservations, and two properties
checked by hypothesis: no node is ever over-committed, and under the fair policy no application starves.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from yarn.records import ContainerRequest, Resource
from yarn.resourcemanager.config import FAIR, FIFO, ResourceManagerConfig, parse_scheduler_class
from yarn.resourcemanager.scheduler import Scheduler

BASE = ResourceManagerConfig()


def make_scheduler(policy=FIFO, nodes=(("core-1", "CORE", 1024),), **overrides) -> Scheduler:
    scheduler = Scheduler(replace(BASE, scheduler=policy, **overrides))
    for node_id, label, memory_mb in nodes:
        scheduler.add_node(node_id, label, Resource(memory_mb, 64))
    return scheduler


def ask(scheduler, app_id, *memories, nodes=(), relax=True, first_id=1):
    scheduler.add_requests(app_id, [ContainerRequest(Resource(memory_mb, 1), tuple(nodes), relax, 0, first_id + index)
                                    for index, memory_mb in enumerate(memories)])


def test_scheduler_class_accepts_short_names_and_hadoop_class_names():
    assert parse_scheduler_class("fair") == FAIR
    assert parse_scheduler_class("org.apache.hadoop.yarn.server.resourcemanager.scheduler.fifo.FifoScheduler") == FIFO


def test_fifo_serves_applications_in_submission_order_and_several_containers_per_heartbeat():
    scheduler = make_scheduler()
    scheduler.add_application("app-1", "default", "alice")
    scheduler.add_application("app-2", "default", "bob")
    ask(scheduler, "app-2", 256)
    ask(scheduler, "app-1", 256, 256, 256)
    assignments = scheduler.node_update("core-1")
    assert [item.application_id for item in assignments] == ["app-1", "app-1", "app-1", "app-2"]
    assert scheduler.used_on("core-1") == Resource(1024, 4)
    assert scheduler.node_update("core-1") == []


def test_one_container_per_heartbeat_without_assignmultiple():
    scheduler = make_scheduler(assign_multiple=False)
    scheduler.add_application("app-1", "default", "alice")
    ask(scheduler, "app-1", 128, 128)
    assert len(scheduler.node_update("core-1")) == 1


def test_fair_gives_the_least_served_application_the_next_container():
    scheduler = make_scheduler(FAIR, max_assign=1)
    scheduler.add_application("app-1", "default", "alice")
    scheduler.add_application("app-2", "default", "bob")
    ask(scheduler, "app-1", 128, 128, 128, 128)
    ask(scheduler, "app-2", 128, 128, 128, 128)
    order = [scheduler.node_update("core-1")[0].application_id for _ in range(6)]
    assert order == ["app-1", "app-2", "app-1", "app-2", "app-1", "app-2"]


def test_fair_queue_weights_share_the_cluster_by_weight():
    scheduler = make_scheduler(FAIR, nodes=(("core-1", "CORE", 4096),), queue_weights="prod=3,dev=1", max_assign=1)
    scheduler.add_application("app-1", "prod", "alice")
    scheduler.add_application("app-2", "dev", "bob")
    ask(scheduler, "app-1", *[128] * 20)
    ask(scheduler, "app-2", *[128] * 20)
    served = [scheduler.node_update("core-1")[0].application_id for _ in range(16)]
    assert served.count("app-1") == 12 and served.count("app-2") == 4


def test_delay_scheduling_waits_for_the_preferred_node_then_relaxes():
    nodes = (("core-1", "CORE", 1024), ("core-2", "CORE", 1024), ("core-3", "CORE", 1024))
    scheduler = make_scheduler(nodes=nodes, locality_delay_opportunities=2)
    scheduler.add_application("app-1", "default", "alice")
    ask(scheduler, "app-1", 256, nodes=("core-3",))
    assert scheduler.node_update("core-1") == []  # one opportunity missed
    assert scheduler.node_update("core-3")[0].node_id == "core-3"  # its node came by: node-local
    ask(scheduler, "app-1", 256, nodes=("core-3",), first_id=2)
    assert scheduler.node_update("core-1") == [] and scheduler.node_update("core-2") == []
    (relaxed,) = scheduler.node_update("core-1")
    assert relaxed.node_id == "core-1" and relaxed.allocation_request_id == 2


def test_default_locality_delay_is_one_round_of_the_live_nodes_and_strict_requests_never_relax():
    nodes = (("core-1", "CORE", 1024), ("core-2", "CORE", 1024))
    scheduler = make_scheduler(nodes=nodes)
    scheduler.add_application("app-1", "default", "alice")
    ask(scheduler, "app-1", 256, nodes=("core-2",), relax=False)
    ask(scheduler, "app-1", 256, nodes=("core-2",), first_id=2)
    assert scheduler.node_update("core-1") == [] and scheduler.node_update("core-1") == []  # two let pass
    assert [item.allocation_request_id for item in scheduler.node_update("core-1")] == [2]
    for _ in range(5):
        assert scheduler.node_update("core-1") == []
    assert scheduler.node_update("core-2")[0].allocation_request_id == 1


def test_a_request_for_a_node_that_left_goes_anywhere_at_once():
    scheduler = make_scheduler(nodes=(("core-1", "CORE", 1024), ("core-2", "CORE", 1024)))
    scheduler.add_application("app-1", "default", "alice")
    ask(scheduler, "app-1", 256, nodes=("core-2",))
    scheduler.remove_node("core-2")
    assert scheduler.node_update("core-1")[0].node_id == "core-1"


def test_am_requests_go_only_to_nodes_with_their_label():
    scheduler = make_scheduler(nodes=(("task-1", "TASK", 1024), ("core-1", "CORE", 1024)))
    scheduler.add_application("app-1", "default", "alice")
    scheduler.add_requests("app-1", [ContainerRequest(Resource(256), allocation_request_id=0)], label="CORE", is_am=True)
    assert scheduler.node_update("task-1") == []
    assert scheduler.node_update("core-1")[0].is_am


def test_max_am_share_keeps_room_for_tasks_but_always_lets_one_am_start():
    scheduler = make_scheduler(nodes=(("core-1", "CORE", 1024),), max_am_share=0.3)
    for index in (1, 2):
        scheduler.add_application(f"app-{index}", "default", "alice")
        scheduler.add_requests(f"app-{index}", [ContainerRequest(Resource(256), allocation_request_id=0)],
                               label="CORE", is_am=True)
    assert [item.application_id for item in scheduler.node_update("core-1")] == ["app-1"]


def test_fair_reserves_a_node_for_a_large_request_instead_of_starving_it():
    scheduler = make_scheduler(FAIR, nodes=(("core-1", "CORE", 1024),))
    scheduler.add_application("small", "default", "alice")
    ask(scheduler, "small", 512, 512)
    scheduler.node_update("core-1")
    scheduler.add_application("large", "default", "bob")
    ask(scheduler, "large", 1024)
    ask(scheduler, "small", 512, first_id=3)
    scheduler.release("small", "core-1", Resource(512, 1))
    assert scheduler.node_update("core-1") == []  # held for "large", not given to "small"
    scheduler.release("small", "core-1", Resource(512, 1))
    assert [item.application_id for item in scheduler.node_update("core-1")] == ["large"]


def test_requests_placed_on_arrival_follow_the_fair_reservation_as_a_heartbeat_does():
    """place_arrivals (an allocate bringing requests, between heartbeats) is the heartbeat's rule at a
    new moment: a node with some room, too little for the most starved application's request, is
    held for it, and the arriving small request of another application does not take that room."""
    scheduler = make_scheduler(FAIR, nodes=(("core-1", "CORE", 1024),))
    scheduler.add_application("small", "default", "alice")
    ask(scheduler, "small", 512)
    assert len(scheduler.place_arrivals()) == 1
    scheduler.add_application("large", "default", "bob")
    ask(scheduler, "large", 1024)
    assert scheduler.place_arrivals() == []
    ask(scheduler, "small", 512, first_id=2)
    assert scheduler.place_arrivals() == []  # core-1's free 512 MB is held for "large"
    assert scheduler.node_update("core-1") == []
    scheduler.release("small", "core-1", Resource(512, 1))
    assert [item.application_id for item in scheduler.node_update("core-1")] == ["large"]


# ---------------------------------------------------------------- properties

node_memories = st.lists(st.sampled_from([512, 1024, 1536, 2048]), min_size=1, max_size=4)
request_sizes = st.sampled_from([128, 256, 384, 512, 1024])


@settings(max_examples=60, deadline=None)
@given(policy=st.sampled_from([FIFO, FAIR]), memories=node_memories,
       operations=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), request_sizes, st.booleans()), max_size=80))
def test_no_node_is_ever_over_committed(policy, memories, operations):
    nodes = tuple((f"node-{index}", "CORE", memory) for index, memory in enumerate(memories))
    scheduler = make_scheduler(policy, nodes=nodes, locality_delay_opportunities=1)
    running = []
    request_id = 0
    for app_index in range(4):
        scheduler.add_application(f"app-{app_index}", f"queue-{app_index % 2}", "alice")
    for node_index, app_index, memory_mb, release in operations:
        node_id = nodes[node_index % len(nodes)][0]
        if release and running:
            scheduler.release(*running.pop(node_index % len(running)))
        request_id += 1
        preferred = (nodes[app_index % len(nodes)][0],) if app_index % 2 else ()
        scheduler.add_requests(f"app-{app_index}", [ContainerRequest(Resource(memory_mb, 1), preferred,
                                                                     allocation_request_id=request_id)])
        for assignment in scheduler.node_update(node_id):
            assert assignment.node_id == node_id
            running.append((assignment.application_id, assignment.node_id, assignment.resource))
        scheduler.validate_state()


@settings(max_examples=40, deadline=None)
@given(memories=node_memories, demands=st.lists(request_sizes, min_size=2, max_size=5),
       durations=st.lists(st.integers(1, 6), min_size=1, max_size=5))
def test_fair_never_starves_an_application(memories, demands, durations):
    """Every application keeps asking; containers run a few rounds and end. Within a bounded number of
    rounds every application has been given a container, however large or small its requests."""
    nodes = tuple((f"node-{index}", "CORE", memory) for index, memory in enumerate(memories))
    largest = max(memories)
    scheduler = make_scheduler(FAIR, nodes=nodes)
    served = {f"app-{index}": 0 for index in range(len(demands))}
    request_ids = iter(range(1, 1 << 30))
    running = []  # (rounds left, application, node, resource)
    rounds_max = 40 * len(demands)
    for app_index in range(len(demands)):
        scheduler.add_application(f"app-{app_index}", "default", "alice")
    for round_number in range(rounds_max):
        for app_index, memory_mb in enumerate(demands):
            app_id = f"app-{app_index}"
            while len(scheduler.pending(app_id)) < 3:
                scheduler.add_requests(app_id, [ContainerRequest(Resource(min(memory_mb, largest), 1),
                                                                 allocation_request_id=next(request_ids))])
        running = [(left - 1, *rest) for left, *rest in running]
        for _, app_id, node_id, resource in [item for item in running if item[0] <= 0]:
            scheduler.release(app_id, node_id, resource)
        running = [item for item in running if item[0] > 0]
        for node_id, _, _ in nodes:
            for assignment in scheduler.node_update(node_id):
                served[assignment.application_id] += 1
                running.append((durations[(round_number + served[assignment.application_id]) % len(durations)],
                                assignment.application_id, node_id, assignment.resource))
        scheduler.validate_state()
        if all(served.values()):
            return
    raise AssertionError(f"starved after {rounds_max} rounds: {served}")

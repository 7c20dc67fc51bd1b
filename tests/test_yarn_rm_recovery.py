"""ResourceManager recovery without processes: the state store's files, and the recovery transitions.

A "restart" here is a new `ResourceManagerState` given what the store holds
(as `ResourceManager.__init__` does), then NodeManagers registering again with
the containers they report and ApplicationMasters re-registering.
"""

from __future__ import annotations

import json

import pytest
from test_yarn_state import (
    StateWithOutboxes,
    add_nodes,
    allocate,
    finish_application_master,
    heartbeat,
    kill_application,
    register_am,
    register_node,
    submit,
    tick,
)

from emrlab_common.errors import Unavailable
from yarn.errors import ApplicationAttemptNotFound, ApplicationMasterNotRegistered
from yarn.records import (
    ApplicationState,
    ApplicationSubmissionContext,
    ContainerExitStatus,
    ContainerLaunchContext,
    ContainerRequest,
    ContainerState,
    ContainerStatus,
    FinalApplicationStatus,
    Resource,
)
from yarn.resourcemanager.config import ResourceManagerConfig
from yarn.resourcemanager.containers import RMContainerState
from yarn.resourcemanager.events import (
    AMAllocate,
    ApplicationSubmitted,
    CleanupApplication,
    CleanupContainer,
    NewApplicationReply,
    NewApplicationRequested,
    StateRecovered,
    reply,
)
from yarn.resourcemanager.recovery import EPOCH_CONTAINERS
from yarn.resourcemanager.server import ResourceManager
from yarn.resourcemanager.statestore import APPS_NAME, CORRUPT_SUFFIX, ROOT_NAME, FileSystemRMStateStore


def make_rm(timestamp_ms=1700000000000, **overrides) -> StateWithOutboxes:
    overrides.setdefault("place_on_allocate", False)  # granted at node heartbeats, as these tests script it
    return StateWithOutboxes(ResourceManagerConfig(node_expiry_s=10.0, **overrides),
                             cluster_timestamp_ms=timestamp_ms)


def start(store: FileSystemRMStateStore, now_s: float = 0.0, **overrides) -> StateWithOutboxes:
    """An RM start with recovery, as the shell does it: load the store (a new epoch), recover what it held; from
    then on every event's state store writes are done at once."""
    loaded = store.load()
    rm = make_rm(timestamp_ms=1700000000000 + int(now_s * 1000), **overrides)
    rm.store = store
    rm.send(StateRecovered(tuple(loaded.applications), loaded.epoch), now_s)
    return rm


def running_job(rm):
    """One application whose AM registered and holds one task container on core-2."""
    add_nodes(rm, ("core-1", "CORE"), ("core-2", "CORE"))
    app_id = submit(rm, memory_mb=512)
    am = heartbeat(rm, "core-1", now_s=1.0).launches[0].container
    attempt = rm.application(app_id).current_attempt.attempt_id
    register_am(rm, attempt, "core-1", 4000, "http://am", now_s=1.5)
    allocate(rm, attempt, 0, [ContainerRequest(Resource(256, 1), allocation_request_id=7)], [], [], 0.1, 2.0)
    heartbeat(rm, "core-2", now_s=2.5)
    _, response = allocate(rm, attempt, 1, [], [], [], 0.2, 3.0)
    return app_id, attempt, am, response.allocated[0]


def reports(*items):
    return [(container, ContainerStatus(container.id, state, exit_status)) for container, state, exit_status in items]


# ---------------------------------------------------------------- the store's files


def test_the_store_keeps_submission_attempts_and_final_state(tmp_path):
    store = FileSystemRMStateStore(tmp_path)
    rm = start(store)
    app_id, _, am, _ = running_job(rm)
    record = json.loads((tmp_path / ROOT_NAME / APPS_NAME / app_id).read_text())
    assert record["context"]["application_id"] == app_id and record["user"] == "alice"
    assert record["state"] == "RUNNING" and record["attempts"][0]["am_container"]["id"] == am.id
    assert record["attempts"][0]["registered"] and record["attempts"][0]["host"] == "core-1"
    loaded = store.load()
    assert loaded.epoch == 2 and [app.application_id for app in loaded.applications] == [app_id]
    assert loaded.applications[0].context == rm.application(app_id).context
    assert store.load().epoch == 3  # every start is a new epoch


def test_a_damaged_application_file_is_skipped_and_kept_aside(tmp_path):
    store = FileSystemRMStateStore(tmp_path)
    rm = start(store)
    add_nodes(rm, ("core-1", "CORE"))
    good, bad = submit(rm), submit(rm)
    path = tmp_path / ROOT_NAME / APPS_NAME / bad
    path.write_bytes(path.read_bytes()[:40])  # truncated
    loaded = store.load()
    assert [app.application_id for app in loaded.applications] == [good] and loaded.skipped == [bad]
    assert path.with_name(bad + CORRUPT_SUFFIX).exists() and not path.exists()


def test_applications_the_rm_forgets_leave_the_store(tmp_path):
    store = FileSystemRMStateStore(tmp_path)
    rm = start(store, completed_applications_max=1)
    add_nodes(rm, ("core-1", "CORE"))
    first, second = submit(rm), submit(rm)
    kill_application(rm, first, "", 1.0)
    kill_application(rm, second, "", 2.0)
    assert [app.application_id for app in store.load().applications] == [second]


def test_the_shell_stores_what_an_event_changed_before_answering_and_retries_a_failed_write(tmp_path):
    store = FileSystemRMStateStore(tmp_path / "rm")
    rm = ResourceManager(ResourceManagerConfig(), tmp_path / "exclude", clock=lambda: 5.0, store=store)
    with rm.locked():
        app_id = reply(rm.handle(NewApplicationRequested()), NewApplicationReply).application_id
    submitted = ApplicationSubmitted(ApplicationSubmissionContext(app_id, "test", ContainerLaunchContext(["true"]),
                                                                  Resource(256, 1)), "alice")
    apps_dir = store.apps_dir
    (tmp_path / "a-file").write_text("")
    store.apps_dir = tmp_path / "a-file" / APPS_NAME  # every write there fails
    with pytest.raises(Unavailable, match="cannot write the ResourceManager state store"), rm.locked():
        rm.handle(submitted)
    store.apps_dir = apps_dir
    assert not (apps_dir / app_id).exists()
    with rm.locked():  # the next call, even a read, writes what is still to be written
        rm.state.application_reports()
    assert json.loads((apps_dir / app_id).read_text())["user"] == "alice"


# ---------------------------------------------------------------- recovery transitions


def test_a_running_application_survives_a_restart_with_its_containers(tmp_path):
    store = FileSystemRMStateStore(tmp_path)
    app_id, attempt, am, task = running_job(start(store))
    rm = start(store, now_s=10.0)
    app = rm.application(app_id)
    assert app.state is ApplicationState.RUNNING and app.current_attempt.recovering
    assert heartbeat(rm, "core-1", now_s=10.5).action.value == "RESYNC"  # the node is unknown: register again
    with pytest.raises(ApplicationMasterNotRegistered):
        rm.handle(AMAllocate(attempt, 2, (), (), (), 0.3), 11.0)
    _, commands = register_node(rm, "core-1", "127.0.0.1:1", "CORE", Resource(4096, 4), 11.0,
                                           reports((am, ContainerState.RUNNING, 0)))
    assert commands == []
    register_node(rm, "core-2", "127.0.0.1:2", "CORE", Resource(4096, 4), 11.0,
                     reports((task, ContainerState.RUNNING, 0)))
    assert rm.containers[am.id].is_am and rm.containers[task.id].state is RMContainerState.RUNNING
    assert rm.scheduler.used_on("core-2") == Resource(256, 1)
    rm.validate_state()
    register_am(rm, attempt, "core-1", 4000, "http://am", now_s=11.5)
    response_id, response = allocate(rm, attempt, 0, [ContainerRequest(Resource(256, 1), allocation_request_id=8)],
                                     [], [], 0.5, 12.0)
    assert response_id == 1
    heartbeat(rm, "core-2", [ContainerStatus(task.id, ContainerState.COMPLETE, 0)], now_s=12.5)
    _, response = allocate(rm, attempt, 1, [], [], [], 0.6, 13.0)
    new = response.allocated[0]
    assert [status.container_id for status in response.completed] == [task.id]
    assert int(new.id.rsplit("_", 1)[1]) > EPOCH_CONTAINERS  # numbered in the new epoch: never an old id
    finish_application_master(rm, attempt, "SUCCEEDED", "", "", 14.0)
    after = start(store, now_s=20.0)
    assert after.application(app_id).state is ApplicationState.FINISHED
    assert after.application_report(app_id).final_status is FinalApplicationStatus.SUCCEEDED


def test_a_container_that_ended_while_the_rm_was_down_is_reported_to_its_am(tmp_path):
    store = FileSystemRMStateStore(tmp_path)
    _, attempt, am, task = running_job(start(store))
    rm = start(store, now_s=10.0)
    register_node(rm, "core-1", "127.0.0.1:1", "CORE", Resource(4096, 4), 11.0, reports((am, ContainerState.RUNNING, 0)))
    register_node(rm, "core-2", "127.0.0.1:2", "CORE", Resource(4096, 4), 11.0,
                     reports((task, ContainerState.COMPLETE, 1)))
    register_am(rm, attempt, "core-1", 4000, "", now_s=11.5)
    _, response = allocate(rm, attempt, 0, [], [], [], 0.5, 12.0)
    assert [(status.container_id, status.exit_status) for status in response.completed] == [(task.id, 1)]
    assert task.id not in rm.containers
    rm.validate_state()


def test_an_am_its_node_no_longer_reports_is_a_lost_attempt(tmp_path):
    store = FileSystemRMStateStore(tmp_path)
    app_id, attempt, _, task = running_job(start(store))
    rm = start(store, now_s=10.0)
    _, commands = register_node(rm, "core-1", "127.0.0.1:1", "CORE", Resource(4096, 4), 11.0)
    app = rm.application(app_id)
    assert app.state is ApplicationState.ACCEPTED and len(app.attempts) == 2
    assert not app.attempts[0].counts_toward_max  # lost, not the application's fault
    with pytest.raises(ApplicationAttemptNotFound):
        register_am(rm, attempt, "core-1", 4000, "", now_s=11.5)
    # The old attempt's task, reported later, is stopped.
    _, commands = register_node(rm, "core-2", "127.0.0.1:2", "CORE", Resource(4096, 4), 12.0,
                                      reports((task, ContainerState.RUNNING, 0)))
    assert commands == [CleanupContainer("core-2", task.id)]
    rm.validate_state()


def test_without_work_preservation_a_new_attempt_starts(tmp_path):
    store = FileSystemRMStateStore(tmp_path)
    app_id, _, am, _ = running_job(start(store))
    rm = start(store, now_s=10.0, work_preserving=False)
    app = rm.application(app_id)
    assert len(app.attempts) == 2 and app.state is ApplicationState.ACCEPTED
    _, commands = register_node(rm, "core-1", "127.0.0.1:1", "CORE", Resource(4096, 4), 11.0,
                                      reports((am, ContainerState.RUNNING, 0)))
    assert commands == [CleanupContainer("core-1", am.id)]
    assert heartbeat(rm, "core-1", now_s=11.5).launches[0].container.id != am.id


def test_a_restart_without_recovery_stops_what_ran(tmp_path):
    store = FileSystemRMStateStore(tmp_path)
    app_id, attempt, _, task = running_job(start(store))
    rm = make_rm(timestamp_ms=1700000099000)  # recovery disabled: the store is not read, nothing recovered
    _, commands = register_node(rm, "core-2", "127.0.0.1:2", "CORE", Resource(4096, 4), 11.0,
                                      reports((task, ContainerState.RUNNING, 0)))
    assert commands == [CleanupApplication("core-2", app_id)]
    with pytest.raises(ApplicationAttemptNotFound):
        rm.handle(AMAllocate(attempt, 2, (), (), (), 0.3), 11.0)


def test_an_application_waiting_for_its_am_container_asks_again(tmp_path):
    store = FileSystemRMStateStore(tmp_path)
    rm = start(store)
    add_nodes(rm, ("core-1", "CORE"))
    app_id = submit(rm)
    rm = start(store, now_s=5.0)
    add_nodes(rm, ("core-1", "CORE"), now_s=5.5)
    launch = heartbeat(rm, "core-1", now_s=6.0).launches[0]
    assert launch.container.id.endswith(f"_01_{EPOCH_CONTAINERS + 1:06d}")  # the second start: epoch 2
    assert rm.application(app_id).current_attempt.am_container == launch.container


def test_a_recovered_am_that_never_returns_expires(tmp_path):
    store = FileSystemRMStateStore(tmp_path)
    app_id, *_ = running_job(start(store, am_expiry_s=30.0))
    rm = start(store, now_s=10.0, am_expiry_s=30.0)
    tick(rm, 35.0)
    assert len(rm.application(app_id).attempts) == 1
    tick(rm, 45.0)
    assert len(rm.application(app_id).attempts) == 2


def test_a_lost_node_that_comes_back_has_its_containers_stopped_not_adopted(tmp_path):
    store = FileSystemRMStateStore(tmp_path)
    rm = start(store)
    _, attempt, _, task = running_job(rm)
    heartbeat(rm, "core-1", now_s=10.0)
    tick(rm, 13.0)  # core-2 silent past the expiry: LOST, its task reported ABORTED
    _, response = allocate(rm, attempt, 2, [], [], [], 0.3, 13.5)
    assert [status.exit_status for status in response.completed] == [ContainerExitStatus.ABORTED]
    _, commands = register_node(rm, "core-2", "127.0.0.1:2", "CORE", Resource(4096, 4), 14.0,
                                      reports((task, ContainerState.RUNNING, 0)))
    assert commands == [CleanupContainer("core-2", task.id)] and task.id not in rm.containers
    rm.validate_state()

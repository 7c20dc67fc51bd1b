"""A ResourceManager killed with SIGKILL and restarted on a real cluster, with and without recovery.

With `yarn.resourcemanager.recovery.enabled` a word count whose reducers wait
for a marker file runs through an RM `kill -9` and restart (same port, same
directory): the NodeManagers register again with their containers, the AM
registers again, and the job ends with the exact counts in one AM attempt; a
finished application keeps its final state across a further restart. A
damaged state file costs only its own application. An RM restarted without
recovery has forgotten the job: the client says so in one line and the output
directory is left clean.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ClusterPool, wait_until
from test_mapreduce_am_recovery import SPLIT_PROPERTIES, run_in_background, waiting_wordcount
from test_mapreduce_cluster import (
    MR_FAST_PROPERTIES,
    corpus,
    listed_job_ids,
    output_of,
    read_status_attempts,
    running_job_id,
    word_counts,
)
from test_yarn_cluster import submit_shell

from emrlab import launcher
from mapreduce.appmaster.history import read_history
from mapreduce.appmaster.records import application_id_for
from yarn.errors import ApplicationNotFound
from yarn.records import ApplicationState, FinalApplicationStatus

pytestmark = pytest.mark.cluster

RECOVERY = {"yarn.resourcemanager.recovery.enabled": "true"}


@pytest.fixture(scope="module")
def rm_cluster(tmp_path_factory):
    pool = ClusterPool(lambda: tmp_path_factory.mktemp("rmrestart"))
    cluster = pool.start(core=2, task=0, properties={**MR_FAST_PROPERTIES, **RECOVERY}, services=("hdfs", "yarn"))
    client = cluster.client()
    data = corpus(14000, seed=11)
    client.mkdirs("/data")
    client.write_bytes("/data/words.txt", data)
    yield cluster, data
    pool.close()


def a_map_succeeded(cluster, known_jobs) -> str:
    job_id = wait_until(lambda: running_job_id(cluster, "WaitingWordCount", known_jobs), what="the job in -list")
    wait_until(lambda: any(a["kind"] == "map" and a["state"] == "SUCCEEDED"
                           for a in read_status_attempts(cluster, job_id)), what="a map succeeded")
    return job_id


def final_report(cluster, application_id: str):
    report = cluster.yarn().application_report(application_id)
    return report if report.state.is_final else None


def restart_rm(cluster, *definitions: str) -> str:
    cluster.kill("resourcemanager")
    arguments = tuple(item for definition in definitions for item in ("-D", definition))
    return launcher.start_daemon(cluster.cluster_dir, "yarn.resourcemanager", extra_arguments=arguments)


def test_a_running_job_survives_an_rm_kill_and_restart_with_exact_output(rm_cluster, tmp_path):
    cluster, data = rm_cluster
    reference, marker = waiting_wordcount(tmp_path)
    thread, outcome = run_in_background(cluster, reference, "/out/rm-restart", SPLIT_PROPERTIES)
    try:
        job_id = a_map_succeeded(cluster, outcome["known_jobs"])
        application_id = application_id_for(job_id)
        before = cluster.cluster_dir.address_of("resourcemanager")
        assert restart_rm(cluster) == before  # its previous port, so the AM and the client find it again
        # Recovered: the restarted RM knows the application (one it had not recovered would be not found).
        wait_until(lambda: cluster.yarn().application_report(application_id).state is ApplicationState.RUNNING,
                   what="the recovered application RUNNING")
        marker.touch()
    finally:
        marker.touch()
        thread.join(timeout=180)
    assert "error" not in outcome, outcome
    client = cluster.client()
    assert dict(line.split("\t") for line in output_of(client, "/out/rm-restart")) == {
        word: str(count) for word, count in word_counts(data).items()}
    assert not client.exists("/out/rm-restart/_temporary")
    # The client is done once the history is written; the AM unregisters just after.
    report = wait_until(lambda: final_report(cluster, application_id), what="the application FINISHED")
    assert (report.state, report.final_status, report.attempts) == (
        ApplicationState.FINISHED, FinalApplicationStatus.SUCCEEDED, 1)  # work preserved: the same AM
    history = read_history(client, job_id)
    assert history["state"] == "SUCCEEDED"
    maps = [a for a in history["attempts"] if a["kind"] == "map"]
    assert maps and all(a["state"] == "SUCCEEDED" and not a["recovered"] for a in maps)  # none ran twice
    # A finished application keeps its final state through a further restart.
    restart_rm(cluster)
    report = wait_until(lambda: cluster.yarn().application_report(application_id), what="the report after restart")
    assert (report.state, report.final_status) == (ApplicationState.FINISHED, FinalApplicationStatus.SUCCEEDED)
    listing = cluster.emrlab("application", "-list", "-appStates", "ALL", check=True).stdout.decode()
    assert application_id in listing


def test_an_rm_restarted_without_recovery_loses_the_job_in_one_clear_line(rm_cluster, tmp_path):
    cluster, _ = rm_cluster
    reference, marker = waiting_wordcount(tmp_path)
    job_file = reference.rsplit(":", 1)[0]
    environment = dict(os.environ, EMRLAB_CLUSTER=str(cluster.cluster_dir.root))
    known_jobs = listed_job_ids(cluster)
    process = subprocess.Popen([sys.executable, "-m", "emrlab", "job", "run", job_file, "-r", "cluster",
                                "/data/words.txt", "-o", "/out/rm-lost", "-D", "mapreduce.job.reduces=2"],
                               env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        job_id = a_map_succeeded(cluster, known_jobs)
        address = cluster.cluster_dir.address_of("resourcemanager")
        restart_rm(cluster, "yarn.resourcemanager.recovery.enabled=false", f"yarn.resourcemanager.address={address}")
        _, stderr = process.communicate(timeout=120)
    finally:
        marker.touch()
        if process.poll() is None:
            process.kill()
            process.wait()
    lines = [line for line in stderr.decode().splitlines() if line.strip()]
    assert process.returncode != 0
    assert "Traceback" not in stderr.decode()
    assert f"{application_id_for(job_id)} is lost" in lines[-1], lines
    client = cluster.client()
    wait_until(lambda: not client.exists("/out/rm-lost"), what="the lost job's output removed")
    # The NodeManagers stopped what ran for it: no container of the lost application is left.
    wait_until(lambda: not any(cluster.cluster_dir.root.glob(f"nodes/*/nm-local-dir/pids/*{job_id[4:]}*")),
               what="the lost application's containers stopped")
    restart_rm(cluster)  # recovery on again, for whatever runs next


def test_a_damaged_state_file_costs_only_its_application(rm_cluster):
    cluster, _ = rm_cluster
    damaged, kept = submit_shell(cluster, "true", 1), submit_shell(cluster, "true", 1)
    for app_id in (damaged, kept):
        wait_until(lambda app_id=app_id: final_report(cluster, app_id), what=f"{app_id} finished")
    path = cluster.cluster_dir.root / "resourcemanager" / "rmstore" / "FSRMStateRoot" / "RMAppRoot" / damaged
    path.write_bytes(path.read_bytes()[:50])  # cut short: a damaged disk, or a hand that edited it
    restart_rm(cluster)
    assert path.with_name(damaged + ".corrupt").exists() and not path.exists()  # skipped, and kept aside
    with pytest.raises(ApplicationNotFound):
        cluster.yarn().application_report(damaged)
    assert cluster.yarn().application_report(kept).final_status is FinalApplicationStatus.SUCCEEDED

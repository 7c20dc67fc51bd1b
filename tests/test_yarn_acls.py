"""YARN in token mode: the ResourceManager and the ApplicationMaster take a caller's user from its
credentials, not from its call metadata, and Hadoop's ACLs decide who may see and kill an application.

Pure checks of `yarn/resourcemanager/acls.py` first; then a token-mode cluster where "bob" holds only his
own delegation token (signed with the cluster key, as the NameNode signs one) and tries alice's application.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from conftest import wait_until
from test_mapreduce_cluster import MR_FAST_PROPERTIES, slow_job_client

from emrlab_common.credentials import ensure_key, sign
from emrlab_common.errors import InvalidArgument, PermissionDenied
from emrlab_common.protos import mapreduce_pb2, mapreduce_pb2_grpc, yarn_pb2, yarn_pb2_grpc
from emrlab_common.rpc import call, connect
from emrlab_common.web import cluster_urls
from mapreduce.appmaster.records import application_id_for
from yarn.records import (
    ApplicationReport,
    ApplicationState,
    ApplicationSubmissionContext,
    ContainerLaunchContext,
    FinalApplicationStatus,
    Resource,
)
from yarn.resourcemanager.acls import (
    MODIFY_APP,
    VIEW_APP,
    AccessControlList,
    ApplicationAccess,
    amrm_metadata,
    client_to_am_caller,
    client_to_am_key,
    client_to_am_metadata,
    client_to_am_token,
    verify_amrm,
)

APP = "application_1700000000000_0001"
GROUPS = {"carol": frozenset({"analysts"}), "dave": frozenset({"sales"})}

# ---------------------------------------------------------------- the checks, pure


@pytest.mark.parametrize("text, user, allowed", [
    ("*", "anyone", True),
    ("", "bob", False),
    (" ", "bob", False),  # Hadoop's default for mapreduce.job.acl-*: no one besides owner and admins
    ("bob,erin", "bob", True),
    ("bob,erin", "carol", False),
    (" analysts", "carol", True),  # a space, then groups
    ("erin analysts", "dave", False),
])
def test_an_acl_is_hadoops_users_space_groups_text(text, user, allowed):
    assert AccessControlList.parse(text).allows(user, GROUPS.get(user, frozenset())) is allowed


def test_only_the_owner_an_admin_or_a_user_in_the_applications_acl_may_modify_it():
    access = ApplicationAccess(True, "root", lambda user: GROUPS.get(user, frozenset()))
    acls = {MODIFY_APP: "erin analysts"}
    for user in ("alice", "root", "erin", "carol"):  # owner, admin, named, by group
        access.require(user, MODIFY_APP, "alice", acls, APP)
    with pytest.raises(PermissionDenied) as refused:
        access.require("bob", MODIFY_APP, "alice", acls, APP)
    assert refused.value.message == f"User bob cannot perform operation MODIFY_APP on {APP}"
    assert not access.allows("erin", VIEW_APP, "alice", acls)  # MODIFY_APP's ACL says nothing about viewing


def test_admin_calls_need_yarn_admin_acl_and_with_acls_off_everyone_may_everything():
    access = ApplicationAccess(True, "root ops", lambda user: frozenset({"ops"}) if user == "olga" else frozenset())
    access.require_admin("root", "refreshNodes")
    access.require_admin("olga", "refreshNodes")
    with pytest.raises(PermissionDenied, match="User bob doesn't have permission to call 'refreshNodes'"):
        access.require_admin("bob", "refreshNodes")
    off = ApplicationAccess(False, "root")
    off.require_admin("bob", "refreshNodes")
    off.require("bob", MODIFY_APP, "alice", {}, APP)


def test_a_queues_submit_acl_names_who_may_submit_to_it_and_admins_submit_anywhere():
    access = ApplicationAccess(True, "root", lambda user: GROUPS.get(user, frozenset()),
                               "analytics=alice analysts; closed= ")
    for user, queue in (("alice", "analytics"), ("carol", "analytics"), ("root", "closed"), ("bob", "default")):
        access.require_submit(user, queue, APP)
    with pytest.raises(PermissionDenied) as refused:
        access.require_submit("bob", "analytics", APP)
    assert refused.value.message == f"User bob does not have permission to submit {APP} to queue analytics"
    with pytest.raises(PermissionDenied):
        access.require_submit("alice", "closed", APP)
    with pytest.raises(InvalidArgument, match="use queue=users groups"):
        ApplicationAccess(True, "root", queue_submit_acls="analytics")


def test_a_user_who_may_not_view_sees_the_application_listed_without_its_details():
    access = ApplicationAccess(True, "root")
    report = ApplicationReport(APP, "wordcount", "alice", "default", "MAPREDUCE", ApplicationState.RUNNING,
                               FinalApplicationStatus.UNDEFINED, "secret diagnostics", 0.5, "10.0.0.5", 4321,
                               "http://10.0.0.5:8088/proxy", am_container_id="container_1", am_node_id="core-1")
    assert access.visible("alice", report, {}) == report
    assert access.visible("erin", report, {VIEW_APP: "erin"}) == report
    hidden = access.visible("bob", report, {})
    assert (hidden.application_id, hidden.user, hidden.state, hidden.progress) == (APP, "alice",
                                                                                   ApplicationState.RUNNING, 0.5)
    assert (hidden.diagnostics, hidden.tracking_url, hidden.am_address, hidden.am_container_id) == ("N/A", "", "", "")


def test_a_client_to_am_token_names_its_user_for_its_application_only():
    key = b"k" * 64
    token = client_to_am_token(key, APP, "alice", now_s=1e12)
    assert client_to_am_caller(client_to_am_key(key, APP), client_to_am_metadata(token)) == "alice"
    with pytest.raises(PermissionDenied):  # another application's AM
        client_to_am_caller(client_to_am_key(key, "application_1700000000000_0002"), client_to_am_metadata(token))
    with pytest.raises(PermissionDenied, match="no client-to-AM token"):
        client_to_am_caller(client_to_am_key(key, APP), ())
    with pytest.raises(PermissionDenied, match="expired"):
        client_to_am_caller(client_to_am_key(key, APP), client_to_am_metadata(client_to_am_token(key, APP, "a", 0.0)))


def test_an_am_proves_its_attempt_with_its_applications_key():
    key = b"k" * 64
    attempt = "appattempt_1700000000000_0001_000001"
    environment = {"EMRLAB_CLIENT_TO_AM_KEY": client_to_am_key(key, APP).hex()}
    verify_amrm(key, amrm_metadata(attempt, environment), attempt, APP)
    assert amrm_metadata(attempt, {}) == ()  # simple mode: nothing to prove
    with pytest.raises(PermissionDenied, match="proof names appattempt_1700000000000_0001_000001, not"):
        verify_amrm(key, amrm_metadata(attempt, environment), "appattempt_1700000000000_0001_000002", APP)
    with pytest.raises(PermissionDenied, match="no proof"):
        verify_amrm(key, (), attempt, APP)
    client_token = client_to_am_token(key, APP, attempt, now_s=1e12)  # a viewer's token is of another kind
    with pytest.raises(PermissionDenied):
        verify_amrm(key, (("emrlab-amrm-proof", client_token),), attempt, APP)


# ---------------------------------------------------------------- a token-mode cluster

SECURE_PROPERTIES = {**MR_FAST_PROPERTIES, "hadoop.security.authentication": "token",
                     "emrlab.scheduler.acl-submit-applications": "analytics=alice"}


@pytest.fixture(scope="module")
def secure_cluster(tmp_path_factory):
    from conftest import ClusterPool

    pool = ClusterPool(lambda: tmp_path_factory.mktemp("secure-yarn"))
    yield pool.start(core=1, properties=SECURE_PROPERTIES, services=("hdfs", "yarn"))
    pool.close()


def token_file(cluster, user: str, directory) -> str:
    """A delegation token for `user`, as the NameNode would give one, in a token file."""
    path = directory / f"{user}.token"
    path.write_text(sign(ensure_key(cluster.cluster_dir.root), "delegation", user, 4e9))
    return str(path)


def as_user(cluster, token_path: str, *arguments: str) -> subprocess.CompletedProcess:
    """`emrlab ...` by a process that holds only this token (it could not read the cluster key if it were
    another OS account; the token comes first all the same)."""
    environment = dict(os.environ, EMRLAB_CLUSTER=str(cluster.cluster_dir.root), HADOOP_TOKEN_FILE_LOCATION=token_path,
                       HADOOP_USER_NAME="alice")  # what the metadata claims: believed by no one in token mode
    return subprocess.run([sys.executable, "-m", "emrlab", *arguments], capture_output=True, text=True,
                          env=environment, timeout=120, check=False)


def running_application(cluster, user: str, acls: dict[str, str] | None = None) -> str:
    yarn = cluster.yarn(user=user)
    application_id = yarn.new_application()
    yarn.submit_application(ApplicationSubmissionContext(
        application_id, "sleeper", ContainerLaunchContext(["sleep 120"], application_acls=acls or {}),
        Resource(128, 1)))
    wait_until(lambda: yarn.application_report(application_id).am_container_id, timeout_s=60)  # its "AM" started
    return application_id


def test_a_user_named_in_metadata_without_credentials_is_refused(secure_cluster):
    channel = connect(secure_cluster.cluster_dir.address_of("resourcemanager"))
    try:
        stub = yarn_pb2_grpc.ApplicationClientProtocolStub(channel)
        for method, request in ((stub.GetApplications, yarn_pb2.GetApplicationsRequest()),
                                (stub.ForceKillApplication, yarn_pb2.KillApplicationRequest(application_id=APP)),
                                (stub.GetNewApplication, yarn_pb2.GetNewApplicationRequest())):
            with pytest.raises(PermissionDenied, match="no delegation token and no proof"):
                call(method, request, user="alice", attempts_max=1)
        with pytest.raises(PermissionDenied, match="not signed with this cluster's key"):
            call(stub.GetApplications, yarn_pb2.GetApplicationsRequest(), user="alice", attempts_max=1,
                 metadata=(("emrlab-delegation-token", sign(b"guessed", "delegation", "alice", 4e9)),))
        am = yarn_pb2_grpc.ApplicationMasterProtocolStub(channel)
        with pytest.raises(PermissionDenied, match="no proof that it is from its ApplicationMaster"):
            call(am.FinishApplicationMaster, yarn_pb2.FinishApplicationMasterRequest(
                application_attempt_id="appattempt_1700000000000_0001_000001",
                final_status=yarn_pb2.APP_SUCCEEDED),
                user="alice", attempts_max=1)
        admin = yarn_pb2_grpc.ResourceManagerAdministrationProtocolStub(channel)
        with pytest.raises(PermissionDenied):
            call(admin.RefreshNodes, yarn_pb2.RefreshNodesRequest(), user="root", attempts_max=1)
    finally:
        channel.close()


def test_bob_cannot_kill_or_look_into_alices_application_and_alice_and_the_admin_can(secure_cluster, tmp_path,
                                                                                     monkeypatch):
    cluster = secure_cluster
    bob, alice = token_file(cluster, "bob", tmp_path), token_file(cluster, "alice", tmp_path)
    first, second = running_application(cluster, "alice"), running_application(cluster, "alice")

    report = cluster.yarn(user="alice").application_report(first)  # no NodeManager stops its AM for a stranger
    (node,) = [node for node in cluster.yarn().nodes() if node.node_id == report.am_node_id]
    channel = connect(node.address)
    try:
        with pytest.raises(PermissionDenied, match="no proof that it is from its ApplicationMaster"):
            call(yarn_pb2_grpc.ContainerManagementProtocolStub(channel).StopContainers,
                 yarn_pb2.StopContainersRequest(container_ids=[report.am_container_id]), user="alice", attempts_max=1)
    finally:
        channel.close()
    refused = as_user(cluster, bob, "application", "-kill", first)
    assert refused.returncode != 0
    assert f"User bob cannot perform operation MODIFY_APP on {first}" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    assert not cluster.yarn(user="alice").application_report(first).state.is_final

    status = as_user(cluster, bob, "application", "-status", first)  # listed, its details hidden
    assert status.returncode == 0 and "\tUser : alice" in status.stdout and "\tDiagnostics : N/A" in status.stdout
    assert "\tAM Container : N/A" in status.stdout and "\tTracking-URL : N/A" in status.stdout, status.stdout
    listing = as_user(cluster, bob, "application", "-list")
    assert listing.returncode == 0 and first in listing.stdout, listing.stderr
    monkeypatch.setenv("HADOOP_TOKEN_FILE_LOCATION", bob)
    (seen,) = [report for report in cluster.yarn(user="bob").applications() if report.application_id == first]
    assert (seen.user, seen.diagnostics, seen.am_container_id, seen.client_to_am_token) == ("alice", "N/A", "", "")
    monkeypatch.setenv("HADOOP_TOKEN_FILE_LOCATION", alice)
    (seen,) = [report for report in cluster.yarn(user="bob").applications() if report.application_id == first]
    assert seen.am_container_id and seen.diagnostics != "N/A"  # the owner's own view, whatever the metadata says
    assert cluster.yarn(user="bob").application_report(first).client_to_am_token  # for its AM's endpoints
    monkeypatch.delenv("HADOOP_TOKEN_FILE_LOCATION")
    # The RM's REST API: anonymous (dr.who) and bob see the same; alice's ?delegation= token shows it all.
    url = f"{cluster_urls(cluster.cluster_dir)['resourcemanager']}/ws/v1/cluster/apps/{first}"
    for suffix in ("", f"?delegation={Path(bob).read_text()}"):
        app = json.loads(urllib.request.urlopen(url + suffix, timeout=30).read())["app"]
        assert (app["user"], app["diagnostics"], app["amHostHttpAddress"]) == ("alice", "N/A", ""), app
    app = json.loads(urllib.request.urlopen(f"{url}?delegation={Path(alice).read_text()}", timeout=30).read())["app"]
    assert app["amHostHttpAddress"] and app["diagnostics"] != "N/A", app
    own = as_user(cluster, alice, "application", "-status", first)
    assert "\tDiagnostics : N/A" not in own.stdout and "\tAM Container : container_" in own.stdout, own.stdout

    killed = as_user(cluster, alice, "application", "-kill", first)  # the owner may
    assert killed.returncode == 0, killed.stderr
    # The cluster's owner (this test's user, who can read the cluster key) is yarn.admin.acl's default.
    admin = cluster.emrlab("application", "-kill", second)
    assert admin.returncode == 0, admin.stderr
    yarn = cluster.yarn(user="alice")
    wait_until(lambda: all(yarn.application_report(application_id).state is ApplicationState.KILLED
                           for application_id in (first, second)), timeout_s=30)


def test_the_applications_acl_lets_a_named_user_kill_it(secure_cluster, tmp_path):
    application_id = running_application(secure_cluster, "alice", {MODIFY_APP: "bob"})
    killed = as_user(secure_cluster, token_file(secure_cluster, "bob", tmp_path), "application", "-kill",
                     application_id)
    assert killed.returncode == 0, killed.stderr


def test_a_jobs_applicationmaster_answers_only_callers_the_resourcemanager_vouches_for(secure_cluster, tmp_path):
    cluster = secure_cluster
    hdfs = cluster.client()
    hdfs.mkdirs("/data")
    hdfs.write_bytes("/data/lines.txt", b"one\ntwo\n")
    bob = token_file(cluster, "bob", tmp_path)
    with slow_job_client(cluster, tmp_path, "Guarded", "/data/lines.txt") as (client_process, job_id):
        # The owner's -status comes from the AM, with the client-to-AM token its report carries.
        assert "Job state: RUNNING" in cluster.emrlab("job", "-status", job_id, check=True).stdout.decode()
        report = cluster.yarn().application_report(application_id_for(job_id))
        channel = connect(report.am_address)
        try:
            stub = mapreduce_pb2_grpc.MRClientProtocolStub(channel)
            for method, request in ((stub.GetJobReport, mapreduce_pb2.GetJobReportRequest(job_id=job_id)),
                                    (stub.KillJob, mapreduce_pb2.KillJobRequest(job_id=job_id))):
                with pytest.raises(PermissionDenied, match="no client-to-AM token"):
                    call(method, request, user=report.user, attempts_max=1)
            umbilical = mapreduce_pb2_grpc.TaskUmbilicalStub(channel)  # nor a task's calls without the job token
            with pytest.raises(PermissionDenied, match="job's token"):
                call(umbilical.Done, mapreduce_pb2.DoneRequest(attempt_id=f"attempt_{job_id[4:]}_m_000000_0"),
                     user=report.user, attempts_max=1)
        finally:
            channel.close()
        refused = as_user(cluster, bob, "job", "-kill", job_id)
        assert refused.returncode != 0 and refused.stderr.count("\n") == 1, refused.stderr
        assert f"User bob cannot perform operation MODIFY_APP on {application_id_for(job_id)}" in refused.stderr
        assert not cluster.yarn().application_report(application_id_for(job_id)).state.is_final
        killed = cluster.emrlab("job", "-kill", job_id, check=True)  # its owner may
        assert killed.stdout.decode().strip() == f"Killed job {job_id}"
    assert f"Job {job_id} was killed" in client_process.stderr.read().decode()


def test_only_users_in_a_queues_submit_acl_submit_to_it(secure_cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("HADOOP_TOKEN_FILE_LOCATION", token_file(secure_cluster, "bob", tmp_path))
    yarn = secure_cluster.yarn(user="alice")  # the name it sends; the token says bob
    application_id = yarn.new_application()
    with pytest.raises(PermissionDenied, match=f"User bob does not have permission to submit {application_id} "
                                               "to queue analytics"):
        yarn.submit_application(ApplicationSubmissionContext(
            application_id, "refused", ContainerLaunchContext(["true"]), Resource(128, 1), queue="analytics"))

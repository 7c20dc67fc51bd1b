"""Secure mode's containers: each runs as its user's OS account (LinuxContainerExecutor), in 0710 directories
of its own, and cannot read another user's containers, the DataNodes' blocks, the NameNode's metadata or the
cluster's credentials. The cluster tests make two OS accounts (root only) and remove them afterwards."""

from __future__ import annotations

import collections
import os
import pwd
import secrets
import subprocess
import sys

import pytest
from conftest import YARN_FAST_PROPERTIES, ClusterPool, wait_until

from emrlab_common.credentials import ensure_key, sign
from yarn.nodemanager.config import NodeManagerConfig
from yarn.nodemanager.linuxexecutor import READ, SEARCH, ContainerUsers, container_needs, refusal, unreachable
from yarn.nodemanager.records import CleanUpContainer, StartContainer
from yarn.nodemanager.state import NodeManagerLayout, NodeManagerState
from yarn.records import (
    ApplicationSubmissionContext,
    Container,
    ContainerExitStatus,
    ContainerLaunchContext,
    ContainerState,
    Resource,
)

# ---------------------------------------------------------------- the checks, as pure functions


@pytest.mark.parametrize("name, uid, expected", [
    ("root", 0, "Running as root is not allowed"),
    ("yarn", 1500, "Requested user yarn is banned"),
    ("daemon", 1, "is not whitelisted and has id 1, which is below the minimum allowed 1000"),
    ("mapred-sys", 999, ""),  # named in allowed.system.users
    ("alice", 1000, ""),
])
def test_container_executor_refuses_root_banned_and_system_accounts(name, uid, expected):
    reason = refusal(name, uid, 1000, {"yarn", "hdfs", "mapred", "bin"}, {"mapred-sys"})
    assert (expected in reason) if expected else reason == ""


def test_a_refused_container_ends_at_once_with_its_reason_and_nothing_made_for_it(tmp_path):
    state = NodeManagerState(NodeManagerLayout(tmp_path, tmp_path / "logs", 0.1, True, 0.0), ("mapreduce_shuffle",))
    container = Container("container_1_0001_01_000001", "core-1", "127.0.0.1:1", Resource(256, 1))
    commands = state.handle(StartContainer(container, ContainerLaunchContext(["true"]), "root",
                                           "cannot run the container as root: Running as root is not allowed"), 0.0)
    assert [type(command) for command in commands] == [CleanUpContainer]  # no aux service, no localization
    status = state.status(container.id)
    assert (status.state, status.exit_status) == (ContainerState.COMPLETE, ContainerExitStatus.INVALID)
    assert status.diagnostics == "cannot run the container as root: Running as root is not allowed"
    state.validate_state()


def test_in_token_mode_a_container_is_its_tokens_user_whatever_its_launch_says(tmp_path):
    config = NodeManagerConfig(authentication="token")
    users = ContainerUsers(config, tmp_path)
    key = ensure_key(tmp_path)
    token = sign(key, "delegation", "alice", 4e9)
    assert users.resolve(ContainerLaunchContext(["true"], tokens=token), "root") == ("alice", "")
    assert "no delegation token" in users.resolve(ContainerLaunchContext(["true"]), "alice")[1]
    forged = sign(b"another key", "delegation", "alice", 4e9)
    assert "refused: not signed with this cluster's key" in users.resolve(
        ContainerLaunchContext(["true"], tokens=forged), "alice")[1]
    linux = ContainerUsers(NodeManagerConfig(authentication="token", container_executor="LinuxContainerExecutor"),
                           tmp_path)
    assert "Running as root is not allowed" in linux.resolve(
        ContainerLaunchContext(["true"], tokens=sign(key, "delegation", "root", 4e9)), "root")[1]
    assert "Invalid user name '../../etc'" in linux.resolve(
        ContainerLaunchContext(["true"], tokens=sign(key, "delegation", "../../etc", 4e9)), "x")[1]
    missing = "no-such-account-" + secrets.token_hex(3)
    assert f"User {missing} not found" in linux.resolve(
        ContainerLaunchContext(["true"], tokens=sign(key, "delegation", missing, 4e9)), missing)[1]


def test_simple_mode_with_limit_users_runs_every_container_as_the_local_user(tmp_path):
    if "nobody" not in {entry.pw_name for entry in pwd.getpwall()}:
        pytest.skip("this machine has no account 'nobody' (nonsecure-mode.local-user's default)")
    users = ContainerUsers(NodeManagerConfig(container_executor="org.apache.hadoop.yarn.server.nodemanager."
                                                                 "LinuxContainerExecutor"), tmp_path)
    assert users.resolve(ContainerLaunchContext(["true"]), "alice") == ("alice", "")  # nobody's uid is high
    assert users.account("alice").name == "nobody"
    assert ContainerUsers(NodeManagerConfig(), tmp_path).account("alice") is None  # DefaultContainerExecutor


def test_a_path_other_accounts_cannot_reach_is_named(tmp_path):
    (tmp_path / "closed").mkdir(mode=0o700)
    python = tmp_path / "closed" / "python"
    python.write_text("")
    python.chmod(0o600)

    def first_closed():  # pytest's own directories above may be closed too: the first one is named
        return next(directory for directory in [*reversed(python.parents), python]
                    if not directory.stat().st_mode & (0o001 if directory.is_dir() else 0o004))

    assert unreachable([(python, READ)]).startswith(f"{first_closed()} is mode 0")
    (tmp_path / "closed").chmod(0o711)
    python.chmod(0o644)
    assert str(tmp_path / "closed") not in unreachable([(python, READ)]).partition(",")[0]
    assert unreachable([(tmp_path / "closed", READ | SEARCH)]).startswith(f"{first_closed()} is mode 0")


# ---------------------------------------------------------------- a secure cluster, two accounts

PROBE_JOB = '''
import os, pwd
from mapreduce import Job


def probe(path):
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            with open(path, "rb") as file:
                file.read(1)
        return "READ"
    except OSError as error:
        import errno
        return errno.errorcode.get(error.errno, str(error.errno))


class ProbeAndCount(Job):
    """Input lines `probe PATH` are tried (what it could read is recorded); other lines are counted."""

    def mapper(self, key, line):
        if line.startswith("probe "):
            yield "probe " + line[6:], probe(line[6:])
            yield "whoami", pwd.getpwuid(os.getuid()).pw_name
            return
        for word in line.split():
            yield word, 1

    def reducer(self, key, values):
        values = list(values)
        if key.startswith("probe ") or key == "whoami":
            yield key, ",".join(sorted(set(values)))
        else:
            yield key, sum(values)


if __name__ == "__main__":
    ProbeAndCount.run()
'''
SECURE_PROPERTIES = {
    **YARN_FAST_PROPERTIES,
    "dfs.block.access.token.enable": "true",
    "hadoop.security.authentication": "token",
    "yarn.nodemanager.container-executor.class": "LinuxContainerExecutor",
    "yarn.nodemanager.delete.debug-delay-sec": "600",  # a finished application's dirs stay, to be probed
    "yarn.nodemanager.resource.memory-mb": "768",
    "mapreduce.map.memory.mb": "256",
    "mapreduce.reduce.memory.mb": "256",
    "yarn.app.mapreduce.am.resource.mb": "256",
    "yarn.app.mapreduce.am.scheduler.heartbeat.interval-ms": "100",
    "mapreduce.task.progress-report.interval": "200",
    "yarn.resourcemanager.am.max-attempts": "1",
}
WORDS = ["apple", "banana", "cherry", "date", "elder", "fig", "grape"]


@pytest.fixture(scope="module")
def accounts():
    """Two fresh OS accounts (uids from useradd, above min.user.id), removed afterwards whatever happens."""
    if os.geteuid() != 0:
        pytest.skip("making OS accounts and running containers as them needs root")
    names = [f"emrl{secrets.token_hex(3)}{letter}" for letter in "ab"]
    made = []
    try:
        for name in names:
            subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/bash", name], check=True,
                           capture_output=True)
            made.append(name)
        yield names
    finally:
        for name in made:
            subprocess.run(["userdel", name], check=False, capture_output=True)


@pytest.fixture(scope="module")
def reachable(tmp_path_factory):
    """Let other accounts search the directories above Python, emrlab and the cluster (a sandbox's /root is
    0700; a pytest temporary directory too); their modes come back afterwards."""
    cluster_root = tmp_path_factory.mktemp("isolated")
    changed = {}
    for path, _ in container_needs(cluster_root):
        for directory in path.parents:
            mode = directory.stat().st_mode & 0o7777
            if not mode & 0o001 and directory not in changed:
                changed[directory] = mode
                directory.chmod(mode | 0o001)
    cluster_root.chmod(0o755)
    try:
        yield cluster_root
    finally:
        for directory, mode in changed.items():
            directory.chmod(mode)


@pytest.fixture(scope="module")
def secure_cluster(accounts, reachable):
    pool = ClusterPool(lambda: reachable / "cluster")
    cluster = pool.start(core=2, properties=SECURE_PROPERTIES, services=("hdfs", "yarn"))
    owner = cluster.client()
    for name in accounts:
        owner.mkdirs(f"/user/{name}")
        owner.chown(f"/user/{name}", name, name)
    yield cluster
    pool.close()


def run_job(cluster, tmp_path, user: str, job: str, inputs: list[str], output: str) -> subprocess.CompletedProcess:
    return cluster.emrlab("job", "run", job, "-r", "cluster", *inputs, "-o", output, user=user)


def output_of(client, output_dir: str) -> dict[str, str]:
    names = sorted(status.path.rsplit("/", 1)[-1] for status in client.list(output_dir))
    assert "_SUCCESS" in names, names
    pairs = {}
    for name in names:
        if name.startswith("part-"):
            for line in client.read_bytes(f"{output_dir}/{name}").decode().splitlines():
                key, _, value = line.rpartition("\t")
                pairs[key] = value
    return pairs


@pytest.mark.cluster
def test_a_container_reads_only_its_own(secure_cluster, accounts, tmp_path):
    alice, bob = accounts
    cluster = secure_cluster
    job = tmp_path / "probe_and_count.py"
    job.write_text(PROBE_JOB)
    owner = cluster.client()
    corpus = "".join(" ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(i % 9 + 1)) + "\n" for i in range(400))
    expected = {word: str(count) for word, count in collections.Counter(corpus.split()).items()}
    for name in accounts:
        owner.write_bytes(f"/user/{name}/words.txt", corpus.encode(), replication=1)
        owner.chown(f"/user/{name}/words.txt", name, name)
    # Bob's job runs and ends; its directories stay (debug delay) for Alice's mapper to try.
    result = run_job(cluster, tmp_path, bob, str(job), [f"/user/{bob}/words.txt"], f"/user/{bob}/out")
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    bob_client = cluster.client(user=bob)
    assert output_of(bob_client, f"/user/{bob}/out") == expected
    root = cluster.cluster_dir.root
    # And one of Bob's applications is running while Alice tries: its container holds Bob's token.
    running_yarn = cluster.yarn(user=bob)
    running = running_yarn.new_application()
    running_yarn.submit_application(ApplicationSubmissionContext(
        running, "bob sleeps", ContainerLaunchContext(["sleep 300"]), Resource(256, 1)))
    (running_token,) = wait_until(lambda: sorted(root.glob(
        f"nodes/*/nm-local-dir/usercache/{bob}/appcache/{running}/container_*/container_tokens")),
        what="bob's running container")
    bob_dirs = sorted(root.glob(f"nodes/*/nm-local-dir/usercache/{bob}/appcache/application_*"))
    assert running_token.parents[1] in bob_dirs and len(bob_dirs) >= 2, bob_dirs  # the finished one's too
    bob_containers = sorted(path for app in bob_dirs for path in app.glob("container_*"))
    bob_logs = sorted(root.glob("nodes/*/userlogs/application_*/container_*/stdout"))
    for path in [*bob_dirs, *bob_containers]:
        assert (path.stat().st_mode & 0o777, pwd.getpwuid(path.stat().st_uid).pw_name) == (0o710, bob), path
    blocks = sorted(root.glob("nodes/*/data/current/finalized/**/blk_*"))
    assert blocks
    targets = [*bob_dirs, *bob_containers, *bob_logs, bob_logs[0].parent, running_token, running_token.parent / "tmp",
               bob_dirs[0].parents[1], blocks[0], root / "nodes/core-1/data",
               root / "namenode", root / "namenode/current", *sorted((root / "namenode/current").glob("edits_*")),
               root / "credentials", root / "credentials/cluster.key",
               root / "nodes/core-1/nm-local-dir/pids"]
    probes = "".join(f"probe {path}\n" for path in targets)
    owner.write_bytes(f"/user/{alice}/probes.txt", probes.encode(), replication=1)
    owner.chown(f"/user/{alice}/probes.txt", alice, alice)
    # Alice's job: it counts her words exactly, through HDFS, spills and the shuffle, and reads nothing else.
    result = run_job(cluster, tmp_path, alice, str(job), [f"/user/{alice}/words.txt", f"/user/{alice}/probes.txt"],
                     f"/user/{alice}/out")
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert not running_yarn.application_report(running).state.is_final  # Bob's was running all along
    running_yarn.kill_application(running)
    output = output_of(cluster.client(user=alice), f"/user/{alice}/out")
    assert output.pop("whoami") == alice
    probed = {key[len("probe "):]: value for key, value in output.items() if key.startswith("probe ")}
    assert probed == {str(path): "EACCES" for path in targets}
    assert {key: value for key, value in output.items() if not key.startswith("probe ")} == expected


@pytest.mark.cluster
def test_root_and_users_without_an_account_get_no_container(secure_cluster):
    for user, message in (("root", "Running as root is not allowed"),
                          ("nosuch" + secrets.token_hex(3), "not found: this node has no OS account")):
        with secure_cluster.yarn(user=user) as yarn:
            application_id = yarn.new_application()
            yarn.submit_application(ApplicationSubmissionContext(
                application_id, "as " + user, ContainerLaunchContext(["id"]), Resource(256, 1)))
            wait_until(lambda: yarn.application_report(application_id).state.is_final,  # noqa: B023
                       what=f"{application_id} to end")
            report = yarn.application_report(application_id)
        assert report.state.value == "FAILED", report
        assert message in report.diagnostics, report.diagnostics


@pytest.mark.cluster
def test_in_simple_mode_containers_run_as_the_nodemanager_as_before(cluster_factory, tmp_path):
    cluster = cluster_factory(core=1, properties=YARN_FAST_PROPERTIES, services=("hdfs", "yarn"))
    marker = tmp_path / "uid"
    with cluster.yarn(user="alice") as yarn:
        application_id = yarn.new_application()
        yarn.submit_application(ApplicationSubmissionContext(
            application_id, "simple", ContainerLaunchContext([f"id -u > {marker}"]), Resource(256, 1)))
        wait_until(lambda: yarn.application_report(application_id).state.is_final, what="the application to end")
    assert marker.read_text().strip() == str(os.getuid())


def test_cluster_up_secure_names_the_directory_other_accounts_cannot_enter(tmp_path):
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    result = subprocess.run([sys.executable, "-m", "emrlab", "cluster", "up", "--secure", "--dir", str(closed / "c")],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0
    (line,) = result.stderr.strip().splitlines()
    assert "--secure runs containers as their users' OS accounts, but" in line and "is mode 0700" in line, line
    assert not (closed / "c").exists()

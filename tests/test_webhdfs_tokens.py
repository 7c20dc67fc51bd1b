"""WebHDFS in token mode: delegation=<token>, GETDELEGATIONTOKEN / RENEWDELEGATIONTOKEN / CANCELDELEGATIONTOKEN,
user.name not believed; over HTTPS with client certificates from the cluster CA, driven with curl."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from emrlab_common import certificates, tls
from tests.conftest import YARN_FAST_PROPERTIES

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")

TOKEN_PROPERTIES = {"hadoop.security.authentication": "token", "dfs.block.access.token.enable": "true",
                    **tls.SECURE_PROPERTIES, **YARN_FAST_PROPERTIES}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from tests.conftest import ClusterPool

    pool = ClusterPool(lambda: tmp_path_factory.mktemp("webhdfs-tokens"))
    try:
        running = pool.start(core=1, properties=TOKEN_PROPERTIES)
        running.emrlab("dfs", "-mkdir", "/private", check=True)
        running.emrlab("dfs", "-chmod", "700", "/private", check=True)
        running.emrlab("dfs", "-put", "-", "/private/secret.txt", input_bytes=b"only the owner\n", check=True)
        yield running
    finally:
        pool.close()


@pytest.fixture(scope="module")
def mallory(cluster):
    """A certificate the cluster CA signed for another user (as a NodeManager signs a container's)."""
    root = cluster.cluster_dir.root
    certificate_path, key_path = root / "tls" / "mallory.pem", root / "tls" / "mallory.key"
    certificates.issue(root, "mallory container_1_0001_01_000002", certificate_path, key_path)
    return certificate_path, key_path


def _curl(cluster, query: str, *, path: str = "/", method: str = "GET", certificate=None, follow=False,
          upload=None):
    root = cluster.cluster_dir.root
    owner_certificate, owner_key = certificates.certificate_paths(root, certificates.CLIENT_NAME)
    certificate_path, key_path = certificate or (owner_certificate, owner_key)
    address = cluster.cluster_dir.read_daemon("namenode").extra["http_address"]
    command = ["curl", "-sS", "--max-time", "30", "-w", "\n%{http_code}", "-X", method,
               "--cacert", str(certificates.ca_certificate_path(root)), "--cert", str(certificate_path),
               "--key", str(key_path), *(["-L"] if follow else []), *(["-T", str(upload)] if upload else []),
               f"https://{address}/webhdfs/v1{path}?{query}"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    body, _, status = result.stdout.rpartition("\n")
    return int(status), body


def test_a_certificate_names_the_user_and_user_name_is_not_believed(cluster, mallory):
    status, body = _curl(cluster, "op=LISTSTATUS", path="/private")
    assert status == 200 and "secret.txt" in body
    status, body = _curl(cluster, "op=LISTSTATUS&user.name=root", path="/private", certificate=mallory)
    assert status == 403 and "mallory" in body  # the certificate's user, whatever user.name says


def test_get_use_renew_and_cancel_a_delegation_token(cluster, mallory):
    status, body = _curl(cluster, "op=GETDELEGATIONTOKEN&renewer=root")
    assert status == 200
    token = json.loads(body)["Token"]["urlString"]
    # The token speaks for its owner whoever sends it, and the DataNode's redirect carries it.
    status, body = _curl(cluster, f"op=OPEN&delegation={token}", path="/private/secret.txt", certificate=mallory,
                         follow=True)
    assert (status, body) == (200, "only the owner\n")
    status, body = _curl(cluster, f"op=GETDELEGATIONTOKEN&delegation={token}")
    assert status == 403  # a token is not a way to get another
    status, body = _curl(cluster, f"op=RENEWDELEGATIONTOKEN&token={token}", method="PUT", certificate=mallory)
    assert status == 403 and "cannot renew" in body
    status, body = _curl(cluster, f"op=RENEWDELEGATIONTOKEN&token={token}", method="PUT")
    assert status == 200 and json.loads(body)["long"] > time.time() * 1000
    status, _ = _curl(cluster, f"op=CANCELDELEGATIONTOKEN&token={token}", method="PUT")
    assert status == 200
    status, body = _curl(cluster, f"op=GETFILESTATUS&delegation={token}", path="/private/secret.txt")
    assert status == 403 and "cancelled" in body


def test_a_cancelled_token_is_refused_over_grpc_too(cluster, tmp_path):
    _, body = _curl(cluster, "op=GETDELEGATIONTOKEN")
    token = json.loads(body)["Token"]["urlString"]
    token_file = tmp_path / "token"
    token_file.write_text(token)
    program = ("import sys\nfrom hdfs import Client\n"
               "print(Client.for_cluster(sys.argv[1]).read_bytes('/private/secret.txt').decode(), end='')\n")
    environment = dict(os.environ, HADOOP_TOKEN_FILE_LOCATION=str(token_file))

    def read_with_token():
        return subprocess.run([sys.executable, "-c", program, str(cluster.cluster_dir.root)], env=environment,
                              capture_output=True, text=True, timeout=120, check=False)

    assert read_with_token().stdout == "only the owner\n"
    assert _curl(cluster, f"op=CANCELDELEGATIONTOKEN&token={token}", method="PUT")[0] == 200
    refused = read_with_token()
    assert refused.returncode != 0 and "cancelled" in refused.stderr


def test_a_redirect_for_a_certificate_carries_a_token_and_writes_work(cluster, tmp_path):
    source = tmp_path / "new.txt"
    source.write_text("written through WebHDFS\n")
    status, _ = _curl(cluster, "op=CREATE&overwrite=true", path="/private/new.txt", method="PUT", follow=True,
                      upload=source)
    assert status == 201
    status, body = _curl(cluster, "op=OPEN", path="/private/new.txt", follow=True)
    assert (status, body) == (200, "written through WebHDFS\n")

"""Mutual TLS in secure mode (hadoop.rpc.protection=privacy, dfs.http.policy=HTTPS_ONLY): a cluster CA, a
certificate per daemon and container, and daemons that refuse any peer without a certificate from that CA."""

from __future__ import annotations

import json
import shutil
import ssl
import stat
import subprocess
import urllib.request

import grpc
import pytest

from emrlab_common import certificates, tls
from emrlab_common.protos import hdfs_pb2, hdfs_pb2_grpc
from tests.conftest import YARN_FAST_PROPERTIES

TLS_PROPERTIES = dict(tls.SECURE_PROPERTIES)
CALL_TIMEOUT_S = 10.0


def test_the_ca_signs_certificates_a_peer_can_verify_and_keys_are_private(tmp_path):
    from cryptography import x509

    certificate_path, key_path = certificates.certificate_paths(tmp_path, "namenode")
    certificates.issue(tmp_path, "namenode", certificate_path, key_path, hosts=("node-7.lab",))
    assert stat.S_IMODE((tmp_path / certificates.CA_KEY_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    ca = x509.load_pem_x509_certificate(certificates.ca_certificate_path(tmp_path).read_bytes())
    certificate = x509.load_pem_x509_certificate(certificate_path.read_bytes())
    certificate.verify_directly_issued_by(ca)
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost", "node-7.lab"} <= set(names.get_values_for_type(x509.DNSName))
    assert "127.0.0.1" in {str(address) for address in names.get_values_for_type(x509.IPAddress)}
    certificates.ensure_ca(tmp_path)  # kept: a second call does not make a new CA
    certificate.verify_directly_issued_by(x509.load_pem_x509_certificate(
        certificates.ca_certificate_path(tmp_path).read_bytes()))


def test_bad_tls_settings_are_one_clear_error():
    from emrlab_common.errors import InvalidArgument

    assert tls.modes({}) == (False, False)  # simple mode stays the default
    with pytest.raises(InvalidArgument, match="hadoop.rpc.protection"):
        tls.modes({"hadoop.rpc.protection": "secret"})
    with pytest.raises(InvalidArgument, match="HTTPS_ONLY"):
        tls.modes({"dfs.http.policy": "HTTPS_PLEASE"})


@pytest.fixture(scope="module")
def secure_cluster(tmp_path_factory):
    from tests.conftest import ClusterPool

    pool = ClusterPool(lambda: tmp_path_factory.mktemp("tls"))
    yield pool.start(core=1, properties={**YARN_FAST_PROPERTIES, **TLS_PROPERTIES}, services=("hdfs", "yarn"))
    pool.close()


@pytest.fixture(scope="module")
def stranger(tmp_path_factory):
    """A certificate and key from another CA: well formed, but not this cluster's."""
    root = tmp_path_factory.mktemp("stranger")
    certificate_path, key_path = certificates.certificate_paths(root, "client")
    certificates.issue(root, "mallory", certificate_path, key_path)
    return certificates.ca_certificate_path(root), certificate_path, key_path


def _record(cluster, name):
    return cluster.cluster_dir.read_daemon(name)


def _server_defaults(address: str, credentials) -> hdfs_pb2.GetServerDefaultsResponse:
    channel = grpc.secure_channel(address, credentials) if credentials else grpc.insecure_channel(address)
    with channel:
        return hdfs_pb2_grpc.ClientProtocolStub(channel).GetServerDefaults(hdfs_pb2.GetServerDefaultsRequest(),
                                                                         timeout=CALL_TIMEOUT_S)


def test_grpc_refuses_plaintext_no_certificate_and_another_cas_certificate(secure_cluster, stranger):
    root = secure_cluster.cluster_dir.root
    ca = certificates.ca_certificate_path(root).read_bytes()
    certificate_path, key_path = certificates.certificate_paths(root, certificates.CLIENT_NAME)
    other_ca, other_certificate, other_key = (path.read_bytes() for path in stranger)
    for name in ("namenode", "datanode-core-1", "resourcemanager", "nodemanager-core-1"):
        address = _record(secure_cluster, name).address
        refused = [
            None,  # plaintext
            grpc.ssl_channel_credentials(root_certificates=ca),  # TLS, but no client certificate
            grpc.ssl_channel_credentials(root_certificates=ca, private_key=other_key,
                                         certificate_chain=other_certificate),  # a certificate from another CA
        ]
        for credentials in refused:
            with pytest.raises(grpc.RpcError) as refusal:
                _server_defaults(address, credentials)
            assert refusal.value.code() == grpc.StatusCode.UNAVAILABLE, (name, refusal.value)
        with pytest.raises(grpc.RpcError) as refusal:  # and we refuse a server our CA did not sign
            _server_defaults(address, grpc.ssl_channel_credentials(root_certificates=other_ca))
        assert refusal.value.code() == grpc.StatusCode.UNAVAILABLE
    good = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key_path.read_bytes(),
                                        certificate_chain=certificate_path.read_bytes())
    assert _server_defaults(_record(secure_cluster, "namenode").address, good).block_size_bytes > 0


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_https_only_with_a_certificate_from_the_cluster_ca(secure_cluster, stranger):
    root = secure_cluster.cluster_dir.root
    ca = certificates.ca_certificate_path(root)
    certificate_path, key_path = certificates.certificate_paths(root, certificates.CLIENT_NAME)
    for name in ("namenode", "datanode-core-1", "resourcemanager", "nodemanager-core-1"):
        url = f"https://{_record(secure_cluster, name).extra['http_address']}/jmx"

        def curl(*options, url=url):
            return subprocess.run(["curl", "-sS", "--max-time", "20", *options, url], check=False,
                                  capture_output=True, text=True)

        assert curl("--cacert", str(ca)).returncode != 0  # no client certificate
        assert curl("--cacert", str(ca), "--cert", str(stranger[1]), "--key", str(stranger[2])).returncode != 0
        assert curl("--cacert", str(stranger[0]), "--cert", str(certificate_path),
                    "--key", str(key_path)).returncode != 0  # the server is not one the client's CA signed
        assert curl(url=url.replace("https:", "http:")).returncode != 0  # plain HTTP is not served
        answer = curl("--cacert", str(ca), "--cert", str(certificate_path), "--key", str(key_path))
        assert answer.returncode == 0, answer.stderr
        assert "beans" in json.loads(answer.stdout)


def test_a_python_client_needs_the_certificate_too(secure_cluster):
    url = f"https://{_record(secure_cluster, 'namenode').extra['http_address']}/jmx"
    identity = tls.client_identity(secure_cluster.cluster_dir.root, secure_cluster.cluster_dir.properties())
    with urllib.request.urlopen(url, context=tls.client_ssl_context(identity), timeout=CALL_TIMEOUT_S) as response:
        assert response.status == 200
    bare = ssl.create_default_context(cafile=str(identity.ca_path))
    with pytest.raises(OSError):
        urllib.request.urlopen(url, context=bare, timeout=CALL_TIMEOUT_S).read()


def test_dfs_put_and_get_over_tls(secure_cluster, tmp_path):
    source = tmp_path / "words.txt"
    source.write_text("the cat and the hat\nthe end\n")
    secure_cluster.emrlab("dfs", "-put", str(source), "/words.txt", check=True)
    copy = tmp_path / "copy.txt"
    secure_cluster.emrlab("dfs", "-get", "/words.txt", str(copy), check=True)
    assert copy.read_text() == source.read_text()


def test_a_word_count_job_runs_over_tls(secure_cluster, tmp_path):
    source = tmp_path / "words.txt"
    source.write_text("the cat and the hat\nthe end\n")
    secure_cluster.emrlab("dfs", "-put", str(source), "/job-words.txt", check=True)
    secure_cluster.emrlab("examples", "wordcount", "/job-words.txt", "/out/wc", check=True)
    counts = secure_cluster.emrlab("dfs", "-cat", "/out/wc/part-r-00000", check=True).stdout.decode()
    assert dict(line.split("\t") for line in counts.splitlines()) == {"the": "3", "cat": "1", "and": "1",
                                                                     "hat": "1", "end": "1"}
    # Daemons take no plaintext: the AM and the tasks got there with the certificates their NodeManager signed.



PYTHON_CLIENT = """
import sys
from hdfs import Client
client = Client.for_cluster(sys.argv[1])
data = b"over tls " * 100_000
client.write_bytes("/in-process.bin", data)
assert client.read_bytes("/in-process.bin") == data
from emrlab_common import tls
assert tls.for_address("127.0.0.1:9") is not None  # no record names it (an AM): the one cluster this process knows
print("ok")
"""


def test_a_python_program_reaches_datanodes_it_was_only_told_of(secure_cluster):
    # A fresh process reads the NameNode's record only; the NameNode names the DataNodes. Its cluster's
    # certificate still applies to them (tls.for_address reads the cluster's records).
    import sys

    result = subprocess.run([sys.executable, "-c", PYTHON_CLIENT, str(secure_cluster.cluster_dir.root)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr



def test_the_datanodes_streaming_port_refuses_plaintext_and_strangers(secure_cluster, stranger):
    import socket

    (datanode,) = secure_cluster.client().datanode_report().datanodes
    port = datanode.id.xfer_port
    if port == 0:
        pytest.skip("this DataNode serves no streaming port")
    root = secure_cluster.cluster_dir.root
    certificate_path, key_path = certificates.certificate_paths(root, certificates.CLIENT_NAME)

    def handshake_completes(certificate: tuple | None) -> bool:
        """Whether the port finishes a TLS handshake with a client showing `certificate`."""
        context = ssl.create_default_context(cafile=str(certificates.ca_certificate_path(root)))
        context.maximum_version = ssl.TLSVersion.TLSv1_2  # the server checks the client in the handshake itself
        if certificate:
            context.load_cert_chain(*certificate)
        try:
            with (socket.create_connection(("127.0.0.1", port), timeout=CALL_TIMEOUT_S) as connection,
                  context.wrap_socket(connection, server_hostname="127.0.0.1")):
                return True
        except (ssl.SSLError, ConnectionError):
            return False

    assert not handshake_completes(None)  # no client certificate
    assert not handshake_completes((stranger[1], stranger[2]))  # another CA's
    assert handshake_completes((certificate_path, key_path))  # ours
    with socket.create_connection(("127.0.0.1", port), timeout=CALL_TIMEOUT_S) as plaintext:
        plaintext.sendall(b"\0" * 64)
        try:
            answer = plaintext.recv(64)
        except ConnectionError:
            answer = b""
        assert answer == b"" or answer[0] == 0x15  # closed, or a TLS alert record first


def test_a_containers_certificate_names_what_its_node_is_reached_by(tmp_path):
    from emrlab_common.certificates import alternative_names

    node_certificate, node_key = certificates.certificate_paths(tmp_path, "nodemanager-core-1")
    certificates.issue(tmp_path, "nodemanager-core-1", node_certificate, node_key, hosts=("10.99.0.2",))
    work_dir = tmp_path / "container_1"
    work_dir.mkdir()
    tls.configure(tls.Identity(certificates.ca_certificate_path(tmp_path), node_certificate, node_key))
    try:
        environment = tls.for_container(tmp_path, "container_1", "alice", work_dir)
    finally:
        tls.configure(None)
    certificate = work_dir / tls.CONTAINER_FILES[0]
    assert environment[tls.ENVIRONMENT["cert"]] == str(certificate)
    assert "10.99.0.2" in alternative_names(certificate)
    assert stat.S_IMODE((work_dir / tls.CONTAINER_FILES[1]).stat().st_mode) == 0o600

"""TLS with client certificates (mutual TLS) for every gRPC and HTTP endpoint, in secure mode.

Two Hadoop keys turn it on (`emrlab cluster up --secure` sets both):

    hadoop.rpc.protection=privacy   every gRPC server (and the DataNodes' streaming port) asks for, and
                                    checks, a client certificate from the cluster CA; every channel shows
                                    one and checks the server's (default `authentication`: plaintext, the
                                    lab's simple mode; `integrity` is taken as `authentication`)
    dfs.http.policy=HTTPS_ONLY      every web server (NameNode, DataNodes, WebHDFS, RM, NodeManagers, the
                                    controller, the AM, /jmx) serves HTTPS only and requires a client
                                    certificate, as Hadoop with ssl.client.auth=true (default HTTP_ONLY)

Which certificate a process shows (its `Identity`) comes from where it runs:
a daemon gets its own, signed at its start (`use_daemon`); a container gets
one its NodeManager signed for it, named in its environment
(EMRLAB_TLS_CA / _CERT / _KEY, the way Hadoop hands a container its tokens
file); an `emrlab` command uses the cluster owner's `client` certificate
(`use_cluster`). A process that only looks a cluster up (a test, the demo
driver) reaches its daemons with that cluster's client certificate and any
other address in plaintext, so secure and simple clusters can be driven from
one process (an address counts as its cluster's once this process has read
the daemon's record: `ClusterDir.read_daemon` tells `note_daemon`; an address
it was only told of, a DataNode's, sends it to the records first). The files
themselves are made by `emrlab_common.certificates`.
"""

from __future__ import annotations

import getpass
import os
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from emrlab_common import certificates
from emrlab_common.errors import InvalidArgument, PermissionDenied

RPC_PROTECTION_KEY = "hadoop.rpc.protection"
HTTP_POLICY_KEY = "dfs.http.policy"
SECURE_PROPERTIES = {RPC_PROTECTION_KEY: "privacy", HTTP_POLICY_KEY: "HTTPS_ONLY"}
ENVIRONMENT = {"ca": "EMRLAB_TLS_CA", "cert": "EMRLAB_TLS_CERT", "key": "EMRLAB_TLS_KEY",
               "what": "EMRLAB_TLS"}  # EMRLAB_TLS: "rpc", "https" or "rpc,https"
CONTAINER_FILES = ("container_tls.pem", "container_tls.key")  # in the container's working directory


def modes(properties: dict[str, str]) -> tuple[bool, bool]:
    """(TLS for gRPC, HTTPS for the web servers) as the properties ask; a bad value is an error."""
    protection = properties.get(RPC_PROTECTION_KEY, "authentication").strip().lower()
    if protection not in ("authentication", "integrity", "privacy"):
        raise InvalidArgument(f"{RPC_PROTECTION_KEY}={protection!r}: use authentication or privacy")
    policy = properties.get(HTTP_POLICY_KEY, "HTTP_ONLY").strip().upper()
    if policy not in ("HTTP_ONLY", "HTTPS_ONLY"):
        raise InvalidArgument(f"{HTTP_POLICY_KEY}={policy!r}: use HTTP_ONLY or HTTPS_ONLY (HTTP_AND_HTTPS "
                              "is not supported)")
    return protection == "privacy", policy == "HTTPS_ONLY"


@dataclass(frozen=True)
class Identity:
    """The CA a process trusts and the certificate it shows; `rpc`/`https`: where it uses them."""

    ca_path: Path
    certificate_path: Path
    key_path: Path
    rpc: bool = True
    https: bool = True

    def read(self) -> tuple[bytes, bytes, bytes]:
        try:
            return self.ca_path.read_bytes(), self.certificate_path.read_bytes(), self.key_path.read_bytes()
        except PermissionError as error:
            raise PermissionDenied(f"secure mode: cannot read {error.filename}: TLS needs this cluster's "
                                   "certificate and key (run as the cluster's owner)") from None
        except FileNotFoundError as error:
            raise PermissionDenied(f"secure mode: {error.filename} is missing") from None

    def environment(self) -> dict[str, str]:
        """The variables that hand this identity to a child process (a container)."""
        what = ",".join(name for name, on in (("rpc", self.rpc), ("https", self.https)) if on)
        return {ENVIRONMENT["ca"]: str(self.ca_path), ENVIRONMENT["cert"]: str(self.certificate_path),
                ENVIRONMENT["key"]: str(self.key_path), ENVIRONMENT["what"]: what}


_lock = threading.Lock()
_process: Identity | None = None
_from_environment_read = False
_clusters: dict[Path, tuple] = {}  # clusters this process looked up: (ClusterDir, its client identity or None)
_addresses: dict[str, Identity | None] = {}  # daemon addresses (gRPC and HTTP) read from their records


def from_environment(environment=os.environ) -> Identity | None:
    if not environment.get(ENVIRONMENT["cert"]):
        return None
    what = environment.get(ENVIRONMENT["what"], "rpc,https").split(",")
    return Identity(Path(environment[ENVIRONMENT["ca"]]), Path(environment[ENVIRONMENT["cert"]]),
                    Path(environment[ENVIRONMENT["key"]]), "rpc" in what, "https" in what)


def configure(identity: Identity | None) -> None:
    """Set this process's own identity (None: plaintext, unless a cluster it looks up says otherwise)."""
    global _process, _from_environment_read
    with _lock:
        _process, _from_environment_read = identity, True


def process_identity() -> Identity | None:
    global _process, _from_environment_read
    with _lock:
        if not _from_environment_read:
            _process, _from_environment_read = from_environment(), True
        return _process


def use_daemon(cluster_root: Path, name: str, properties: dict[str, str], hosts: tuple[str, ...] = ()) -> None:
    """A daemon starting: sign its certificate (in secure mode) and make it this process's identity."""
    rpc, https = modes(properties)
    if not (rpc or https):
        configure(None)
        return
    certificate_path, key_path = certificates.certificate_paths(cluster_root, name)
    bind_hosts = tuple(value.rsplit(":", 1)[0] for key, value in properties.items()
                       if key.endswith("address") and ":" in value)
    certificates.issue(cluster_root, name, certificate_path, key_path, hosts=hosts + bind_hosts)
    configure(Identity(certificates.ca_certificate_path(cluster_root), certificate_path, key_path, rpc, https))


def client_identity(cluster_root: Path, properties: dict[str, str]) -> Identity | None:
    """The cluster owner's client certificate (made if this user can sign one), or None in simple mode."""
    rpc, https = modes(properties)
    if not (rpc or https):
        return None
    certificate_path, key_path = certificates.certificate_paths(cluster_root, certificates.CLIENT_NAME)
    if not key_path.exists():
        try:  # the CA too, if this is the cluster's first start
            certificates.issue(cluster_root, getpass.getuser(), certificate_path, key_path)
        except PermissionError:
            pass  # not the cluster's owner: `Identity.read` says so when a connection needs it
    return Identity(certificates.ca_certificate_path(cluster_root), certificate_path, key_path, rpc, https)


def note_cluster(cluster_dir) -> Identity | None:
    """A cluster this process looked up: its daemons are reached with its client identity."""
    root = cluster_dir.root
    with _lock:
        if root in _clusters:
            return _clusters[root][1]
    if not cluster_dir.exists():
        return None
    identity = client_identity(root, cluster_dir.properties())
    with _lock:
        return _clusters.setdefault(root, (cluster_dir, identity))[1]


def use_cluster(cluster_dir) -> None:
    """An `emrlab` command: every peer it reaches (AMs included) belongs to this cluster."""
    identity = note_cluster(cluster_dir)
    if identity is not None and process_identity() is None:
        configure(identity)


def note_daemon(cluster_dir, record) -> None:
    """A daemon record this process read: reach its addresses as its cluster says (TLS or plaintext)."""
    identity = note_cluster(cluster_dir)
    with _lock:
        for address in (record.address, record.extra.get("http_address")):
            if address:
                _addresses[address] = identity  # None too: a port a secure cluster used may serve a simple one now


def for_address(address: str) -> Identity | None:
    """The identity to reach `address` with: the process's own, else that of the cluster whose record named it."""
    own = process_identity()
    if own is not None:
        return own
    with _lock:
        if address in _addresses:
            return _addresses[address]
        secure = [cluster_dir for cluster_dir, identity in _clusters.values() if identity is not None]
    for cluster_dir in secure:  # an address we were handed (a DataNode's, by the NameNode): read the records
        cluster_dir.daemons()  # each record read goes through note_daemon
    with _lock:
        if address in _addresses:
            return _addresses[address]
        if len(_clusters) == 1 and secure:  # no record names it (an AM's): the one cluster we know of has it
            return next(iter(_clusters.values()))[1]
        return None


def for_container(cluster_root: Path, container_id: str, user: str, work_dir: Path) -> dict[str, str]:
    """A NodeManager launching a container: in secure mode, sign it a certificate into its working directory
    (owned as that directory is, so its user can read it) and return the environment that names it; else {}."""
    own = process_identity()
    if own is None:
        return {}
    certificate_path, key_path = (work_dir / name for name in CONTAINER_FILES)
    status = work_dir.stat()
    certificates.issue(cluster_root, f"{user} {container_id}", certificate_path, key_path,
                       hosts=certificates.alternative_names(own.certificate_path),  # the node's names: an AM binds them
                       owner=(status.st_uid, status.st_gid))
    return Identity(own.ca_path, certificate_path, key_path, own.rpc, own.https).environment()


def curl_options(cluster_dir) -> str:
    """What curl needs to reach this cluster's web servers with the owner's certificate."""
    certificate_path, key_path = certificates.certificate_paths(cluster_dir.root, certificates.CLIENT_NAME)
    return f"--cacert {certificates.ca_certificate_path(cluster_dir.root)} --cert {certificate_path} --key {key_path}"


# ---------------------------------------------------------------- gRPC and HTTP credentials

def server_credentials():
    """gRPC server credentials requiring a client certificate from the cluster CA, or None (plaintext)."""
    import grpc

    identity = process_identity()
    if identity is None or not identity.rpc:
        return None
    ca, certificate, key = identity.read()
    return grpc.ssl_server_credentials([(key, certificate)], root_certificates=ca, require_client_auth=True)


def channel_credentials(address: str):
    """gRPC channel credentials (the CA, and our certificate) for `address`, or None (plaintext)."""
    import grpc

    identity = for_address(address)
    if identity is None or not identity.rpc:
        return None
    ca, certificate, key = identity.read()
    return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=certificate)


def server_ssl_context(for_rpc: bool = False) -> ssl.SSLContext | None:
    """A TLS server context requiring client certificates from the cluster CA, or None (plaintext).

    For the web servers (HTTPS, `dfs.http.policy`), or with `for_rpc` for a socket
    that carries RPC traffic outside gRPC (the DataNodes' streaming port,
    `hadoop.rpc.protection`).
    """
    identity = process_identity()
    if identity is None or not (identity.rpc if for_rpc else identity.https):
        return None
    identity.read()  # one clear error if a file is missing or unreadable
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(identity.certificate_path, identity.key_path)
    context.load_verify_locations(identity.ca_path)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_ssl_context(identity: Identity) -> ssl.SSLContext:
    """An HTTPS client context that trusts the cluster CA and shows `identity`'s certificate."""
    context = ssl.create_default_context(cafile=str(identity.ca_path))
    context.load_cert_chain(identity.certificate_path, identity.key_path)
    return context


def web_scheme() -> str:
    """"https" where this process's web servers serve HTTPS, else "http" (for links and redirects)."""
    identity = process_identity()
    return "https" if identity is not None and identity.https else "http"

"""A throwaway certificate authority for one cluster, and the certificates it signs.

Hadoop's secure clusters use TLS keystores an administrator makes with a
company CA. A lab cluster makes its own CA instead, the first time it starts in
secure mode, and signs one certificate per daemon (and one for the cluster's
owner, for `emrlab` and curl, and one per container):

    <dir>/credentials/ca.key    the CA's private key, 0600 in a 0700 directory: who reads it can join the cluster
    <dir>/tls/ca.pem            the CA's certificate: what clients trust (`curl --cacert`)
    <dir>/tls/<name>.pem|.key   a daemon's (or `client`'s) certificate and its 0600 key

Keys are ECDSA P-256 (quick to make, and every TLS stack here takes them);
certificates name their holder in the subject's common name and carry the
host names and addresses a peer may reach them by (127.0.0.1, localhost, this
host's names) as subject alternative names, so host name verification holds.
Made with the `cryptography` package, in process: no `openssl` binary to find,
no subprocess per container launch.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import ipaddress
import os
import socket
from pathlib import Path

CA_KEY_FILE = Path("credentials") / "ca.key"
TLS_DIR = "tls"
CA_CERTIFICATE_NAME = "ca.pem"
CLIENT_NAME = "client"
VALIDITY_DAYS = 365
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")


def ca_certificate_path(cluster_root: Path) -> Path:
    return cluster_root / TLS_DIR / CA_CERTIFICATE_NAME


def certificate_paths(cluster_root: Path, name: str) -> tuple[Path, Path]:
    """Where `name`'s certificate and key are kept in the cluster directory."""
    return cluster_root / TLS_DIR / f"{name}.pem", cluster_root / TLS_DIR / f"{name}.key"


def host_names(extra: tuple[str, ...] = ()) -> list[str]:
    """The names and addresses a daemon on this host may be reached by."""
    names = [*LOCAL_NAMES, socket.gethostname(), socket.getfqdn(), *extra]
    with contextlib.suppress(OSError):
        names += [info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None)]
    return list(dict.fromkeys(name for name in names if name and name not in ("0.0.0.0", "::")))


def _write_private(path: Path, data: bytes, owner: tuple[int, int] | None = None) -> None:
    """Write a key file 0600 (created so, never readable by others for a moment), atomically."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    if owner is not None:
        os.chown(temporary, *owner)
    os.replace(temporary, path)


def _write_public(path: Path, data: bytes, owner: tuple[int, int] | None = None) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    temporary.chmod(0o644)
    if owner is not None:
        os.chown(temporary, *owner)
    os.replace(temporary, path)


def _name(common_name: str):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "emrlab cluster"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _new_key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _pem(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@contextlib.contextmanager
def _locked(cluster_root: Path):
    """One process at a time makes the CA (daemons start together)."""
    lock_path = cluster_root / CA_KEY_FILE.parent / ".tls.lock"
    lock_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_ca(cluster_root: Path) -> None:
    """Make the cluster's CA (key and certificate) unless it exists; idempotent, safe to race."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    key_path, certificate_path = cluster_root / CA_KEY_FILE, ca_certificate_path(cluster_root)
    if key_path.exists() and certificate_path.exists():
        return
    with _locked(cluster_root):
        if key_path.exists() and certificate_path.exists():
            return
        certificate_path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        key = _new_key()
        now = datetime.datetime.now(datetime.UTC)
        name = _name(f"emrlab cluster CA {cluster_root.name}")
        certificate = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=VALIDITY_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256())
        )
        _write_private(key_path, _pem(key))
        _write_public(certificate_path, certificate.public_bytes(serialization.Encoding.PEM))


def issue(cluster_root: Path, common_name: str, certificate_path: Path, key_path: Path, *,
          hosts: tuple[str, ...] = (), owner: tuple[int, int] | None = None) -> None:
    """Sign a new certificate for `common_name` with the cluster CA; write it and its 0600 key.

    `owner` (uid, gid) hands both files to another account (a container's user)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID

    ensure_ca(cluster_root)
    ca_key = serialization.load_pem_private_key((cluster_root / CA_KEY_FILE).read_bytes(), password=None)
    ca_certificate = x509.load_pem_x509_certificate(ca_certificate_path(cluster_root).read_bytes())
    alternative_names = []
    for host in host_names(hosts):
        try:
            alternative_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alternative_names.append(x509.DNSName(host))
    key = _new_key()
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(ca_certificate.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALIDITY_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    certificate_path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    _write_private(key_path, _pem(key), owner)
    _write_public(certificate_path, certificate.public_bytes(serialization.Encoding.PEM), owner)


def alternative_names(certificate_path: Path) -> tuple[str, ...]:
    """The host names and addresses a certificate names (a container's are its NodeManager's)."""
    from cryptography import x509

    certificate = x509.load_pem_x509_certificate(certificate_path.read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return (*names.get_values_for_type(x509.DNSName), *map(str, names.get_values_for_type(x509.IPAddress)))

"""The cluster's own secret: how a daemon proves it belongs to this cluster.

Hadoop daemons prove who they are with Kerberos keytabs. Here the stand-in is
one random key in `<cluster dir>/credentials/cluster.key`, mode 0600, made by
the NameNode at its first start and kept: a process that can read it runs as
the cluster's owner on a host that has the cluster directory. A daemon shows
that by sending, in its call metadata, a short-lived statement ("I am
datanode core-2, until T") signed with the key; it never sends the key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

import msgpack

from emrlab_common.errors import InvalidArgument, PermissionDenied

PROOF_METADATA_KEY = "emrlab-daemon-proof"
DELEGATION_METADATA_KEY = "emrlab-delegation-token"
TOKEN_FILE_ENVIRONMENT_VARIABLE = "HADOOP_TOKEN_FILE_LOCATION"  # Hadoop's name for where a token file is
PROOF_LIFETIME_S = 300.0
KEY_FILE = Path("credentials") / "cluster.key"
SIGNATURE_BYTES = 32


def key_path(cluster_root: Path) -> Path:
    return cluster_root / KEY_FILE


def ensure_key(cluster_root: Path) -> bytes:
    """The cluster key, made (0600, in a 0700 directory) if there is none yet."""
    path = key_path(cluster_root)
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(secrets.token_hex(32).encode())
        try:
            os.link(temporary, path)  # the first writer wins; a concurrent one reads the winner's key
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return path.read_bytes()


def sign(key: bytes, kind: str, name: str, expiry_s: float) -> str:
    """A signed statement "`name` is a `kind` until `expiry_s`", as hex for call metadata."""
    body = msgpack.packb([kind, name, expiry_s])
    return (body + hmac.new(key, body, hashlib.sha256).digest()).hex()


def verify(key: bytes, statement: str, kind: str, now_s: float | None = None) -> str:
    """The name in a statement of this kind signed with `key` and not expired; PermissionDenied otherwise."""
    name, expiry_s = read_statement(key, statement, kind)
    if (now_s if now_s is not None else time.time()) > expiry_s:
        raise PermissionDenied(f"the {kind} credential of {name} has expired")
    return name


def read_statement(key: bytes, statement: str, kind: str) -> tuple[str, float]:
    """(name, expiry) of a statement of this kind signed with `key`, expired or not; PermissionDenied otherwise."""
    try:
        raw = bytes.fromhex(statement)
        body, signature = raw[:-SIGNATURE_BYTES], raw[-SIGNATURE_BYTES:]
        if not statement or not hmac.compare_digest(signature, hmac.new(key, body, hashlib.sha256).digest()):
            raise ValueError("bad signature")
        statement_kind, name, expiry_s = msgpack.unpackb(body)
    except (ValueError, TypeError, msgpack.UnpackException):
        raise PermissionDenied(f"not signed with this cluster's key: no valid {kind} credential") from None
    if statement_kind != kind:
        raise PermissionDenied(f"a {statement_kind} credential is not a {kind} credential")
    return str(name), float(expiry_s)


def proof_metadata(key: bytes, name: str, now_s: float | None = None, kind: str = "daemon") -> tuple[tuple[str, str], ...]:
    """Call metadata proving the caller holds the cluster key and is `name` (a daemon, or a user)."""
    expiry_s = (now_s if now_s is not None else time.time()) + PROOF_LIFETIME_S
    return ((PROOF_METADATA_KEY, sign(key, kind, name, expiry_s)),)


def verify_proof(key: bytes, metadata, now_s: float | None = None, kind: str = "daemon") -> str:
    """The name a call's metadata proves, or PermissionDenied."""
    value = next((value for name, value in metadata if name == PROOF_METADATA_KEY), "")
    if not value:
        raise PermissionDenied("not a daemon of this cluster: no valid proof signed with the cluster key"
                               if kind == "daemon" else f"no {kind} credential in the call")
    return verify(key, value, kind, now_s)


AUTHENTICATION_MODES = ("simple", "token")


def check_mode(mode: str) -> str:
    if mode not in AUTHENTICATION_MODES:
        raise InvalidArgument(f"hadoop.security.authentication={mode!r}: use simple or token")
    return mode


def caller_identity(key: bytes, metadata, now_s: float | None = None, token_owner=None) -> str:
    """The user a call is from in secure mode: its delegation token's owner, else its signed user proof.

    `token_owner(token)`, if given, decides about tokens instead (the NameNode's, which knows renewals and
    cancellations)."""
    metadata = tuple(metadata)
    token = next((value for name, value in metadata if name == DELEGATION_METADATA_KEY), "")
    if token:
        return token_owner(token) if token_owner else verify(key, token, "delegation", now_s)
    if not any(name == PROOF_METADATA_KEY for name, _ in metadata):
        raise PermissionDenied("secure mode (hadoop.security.authentication=token): the call has no delegation "
                               "token and no proof signed with the cluster key")
    return verify_proof(key, metadata, now_s, kind="user")

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

from emrlab_common.errors import PermissionDenied

PROOF_METADATA_KEY = "emrlab-daemon-proof"
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


def proof_metadata(key: bytes, name: str, now_s: float | None = None) -> tuple[tuple[str, str], ...]:
    body = msgpack.packb([name, (now_s if now_s is not None else time.time()) + PROOF_LIFETIME_S])
    signature = hmac.new(key, body, hashlib.sha256).digest()
    return ((PROOF_METADATA_KEY, (body + signature).hex()),)


def verify_proof(key: bytes, metadata, now_s: float | None = None) -> str:
    """The daemon name a call's metadata proves, or PermissionDenied."""
    value = next((value for name, value in metadata if name == PROOF_METADATA_KEY), "")
    try:
        raw = bytes.fromhex(value)
        body, signature = raw[:-SIGNATURE_BYTES], raw[-SIGNATURE_BYTES:]
        if not value or not hmac.compare_digest(signature, hmac.new(key, body, hashlib.sha256).digest()):
            raise ValueError("bad signature")
        name, expiry_s = msgpack.unpackb(body)
    except (ValueError, TypeError, msgpack.UnpackException):
        raise PermissionDenied("not a daemon of this cluster: no valid proof signed with the cluster key") from None
    if (now_s if now_s is not None else time.time()) > float(expiry_s):
        raise PermissionDenied(f"the proof of {name} has expired")
    return str(name)

"""Block access tokens (Hadoop's `dfs.block.access.token.enable`): who may touch which replica.

A DataNode serves bytes to anyone who can reach its port, and block ids are
easy to guess. So when tokens are on, the NameNode (which checks permissions)
signs a small statement: "user U may READ (or WRITE, or COPY) block B at
generation stamp G until time T", an HMAC-SHA256 with a key it shares with the
DataNodes. A DataNode checks the signature, the block, the mode and the
expiry, and refuses anything else with InvalidBlockToken. Keys roll every
`dfs.block.access.key.update.interval`, reach DataNodes at registration and on
heartbeats, and are never stored: a restarted NameNode makes new ones, and
clients ask it for fresh tokens.

    token = msgpack [key id, expiry, user, block id, generation stamp, modes] + 32-byte HMAC
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from dataclasses import dataclass

import msgpack

from emrlab_common.errors import PermissionDenied

SIGNATURE_BYTES = 32
TOKEN_BYTES_MAX = 1024  # a token is about 100 bytes; anything longer is not ours


class InvalidBlockToken(PermissionDenied):
    """InvalidBlockTokenException: the DataNode does not accept this token for this block and mode."""


class AccessMode(enum.IntFlag):
    READ = 1
    WRITE = 2
    COPY = 4  # a DataNode receiving a replica for re-replication
    RECOVER = 8  # DataNodes settling the last block of a file whose writer went away


@dataclass(frozen=True)
class BlockKey:
    key_id: int
    secret: bytes
    expiry_s: float


@dataclass(frozen=True)
class TokenIdentifier:
    key_id: int
    expiry_s: float
    user: str
    block_id: int
    generation_stamp: int
    modes: AccessMode


def sign(key: BlockKey, identifier: TokenIdentifier) -> bytes:
    body = msgpack.packb([identifier.key_id, identifier.expiry_s, identifier.user, identifier.block_id,
                          identifier.generation_stamp, int(identifier.modes)])
    return body + hmac.new(key.secret, body, hashlib.sha256).digest()


def verify(keys: dict[int, BlockKey], token: bytes, block_id: int, generation_stamp: int, mode: AccessMode,
           now_s: float) -> TokenIdentifier:
    """The token's statement if it allows `mode` on this block now; InvalidBlockToken otherwise."""
    if not token:
        raise InvalidBlockToken(f"no block token for blk_{block_id} (dfs.block.access.token.enable is on)")
    if len(token) > TOKEN_BYTES_MAX:
        raise InvalidBlockToken(f"block token for blk_{block_id} is {len(token)} bytes: not a token")
    body, signature = token[:-SIGNATURE_BYTES], token[-SIGNATURE_BYTES:]
    try:
        key_id, expiry_s, user, token_block_id, token_stamp, modes = msgpack.unpackb(body)
        identifier = TokenIdentifier(int(key_id), float(expiry_s), str(user), int(token_block_id),
                                     int(token_stamp), AccessMode(int(modes)))
    except (ValueError, TypeError, msgpack.UnpackException):
        raise InvalidBlockToken(f"block token for blk_{block_id} is malformed") from None
    key = keys.get(identifier.key_id)
    if key is None:
        raise InvalidBlockToken(f"block token for blk_{block_id} was signed with key {identifier.key_id}, "
                                f"which this DataNode does not have (rolled, or from another NameNode)")
    if not hmac.compare_digest(signature, hmac.new(key.secret, body, hashlib.sha256).digest()):
        raise InvalidBlockToken(f"block token for blk_{block_id} has a bad signature")
    if now_s > identifier.expiry_s or now_s > key.expiry_s:
        raise InvalidBlockToken(f"block token for blk_{block_id} of user {identifier.user} has expired")
    if identifier.block_id != block_id or identifier.generation_stamp != generation_stamp:
        raise InvalidBlockToken(f"block token is for blk_{identifier.block_id}_{identifier.generation_stamp}, "
                                f"not blk_{block_id}_{generation_stamp}")
    if not identifier.modes & mode:
        raise InvalidBlockToken(f"block token for blk_{block_id} allows {identifier.modes!r}, not {mode.name}")
    return identifier


class BlockKeyManager:
    """The NameNode's keys: a current one that signs, older ones that still verify; rolled by the clock."""

    KEYS_MAX = 8  # bounded; more than enough for update interval <= token lifetime

    def __init__(self, update_interval_s: float, token_lifetime_s: float, secret_source, now_s: float):
        self.update_interval_s = update_interval_s
        self.token_lifetime_s = token_lifetime_s
        self.secret_source = secret_source  # n -> n random bytes (secrets.token_bytes in the NameNode)
        self.keys: dict[int, BlockKey] = {}
        self.current: BlockKey | None = None
        self.next_key_id = 1
        self.rolled_s = 0.0
        self.roll(now_s)

    def roll(self, now_s: float) -> None:
        # A key verifies for as long as any token it signed may live.
        expiry_s = now_s + self.update_interval_s + self.token_lifetime_s
        self.current = BlockKey(self.next_key_id, self.secret_source(32), expiry_s)
        self.keys[self.current.key_id] = self.current
        self.next_key_id += 1
        self.rolled_s = now_s
        for key_id in [key_id for key_id, key in self.keys.items() if key.expiry_s < now_s]:
            del self.keys[key_id]
        while len(self.keys) > self.KEYS_MAX:
            del self.keys[min(self.keys)]

    def roll_if_due(self, now_s: float) -> bool:
        if now_s - self.rolled_s < self.update_interval_s:
            return False
        self.roll(now_s)
        return True

    def issue(self, user: str, block_id: int, generation_stamp: int, modes: AccessMode, now_s: float) -> bytes:
        identifier = TokenIdentifier(self.current.key_id, now_s + self.token_lifetime_s, user, block_id,
                                     generation_stamp, modes)
        return sign(self.current, identifier)

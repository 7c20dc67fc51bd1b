"""Delegation tokens in token mode: issued, renewed, cancelled (Hadoop's DelegationTokenSecretManager).

A token is a statement "user U, until T" signed with the cluster key
(`emrlab_common.credentials`), good for `dfs.namenode.delegation.token.renew-interval`
(a day). Its owner may renew it, each time for another interval, up to
`MAX_LIFETIME_S` after it was issued (Hadoop's dfs.namenode.delegation.token.max-lifetime
default), or cancel it; both are remembered here, by the NameNode, which every
gRPC call and WebHDFS request with a token asks. Unlike Hadoop, renewals and
cancellations are kept in memory only: after a NameNode restart a token is
good until the expiry it was issued with again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from emrlab_common.credentials import read_statement, sign
from emrlab_common.errors import PermissionDenied

MAX_LIFETIME_S = 7 * 24 * 3600.0
KIND = "delegation"


class DelegationTokens:
    def __init__(self, key: bytes, renew_interval_s: float, clock: Callable[[], float] = time.time):
        self.key = key
        self.renew_interval_s = renew_interval_s
        self.clock = clock
        self._renewed: dict[str, float] = {}    # token -> its expiry now
        self._cancelled: dict[str, float] = {}  # token -> when it would have expired (then it is forgotten)
        self._lock = threading.Lock()

    def issue(self, user: str) -> tuple[str, float]:
        expiry_s = self.clock() + self.renew_interval_s
        return sign(self.key, KIND, user, expiry_s), expiry_s

    def owner(self, token: str) -> str:
        """The user a token stands for, or PermissionDenied (forged, cancelled, expired)."""
        user, issued_expiry_s = read_statement(self.key, token, KIND)
        now_s = self.clock()
        with self._lock:
            if token in self._cancelled:
                raise PermissionDenied(f"the delegation token of {user} was cancelled")
            expiry_s = self._renewed.get(token, issued_expiry_s)
        if now_s > expiry_s:
            raise PermissionDenied(f"the delegation token of {user} has expired (renew a token before it does)")
        return user

    def renew(self, token: str, caller: str) -> float:
        """Another interval for the token, up to its maximum lifetime; only its owner may. Returns the new expiry."""
        self._owned_by(token, caller, "renew")
        _, issued_expiry_s = read_statement(self.key, token, KIND)
        limit_s = issued_expiry_s - self.renew_interval_s + MAX_LIFETIME_S
        expiry_s = min(self.clock() + self.renew_interval_s, limit_s)
        with self._lock:
            self._renewed[token] = expiry_s
        return expiry_s

    def cancel(self, token: str, caller: str) -> None:
        """The token is no good any more, for anyone; only its owner may cancel it."""
        self._owned_by(token, caller, "cancel")
        _, issued_expiry_s = read_statement(self.key, token, KIND)
        now_s = self.clock()
        with self._lock:
            self._cancelled[token] = self._renewed.pop(token, issued_expiry_s)
            for old, expiry_s in list(self._cancelled.items()):  # expired anyway: no need to remember it
                if expiry_s < now_s:
                    del self._cancelled[old]

    def _owned_by(self, token: str, caller: str, action: str) -> None:
        user = self.owner(token)
        if caller != user:
            raise PermissionDenied(f"{caller} cannot {action} a delegation token of {user}")

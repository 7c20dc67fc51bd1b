"""Delegation tokens in token mode: issued, renewed, cancelled (Hadoop's DelegationTokenSecretManager).

A token is a statement "user U, until T" signed with the cluster key
(`emrlab_common.credentials`), good for `dfs.namenode.delegation.token.renew-interval`
(a day). Its owner may renew it, each time for another interval, up to
`MAX_LIFETIME_S` after it was issued (Hadoop's dfs.namenode.delegation.token.max-lifetime
default), or cancel it; both are remembered here, by the NameNode, which every
gRPC call and WebHDFS request with a token asks. Unlike Hadoop, renewals and
cancellations are kept in memory only: after a NameNode restart a token is
good until the expiry it was issued with again. A renewal or cancellation is
remembered only until the token expires, and at most `TOKENS_REMEMBERED_MAX`
of each at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from emrlab_common.credentials import read_statement, sign
from emrlab_common.errors import PermissionDenied, ResourceExhausted

MAX_LIFETIME_S = 7 * 24 * 3600.0
KIND = "delegation"
TOKENS_REMEMBERED_MAX = 10_000  # renewed (or cancelled) tokens not yet expired; past it, renew (cancel) is refused


class DelegationTokens:
    def __init__(self, key: bytes, renew_interval_s: float, clock: Callable[[], float] = time.time):
        self.key = key
        self.renew_interval_s = renew_interval_s
        self.clock = clock
        self._renewed: dict[str, float] = {}    # token -> its expiry now (forgotten once it passes)
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
        now_s = self.clock()
        expiry_s = min(now_s + self.renew_interval_s, limit_s)
        with self._lock:
            self._forget_expired(now_s)
            self._remember(self._renewed, token, expiry_s, "renewed")
        return expiry_s

    def cancel(self, token: str, caller: str) -> None:
        """The token is no good any more, for anyone; only its owner may cancel it."""
        self._owned_by(token, caller, "cancel")
        _, issued_expiry_s = read_statement(self.key, token, KIND)
        now_s = self.clock()
        with self._lock:
            self._forget_expired(now_s)
            self._remember(self._cancelled, token, self._renewed.get(token, issued_expiry_s), "cancelled")
            self._renewed.pop(token, None)

    def remembered(self) -> tuple[int, int]:
        """(renewed, cancelled) tokens remembered now: each is forgotten once it expires."""
        with self._lock:
            return len(self._renewed), len(self._cancelled)

    def _forget_expired(self, now_s: float) -> None:
        """An expired token is refused on its own expiry: no need to remember its renewal or cancellation."""
        for remembered in (self._renewed, self._cancelled):
            for token in [token for token, expiry_s in remembered.items() if expiry_s < now_s]:
                del remembered[token]

    @staticmethod
    def _remember(remembered: dict[str, float], token: str, expiry_s: float, what: str) -> None:
        if token not in remembered and len(remembered) >= TOKENS_REMEMBERED_MAX:
            raise ResourceExhausted(f"{TOKENS_REMEMBERED_MAX} {what} delegation tokens are not expired yet; "
                                    f"the NameNode keeps no more: try again once some expire")
        remembered[token] = expiry_s

    def _owned_by(self, token: str, caller: str, action: str) -> None:
        user = self.owner(token)
        if caller != user:
            raise PermissionDenied(f"{caller} cannot {action} a delegation token of {user}")

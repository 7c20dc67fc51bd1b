"""Delegation tokens: renewals and cancellations are remembered until the token expires, and no longer."""

from __future__ import annotations

import pytest

from emrlab_common.errors import PermissionDenied, ResourceExhausted
from hdfs.namenode import tokens
from hdfs.namenode.tokens import DelegationTokens
from tests.namenode_fixtures import FakeClock

KEY = b"k" * 32
INTERVAL_S = 100.0


def test_a_renewed_or_cancelled_token_is_forgotten_once_it_has_expired():
    clock = FakeClock()
    manager = DelegationTokens(KEY, INTERVAL_S, clock)
    renewed, _ = manager.issue("alice")
    cancelled, _ = manager.issue("bob")
    clock.tick(50)
    manager.renew(renewed, "alice")  # now good until 150 s from the start
    manager.cancel(cancelled, "bob")
    assert manager.remembered() == (1, 1)
    with pytest.raises(PermissionDenied, match="cancelled"):
        manager.owner(cancelled)
    clock.tick(60)  # 110 s: the cancelled one would have expired, the renewed one not
    assert manager.owner(renewed) == "alice"
    fresh, _ = manager.issue("carol")
    manager.renew(fresh, "carol")
    assert manager.remembered() == (2, 0)
    clock.tick(50)  # 160 s: the first renewal has expired too
    with pytest.raises(PermissionDenied, match="expired"):
        manager.owner(renewed)
    with pytest.raises(PermissionDenied, match="expired"):
        manager.owner(cancelled)  # forgotten as cancelled, and still refused: it expired
    manager.renew(fresh, "carol")
    assert manager.remembered() == (1, 0)


def test_past_the_bound_renewals_are_refused_until_some_expire(monkeypatch):
    monkeypatch.setattr(tokens, "TOKENS_REMEMBERED_MAX", 2)
    clock = FakeClock()
    manager = DelegationTokens(KEY, INTERVAL_S, clock)
    alice, bob, carol = (manager.issue(user)[0] for user in ("alice", "bob", "carol"))
    manager.renew(alice, "alice")
    manager.renew(bob, "bob")
    with pytest.raises(ResourceExhausted, match="2 renewed delegation tokens"):
        manager.renew(carol, "carol")
    manager.renew(bob, "bob")  # one already remembered may be renewed again
    clock.tick(INTERVAL_S + 10)
    dave = manager.issue("dave")[0]
    manager.renew(dave, "dave")  # the others expired: room again
    assert manager.remembered() == (1, 0)

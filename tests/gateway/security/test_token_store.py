"""InMemoryTokenStore: each id once, expired ids forgotten, bounded."""

from __future__ import annotations

import pytest

from rtvoice.exceptions import ConfigurationError
from rtvoice_gateway.security import InMemoryTokenStore, TokenStore, TokenStoreFull


async def test_an_id_is_claimed_once() -> None:
    store: TokenStore = InMemoryTokenStore()
    assert await store.claim("a", expires_at=30.0, now=0.0)
    assert not await store.claim("a", expires_at=30.0, now=1.0)
    assert await store.claim("b", expires_at=30.0, now=1.0)


def test_an_expired_token_cannot_be_claimed() -> None:
    store = InMemoryTokenStore()
    assert not store.claim_now("a", expires_at=10.0, now=10.0)
    assert len(store) == 0


def test_expired_claims_are_purged() -> None:
    store = InMemoryTokenStore()
    for i in range(5):
        assert store.claim_now(f"t{i}", expires_at=10.0 + i, now=0.0)
    assert len(store) == 5
    assert store.claim_now("late", expires_at=50.0, now=12.0)  # t0, t1, t2 expire by 12.0
    assert len(store) == 3
    assert not store.claim_now("t4", expires_at=60.0, now=13.0)  # still held


def test_a_full_store_refuses_rather_than_forgets() -> None:
    store = InMemoryTokenStore(max_entries=2)
    store.claim_now("a", expires_at=10.0, now=0.0)
    store.claim_now("b", expires_at=20.0, now=0.0)
    with pytest.raises(TokenStoreFull):
        store.claim_now("c", expires_at=30.0, now=1.0)
    assert not store.claim_now("a", expires_at=10.0, now=1.0)  # a replay is still a replay
    assert store.claim_now("c", expires_at=30.0, now=10.0)  # "a" expired: room again


@pytest.mark.parametrize("max_entries", [0, -1, True, 1.5])
def test_bad_bounds(max_entries: object) -> None:
    with pytest.raises(ConfigurationError):
        InMemoryTokenStore(max_entries)  # type: ignore[arg-type]


async def test_closing_a_store_leaves_its_claims_readable() -> None:
    store = InMemoryTokenStore()
    assert await store.claim("a", expires_at=30.0, now=0.0)
    await store.aclose()  # nothing to release in memory
    assert not await store.claim("a", expires_at=30.0, now=1.0)

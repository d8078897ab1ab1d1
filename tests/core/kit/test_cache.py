"""SignedCache: reused while the signature holds, rebuilt when it changes or on invalidation."""

from __future__ import annotations

from typing import Any

from core.kit.cache import SignedCache


def test_reuse_rebuild_and_invalidate() -> None:
    state: dict[str, Any] = {"signature": 1, "builds": 0}

    def build(_: Any) -> int:
        state["builds"] += 1
        return state["builds"]

    cache: SignedCache[int] = SignedCache(
        build=build, signature=lambda _: state["signature"], recheck_s=0, kinds=frozenset({"places"})
    )
    session: Any = object()
    assert cache.get(session) == 1
    assert cache.get(session) == 1  # same signature: reused
    state["signature"] = 2
    assert cache.get(session) == 2  # data changed: rebuilt
    cache.invalidate("areas")  # not a kind this value depends on
    assert cache.get(session) == 2
    cache.invalidate("places")
    assert cache.get(session) == 3

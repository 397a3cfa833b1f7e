"""The TTL cache, on a clock the test moves."""

from __future__ import annotations

from variet.servers.search.cache import TTLCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_value_is_served_until_its_ttl_passes() -> None:
    clock = Clock()
    cache: TTLCache[str, int] = TTLCache(ttl=10, size=4, clock=clock)
    cache.put("a", 1)
    clock.now += 9.9
    assert cache.get("a") == 1
    clock.now += 0.1
    assert cache.get("a") is None
    assert len(cache) == 0


def test_the_least_recently_used_value_goes_first_when_full() -> None:
    cache: TTLCache[str, int] = TTLCache(ttl=60, size=2, clock=Clock())
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)


def test_a_zero_size_or_ttl_stores_nothing() -> None:
    for cache in (TTLCache[str, int](ttl=0, size=8), TTLCache[str, int](ttl=60, size=0)):
        cache.put("a", 1)
        assert cache.get("a") is None
        assert not cache.enabled

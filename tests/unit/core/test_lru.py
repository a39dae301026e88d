"""The bounded LRU both script caches use: what it keeps and what it evicts first."""

from __future__ import annotations

from httpendpoint.core.lru import BoundedLru


def test_the_least_recently_used_entry_goes_first() -> None:
    cache: BoundedLru[str, int] = BoundedLru(max_entries=2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now the least recently used
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    assert len(cache) == 2


def test_the_size_bound_evicts_but_keeps_the_newest_entry() -> None:
    cache: BoundedLru[str, bytes] = BoundedLru(max_entries=10, max_size=10, size=len)
    cache.put("a", b"x" * 4)
    cache.put("b", b"x" * 4)
    cache.put("c", b"x" * 4)
    assert (cache.get("a"), len(cache), cache.total_size) == (None, 2, 8)
    cache.put("huge", b"x" * 100)
    assert (cache.get("huge"), len(cache), cache.total_size) == (b"x" * 100, 1, 100)


def test_replacing_a_key_counts_its_size_once() -> None:
    cache: BoundedLru[str, bytes] = BoundedLru(max_entries=10, max_size=10, size=len)
    cache.put("a", b"x" * 6)
    cache.put("a", b"x" * 7)
    assert (len(cache), cache.total_size) == (1, 7)
    cache.clear()
    assert (len(cache), cache.total_size, cache.get("a")) == (0, 0, None)

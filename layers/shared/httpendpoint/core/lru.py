"""A bounded least-recently-used map: the one cache shape the router's scripts and the sandbox's code share."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedLru(Generic[K, V]):
    """At most `max_entries` values and, when `size` is given, at most `max_size` of their summed sizes.

    The most recently used entry is always kept, even when it alone is over `max_size`. Thread-safe.
    """

    def __init__(self, max_entries: int, max_size: int | None = None, size: Callable[[V], int] | None = None) -> None:
        self.max_entries = max_entries
        self.max_size = max_size
        self._size = size or (lambda _value: 0)
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._total = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._total -= self._size(previous)
            self._entries[key] = value
            self._total += self._size(value)
            while len(self._entries) > 1 and (
                len(self._entries) > self.max_entries or (self.max_size is not None and self._total > self.max_size)
            ):
                _, evicted = self._entries.popitem(last=False)
                self._total -= self._size(evicted)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._total = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def total_size(self) -> int:
        return self._total

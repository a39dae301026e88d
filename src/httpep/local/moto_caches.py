"""What moto's server would otherwise work out again on every request, from what does not change while the
local stack runs."""

from __future__ import annotations

import functools


def cache_moto_lookups() -> None:
    """Two things moto's server works out again on every request, from what does not change while the stack
    runs: the list of its package directory (`list_of_moto_modules`, to route a request: about 0.5 ms each,
    three per trigger), and a response class's method names (`method_names_from_class`, through
    `inspect.getmembers`, to find the action's method)."""
    from moto import backends
    from moto.core import responses, utils

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: iter(modules)
    method_names = functools.cache(utils.method_names_from_class)
    # The name responses.py imported (a copy of the list each time: callers may change theirs).
    vars(responses)["method_names_from_class"] = lambda clazz: list(method_names(clazz))

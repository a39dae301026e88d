"""What moto's server would otherwise work out again on every request, from what does not change while the
local stack runs."""

from __future__ import annotations

import functools
import json
import threading
from collections import OrderedDict
from typing import Any

# Serialized answers kept (see cache_serialized_results), and the largest result kept, as JSON text: a warm
# trigger's reads are a few hundred bytes; a big list page is serialized as before.
SERIALIZED_RESULTS = 512
SERIALIZED_RESULT_MAX_CHARS = 16_384
PLAIN_SCALARS = (str, int, float, bool, type(None))


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


def _plain(value: Any) -> bool:
    """Whether `value` is made of JSON's own types only: exactly dict (with str keys), list, str, int, float, bool
    and None, no subclass of them (moto's serializer may look at an object's class, its attributes or its
    `Meta`), so that its JSON text says all that the serializer can see of it."""
    kind = type(value)
    if kind is dict:
        return all(type(key) is str and _plain(item) for key, item in value.items())
    if kind is list:
        return all(_plain(item) for item in value)
    return kind in PLAIN_SCALARS


def cache_serialized_results() -> None:
    """moto answers an action with a plain result (a dict) that a serializer then walks member by member along
    the botocore model, looking up aliases of each member's name on the way: about 1.5 ms for the two items a
    warm trigger reads, more than all of DynamoDB's own work. What it returns depends only on the operation, the
    pretty-print setting and the result (and the response class's key transformers, where it has any), so the
    same result of the same operation is answered with the same bytes as the first time. Results that are not
    plain JSON data (an error, binary or a date in it), large ones, and those of response classes with key
    transformers are serialized as before."""
    from moto import settings
    from moto.core.responses import ActionContext, ActionResult

    serialize = ActionResult.execute_result
    answers: OrderedDict[tuple[Any, ...], tuple[Any, dict[str, Any], Any]] = OrderedDict()
    lock = threading.Lock()

    def execute_result(self: ActionResult, context: ActionContext) -> Any:
        result = self.result
        text = json.dumps(result) if _plain(result) else None
        # Key transformers (empty for most services) would change the answer without changing the result.
        transforms = getattr(context.response, "RESPONSE_KEY_PATH_TO_TRANSFORMER", None)
        if text is None or len(text) > SERIALIZED_RESULT_MAX_CHARS or transforms:
            return serialize(self, context)
        key = (
            context.service_model.service_name,
            context.operation_model.name,
            context.serializer_class,
            settings.PRETTIFY_RESPONSES,
            text,
        )
        with lock:
            found = answers.get(key)
            if found is not None:
                answers.move_to_end(key)
        if found is None:
            status, headers, body = serialize(self, context)
            found = (status, dict(headers), body)
            with lock:
                answers[key] = found
                while len(answers) > SERIALIZED_RESULTS:
                    answers.popitem(last=False)
        status, headers, body = found
        # A copy of the headers each time: the caller adds the request's own (its request id) to them.
        return status, dict(headers), body

    ActionResult.execute_result = execute_result  # type: ignore[method-assign]

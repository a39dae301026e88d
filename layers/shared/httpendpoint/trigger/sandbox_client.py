"""The seam between the router and wherever handlers run: today the sandbox function.

The router hands over the trigger event and the script; it gets back one of the sandbox's outcomes
(`response`, `unsupported`, `error`, `timeout`, `crashed`) and shapes it by the contract's rules.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from httpendpoint.core import settings
from httpendpoint.core.aws import client
from httpendpoint.core.errors import Unavailable


class Executor(Protocol):
    def run(self, payload: dict[str, Any], encoded: bytes, tenant: str) -> dict[str, Any]:
        """Run `payload` for the account `tenant`; `encoded` is the same payload as JSON, for an executor that
        sends it somewhere."""
        ...


class LambdaSandbox:
    """Invokes the sandbox function synchronously (on AWS, and on the local stack's Lambda service).

    The function is PER_TENANT (template.yaml): the account is the tenant id, so Lambda runs each account's
    requests only in execution environments of that account.
    """

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name

    def run(self, payload: dict[str, Any], encoded: bytes, tenant: str) -> dict[str, Any]:
        body, function_error = self.invoke(encoded, tenant)
        try:
            answer = json.loads(body) if body else {}
        except ValueError as exc:
            # A cut-off or garbled answer says nothing about the handler: the sandbox was not really reached.
            raise Unavailable(f"the sandbox's answer was unreadable ({type(exc).__name__})") from exc
        if not isinstance(answer, dict):
            raise Unavailable("the sandbox's answer was not a JSON object")
        if function_error:
            # The sandbox itself failed (killed, out of memory, timed out as a whole): not the user's fault alone.
            return {"outcome": "crashed", "error": f"the sandbox failed: {answer.get('errorType', 'unknown error')}"}
        return answer

    def invoke(self, encoded: bytes, tenant: str) -> tuple[bytes, str | None]:
        """Lambda's Invoke: the function's answer, and its FunctionError (None if the function did not fail)."""
        try:
            response = client("lambda").invoke(
                FunctionName=self.function_name,
                InvocationType="RequestResponse",
                Payload=encoded,
                TenantId=tenant,
            )
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable(f"the sandbox could not be reached ({type(exc).__name__})") from exc
        try:
            body = response["Payload"].read()
        except (BotoCoreError, ValueError) as exc:
            raise Unavailable(f"the sandbox's answer was unreadable ({type(exc).__name__})") from exc
        return body, response.get("FunctionError")


_override: Executor | None = None


def use(executor: Executor | None) -> None:
    """Replace the executor (tests inject an in-process one); None restores the default."""
    global _override
    _override = executor
    _default.cache_clear()


@cache
def _default() -> Executor:
    return LambdaSandbox(settings.sandbox_function())


def current() -> Executor:
    return _override or _default()

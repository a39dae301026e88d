"""Sandbox: runs one user handler per invoke, in a fresh child process without credentials."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return {"error": "NotImplemented: the sandbox is not implemented yet"}

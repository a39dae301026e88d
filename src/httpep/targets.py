"""Where `httpep` operates: the local stack (`--local`) or a deployed CloudFormation stack (`--stack`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from httpep.local.template import LOCAL_REGION, LocalTemplate

DEFAULT_AWS_PORT = 4566
DEFAULT_API_PORT = 3000


class TargetError(Exception):
    """The target cannot be used (bad port, unknown stack, missing output); the message is one line."""


@dataclass(frozen=True)
class Target:
    outputs: dict[str, str]
    region: str
    endpoint_url: str | None = None  # the embedded AWS for --local; None means real AWS

    @property
    def is_local(self) -> bool:
        return self.endpoint_url is not None

    def output(self, name: str) -> str:
        try:
            return self.outputs[name]
        except KeyError:
            raise TargetError(f"the stack has no output {name}") from None

    def client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        if self.endpoint_url is None:
            config = Config(retries={"mode": "standard", "max_attempts": 3})
            return boto3.client(service, region_name=self.region, config=config)  # type: ignore[call-overload]
        # The local stack answers at once or not at all: retrying a refused connection only delays the error.
        config = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=2, read_timeout=30)
        return boto3.client(
            service,  # type: ignore[call-overload]
            region_name=self.region,
            endpoint_url=self.endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=config,
        )

    @property
    def api_root(self) -> str:
        return self.output("ApiRoot")


def _port(variable: str, default: int) -> int:
    raw = os.environ.get(variable)
    if raw is None or raw == "":
        return default
    try:
        port = int(raw)
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise TargetError(f"{variable}={raw!r} is not a port number")
    return port


def local_target() -> Target:
    """The stack `make dev` runs; ports follow the same AWS_PORT / PORT variables as the Makefile."""
    aws_port = _port("AWS_PORT", DEFAULT_AWS_PORT)
    api_port = _port("PORT", DEFAULT_API_PORT)
    from httpep.local.server import API_BASE_PATH

    outputs = {**LocalTemplate().outputs(), "ApiRoot": f"http://127.0.0.1:{api_port}{API_BASE_PATH}"}
    return Target(outputs=outputs, region=LOCAL_REGION, endpoint_url=f"http://127.0.0.1:{aws_port}")


def stack_target(stack_name: str, region: str | None) -> Target:
    """A deployed stack; its table and bucket names come from its CloudFormation outputs."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        session = boto3.Session(region_name=region)
        stacks = session.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message") or str(exc)
        raise TargetError(f"cannot read stack {stack_name}: {message}") from None
    except BotoCoreError as exc:
        raise TargetError(f"cannot read stack {stack_name}: {exc}") from None
    if not stacks:
        raise TargetError(f"cannot read stack {stack_name}: it does not exist")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    return Target(outputs=outputs, region=session.region_name or "us-east-1")

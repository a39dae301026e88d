"""Where `httpep` operates: the local stack (`--local`) or a deployed CloudFormation stack (`--stack`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from httpep.local.template import LOCAL_REGION, LocalTemplate

DEFAULT_AWS_PORT = 4566
DEFAULT_API_PORT = 3000


class TargetError(Exception):
    pass


@dataclass(frozen=True)
class Target:
    outputs: dict[str, str]
    region: str
    endpoint_url: str | None = None  # the embedded AWS for --local; None means real AWS

    def output(self, name: str) -> str:
        try:
            return self.outputs[name]
        except KeyError:
            raise TargetError(f"the stack has no output {name}") from None

    def client(self, service: str) -> Any:
        import boto3

        if self.endpoint_url is None:
            return boto3.client(service, region_name=self.region)  # type: ignore[call-overload]
        return boto3.client(
            service,  # type: ignore[call-overload]
            region_name=self.region,
            endpoint_url=self.endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    @property
    def api_root(self) -> str:
        return self.output("ApiRoot")


def local_target() -> Target:
    """The stack `make dev` runs; ports follow the same AWS_PORT / PORT variables as the Makefile."""
    aws_port = int(os.environ.get("AWS_PORT", DEFAULT_AWS_PORT))
    api_port = int(os.environ.get("PORT", DEFAULT_API_PORT))
    from httpep.local.server import API_BASE_PATH

    outputs = {**LocalTemplate().outputs(), "ApiRoot": f"http://127.0.0.1:{api_port}{API_BASE_PATH}"}
    return Target(outputs=outputs, region=LOCAL_REGION, endpoint_url=f"http://127.0.0.1:{aws_port}")


def stack_target(stack_name: str, region: str | None) -> Target:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    session = boto3.Session(region_name=region)
    try:
        stacks = session.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except (ClientError, BotoCoreError) as exc:
        raise TargetError(f"cannot read stack {stack_name}: {exc}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    return Target(outputs=outputs, region=session.region_name or "us-east-1")

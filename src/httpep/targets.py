"""Where `httpep` operates: the local stack (`--local`) or a deployed CloudFormation stack (`--stack`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from httpep.local import defaults


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
            config=config,
            **defaults.boto3_credentials(),
        )

    @property
    def api_root(self) -> str:
        return self.output("ApiRoot")


def local_target(template: Path | None = None) -> Target:
    """The stack `make dev` runs, wherever its ports are: `httpep serve` wrote them to its state file."""
    from httpep.local import state

    try:
        running = state.read(template)
    except state.NoLocalStack as exc:
        raise TargetError(str(exc)) from None
    outputs = {**running.outputs, "ApiRoot": running.api_root}
    return Target(outputs=outputs, region=running.region, endpoint_url=running.aws_endpoint)


def stack_target(stack_name: str, region: str | None) -> Target:
    """A deployed stack; its table and bucket names come from its CloudFormation outputs."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

    try:
        session = boto3.Session(region_name=region)
        stacks = session.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message") or str(exc)
        raise TargetError(f"cannot read stack {stack_name}: {message}") from None
    except NoRegionError:
        raise TargetError(
            f"cannot read stack {stack_name}: no AWS region; pass --region REGION or set AWS_REGION"
        ) from None
    except NoCredentialsError:
        raise TargetError(
            f"cannot read stack {stack_name}: no AWS credentials; configure them (aws configure, AWS_PROFILE)"
        ) from None
    except BotoCoreError as exc:
        raise TargetError(f"cannot read stack {stack_name}: {exc}") from None
    if not stacks:
        raise TargetError(f"cannot read stack {stack_name}: it does not exist")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    return Target(outputs=outputs, region=session.region_name or defaults.REGION)

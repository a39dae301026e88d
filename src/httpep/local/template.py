"""What the local stack learns from template.yaml: resource names, functions, API routes and outputs.

Nothing here lists a route, table or function by hand: everything is read from the template, so a change
there is a change here.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from httpep.local import defaults

# Kept under these names for the modules and tests that import them.
LOCAL_STACK_NAME = defaults.STACK_NAME
LOCAL_REGION = defaults.REGION


class TemplateNotFound(Exception):
    """No template.yaml in the working directory or above it (and no --template)."""


def find_template(start: Path | None = None) -> Path:
    """template.yaml in `start` (default: the working directory) or the nearest directory above it.

    Never the package's own location: an installed `httpep` works on whichever checkout it is run in.
    """
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / defaults.TEMPLATE_NAME
        if candidate.is_file():
            return candidate
    raise TemplateNotFound(
        f"no {defaults.TEMPLATE_NAME} in {here} or above it: run httpep in the service's checkout,"
        " or pass --template PATH"
    )


def _quiet_sam_cli() -> None:
    os.environ.setdefault("SAM_CLI_TELEMETRY", "0")
    # SAM CLI prints an authorizer fidelity banner through this logger at WARNING on every parse.
    logging.getLogger("samcli.lib.providers.api_collector").setLevel(logging.ERROR)


@dataclass
class LocalTemplate:
    """The template as the local stack sees it, with `!Ref`s to storage resolved to local names."""

    path: Path = field(default_factory=find_template)
    parameter_overrides: dict[str, str] = field(default_factory=dict)

    @cached_property
    def raw(self) -> dict[str, Any]:
        from samcli.yamlhelper import yaml_parse

        return dict(yaml_parse(self.path.read_text()))

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return dict(self.raw.get("Resources", {}))

    def resources_of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {lid: res for lid, res in self.resources.items() if res.get("Type") == resource_type}

    def gateway_response_body(self, response_type: str) -> str:
        """The JSON body the API's gateway response `response_type` (e.g. ACCESS_DENIED) gives on AWS; it must
        be a plain JSON text (no `$context` variables), as the local stack serves it as it is."""
        for api in self.resources_of_type("AWS::Serverless::Api").values():
            responses = api.get("Properties", {}).get("GatewayResponses", {})
            body = responses.get(response_type, {}).get("ResponseTemplates", {}).get("application/json")
            if isinstance(body, str):
                return body
        raise KeyError(f"the template has no {response_type} gateway response with a JSON body")

    @cached_property
    def local_names(self) -> dict[str, str]:
        """Physical name of each table and bucket on the local stack, by logical id."""
        names = {}
        for logical_id, resource in self.resources.items():
            if resource.get("Type") == "AWS::DynamoDB::Table":
                names[logical_id] = f"{LOCAL_STACK_NAME}-{logical_id}"
            elif resource.get("Type") == "AWS::S3::Bucket":
                names[logical_id] = f"{LOCAL_STACK_NAME}-{logical_id}".lower()
        return names

    @cached_property
    def stacks(self) -> list[Any]:
        from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider

        _quiet_sam_cli()
        overrides = {**self.local_names, **self.parameter_overrides}
        stacks, _ = SamLocalStackProvider.get_stacks(str(self.path), parameter_overrides=overrides)
        return list(stacks)

    @cached_property
    def function_provider(self) -> Any:
        from samcli.lib.providers.sam_function_provider import SamFunctionProvider

        return SamFunctionProvider(self.stacks)

    @cached_property
    def api(self) -> Any:
        from samcli.lib.providers.api_provider import ApiProvider

        _quiet_sam_cli()
        return ApiProvider(self.stacks, cwd=str(self.path.parent)).api

    def functions(self) -> list[Any]:
        return list(self.function_provider.get_all())

    def local_function_name(self, value: str) -> str:
        """`!Ref Fn.Alias` (SAM's AutoPublishAlias) reaches the local stack unresolved as "Fn.Alias"; locally a
        function has no versions, so its alias is the function itself."""
        name, dot, suffix = value.partition(".")
        if dot and suffix in ("Alias", "Version") and name in self.resources_of_type("AWS::Serverless::Function"):
            return name
        return value

    def has_aws_permissions(self, logical_id: str) -> bool:
        """False for a function whose explicit role grants its code nothing: it gets no credentials at all.

        Writing its own logs (`logs:*`) is the Lambda runtime's business, not the code's, so a logs-only role
        counts as granting nothing.
        """
        properties = self.resources.get(logical_id, {}).get("Properties", {})
        role = properties.get("Role")
        if role is None:
            return True
        role_id = role.get("Fn::GetAtt", [None])[0] if isinstance(role, dict) else None
        role_properties = self.resources.get(str(role_id), {}).get("Properties", {})
        if role_properties.get("ManagedPolicyArns"):
            return True
        return any(not action.startswith("logs:") for action in _role_actions(role_properties))

    def outputs(self) -> dict[str, str]:
        """The template's Outputs whose value is a plain `!Ref` to a table or bucket, as local names."""
        resolved = {}
        for name, output in self.raw.get("Outputs", {}).items():
            value = output.get("Value")
            if isinstance(value, dict) and value.get("Ref") in self.local_names:
                resolved[name] = self.local_names[value["Ref"]]
        return resolved


def _role_actions(role_properties: dict[str, Any]) -> list[str]:
    """Every action an AWS::IAM::Role's inline policies allow."""
    actions: list[str] = []
    for policy in role_properties.get("Policies", []):
        for statement in policy.get("PolicyDocument", {}).get("Statement", []):
            if statement.get("Effect") == "Allow":
                action = statement.get("Action", [])
                actions.extend([action] if isinstance(action, str) else action)
    return actions

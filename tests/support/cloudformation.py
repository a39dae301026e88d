"""template.yaml as CloudFormation will see it: SAM's transform applied, as `sam validate` applies it."""

from __future__ import annotations

import copy
import os
from functools import cache
from typing import Any

from httpep.local.template import LOCAL_REGION, LocalTemplate


class NoManagedPolicies:
    """The managed-policy loader SAM asks for: offline, it knows none (the template names none by short name)."""

    def load(self) -> dict[str, str]:
        return {}


@cache
def transformed(parameters: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    """The CloudFormation template SAM produces, for these parameter values (defaults for the rest)."""
    from samtranslator.translator.transform import transform

    template = copy.deepcopy(LocalTemplate().raw)
    # As `sam validate` does: code lives in S3 once packaged; a local directory is no valid CodeUri to SAM.
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = f"s3://packaged/{logical_id}.zip"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            resource["Properties"]["ContentUri"] = f"s3://packaged/{logical_id}.zip"
    previous = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = LOCAL_REGION  # SAM fills AWS::Region from the environment
    try:
        return dict(transform(template, dict(parameters), NoManagedPolicies()))
    finally:
        if previous is None:
            del os.environ["AWS_DEFAULT_REGION"]
        else:
            os.environ["AWS_DEFAULT_REGION"] = previous


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {lid: res for lid, res in template["Resources"].items() if res["Type"] == resource_type}

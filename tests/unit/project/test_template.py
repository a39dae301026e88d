"""The template is the single source of routes, names and settings; the local stack reads it faithfully."""

from __future__ import annotations

from pathlib import Path

import pytest
from moto import mock_aws

from httpep.local.resources import create_resources
from httpep.local.runner import function_environment
from httpep.local.template import LocalTemplate
from tests.support.aws import aws_client
from tests.support.repo import REPO_ROOT

API = "/api/v1/http-endpoint"
CONTRACT_ROUTES = {
    ("PUT", API + "/{id}"),
    ("GET", API + "/{id}"),
    ("PATCH", API + "/{id}"),
    ("DELETE", API + "/{id}"),
    ("GET", API + "/list"),
    ("GET", API + "/{id}/invocations"),
    *((method, API + "/u/{path}") for method in ("GET", "POST", "PUT", "PATCH", "DELETE")),
    *((method, "/api/v2/files/{path+}") for method in ("PUT", "GET", "DELETE")),
}


def routes_of(template: LocalTemplate) -> set[tuple[str, str]]:
    return {(method, route.path) for route in template.api.routes for method in route.methods}


def test_template_routes_are_exactly_the_contract(template: LocalTemplate) -> None:
    assert routes_of(template) == CONTRACT_ROUTES


def test_every_route_but_the_trigger_uses_the_token_authorizer(template: LocalTemplate) -> None:
    """The router authenticates triggers itself (the endpoint's `auth` decides); the rest needs a token."""
    authorizers = {(route.path, route.authorizer_name) for route in template.api.routes}
    assert {name for path, name in authorizers if "/u/" not in path} == {"TokenAuthorizer"}
    assert {name for path, name in authorizers if "/u/" in path} == {None}


def test_every_function_has_code_and_a_sample_event(template: LocalTemplate) -> None:
    for function in template.functions():
        code = Path(function.codeuri)
        assert (REPO_ROOT / code / "app.py").is_file(), function.name
        assert (REPO_ROOT / "events" / f"{code.name}.json").is_file(), function.name
        assert [Path(layer.codeuri).name for layer in function.layers] == ["shared"], function.name


def test_only_the_sandbox_runs_without_aws_permissions(template: LocalTemplate) -> None:
    without = {f.name for f in template.functions() if not template.has_aws_permissions(f.name)}
    assert without == {"SandboxFunction"}


def test_function_environment_is_the_templates_with_local_names(template: LocalTemplate) -> None:
    functions = {f.name: f for f in template.functions()}
    router = function_environment(template, functions["RouterFunction"], "http://aws", "http://lambda")
    assert router["ENDPOINTS_TABLE"] == template.local_names["EndpointsTable"]
    assert router["SCRIPT_BUCKET"] == template.local_names["ScriptBucket"]
    assert router["SANDBOX_FUNCTION"] == "SandboxFunction"
    assert router["AWS_ACCESS_KEY_ID"] == "testing"
    assert router["TOKENS_TABLE"] == template.local_names["TokensTable"]
    sandbox = function_environment(template, functions["SandboxFunction"], "http://aws", "http://lambda")
    assert not {key for key in sandbox if key.startswith("AWS_") and ("KEY" in key or "TOKEN" in key)}
    assert "ENDPOINTS_TABLE" not in sandbox


def test_outputs_resolve_to_local_names(template: LocalTemplate) -> None:
    outputs = template.outputs()
    assert outputs["EndpointsTableName"] == template.local_names["EndpointsTable"]
    assert outputs["TokensTableName"] == template.local_names["TokensTable"]
    assert outputs["InvocationsTableName"] == template.local_names["InvocationsTable"]
    assert outputs["ScriptBucketName"] == template.local_names["ScriptBucket"]


def test_parameter_overrides_reach_the_functions() -> None:
    template = LocalTemplate(parameter_overrides={"EndpointTimeout": "4"})
    router = next(f for f in template.functions() if f.name == "RouterFunction")
    assert str(router.environment["Variables"]["ENDPOINT_TIMEOUT"]) == "4"


@pytest.mark.usefixtures("aws")
def test_tables_and_bucket_are_built_from_the_template(template: LocalTemplate) -> None:
    dynamodb = aws_client("dynamodb")
    for logical_id, resource in template.resources_of_type("AWS::DynamoDB::Table").items():
        table = dynamodb.describe_table(TableName=template.local_names[logical_id])["Table"]
        assert table["KeySchema"] == resource["Properties"]["KeySchema"]
        indexes = {i["IndexName"]: i["KeySchema"] for i in table.get("GlobalSecondaryIndexes", [])}
        declared = resource["Properties"].get("GlobalSecondaryIndexes", [])
        assert indexes == {i["IndexName"]: i["KeySchema"] for i in declared}
        ttl = dynamodb.describe_time_to_live(TableName=template.local_names[logical_id])["TimeToLiveDescription"]
        if "TimeToLiveSpecification" in resource["Properties"]:
            assert ttl["AttributeName"] == resource["Properties"]["TimeToLiveSpecification"]["AttributeName"]
            assert ttl["TimeToLiveStatus"] == "ENABLED"
        else:
            assert ttl["TimeToLiveStatus"] == "DISABLED"
    s3 = aws_client("s3")
    bucket = template.local_names["ScriptBucket"]
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"


def test_creating_resources_twice_keeps_what_exists(template: LocalTemplate) -> None:
    with mock_aws():
        create_resources(template, aws_client)
        create_resources(template, aws_client)
        tables = aws_client("dynamodb").list_tables()["TableNames"]
        assert sorted(tables) == sorted(
            template.local_names[lid] for lid in template.resources_of_type("AWS::DynamoDB::Table")
        )


def test_no_lifecycle_rule_can_expire_a_pinned_script_version(template: LocalTemplate) -> None:
    """Endpoints are pinned to S3 version ids: a rule expiring noncurrent versions would break them."""
    bucket = template.resources["ScriptBucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert "LifecycleConfiguration" not in bucket


def test_the_api_passes_every_body_as_bytes(template: LocalTemplate) -> None:
    """Files are raw bytes (PUT FILES_ROOT/...); without `*/*` API Gateway would mangle binary uploads."""
    api = template.resources["HttpEndpointApi"]["Properties"]
    assert api["BinaryMediaTypes"] == ["*~1*"]

"""The stack as CloudFormation receives it (SAM's transform applied): one stage, logs with retention, access
logs, throttling, alarms, canary rollouts through aliases, storage that survives mistakes."""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

import pytest

from httpendpoint.auth import BEARER
from httpendpoint.stores.token_store import TOKEN_BYTES, TOKEN_PREFIX
from tests.support.cloudformation import resources_of_type, transformed

ALARM_ACTIONS = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return transformed()


def only(resources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    (resource,) = resources.values()
    return resource


def functions(cfn: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return resources_of_type(cfn, "AWS::Lambda::Function")


def test_the_api_has_one_stage(cfn: dict[str, Any]) -> None:
    assert only(resources_of_type(cfn, "AWS::ApiGateway::Stage"))["Properties"]["StageName"] == "Prod"
    # A deployment with a StageName creates that stage too (SAM's `Stage`, beside the API's own).
    for deployment in resources_of_type(cfn, "AWS::ApiGateway::Deployment").values():
        assert "StageName" not in deployment["Properties"]


def test_every_function_logs_to_its_own_group_kept_log_retention_days(cfn: dict[str, Any]) -> None:
    groups = [fn["Properties"]["LoggingConfig"]["LogGroup"]["Ref"] for fn in functions(cfn).values()]
    assert len(set(groups)) == len(groups) == len(functions(cfn))
    for group in groups:
        properties = cfn["Resources"][group]["Properties"]
        assert properties["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        assert properties["LogGroupName"]["Fn::Sub"].startswith("/aws/lambda/${AWS::StackName}-")
    assert cfn["Parameters"]["LogRetentionDays"]["Default"] == 30


def test_the_stage_writes_a_json_access_log_of_every_request_refused_ones_included(cfn: dict[str, Any]) -> None:
    stage = only(resources_of_type(cfn, "AWS::ApiGateway::Stage"))["Properties"]
    setting = stage["AccessLogSetting"]
    log_group = cfn["Resources"][setting["DestinationArn"]["Fn::GetAtt"][0]]
    assert log_group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    fields = json.loads(setting["Format"])
    assert fields == fields | {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "caller": "$context.identity.caller",
        "account": "$context.authorizer.account",
        "method": "$context.httpMethod",
        "resourcePath": "$context.resourcePath",
        "status": "$context.status",
        "protocol": "$context.protocol",
        "responseLength": "$context.responseLength",
        "authorizerError": "$context.authorizer.error",
    }
    # API Gateway writes logs only through the account's CloudWatch role, which the stack sets before the API.
    account = only(resources_of_type(cfn, "AWS::ApiGateway::Account"))
    assert "CloudWatchRoleArn" in account["Properties"]


def test_every_method_is_throttled_by_default(cfn: dict[str, Any]) -> None:
    stage = only(resources_of_type(cfn, "AWS::ApiGateway::Stage"))["Properties"]
    assert {
        "ResourcePath": "/*",
        "HttpMethod": "*",
        "ThrottlingRateLimit": {"Ref": "ThrottlingRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "ThrottlingBurstLimit"},
    } in stage["MethodSettings"]


def validation_expression(cfn: dict[str, Any]) -> str:
    (api,) = resources_of_type(cfn, "AWS::ApiGateway::RestApi").values()
    schemes = api["Properties"]["Body"]["components"]["securitySchemes"]
    authorizer = schemes["TokenAuthorizer"]["x-amazon-apigateway-authorizer"]
    return str(authorizer["identityValidationExpression"])


def test_the_gateway_lets_every_minted_token_through_to_the_authorizer(cfn: dict[str, Any]) -> None:
    pattern = re.compile(validation_expression(cfn))
    for scheme in ("Bearer", "bearer", "BEARER"):
        for _ in range(200):
            header = f"{scheme} {TOKEN_PREFIX}{secrets.token_urlsafe(TOKEN_BYTES)}"
            assert pattern.fullmatch(header), header
            assert BEARER.fullmatch(header), header


@pytest.mark.parametrize(
    "header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer a b", "Token hep_x", "Bearer hep_x\n", "hep_x"]
)
def test_the_gateway_refuses_what_the_authorizer_would_refuse(cfn: dict[str, Any], header: str) -> None:
    assert not re.fullmatch(validation_expression(cfn), header)
    assert not BEARER.fullmatch(header)


def alarms(cfn: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return resources_of_type(cfn, "AWS::CloudWatch::Alarm")


def alarm_metrics(alarm: dict[str, Any]) -> list[tuple[str, str, list[Any]]]:
    """(namespace, metric, dimensions) of an alarm, whether on one metric or on metric math."""
    properties = alarm["Properties"]
    if "MetricName" in properties:
        return [(properties["Namespace"], properties["MetricName"], properties.get("Dimensions", []))]
    return [
        (m["MetricStat"]["Metric"]["Namespace"], m["MetricStat"]["Metric"]["MetricName"],
         m["MetricStat"]["Metric"].get("Dimensions", []))
        for m in properties["Metrics"]
        if "MetricStat" in m
    ]  # fmt: skip


def test_every_alarm_notifies_the_topic_when_one_is_given(cfn: dict[str, Any]) -> None:
    assert len(alarms(cfn)) >= 4
    for logical_id, alarm in alarms(cfn).items():
        assert alarm["Properties"]["AlarmActions"] == ALARM_ACTIONS, logical_id
    assert cfn["Conditions"]["HasAlarmTopic"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]}


def test_each_function_has_error_and_throttle_alarms(cfn: dict[str, Any]) -> None:
    watched = {
        (metric, dimensions[0]["Value"]["Ref"])
        for alarm in alarms(cfn).values()
        for namespace, metric, dimensions in alarm_metrics(alarm)
        if namespace == "AWS/Lambda"
    }
    assert watched == {(metric, function) for function in functions(cfn) for metric in ("Errors", "Throttles")}


def test_the_api_the_sandbox_and_the_tables_are_watched(cfn: dict[str, Any]) -> None:
    watched = {(str(ns), metric) for alarm in alarms(cfn).values() for ns, metric, _ in alarm_metrics(alarm)}
    assert watched >= {
        ("AWS/ApiGateway", "5XXError"),
        ("AWS/ApiGateway", "Latency"),
        ("AWS/DynamoDB", "ReadThrottleEvents"),
        ("AWS/DynamoDB", "WriteThrottleEvents"),
    }
    timeouts = [a for a in alarms(cfn).values() if ("Timeouts" in [m for _, m, _ in alarm_metrics(a)])]
    assert timeouts and timeouts[0]["Properties"]["Namespace"] == {"Ref": "MetricsNamespace"}
    latency = next(a for a in alarms(cfn).values() if a["Properties"].get("MetricName") == "Latency")
    assert latency["Properties"]["ExtendedStatistic"] == "p99"
    tables = {
        dimensions[0]["Value"]["Ref"]
        for alarm in alarms(cfn).values()
        for namespace, _, dimensions in alarm_metrics(alarm)
        if namespace == "AWS/DynamoDB"
    }
    assert tables == set(resources_of_type(cfn, "AWS::DynamoDB::Table"))


def test_the_dashboard_shows_every_alarm(cfn: dict[str, Any]) -> None:
    body = only(resources_of_type(cfn, "AWS::CloudWatch::Dashboard"))["Properties"]["DashboardBody"]["Fn::Sub"][0]
    for logical_id in alarms(cfn):
        assert "${" + logical_id + ".Arn}" in body, logical_id


@pytest.mark.parametrize("function", ["RouterFunction", "SandboxFunction"])
def test_the_router_and_the_sandbox_roll_out_as_canaries_stopped_by_alarms(cfn: dict[str, Any], function: str) -> None:
    alias = next(
        a
        for a in resources_of_type(cfn, "AWS::Lambda::Alias").values()
        if a["Properties"]["FunctionName"]["Ref"] == function
    )
    group_id = alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]["DeploymentGroupName"]["Ref"]
    group = cfn["Resources"][group_id]["Properties"]
    assert "Canary10Percent5Minutes" in json.dumps(group["DeploymentConfigName"])
    assert "DEPLOYMENT_STOP_ON_ALARM" in group["AutoRollbackConfiguration"]["Events"]
    assert {a["Name"]["Ref"] for a in group["AlarmConfiguration"]["Alarms"]} <= set(alarms(cfn))
    assert group["AlarmConfiguration"]["Alarms"]


def test_the_api_and_the_router_call_the_aliases(cfn: dict[str, Any]) -> None:
    aliases = {
        a["Properties"]["FunctionName"]["Ref"]: logical_id
        for logical_id, a in resources_of_type(cfn, "AWS::Lambda::Alias").items()
    }
    (api,) = resources_of_type(cfn, "AWS::ApiGateway::RestApi").values()
    trigger = api["Properties"]["Body"]["paths"]["/api/v1/http-endpoint/u/{path}"]
    for method in trigger.values():
        assert "${" + aliases["RouterFunction"] + "}" in json.dumps(method["x-amazon-apigateway-integration"]["uri"])
    router = cfn["Resources"]["RouterFunction"]["Properties"]
    assert router["Environment"]["Variables"]["SANDBOX_FUNCTION"] == {"Ref": aliases["SandboxFunction"]}


def test_the_bucket_refuses_plain_http_and_keeps_every_version(cfn: dict[str, Any]) -> None:
    policy = only(resources_of_type(cfn, "AWS::S3::BucketPolicy"))["Properties"]
    (bucket_id,) = resources_of_type(cfn, "AWS::S3::Bucket")
    assert policy["Bucket"] == {"Ref": bucket_id}
    (deny,) = policy["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*" and deny["Action"] == "s3:*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert {"Fn::GetAtt": [bucket_id, "Arn"]} in deny["Resource"]
    assert {"Fn::Sub": "${" + bucket_id + ".Arn}/*"} in deny["Resource"]
    bucket = cfn["Resources"][bucket_id]
    assert "LifecycleConfiguration" not in bucket["Properties"]
    assert bucket["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}


def test_tables_are_retained_and_deletion_protected_by_parameter(cfn: dict[str, Any]) -> None:
    for logical_id, table in resources_of_type(cfn, "AWS::DynamoDB::Table").items():
        assert table["DeletionPolicy"] == "Retain", logical_id
        assert table["Properties"]["DeletionProtectionEnabled"] == {"Ref": "DeletionProtection"}, logical_id
    assert cfn["Parameters"]["DeletionProtection"]["Default"] == "true"


def test_a_custom_domain_is_mapped_and_given_a_record_only_when_configured(cfn: dict[str, Any]) -> None:
    domain = only(resources_of_type(cfn, "AWS::ApiGateway::DomainName"))
    mapping = only(resources_of_type(cfn, "AWS::ApiGateway::BasePathMapping"))
    record = only(resources_of_type(cfn, "AWS::Route53::RecordSet"))
    assert domain["Condition"] == mapping["Condition"] == "HasCustomDomain"
    assert record["Condition"] == "HasDnsRecord"
    assert domain["Properties"]["DomainName"] == {"Ref": "DomainName"}
    assert domain["Properties"]["RegionalCertificateArn"] == {"Ref": "CertificateArn"}
    assert record["Properties"]["HostedZoneId"] == {"Ref": "HostedZoneId"}
    assert cfn["Conditions"]["HasCustomDomain"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "DomainName"}, ""]}]}
    # The stable URL is the one handed out whenever there is one.
    root = cfn["Outputs"]["ApiRoot"]["Value"]["Fn::If"]
    assert root[0] == "HasCustomDomain"
    assert root[1] == {"Fn::Sub": "https://${DomainName}/api/v1/http-endpoint"}

"""Exact IAM: each function's role allows what its code calls, on what it touches, and nothing else.

What the code calls is recorded, not declared: every function's handler runs on moto through scenarios that
reach each of its store calls (success and failure paths), and every AWS request it makes is noted. The roles
come from the template as CloudFormation receives it (SAM's transform applied). A grant the code never uses,
and a call the role does not allow, both fail.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import botocore.client
import pytest

from httpendpoint.stores import token_store
from httpep.local.template import LocalTemplate
from tests.support.aws import aws_client
from tests.support.cloudformation import resources_of_type, transformed
from tests.support.events import api_event, files_request, load_event
from tests.support.functions import FakeContext, load_function

Grant = tuple[str, str]  # (IAM action, the resource it applies to: a logical id, "Id/*", "Id/index/x", "Fn:alias")

# ---------------------------------------------------------------------------------------------- the roles


def resource_key(resource: Any, template: dict[str, Any]) -> str:
    """A policy's Resource (an intrinsic over the template's resources) as a key comparable with calls."""
    if resource == "*":
        return "*"
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        logical_id, attribute = resource["Fn::GetAtt"]
        assert attribute == "Arn", resource
        return str(logical_id)
    if isinstance(resource, dict) and "Ref" in resource:
        target = template["Resources"][resource["Ref"]]
        assert target["Type"] == "AWS::Lambda::Alias", resource
        return f"{target['Properties']['FunctionName']['Ref']}:{target['Properties']['Name']}"
    if isinstance(resource, dict) and "Fn::Sub" in resource and isinstance(resource["Fn::Sub"], str):
        text = resource["Fn::Sub"]
        assert text.startswith("${") and ".Arn}" in text, resource
        logical_id, rest = text[2:].split(".Arn}", 1)
        return logical_id + rest
    raise AssertionError(f"unexpected policy resource {resource!r}")


def granted(function: str) -> set[Grant]:
    """Every (action, resource) the function's role allows, from the transformed template."""
    template = transformed()
    role = template["Resources"][function]["Properties"]["Role"]
    assert isinstance(role, dict) and "Fn::GetAtt" in role, f"{function} must have its own hand-written role"
    properties = template["Resources"][role["Fn::GetAtt"][0]]["Properties"]
    assert not properties.get("ManagedPolicyArns"), f"{function}: managed policies grant more than the code uses"
    grants = set()
    for policy in properties.get("Policies", []):
        for statement in conditional(policy["PolicyDocument"]["Statement"], template):
            assert statement["Effect"] == "Allow" and not statement.get("Condition"), statement
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            grants |= {(action, resource_key(r, template)) for action in actions for r in resources}
    return grants


def conditional(statements: list[Any], template: dict[str, Any]) -> list[dict[str, Any]]:
    """The statements as a stack with default parameters gets them: an `Fn::If` on a condition that holds by
    default (e.g. RecordInvocations) is its first branch, and `AWS::NoValue` is no statement."""
    defaults = {name: str(p.get("Default", "")) for name, p in template.get("Parameters", {}).items()}
    chosen = []
    for statement in statements:
        if "Fn::If" in statement:
            condition, when_true, when_false = statement["Fn::If"]
            statement = when_true if holds(template["Conditions"][condition], defaults) else when_false
        if statement != {"Ref": "AWS::NoValue"}:
            chosen.append(statement)
    return chosen


def holds(condition: dict[str, Any], parameters: dict[str, str]) -> bool:
    """A condition made of `Fn::Equals` over a parameter and a string (the only kind a role's statement uses)."""
    (reference, value) = condition["Fn::Equals"]
    return bool(parameters[reference["Ref"]] == value)


def runtime_needs(function: str) -> set[Grant]:
    """What Lambda itself does with the role: write the function's own log group, and X-Ray when tracing."""
    properties = transformed()["Resources"][function]["Properties"]
    log_group = properties["LoggingConfig"]["LogGroup"]["Ref"]
    needs = {("logs:CreateLogStream", log_group), ("logs:PutLogEvents", log_group)}
    if properties.get("TracingConfig", {}).get("Mode") == "Active":
        needs |= {("xray:PutTraceSegments", "*"), ("xray:PutTelemetryRecords", "*")}
    return needs


# ---------------------------------------------------------------------------------------------- the calls


class CallRecorder:
    """Notes every AWS API call made while a function's handler runs (a wrapper of botocore's one funnel)."""

    def __init__(self) -> None:
        self.function: str | None = None
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    @contextmanager
    def running(self, function: str) -> Iterator[None]:
        self.function = function
        try:
            yield
        finally:
            self.function = None


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> CallRecorder:
    recorder = CallRecorder()
    original = getattr(botocore.client.BaseClient, "_make_api_call")  # noqa: B009  # private: typed stubs lack it

    def record(client: Any, operation: str, params: dict[str, Any]) -> Any:
        if recorder.function is not None:
            recorder.calls.append((client.meta.service_model.service_name, operation, params))
        return original(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    return recorder


TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def needed(service: str, operation: str, params: dict[str, Any], template: LocalTemplate) -> set[Grant]:
    """The IAM grants one API call needs, on the template's logical resources (local names mapped back)."""
    logical = {name: logical_id for logical_id, name in template.local_names.items()}
    if service == "dynamodb" and operation == "TransactWriteItems":
        # A transaction is authorised item by item, each with its own action.
        return {
            (f"dynamodb:{TRANSACT_ACTIONS[kind]}", logical[item[kind]["TableName"]])
            for item in params["TransactItems"]
            for kind in item
        }
    if service == "dynamodb" and operation == "BatchGetItem":
        # A batch is authorised table by table.
        return {("dynamodb:BatchGetItem", logical[table]) for table in params["RequestItems"]}
    if service == "dynamodb":
        table = logical[params["TableName"]]
        return {(f"dynamodb:{operation}", f"{table}/index/{params['IndexName']}" if "IndexName" in params else table)}
    if service == "s3" and operation == "GetObject":
        # S3 answers a missing key with 404 NoSuchKey (the code's "script missing") only to a caller that may
        # list the bucket; anyone else gets 403, which the code would report as the store being unavailable.
        bucket = logical[params["Bucket"]]
        action = "s3:GetObjectVersion" if "VersionId" in params else "s3:GetObject"
        return {(action, f"{bucket}/*"), ("s3:ListBucket", bucket)}
    if service == "s3" and operation == "ListObjectVersions":
        return {("s3:ListBucketVersions", logical[params["Bucket"]])}
    if service == "s3" and operation == "ListObjectsV2":
        return {("s3:ListBucket", logical[params["Bucket"]])}
    if service == "s3" and operation in ("PutObject", "HeadObject", "DeleteObject"):
        action = {"HeadObject": "s3:GetObject"}.get(operation, f"s3:{operation}")
        return {(action, f"{logical[params['Bucket']]}/*")}
    if service == "lambda" and operation == "Invoke":
        # The function to call comes from the template (`!Ref Fn.Alias`, "Fn.Alias" on moto): the alias's grant.
        name, _, suffix = params["FunctionName"].partition(".")
        assert suffix == "Alias", f"the sandbox must be invoked through its alias, not {params['FunctionName']!r}"
        alias = template.resources[name]["Properties"]["AutoPublishAlias"]
        return {("lambda:InvokeFunction", f"{name}:{alias}")}
    raise AssertionError(f"no IAM mapping for {service}.{operation}: add it to `needed`")


# ---------------------------------------------------------------------------------------------- scenarios
# Each function's scenarios reach every AWS call its code can make (the failure paths too). Setting things up
# (scripts, tokens, endpoints) is not recorded: only what runs inside the function's handler.

DRIVE_PATH = "/jaydoe/my_repo/fs/Instabase Drive/handlers/{}"
HELLO = b"def handler(request):\n    return 'Hello World'\n"


def put_script(name: str) -> str:
    drive_path = DRIVE_PATH.format(name)
    aws_client("s3").put_object(Bucket=os.environ["SCRIPT_BUCKET"], Key=drive_path.lstrip("/"), Body=HELLO)
    return drive_path


def handler(directory: str, event: dict[str, Any]) -> Any:
    return load_function(directory).lambda_handler(event, FakeContext())


def create(endpoint_id: str, path: str, drive_path: str) -> dict[str, Any]:
    body = {"path": path, "handler_script_path": drive_path}
    return dict(handler("create", api_event("create", path_parameters={"id": endpoint_id}, body=body)))


def authorizer_scenarios(run: Callable[[Callable[[], Any]], Any]) -> None:
    token = token_store.create_token("jaydoe")
    revoked = token_store.create_token("jaydoe")
    token_store.revoke_token(revoked)
    allow = {**load_event("authorizer"), "authorizationToken": f"Bearer {token}"}
    assert run(lambda: handler("authorizer", allow))["principalId"] == "jaydoe"
    for header in (f"Bearer {revoked}", "Bearer hep_unknown", "Basic abc"):
        event = {**load_event("authorizer"), "authorizationToken": header}
        # A refusal is an exception, which API Gateway turns into a 401.
        with pytest.raises(Exception, match="Unauthorized"):
            run(partial(handler, "authorizer", event))


def create_scenarios(run: Callable[[Callable[[], Any]], Any]) -> None:
    drive_path = put_script("hello.py")
    assert run(lambda: create("one", "one", drive_path))["statusCode"] == 201
    assert run(lambda: create("one", "two", drive_path))["statusCode"] == 409
    assert run(lambda: create("two", "two", DRIVE_PATH.format("missing.py")))["statusCode"] // 100 == 4


def get_scenarios(run: Callable[[Callable[[], Any]], Any]) -> None:
    create("one", "one", put_script("hello.py"))
    for endpoint_id, status in (("one", 200), ("none", 404)):
        event = api_event("get", path_parameters={"id": endpoint_id})
        assert run(partial(handler, "get", event))["statusCode"] == status


def update_scenarios(run: Callable[[Callable[[], Any]], Any]) -> None:
    drive_path = put_script("hello.py")
    create("one", "one", drive_path)
    for body, status in (
        ({"path": "moved"}, 200),
        ({"handler_script_path": drive_path}, 200),
        ({"handler_script_path": DRIVE_PATH.format("missing.py")}, 400),
        ({"enabled": False}, 200),
    ):
        event = api_event("update", path_parameters={"id": "one"}, body=body)
        response = run(partial(handler, "update", event))
        assert response["statusCode"] // 100 == status // 100, response


def delete_scenarios(run: Callable[[Callable[[], Any]], Any]) -> None:
    create("one", "one", put_script("hello.py"))
    for status in (200, 404):
        event = api_event("delete", path_parameters={"id": "one"})
        assert run(partial(handler, "delete", event))["statusCode"] == status


def list_scenarios(run: Callable[[Callable[[], Any]], Any]) -> None:
    create("one", "one", put_script("hello.py"))
    assert run(lambda: handler("list", api_event("list")))["statusCode"] == 200


def router_scenarios(run: Callable[[Callable[[], Any]], Any]) -> None:
    drive_path = put_script("hello.py")
    create("one", "one", drive_path)
    create("gone", "gone", put_script("gone.py"))
    aws_client("s3").delete_object(Bucket=os.environ["SCRIPT_BUCKET"], Key=DRIVE_PATH.format("gone.py").lstrip("/"))
    token = token_store.create_token("jaydoe")
    # moto has no sandbox to run: the invoke is recorded, then fails, and the router answers 5xx.
    for path in ("one", "gone", "nowhere"):
        event = api_event("router", path_parameters={"path": path}, headers={"Authorization": [f"Bearer {token}"]})
        run(partial(handler, "router", event))
    # Without a token: the path item alone.
    event = api_event("router", path_parameters={"path": "one"}, headers={"Authorization": []})
    assert run(partial(handler, "router", event))["statusCode"] == 401


def invocations_scenarios(run: Callable[[Callable[[], Any]], Any]) -> None:
    create("one", "one", put_script("hello.py"))
    handler("router", api_event("router", path_parameters={"path": "one"}))  # a record to read
    for endpoint_id, status in (("one", 200), ("none", 404)):
        event = api_event("invocations", path_parameters={"id": endpoint_id})
        assert run(partial(handler, "invocations", event))["statusCode"] == status


def files_scenarios(run: Callable[[Callable[[], Any]], Any]) -> None:
    drive_path = DRIVE_PATH.format("saved.py")
    assert run(partial(files_request, "PUT", drive_path, body=HELLO))["statusCode"] == 201
    create("saved", "saved", drive_path)
    # A save that re-pins the endpoint that runs the file, then one that fails the check (kept).
    assert run(partial(files_request, "PUT", drive_path, body=HELLO + b"# again\n"))["statusCode"] == 200
    assert run(partial(files_request, "PUT", drive_path, body=b"def broken(:\n"))["statusCode"] == 200
    versions = json.loads(run(partial(files_request, "GET", drive_path, query={"versions": ["true"]}))["body"])
    oldest = versions["versions"][-1]["version"]
    assert run(partial(files_request, "GET", drive_path, query={"version": [oldest]}))["statusCode"] == 200
    assert run(partial(files_request, "GET", drive_path))["statusCode"] == 200
    folder = DRIVE_PATH.format("").rstrip("/")
    assert run(partial(files_request, "GET", folder, query={"list": ["true"]}))["statusCode"] == 200
    assert run(partial(files_request, "DELETE", drive_path))["statusCode"] == 409  # the endpoint runs it
    other = put_script("other.py")
    assert run(partial(files_request, "DELETE", other))["statusCode"] == 200
    assert run(partial(files_request, "GET", DRIVE_PATH.format("missing.py")))["statusCode"] == 404


def sandbox_scenarios(run: Callable[[Callable[[], Any]], Any]) -> None:
    script = "import boto3\n\ndef handler(request):\n    return str(boto3.client('sts').get_caller_identity())\n"
    payload = {
        **load_event("sandbox"),
        "script": script,
        "script_etag": '"x"',
        "event": api_event("router"),
    }
    outcome = run(lambda: handler("sandbox", payload))
    # The handler's own AWS call (in the credential-less child) fails; the sandbox itself calls nothing.
    assert outcome["outcome"] != "response" or b"Arn" not in base64.b64decode(outcome["response"]["body"] or b"")


SCENARIOS: dict[str, Callable[[Callable[[Callable[[], Any]], Any]], None]] = {
    "AuthorizerFunction": authorizer_scenarios,
    "CreateEndpointFunction": create_scenarios,
    "GetEndpointFunction": get_scenarios,
    "UpdateEndpointFunction": update_scenarios,
    "DeleteEndpointFunction": delete_scenarios,
    "ListEndpointsFunction": list_scenarios,
    "InvocationsFunction": invocations_scenarios,
    "FilesFunction": files_scenarios,
    "RouterFunction": router_scenarios,
    "SandboxFunction": sandbox_scenarios,
}


def test_every_function_has_scenarios() -> None:
    assert set(SCENARIOS) == set(resources_of_type(transformed(), "AWS::Lambda::Function"))


@pytest.mark.parametrize("function", sorted(SCENARIOS))
def test_the_role_allows_exactly_what_the_code_calls(function: str, aws: LocalTemplate, recorder: CallRecorder) -> None:
    def run(call: Callable[[], Any]) -> Any:
        with recorder.running(function):
            return call()

    SCENARIOS[function](run)
    used = set().union(*(needed(service, op, params, aws) for service, op, params in recorder.calls))
    expected = used | runtime_needs(function)
    grants = granted(function)
    assert grants - expected == set(), f"{function}'s role grants what its code never calls"
    assert expected - grants == set(), f"{function}'s code calls what its role does not allow"


def test_with_the_history_off_the_router_may_not_write_records() -> None:
    """The one statement of a role that depends on a parameter: InvocationHistory=off drops the PutItem."""
    template = transformed()
    role_id = template["Resources"]["RouterFunction"]["Properties"]["Role"]["Fn::GetAtt"][0]
    (policy,) = template["Resources"][role_id]["Properties"]["Policies"]
    defaults = {name: str(p.get("Default", "")) for name, p in template["Parameters"].items()}
    off = {**template, "Parameters": {**template["Parameters"], "InvocationHistory": {"Default": "off"}}}
    statements = policy["PolicyDocument"]["Statement"]
    writes = [s for s in conditional(statements, template) if "dynamodb:PutItem" in s["Action"]]
    assert [w["Resource"] for w in writes] == [{"Fn::GetAtt": ["InvocationsTable", "Arn"]}]
    assert defaults["InvocationHistory"] == "on"
    assert not [s for s in conditional(statements, off) if "dynamodb:PutItem" in s["Action"]]


def test_the_sandbox_role_may_only_write_its_own_logs() -> None:
    assert granted("SandboxFunction") == {
        ("logs:CreateLogStream", "SandboxLogGroup"),
        ("logs:PutLogEvents", "SandboxLogGroup"),
    }

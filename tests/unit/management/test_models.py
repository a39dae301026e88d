"""Request models, the list query parser and the wording of validation errors (no AWS involved)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from pydantic import ValidationError

from httpendpoint.management.models import (
    CreateRequest,
    EndpointListView,
    EndpointView,
    Hmac,
    ListQuery,
    UpdateRequest,
    check_endpoint_id,
    check_endpoint_path,
    parse_list_query,
    state_of,
)
from httpendpoint.management.resolver import describe_validation_errors

SCRIPT = "/jaydoe/my_repo/fs/Instabase Drive/handlers/hello.py"


def errors_of(model: type[Any], data: Any) -> str:
    """The 400 message the service would send for `data` as a request body."""
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return describe_validation_errors([{**e, "loc": ("body", *e["loc"])} for e in caught.value.errors()])


@pytest.mark.parametrize(
    "endpoint_id", ["a", "my-endpoint-id", "A.b_c-d", "0", "9lives", "x" * 128, "lists", "U", "List", "u2"]
)
def test_valid_ids(endpoint_id: str) -> None:
    assert check_endpoint_id(endpoint_id) == endpoint_id


@pytest.mark.parametrize(
    ("endpoint_id", "message"),
    [
        ("", "may not be empty"),
        ("x" * 129, "1-128 characters"),
        ("-a", "starting with a letter or digit"),
        (".a", "starting with a letter or digit"),
        ("_a", "starting with a letter or digit"),
        ("a b", "letters, digits"),
        ("a/b", "letters, digits"),
        ("a%2Fb", "letters, digits"),
        ("é", "letters, digits"),
        ("a\n", "letters, digits"),
        ("list", "'list' is reserved"),
        ("u", "'u' is reserved"),
    ],
)
def test_invalid_ids(endpoint_id: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_endpoint_id(endpoint_id)


@pytest.mark.parametrize("path", ["a", "helloworld", "-", "_", "A-b_9", "p" * 128])
def test_valid_paths(path: str) -> None:
    assert check_endpoint_path(path) == path


@pytest.mark.parametrize("path", ["", "p" * 129, "a.b", "a/b", "a b", "a?b", "a%20b", "ü", "a\n"])
def test_invalid_paths(path: str) -> None:
    with pytest.raises(ValueError, match=r"may not be empty|1-128 characters"):
        check_endpoint_path(path)


def test_create_request_accepts_the_seed_body() -> None:
    request = CreateRequest.model_validate({"path": "helloworld", "handler_script_path": SCRIPT})
    assert (request.id, request.path, request.handler_script_path) == (None, "helloworld", SCRIPT)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"handler_script_path": SCRIPT}, "path: is required"),
        ({"path": "x"}, "handler_script_path: is required"),
        ({"path": "", "handler_script_path": SCRIPT}, "path: may not be empty"),
        ({"path": 1, "handler_script_path": SCRIPT}, "path: must be a string"),
        ({"path": True, "handler_script_path": SCRIPT}, "path: must be a string"),
        ({"path": None, "handler_script_path": SCRIPT}, "path: may not be null"),
        ({"path": "x", "handler_script_path": {"a": 1}}, "handler_script_path: must be a string"),
        ({"path": "x", "handler_script_path": "a.py"}, "handler_script_path: must be an absolute drive path"),
        ({"id": None, "path": "x", "handler_script_path": SCRIPT}, "id: may not be null"),
        ({"id": "list", "path": "x", "handler_script_path": SCRIPT}, "id: 'list' is reserved"),
        ({"path": "x", "handler_script_path": SCRIPT, "account": "a"}, "account: is not a known field"),
        ({"path": "x", "handler_script_path": SCRIPT, "state": "ENABLED"}, "state: is not a known field"),
        ({"path": "x", "handler_script_path": SCRIPT, "enabled": False}, "enabled: is not a known field"),
        ({"path": "x", "handler_script_path": SCRIPT, "created_at": "x"}, "created_at: is not a known field"),
        ({"path": "x", "handler_script_path": SCRIPT, "updated_at": "x"}, "updated_at: is not a known field"),
        ([], "body: must be a JSON object"),
        ("x", "body: must be a JSON object"),
    ],
)
def test_create_request_rejects(body: Any, message: str) -> None:
    assert message in errors_of(CreateRequest, body)


def test_every_problem_is_named_at_once() -> None:
    message = errors_of(CreateRequest, {"path": "a b", "handler_script_path": "x", "owner": "me"})
    assert message.count(";") == 2
    assert message.startswith("path: ")
    assert "handler_script_path: " in message and "owner: is not a known field" in message


@pytest.mark.parametrize(
    "body",
    [
        {"enabled": False},
        {"path": "p"},
        {"handler_script_path": SCRIPT},
        {"id": "my-endpoint-id", "path": "helloworld", "handler_script_path": SCRIPT, "enabled": True},
    ],
)
def test_update_request_accepts(body: dict[str, Any]) -> None:
    request = UpdateRequest.model_validate(body)
    assert request.model_dump(exclude_unset=True) == body


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "body: give at least one of path, handler_script_path, handler_script_version, enabled"),
        ({"id": "x"}, "body: give at least one of"),
        ({"enabled": "true"}, "enabled: must be a boolean (true or false)"),
        ({"enabled": "false"}, "enabled: must be a boolean"),
        ({"enabled": 0}, "enabled: must be a boolean"),
        ({"enabled": None}, "enabled: may not be null"),
        ({"path": ""}, "path: may not be empty"),
        ({"handler_script_path": ""}, "handler_script_path: may not be empty"),
        ({"id": ""}, "id: may not be empty"),
        ({"path": 5}, "path: must be a string"),
        ({"state": "DISABLED"}, "state: is not a known field"),
        ({"account": "x", "enabled": True}, "account: is not a known field"),
    ],
)
def test_update_request_rejects(body: Any, message: str) -> None:
    assert message in errors_of(UpdateRequest, body)


def test_request_models_are_strict_even_for_lookalikes() -> None:
    # Lax pydantic would turn these into valid values; a JSON API must not guess.
    for value in ("true", "1", 1, "yes"):
        with pytest.raises(ValidationError):
            UpdateRequest.model_validate({"enabled": value})


def test_no_filters_is_the_first_page_of_everything() -> None:
    assert parse_list_query({}) == ListQuery(id=None, path=None, handler=None, enabled=None, offset=0, limit=100)


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({"id": ["a"]}, {"id": "a"}),
        ({"path": ["p"]}, {"path": "p"}),
        ({"handler": [SCRIPT]}, {"handler": SCRIPT}),
        ({"handler_script_path": [SCRIPT]}, {"handler": SCRIPT}),
        ({"state": ["ENABLED"]}, {"enabled": True}),
        ({"state": ["disabled"]}, {"enabled": False}),
        ({"state": ["eNaBlEd"]}, {"enabled": True}),
        ({"enabled": ["true"]}, {"enabled": True}),
        ({"enabled": ["False"]}, {"enabled": False}),
        ({"offset": ["0"], "limit": ["1"]}, {"offset": 0, "limit": 1}),
        ({"offset": ["123"], "limit": ["1000"]}, {"offset": 123, "limit": 1000}),
        ({"id": [""], "limit": [""], "state": [""]}, {}),
        ({"id": ["", "a"]}, {"id": "a"}),
    ],
)
def test_list_query(parameters: dict[str, list[str]], expected: dict[str, Any]) -> None:
    assert parse_list_query(parameters) == ListQuery(**expected)


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"id": ["a b"]}, "id: must be 1-128 characters"),
        ({"id": ["u"]}, "id: 'u' is reserved"),
        ({"path": ["a.b"]}, "path: must be 1-128 characters"),
        ({"handler": ["/jaydoe/../x.py"]}, "handler: may not contain '.' or '..' segments"),
        ({"handler_script_path": ["x.py"]}, "handler_script_path: must be an absolute drive path"),
        ({"state": ["on"]}, "state: must be ENABLED or DISABLED"),
        ({"state": ["true"]}, "state: must be ENABLED or DISABLED"),
        ({"enabled": ["ENABLED"]}, "enabled: must be true or false"),
        ({"offset": ["-1"]}, "offset: must be a non-negative integer"),
        ({"offset": ["+1"]}, "offset: must be a non-negative integer"),
        ({"offset": [" 1"]}, "offset: must be a non-negative integer"),
        ({"offset": ["1_0"]}, "offset: must be a non-negative integer"),
        ({"offset": ["9999999999"]}, "offset: must be a non-negative integer"),
        ({"limit": ["0"]}, "limit: Input should be greater than or equal to 1"),
        ({"limit": ["1001"]}, "limit: Input should be less than or equal to 1000"),
        ({"limit": ["2.0"]}, "limit: must be a non-negative integer"),
        ({"page": ["2"]}, "page: is not a known query parameter"),
        ({"id": ["a", "b"]}, "id: may be given only once"),
        ({"state": ["ENABLED"], "enabled": ["true"]}, "enabled: means the same as state; give only one of them"),
        ({"handler": [SCRIPT], "handler_script_path": [SCRIPT]}, "means the same as handler"),
    ],
)
def test_list_query_rejects(parameters: dict[str, list[str]], message: str) -> None:
    with pytest.raises(RequestValidationError) as caught:
        parse_list_query(parameters)
    assert message in describe_validation_errors(caught.value.errors())


def test_every_bad_list_parameter_is_named_at_once() -> None:
    with pytest.raises(RequestValidationError) as caught:
        parse_list_query({"state": ["x"], "limit": ["0"], "foo": ["1"]})
    message = describe_validation_errors(caught.value.errors())
    assert "state:" in message and "limit:" in message and "foo:" in message


def test_invalid_json_is_described_as_such() -> None:
    error = {"type": "json_invalid", "loc": ("body", 12), "msg": "JSON decode error", "ctx": {"error": "Expecting ','"}}
    assert describe_validation_errors([error]) == "body: is not valid JSON (Expecting ',')"


def test_a_body_field_called_path_keeps_its_name() -> None:
    error = {"type": "string_type", "loc": ("body", "path"), "msg": "Input should be a valid string"}
    assert describe_validation_errors([error]) == "path: must be a string"


def test_response_models_have_the_documented_keys() -> None:
    view = EndpointView(
        id="a",
        path="p",
        handler_script_path=SCRIPT,
        handler_script_version="v1",
        state=state_of(False),
        auth="bearer",
        secrets=["A", "B"],
    )
    assert view.model_dump() == {
        "id": "a",
        "path": "p",
        "handler_script_path": SCRIPT,
        "handler_script_version": "v1",
        "state": "DISABLED",
        "auth": "bearer",
        "secrets": ["A", "B"],
    }
    page = EndpointListView(id=None, endpoints=[view], next_offset=None)
    assert list(page.model_dump()) == ["id", "endpoints", "next_offset"]
    assert state_of(True) == "ENABLED"


def test_the_hmac_settings_are_shown_only_when_set() -> None:
    hmac = Hmac(header="X-Hub-Signature-256", secret="GITHUB_SECRET", prefix="sha256=")
    view = EndpointView(
        id="a",
        path="p",
        handler_script_path=SCRIPT,
        handler_script_version="v1",
        state="ENABLED",
        auth="hmac",
        secrets=["GITHUB_SECRET"],
        hmac=hmac,
    )
    assert view.model_dump(mode="json")["hmac"] == {
        "header": "X-Hub-Signature-256",
        "secret": "GITHUB_SECRET",
        "encoding": "hex",
        "prefix": "sha256=",
    }


SIGNED = {
    "path": "hook",
    "handler_script_path": SCRIPT,
    "auth": "hmac",
    "hmac": {"header": "X-Shopify-Hmac-Sha256", "secret": "SHOPIFY", "encoding": "base64"},
    "secrets": {"SHOPIFY": "x"},
}


def test_create_request_takes_auth_hmac_and_secrets() -> None:
    request = CreateRequest.model_validate(SIGNED)
    assert request.auth == "hmac"
    assert request.hmac == Hmac(header="X-Shopify-Hmac-Sha256", secret="SHOPIFY", encoding="base64", prefix="")
    assert request.secrets == {"SHOPIFY": "x"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"auth": "basic"}, "auth: Input should be 'bearer', 'none' or 'hmac'"),
        ({"auth": None}, "auth: may not be null"),
        ({"hmac": {"header": "X Sig", "secret": "SHOPIFY"}}, "hmac.header: must be an HTTP header name"),
        ({"hmac": {"header": "", "secret": "SHOPIFY"}}, "hmac.header: must be an HTTP header name"),
        ({"hmac": {"secret": "SHOPIFY"}}, "hmac.header: is required"),
        ({"hmac": {"header": "X", "secret": "lower"}}, "hmac.secret: 'lower' is not a secret name"),
        ({"hmac": {"header": "X", "secret": "S", "encoding": "hexa"}}, "hmac.encoding: Input should be 'hex' or"),
        ({"hmac": {"header": "X", "secret": "S", "prefix": "a\nb"}}, "hmac.prefix: must be at most 128"),
        ({"hmac": {"header": "X", "secret": "S", "prefix": "p" * 129}}, "hmac.prefix: must be at most 128"),
        ({"hmac": {"header": "X", "secret": "S", "extra": 1}}, "hmac.extra: is not a known field"),
        ({"hmac": "X-Sig"}, "hmac: must be a JSON object"),
        ({"secrets": {"lower": "x"}}, "secrets.lower.[key]: 'lower' is not a secret name"),
        ({"secrets": {"1ABC": "x"}}, "secrets.1ABC.[key]: '1ABC' is not a secret name"),
        ({"secrets": {"A" * 65: "x"}}, "is not a secret name"),
        ({"secrets": {"AWS_REGION": "x"}}, "secrets.AWS_REGION.[key]: 'AWS_REGION': names starting with AWS_"),
        ({"secrets": {"HTTPEP_X": "x"}}, "secrets.HTTPEP_X.[key]: 'HTTPEP_X': names starting with AWS_ or HTTPEP_"),
        ({"secrets": {"A": "x" * 4097}}, "secrets.A: String should have at most 4096 characters"),
        ({"secrets": {"A": "a\x00b"}}, "secrets.A: must not hold a NUL character"),
        ({"secrets": {"A": 1}}, "secrets.A: must be a string"),
        ({"secrets": {"A": None}}, "secrets.A: must be a string"),
        ({"secrets": {f"S{i}": "x" for i in range(33)}}, "secrets: Dictionary should have at most 32 items"),
        ({"secrets": ["A"]}, "secrets: must be a JSON object"),
    ],
)
def test_create_request_rejects_bad_access_settings(change: dict[str, Any], message: str) -> None:
    assert message in errors_of(CreateRequest, {**SIGNED, **change})


def test_a_lone_surrogate_is_no_text() -> None:
    # JSON can spell half of a UTF-16 pair; no header or environment variable can hold one.
    assert "secrets.A: Input should be a valid string" in errors_of(
        CreateRequest, {**SIGNED, "secrets": {"A": "\ud800"}}
    )
    prefix = {"header": "X", "secret": "S", "prefix": "\udc00"}
    assert "hmac.prefix: must be text" in errors_of(CreateRequest, {**SIGNED, "hmac": prefix})


def test_a_rejected_secret_value_is_not_echoed() -> None:
    assert "x" * 100 not in errors_of(CreateRequest, {**SIGNED, "secrets": {"A": "x" * 5000}})


def test_update_request_may_remove_secrets_with_null() -> None:
    request = UpdateRequest.model_validate({"secrets": {"OLD": None, "NEW": "v"}})
    assert request.secrets == {"OLD": None, "NEW": "v"}
    assert UpdateRequest.model_validate({"auth": "none"}).auth == "none"
    assert UpdateRequest.model_validate({"hmac": {"header": "X", "secret": "S"}}).hmac is not None

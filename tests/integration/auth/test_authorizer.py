"""The authorizer function's handler on moto: a valid bearer token allows the whole API for its account."""

from __future__ import annotations

import importlib.util
import io
import logging
import uuid
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from httpendpoint.stores import token_store
from tests.support.events import load_event
from tests.support.functions import FakeContext, load_function
from tests.support.repo import FUNCTIONS_DIR

pytestmark = pytest.mark.usefixtures("aws")

SAMPLE = load_event("authorizer")
WHOLE_API = "arn:aws:execute-api:us-east-1:123456789012:abc123/Prod/*/*"


def event_with(header: str | None, **changes: str) -> dict[str, Any]:
    event = {**SAMPLE, **changes}
    if header is None:
        del event["authorizationToken"]
    else:
        event["authorizationToken"] = header
    return event


@pytest.fixture
def handler() -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    return load_function("authorizer").lambda_handler  # type: ignore[no-any-return]


def test_valid_token_allows_every_route_of_the_stage_for_its_account(
    handler: Callable[..., dict[str, Any]], lambda_context: FakeContext
) -> None:
    token = token_store.create_token("jaydoe")
    response = handler(event_with(f"Bearer {token}"), lambda_context)
    assert response["principalId"] == "jaydoe"
    assert response["context"] == {"account": "jaydoe"}
    statements = response["policyDocument"]["Statement"]
    assert statements == [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": [WHOLE_API]}]


def test_the_policy_follows_the_method_arn(handler: Callable[..., dict[str, Any]], lambda_context: FakeContext) -> None:
    token = token_store.create_token("other")
    arn = "arn:aws-cn:execute-api:cn-north-1:210987654321:zzz999/dev/DELETE/api/v1/http-endpoint/u/hook"
    response = handler(event_with(f"Bearer {token}", methodArn=arn), lambda_context)
    assert response["policyDocument"]["Statement"][0]["Resource"] == [
        "arn:aws-cn:execute-api:cn-north-1:210987654321:zzz999/dev/*/*"
    ]
    assert response["context"] == {"account": "other"}


def test_the_scheme_is_case_insensitive(handler: Callable[..., dict[str, Any]], lambda_context: FakeContext) -> None:
    token = token_store.create_token("jaydoe")
    assert handler(event_with(f"bearer {token}"), lambda_context)["principalId"] == "jaydoe"


def unknown() -> str:
    return "Bearer hep_" + uuid.uuid4().hex


def revoked() -> str:
    token = token_store.create_token("jaydoe")
    token_store.revoke_token(token)
    return f"Bearer {token}"


def without_scheme() -> str:
    return token_store.create_token("jaydoe")


def hash_instead_of_token() -> str:
    return "Bearer " + token_store.hash_token(token_store.create_token("jaydoe"))


def valid_with(template: str) -> Callable[[], str]:
    return lambda: template.format(token_store.create_token("jaydoe"))


BAD_HEADERS: dict[str, Callable[[], str | None]] = {
    "missing": lambda: None,
    "empty": lambda: "",
    "unknown token": unknown,
    "revoked token": revoked,
    "no Bearer prefix": without_scheme,
    "Basic": lambda: "Basic dXNlcjpwYXNz",
    "Bearer alone": lambda: "Bearer",
    "Bearer and a space": lambda: "Bearer ",
    "hash of a token": hash_instead_of_token,
    "two spaces": valid_with("Bearer  {}"),
    "trailing text": valid_with("Bearer {} extra"),
    "trailing newline": valid_with("Bearer {}\n"),
    "other scheme": valid_with("Token {}"),
    "no space": valid_with("Bearer{}"),
    "oversized": lambda: "Bearer " + "a" * 100_000,
}


@pytest.mark.parametrize("variant", BAD_HEADERS)
def test_bad_tokens_raise_exactly_unauthorized(
    variant: str, handler: Callable[..., dict[str, Any]], lambda_context: FakeContext
) -> None:
    event = event_with(BAD_HEADERS[variant]())
    with pytest.raises(Exception) as raised:  # noqa: PT011 - API Gateway only looks at the message
        handler(event, lambda_context)
    assert str(raised.value) == "Unauthorized"


def test_revocation_is_seen_by_the_next_call(
    handler: Callable[..., dict[str, Any]], lambda_context: FakeContext
) -> None:
    token = token_store.create_token("jaydoe")
    assert handler(event_with(f"Bearer {token}"), lambda_context)["principalId"] == "jaydoe"
    token_store.revoke_token(token)
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        handler(event_with(f"Bearer {token}"), lambda_context)


def fresh_authorizer_module() -> ModuleType:
    """A new import of the function, so decorators read the environment as a cold start would."""
    spec = importlib.util.spec_from_file_location(f"authorizer_{uuid.uuid4().hex}", FUNCTIONS_DIR / "authorizer/app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_token_is_never_logged_even_with_event_logging_on(
    monkeypatch: pytest.MonkeyPatch,
    log_output: io.StringIO,
    lambda_context: FakeContext,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")
    caplog.set_level(logging.DEBUG)
    handler = fresh_authorizer_module().lambda_handler
    good, bad = token_store.create_token("jaydoe"), token_store.create_token("jaydoe")
    token_store.revoke_token(bad)
    handler(event_with(f"Bearer {good}"), lambda_context)
    for header in (f"Bearer {bad}", good, f"Basic {good}"):
        with pytest.raises(Exception, match=r"^Unauthorized$"):
            handler(event_with(header), lambda_context)
    logged = log_output.getvalue() + caplog.text
    assert "token accepted" in log_output.getvalue()  # the capture works: the Logger did write
    for secret in (good, bad):
        assert secret.removeprefix(token_store.TOKEN_PREFIX) not in logged
    # Nor the header in any form (a logged event would carry it as "authorizationToken": "Bearer ...").
    assert "Bearer" not in logged


def test_an_account_does_not_linger_in_the_next_invocations_logs(
    handler: Callable[..., dict[str, Any]], log_output: io.StringIO, lambda_context: FakeContext
) -> None:
    handler(event_with(f"Bearer {token_store.create_token('lingering')}"), lambda_context)
    assert '"account":"lingering"' in log_output.getvalue().replace(" ", "")
    log_output.seek(0)
    log_output.truncate()
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        handler(event_with(unknown()), lambda_context)
    assert "token rejected" in log_output.getvalue()
    assert "lingering" not in log_output.getvalue()


def test_a_call_token_is_allowed_the_trigger_route_only(
    handler: Callable[..., dict[str, Any]], lambda_context: FakeContext
) -> None:
    token = token_store.create_token("jaydoe", scope=token_store.CALL, endpoints=("hook",))
    response = handler(event_with(f"Bearer {token}"), lambda_context)
    assert response["context"] == {"account": "jaydoe"}
    statements = response["policyDocument"]["Statement"]
    # Anything else (management and files routes) is an implicit deny: API Gateway's ACCESS_DENIED, a 403.
    assert statements == [
        {
            "Action": "execute-api:Invoke",
            "Effect": "Allow",
            "Resource": ["arn:aws:execute-api:us-east-1:123456789012:abc123/Prod/*/api/v1/http-endpoint/u/*"],
        }
    ]

"""Who may call a trigger (the endpoint's `auth`), and where its secrets go: on moto, the sandbox in-process.

Every refusal is checked against a sandbox that counts its runs: a refused request never costs one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from httpendpoint.stores import token_store
from httpendpoint.trigger import sandbox_client, script_cache
from tests.support.aws import aws_client
from tests.support.events import api_event
from tests.support.functions import FakeContext, load_function
from tests.support.repo import REPO_ROOT
from tests.support.sandbox import InProcessSandbox

SCRIPTS = REPO_ROOT / "tests" / "handlers"
GITHUB_SECRET = "It's a Secret to Everybody"
SHOPIFY_SECRET = "shpss_0123456789abcdef0123456789abcdef"
PAYLOAD = b'{"action":"opened","number":1,"note":"caf\xc3\xa9 \xe2\x98\x95"}'

ENVIRONMENT = b"""
import json
import os
import sys


def handler(request):
    if request.args.get("leak") == "print":
        print("the secret is", os.environ["API_KEY"])
        print("and to stderr", os.environ["API_KEY"], file=sys.stderr)
    if request.args.get("leak") == "raise":
        raise RuntimeError("bad key " + os.environ["API_KEY"])
    return json.dumps({"API_KEY": os.environ.get("API_KEY"), "OTHER": os.environ.get("OTHER")})
"""


class CountingSandbox(InProcessSandbox):
    def __init__(self) -> None:
        self.runs = 0
        self.payloads: list[bytes] = []

    def run(self, payload: dict[str, Any], encoded: bytes, tenant: str) -> dict[str, Any]:
        self.runs += 1
        self.payloads.append(encoded)
        return super().run(payload, encoded, tenant)


def put_script(name: str, source: bytes, account: str = "jaydoe") -> str:
    drive_path = f"/{account}/my_repo/fs/Instabase Drive/handlers/{name}"
    aws_client("s3").put_object(Bucket=os.environ["SCRIPT_BUCKET"], Key=drive_path.lstrip("/"), Body=source)
    return drive_path


def manage(function: str, endpoint_id: str | None, body: dict[str, Any] | None = None, account: str = "jaydoe") -> Any:
    path_parameters = None if endpoint_id is None else {"id": endpoint_id}
    event = api_event(function, path_parameters=path_parameters, body=body, account=account)
    response = load_function(function).lambda_handler(event, FakeContext())
    return response["statusCode"], json.loads(response["body"])


def create(endpoint_id: str, script: str, account: str = "jaydoe", **settings: Any) -> None:
    drive_path = put_script(f"{script}.py", (SCRIPTS / f"{script}.py").read_bytes(), account)
    body = {"path": endpoint_id, "handler_script_path": drive_path, **settings}
    status, answer = manage("create", endpoint_id, body, account)
    assert status == 201, answer


def trigger(
    path: str,
    *,
    method: str = "POST",
    body: bytes | None = None,
    headers: dict[str, list[str]] | None = None,
    query: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """A request as it comes from API Gateway's trigger route: no authorizer, only what the sender sent."""
    event = api_event(
        "router",
        method=method,
        path_parameters={"path": path},
        body=body,
        query=query,
        headers={"Authorization": [], **(headers or {})},
    )
    return dict(load_function("router").lambda_handler(event, FakeContext()))


def bearer(token: str) -> dict[str, list[str]]:
    return {"Authorization": [f"Bearer {token}"]}


def body_of(response: dict[str, Any]) -> bytes:
    raw = response.get("body") or ""
    return base64.b64decode(raw) if response.get("isBase64Encoded") else str(raw).encode()


def github_signature(body: bytes, secret: str = GITHUB_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def shopify_signature(body: bytes, secret: str = SHOPIFY_SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@pytest.fixture
def sandbox(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[CountingSandbox]:
    monkeypatch.setenv("ENDPOINT_TIMEOUT", "5")
    script_cache.clear()
    counting = CountingSandbox()
    sandbox_client.use(counting)
    create("private", "echo")
    create("public", "echo", auth="none")
    create(
        "github",
        "echo",
        auth="hmac",
        hmac={"header": "X-Hub-Signature-256", "secret": "GITHUB_SECRET", "prefix": "sha256="},
        secrets={"GITHUB_SECRET": GITHUB_SECRET},
    )
    create(
        "shopify",
        "echo",
        auth="hmac",
        hmac={"header": "X-Shopify-Hmac-Sha256", "secret": "SHOPIFY_SECRET", "encoding": "base64"},
        secrets={"SHOPIFY_SECRET": SHOPIFY_SECRET},
    )
    yield counting
    sandbox_client.use(None)
    script_cache.clear()


def refused(response: dict[str, Any], status: int = 401) -> str:
    assert response["statusCode"] == status, response
    answer = json.loads(body_of(response))
    # A 401 reads like API Gateway's on every other route (`message`), with what is wrong in `error`.
    assert answer.keys() == ({"error", "message"} if status == 401 else {"error"})
    if status == 401:
        assert answer["message"] == "Unauthorized"
    return str(answer["error"])


# ---------------------------------------------------------------------------------------------- hmac


def test_a_github_style_signed_webhook_reaches_the_handler_without_a_token(sandbox: CountingSandbox) -> None:
    headers = {"X-Hub-Signature-256": [github_signature(PAYLOAD)], "Content-Type": ["application/json"]}
    response = trigger("github", body=PAYLOAD, headers=headers)
    assert response["statusCode"] == 200, response
    seen = json.loads(body_of(response))
    assert seen["body_sha256"] == hashlib.sha256(PAYLOAD).hexdigest()
    # The request as sent, the signature header included.
    assert seen["headers"]["x-hub-signature-256"] == github_signature(PAYLOAD)
    assert sandbox.runs == 1


def test_a_shopify_style_signed_webhook_reaches_the_handler_without_a_token(sandbox: CountingSandbox) -> None:
    response = trigger("shopify", body=PAYLOAD, headers={"x-shopify-hmac-sha256": [shopify_signature(PAYLOAD)]})
    assert response["statusCode"] == 200, response
    assert json.loads(body_of(response))["body_sha256"] == hashlib.sha256(PAYLOAD).hexdigest()
    assert sandbox.runs == 1


def test_an_uppercase_hex_signature_is_the_same_signature(sandbox: CountingSandbox) -> None:
    signature = "sha256=" + github_signature(PAYLOAD).removeprefix("sha256=").upper()
    assert trigger("github", body=PAYLOAD, headers={"X-Hub-Signature-256": [signature]})["statusCode"] == 200


def test_an_unsigned_empty_body_is_still_checked(sandbox: CountingSandbox) -> None:
    assert (
        trigger("github", method="GET", headers={"X-Hub-Signature-256": [github_signature(b"")]})["statusCode"] == 200
    )
    refused(trigger("github", method="GET"))
    assert sandbox.runs == 1


@pytest.mark.parametrize(
    ("path", "headers", "body"),
    [
        pytest.param("github", {}, PAYLOAD, id="missing"),
        pytest.param("github", {"X-Hub-Signature-256": [""]}, PAYLOAD, id="empty"),
        pytest.param("github", {"X-Hub-Signature-256": [github_signature(PAYLOAD, "guess")]}, PAYLOAD, id="forged"),
        pytest.param(
            "github", {"X-Hub-Signature-256": [github_signature(PAYLOAD)]}, PAYLOAD + b" ", id="tampered-body"
        ),
        pytest.param(
            "github",
            {"X-Hub-Signature-256": [github_signature(PAYLOAD).removeprefix("sha256=")]},
            PAYLOAD,
            id="no-prefix",
        ),
        pytest.param(
            "github",
            {"X-Hub-Signature-256": [github_signature(PAYLOAD).replace("sha256=", "sha1=")]},
            PAYLOAD,
            id="wrong-prefix",
        ),
        pytest.param("github", {"X-Hub-Signature-256": ["sha256=zz" + "0" * 62]}, PAYLOAD, id="not-hex"),
        pytest.param("github", {"X-Hub-Signature-256": [github_signature(PAYLOAD)[:-2]]}, PAYLOAD, id="truncated"),
        pytest.param(
            "github",
            {"X-Hub-Signature-256": [github_signature(b"other"), github_signature(PAYLOAD)]},
            PAYLOAD,
            id="given-twice",
        ),
        pytest.param("github", {"X-Signature": [github_signature(PAYLOAD)]}, PAYLOAD, id="other-header"),
        pytest.param("shopify", {"X-Shopify-Hmac-Sha256": [shopify_signature(PAYLOAD, "x")]}, PAYLOAD, id="shopify"),
        pytest.param("shopify", {"X-Shopify-Hmac-Sha256": ["%%%="]}, PAYLOAD, id="shopify-not-base64"),
        pytest.param(
            "shopify",
            {"X-Shopify-Hmac-Sha256": [hmac.new(SHOPIFY_SECRET.encode(), PAYLOAD, hashlib.sha256).hexdigest()]},
            PAYLOAD,
            id="shopify-hex-instead-of-base64",
        ),
    ],
)
def test_a_bad_signature_is_401_and_the_handler_never_runs(
    sandbox: CountingSandbox, path: str, headers: dict[str, list[str]], body: bytes
) -> None:
    assert "signature" in refused(trigger(path, body=body, headers=headers))
    assert sandbox.runs == 0


def test_a_valid_token_does_not_replace_the_signature(sandbox: CountingSandbox) -> None:
    token = token_store.create_token("jaydoe")
    refused(trigger("github", body=PAYLOAD, headers=bearer(token)))
    assert sandbox.runs == 0


def test_a_disabled_signed_endpoint_still_checks_the_signature_first(sandbox: CountingSandbox) -> None:
    assert manage("update", "github", {"enabled": False})[0] == 200
    refused(trigger("github", body=PAYLOAD))
    response = trigger("github", body=PAYLOAD, headers={"X-Hub-Signature-256": [github_signature(PAYLOAD)]})
    assert response["statusCode"] == 503
    assert sandbox.runs == 0


# ---------------------------------------------------------------------------------------------- none


def test_a_public_endpoint_takes_anyone_and_gets_the_request_as_sent(sandbox: CountingSandbox) -> None:
    headers = {"Authorization": ["Basic dXNlcjpwYXNz"], "X-Anything": ["kept"]}
    response = trigger("public", body=b"hi", headers=headers)
    assert response["statusCode"] == 200
    seen = json.loads(body_of(response))
    assert seen["headers"]["authorization"] == "Basic dXNlcjpwYXNz"
    assert seen["headers"]["x-anything"] == "kept"
    assert trigger("public", method="GET")["statusCode"] == 200


def test_a_token_of_this_service_never_reaches_a_public_endpoints_handler(sandbox: CountingSandbox) -> None:
    """`httpep call` sends the caller's token to whatever endpoint it calls, maybe someone else's."""
    token = token_store.create_token("someone-else")
    response = trigger("public", body=b"hi", headers=bearer(token))
    assert response["statusCode"] == 200
    seen = json.loads(body_of(response))
    assert "authorization" not in seen["headers"]
    assert token.encode() not in b"".join(sandbox.payloads)


# ---------------------------------------------------------------------------------------------- bearer


def test_anonymous_calls_to_a_bearer_endpoint_or_an_unknown_path_are_the_same_401(sandbox: CountingSandbox) -> None:
    private = refused(trigger("private"))
    assert refused(trigger("nothing-here")) == private
    assert refused(trigger("private", headers={"Authorization": ["Bearer hep_unknown"]})) == private
    assert refused(trigger("private", headers={"Authorization": ["Basic abc"]})) == private
    assert sandbox.runs == 0


def test_a_manage_token_calls_its_accounts_endpoints(sandbox: CountingSandbox) -> None:
    token = token_store.create_token("jaydoe")
    response = trigger("private", headers=bearer(token))
    assert response["statusCode"] == 200
    assert "authorization" not in json.loads(body_of(response))["headers"]
    assert token.encode() not in b"".join(sandbox.payloads)


def test_a_call_token_calls_only_the_endpoints_it_covers(sandbox: CountingSandbox) -> None:
    create("second", "echo")
    only_private = token_store.create_token("jaydoe", scope="call", endpoints=("private",))
    assert trigger("private", headers=bearer(only_private))["statusCode"] == 200
    assert "may not call" in refused(trigger("second", headers=bearer(only_private)))
    every = token_store.create_token("jaydoe", scope="call")
    assert trigger("second", headers=bearer(every))["statusCode"] == 200
    assert sandbox.runs == 2


def test_a_revoked_token_stops_at_once(sandbox: CountingSandbox) -> None:
    token = token_store.create_token("jaydoe")
    assert trigger("private", headers=bearer(token))["statusCode"] == 200
    token_store.revoke_token(token)
    refused(trigger("private", headers=bearer(token)))
    assert sandbox.runs == 1


def test_another_accounts_token_finds_nothing(sandbox: CountingSandbox) -> None:
    token = token_store.create_token("someone-else")
    assert refused(trigger("private", headers=bearer(token)), 404) == "no endpoint at path 'private'"
    assert refused(trigger("nothing-here", headers=bearer(token)), 404) == "no endpoint at path 'nothing-here'"
    assert sandbox.runs == 0


# ---------------------------------------------------------------------------------------------- secrets

API_KEY = "k3y-that-must-not-leak-0123456789"


@pytest.fixture
def with_secrets(sandbox: CountingSandbox) -> CountingSandbox:
    put_script("environment.py", ENVIRONMENT)
    body = {
        "path": "env",
        "handler_script_path": "/jaydoe/my_repo/fs/Instabase Drive/handlers/environment.py",
        "auth": "none",
        "secrets": {"API_KEY": API_KEY, "OTHER": "second-value"},
    }
    assert manage("create", "env", body)[0] == 201
    return sandbox


def test_secrets_are_the_handlers_environment(with_secrets: CountingSandbox) -> None:
    assert json.loads(body_of(trigger("env"))) == {"API_KEY": API_KEY, "OTHER": "second-value"}
    # Another endpoint running the same script runs without them.
    body = {"path": "plain", "handler_script_path": "/jaydoe/my_repo/fs/Instabase Drive/handlers/environment.py"}
    assert manage("create", "plain", {**body, "auth": "none"})[0] == 201
    assert json.loads(body_of(trigger("plain"))) == {"API_KEY": None, "OTHER": None}
    assert manage("update", "env", {"secrets": {"OTHER": None}})[0] == 200
    assert json.loads(body_of(trigger("env"))) == {"API_KEY": API_KEY, "OTHER": None}


def test_secret_values_are_never_shown_by_get_or_list(with_secrets: CountingSandbox) -> None:
    status, endpoint = manage("get", "env")
    assert status == 200
    assert endpoint["secrets"] == ["API_KEY", "OTHER"]
    assert endpoint["auth"] == "none"
    assert "hmac" not in endpoint
    status, page = manage("list", None)
    assert status == 200
    for answer in (endpoint, page):
        assert API_KEY not in json.dumps(answer)
        assert "second-value" not in json.dumps(answer)


def test_secret_values_are_masked_in_logs_and_error_bodies(
    with_secrets: CountingSandbox, capsys: pytest.CaptureFixture[str], log_output: io.StringIO
) -> None:
    assert trigger("env", query={"leak": ["print"]})["statusCode"] == 200
    response = trigger("env", query={"leak": ["raise"]})
    assert refused_body(response) == "RuntimeError: bad key ***"
    captured = capsys.readouterr()
    everything = captured.out + captured.err + log_output.getvalue()
    assert "the secret is ***" in log_output.getvalue()
    assert "bad key ***" in log_output.getvalue()
    assert API_KEY not in everything
    assert "second-value" not in everything


def refused_body(response: dict[str, Any]) -> str:
    assert response["statusCode"] == 500, response
    return str(json.loads(body_of(response))["error"])


def history_of(endpoint_id: str) -> list[dict[str, Any]]:
    """The endpoint's invocation records, as the invocations route answers them (newest first)."""
    event = api_event("invocations", path_parameters={"id": endpoint_id})
    response = load_function("invocations").lambda_handler(event, FakeContext())
    assert response["statusCode"] == 200, response
    return list(json.loads(response["body"])["invocations"])


def test_the_invocation_record_masks_the_endpoints_secret_values(with_secrets: CountingSandbox) -> None:
    assert trigger("env", query={"leak": ["print"]})["statusCode"] == 200
    assert trigger("env", query={"leak": ["raise"]})["statusCode"] == 500
    failed, printed = history_of("env")
    assert "the secret is ***" in printed["output"] and "and to stderr ***" in printed["output"]
    assert failed["error"] == "RuntimeError: bad key ***"
    assert "RuntimeError: bad key ***" in failed["output"]  # the traceback, after the output
    assert API_KEY not in json.dumps([failed, printed])


def test_a_rejected_signature_is_recorded_but_an_anonymous_bearer_call_is_not(sandbox: CountingSandbox) -> None:
    assert "signature" in refused(trigger("github", body=PAYLOAD, headers={"X-Hub-Signature-256": ["sha256=00"]}))
    (record,) = history_of("github")
    assert (record["status"], record["method"]) == (401, "POST")
    assert "signature" in record["error"]
    refused(trigger("private", headers={"Authorization": []}))
    refused(trigger("private", headers={"Authorization": ["Bearer hep_not-a-token"]}))
    assert history_of("private") == []

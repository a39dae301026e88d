"""Every handler in examples/: uploaded, registered and called on the local stack, as examples/README.md shows."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid

import pytest
import requests

from tests.support.repo import REPO_ROOT
from tests.support.stack import RunningStack

pytestmark = pytest.mark.e2e

EXAMPLES = REPO_ROOT / "examples"


class Registered:
    """One example registered for a fresh account; `call` goes to its trigger URL with the account's token."""

    def __init__(self, stack: RunningStack, http: requests.Session, example: str, *options: str) -> None:
        self.http = http
        account = "examples-" + uuid.uuid4().hex[:10]
        self.token = stack.token(account)
        self.path = f"{example.replace('_', '-')}-{uuid.uuid4().hex[:8]}"
        drive_path = f"/{account}/repo/fs/Instabase Drive/handlers/{example}.py"
        result = stack.httpep(
            *stack.target, "--token", self.token, "endpoint", "create", self.path, "--path", self.path,
            "--handler", drive_path, "--upload", str(EXAMPLES / f"{example}.py"), *options,
        )  # fmt: skip
        assert json.loads(result.stdout) == {"id": self.path}
        self.url = f"{stack.api_root}/u/{self.path}"
        # A webhook sender has no token: endpoints registered with --auth none or hmac are called without one.
        public = any(option in ("none", "hmac") for option in options)
        self.credentials = {} if public else {"Authorization": f"Bearer {self.token}"}

    def call(
        self,
        method: str = "GET",
        data: bytes | None = None,
        json: object = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        all_headers = {**self.credentials, **(headers or {})}
        return self.http.request(method, self.url, data=data, json=json, headers=all_headers, timeout=60)


# ---------------------------------------------------------------------------------------------- hello


def test_hello_is_the_seed_s_handler(stack: RunningStack, http: requests.Session) -> None:
    assert (EXAMPLES / "hello.py").read_text() == (REPO_ROOT / "tests" / "handlers" / "hello.py").read_text()
    hello = Registered(stack, http, "hello")
    response = hello.call()
    assert (response.status_code, response.text) == (200, "Hello World")
    assert response.headers["Content-Type"].startswith("text/plain")
    # The seed's `Response(status=404)` has an empty body, served as text/plain.
    other = hello.call("POST", data=b"anything")
    assert (other.status_code, other.content) == (404, b"")
    assert other.headers["Content-Type"].startswith("text/plain")


# ---------------------------------------------------------------------------------------------- webhook


def sign(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


SECRET = b"the-secret-you-gave-the-sender"


@pytest.fixture(scope="module")
def webhook(stack: RunningStack, http: requests.Session) -> Registered:
    # The secret as a secret of the endpoint, which the handler reads from its environment.
    return Registered(stack, http, "webhook_hmac", "--auth", "none", "--secret", f"WEBHOOK_SECRET={SECRET.decode()}")


def test_webhook_accepts_a_correctly_signed_delivery(webhook: Registered) -> None:
    secret = SECRET
    body = json.dumps({"type": "loan.updated", "id": 17}).encode()
    response = webhook.call(
        "POST", data=body, headers={"X-Signature": sign(secret, body), "Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"received": True, "type": "loan.updated", "bytes": len(body)}


def test_webhook_verifies_the_raw_bytes_whatever_they_are(webhook: Registered) -> None:
    """Not JSON, not UTF-8, sent as a form: the signature still covers exactly the bytes sent."""
    secret = SECRET
    body = bytes(range(256)) + b"&a=1"
    headers = {"X-Signature": sign(secret, body), "Content-Type": "application/x-www-form-urlencoded"}
    response = webhook.call("POST", data=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"received": True, "type": None, "bytes": len(body)}


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "sha256=" + "0" * 64,
        "sha1=whatever",
        "tampered",  # replaced below by a valid signature of another body
        "secret",  # replaced below by a signature made with another secret
    ],
)
def test_webhook_refuses_a_missing_or_wrong_signature(webhook: Registered, signature: str | None) -> None:
    secret = SECRET
    body = b'{"type": "loan.updated"}'
    if signature == "tampered":
        signature = sign(secret, b'{"type": "loan.deleted"}')
    elif signature == "secret":
        signature = sign(b"not-the-secret", body)
    headers = {} if signature is None else {"X-Signature": signature}
    response = webhook.call("POST", data=body, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"error": "missing or invalid X-Signature"}


def test_webhook_answers_405_to_anything_but_post(webhook: Registered) -> None:
    response = webhook.call("GET")
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


def test_webhook_secret_is_in_no_script_and_no_answer(stack: RunningStack, webhook: Registered) -> None:
    assert SECRET not in (EXAMPLES / "webhook_hmac.py").read_bytes()
    answer = webhook.http.get(f"{stack.api_root}/{webhook.path}", headers=stack_headers(webhook), timeout=60)
    assert answer.json()["secrets"] == ["WEBHOOK_SECRET"]
    assert SECRET.decode() not in answer.text


def stack_headers(registered: Registered) -> dict[str, str]:
    return {"Authorization": f"Bearer {registered.token}"}


# ---------------------------------------------------------------------------------------------- GitHub (auth hmac)

GITHUB_SECRET = "gh-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def github(stack: RunningStack, http: requests.Session) -> Registered:
    options = ("--auth", "hmac", "--hmac-header", "X-Hub-Signature-256", "--hmac-prefix", "sha256=")
    secret = ("--hmac-secret", "GITHUB_SECRET", "--secret", f"GITHUB_SECRET={GITHUB_SECRET}")
    return Registered(stack, http, "github_webhook", *options, *secret)


def test_github_delivery_signed_by_the_service_s_check_reaches_the_handler(github: Registered) -> None:
    body = json.dumps({"action": "opened", "repository": {"full_name": "octo/cat"}}).encode()
    headers = {
        "X-Hub-Signature-256": sign(GITHUB_SECRET.encode(), body),
        "X-GitHub-Event": "pull_request",
        "Content-Type": "application/json",
    }
    response = github.call("POST", data=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"received": "pull_request", "repository": "octo/cat", "action": "opened"}


@pytest.mark.parametrize("signature", [None, "sha256=" + "0" * 64, "tampered"])
def test_github_forged_delivery_is_401_from_the_service(github: Registered, signature: str | None) -> None:
    body = b'{"action": "opened"}'
    if signature == "tampered":
        signature = sign(GITHUB_SECRET.encode(), b'{"action": "closed"}')
    headers = {"X-GitHub-Event": "ping"} | ({} if signature is None else {"X-Hub-Signature-256": signature})
    response = github.call("POST", data=body, headers=headers)
    assert response.status_code == 401
    assert "signature" in response.json()["error"]


# ---------------------------------------------------------------------------------------------- Stripe (auth none)

STRIPE_SECRET = "whsec_" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def stripe(stack: RunningStack, http: requests.Session) -> Registered:
    secret = ("--secret", f"STRIPE_WEBHOOK_SECRET={STRIPE_SECRET}")
    return Registered(stack, http, "stripe_webhook", "--auth", "none", *secret)


def stripe_signature(body: bytes, timestamp: int, secret: str = STRIPE_SECRET) -> str:
    signed = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={signed}"


def test_stripe_delivery_checked_by_its_handler(stripe: Registered) -> None:
    body = b'{"type": "invoice.paid"}'
    response = stripe.call("POST", data=body, headers={"Stripe-Signature": stripe_signature(body, int(time.time()))})
    assert response.status_code == 200, response.text
    assert response.json() == {"received": "invoice.paid"}


@pytest.mark.parametrize("case", ["missing", "old", "wrong secret", "tampered"])
def test_stripe_handler_refuses_what_stripe_did_not_sign_just_now(stripe: Registered, case: str) -> None:
    body = b'{"type": "invoice.paid"}'
    now = int(time.time())
    header = {
        "missing": "",
        "old": stripe_signature(body, now - 3600),
        "wrong secret": stripe_signature(body, now, "whsec_guess"),
        "tampered": stripe_signature(b'{"type": "invoice.voided"}', now),
    }[case]
    response = stripe.call("POST", data=body, headers={"Stripe-Signature": header})
    assert response.status_code == 401


# ---------------------------------------------------------------------------------------------- JSON transform


@pytest.fixture(scope="module")
def transform(stack: RunningStack, http: requests.Session) -> Registered:
    return Registered(stack, http, "json_transform")


def test_transform_returns_201_a_summary_and_its_format_header(transform: Registered) -> None:
    order = {
        "order_id": "A-17",
        "currency": "EUR",
        "items": [{"sku": "X1", "qty": 2, "unit_price": 9.5}, {"sku": "Y2", "qty": 3, "unit_price": 0.1}],
    }
    response = transform.call("POST", json=order)
    assert response.status_code == 201, response.text
    assert response.headers["X-Transform"] == "order-summary/v1"
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"id": "A-17", "currency": "EUR", "lines": 2, "units": 5, "total": 19.3}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"order_id=A-17", "Content-Type: application/json"),
        (["not", "an", "object"], "JSON object"),
        ({"order_id": "A-17"}, "missing 'items'"),
        ({"order_id": "A-17", "items": [{"sku": "X", "qty": True, "unit_price": 1}]}, "qty"),
        ({"order_id": "A-17", "items": [{"sku": "X", "qty": 1, "unit_price": "9.50"}]}, "unit_price"),
    ],
)
def test_transform_answers_400_to_what_is_not_an_order(transform: Registered, body: object, fragment: str) -> None:
    # Bytes go as a form post (what `curl -d` sends); anything else as JSON.
    if isinstance(body, bytes):
        response = transform.call("POST", data=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    else:
        response = transform.call("POST", json=body)
    assert response.status_code == 400
    assert response.json()["error"].startswith("not an order: ")
    assert fragment in response.json()["error"]

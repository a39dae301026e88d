"""`httpep endpoint create|update` with --auth, --hmac-*, --secret and --remove-secret, against a fake API."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.cli.test_client import Answer, FakeApi, Seen, api_cli, one_error_line

CREATE = ("endpoint", "create", "hook", "--handler", "/jaydoe/hook.py")


def sent(fake: FakeApi) -> list[tuple[str, Any]]:
    return [(r.method, json.loads(r.body) if r.body else None) for r in fake.requests]


def answer_all(seen: Seen) -> Answer:
    if seen.method == "GET":
        return Answer(
            200, {"id": "hook", "auth": "hmac", "hmac": {"header": "X-Sig", "secret": "KEY", "encoding": "hex"}}
        )
    return Answer(201 if seen.method == "PUT" else 200, {"id": "hook"})


def test_create_a_github_style_webhook_with_the_secret_from_stdin(fake: FakeApi) -> None:
    fake.respond = answer_all
    args = (
        *CREATE,
        "--auth",
        "hmac",
        "--hmac-header",
        "X-Hub-Signature-256",
        "--hmac-prefix",
        "sha256=",
        "--hmac-secret",
        "GITHUB_SECRET",
        "--secret",
        "GITHUB_SECRET=-",
        "--secret",
        "OTHER=plain=value",
    )
    result = api_cli(fake, *args, stdin=b"from stdin\n")
    assert result.exit_code == 0, result.stderr
    assert sent(fake) == [
        (
            "PUT",
            {
                "path": "hook",
                "handler_script_path": "/jaydoe/hook.py",
                "auth": "hmac",
                "hmac": {"header": "X-Hub-Signature-256", "secret": "GITHUB_SECRET", "prefix": "sha256="},
                "secrets": {"GITHUB_SECRET": "from stdin", "OTHER": "plain=value"},
            },
        )
    ]
    assert "from stdin" not in result.stdout + result.stderr


def test_create_a_shopify_style_webhook(fake: FakeApi) -> None:
    fake.respond = answer_all
    args = ("--auth", "hmac", "--hmac-header", "X-Shopify-Hmac-Sha256", "--hmac-encoding", "base64")
    result = api_cli(fake, *CREATE, *args, "--hmac-secret", "SHOPIFY", "--secret", "SHOPIFY=s")
    assert result.exit_code == 0, result.stderr
    ((_, body),) = sent(fake)
    assert body["hmac"] == {"header": "X-Shopify-Hmac-Sha256", "secret": "SHOPIFY", "encoding": "base64"}


def test_update_changes_and_removes_secrets_and_auth(fake: FakeApi) -> None:
    fake.respond = answer_all
    result = api_cli(fake, "endpoint", "update", "hook", "--auth", "none", "--secret", "A=1", "--remove-secret", "B")
    assert result.exit_code == 0, result.stderr
    assert sent(fake) == [("PATCH", {"auth": "none", "secrets": {"A": "1", "B": None}})]


def test_update_of_one_hmac_setting_keeps_the_others(fake: FakeApi) -> None:
    fake.respond = answer_all
    result = api_cli(fake, "endpoint", "update", "hook", "--hmac-prefix", "v1=")
    assert result.exit_code == 0, result.stderr
    assert sent(fake)[-1] == (
        "PATCH",
        {"hmac": {"header": "X-Sig", "secret": "KEY", "encoding": "hex", "prefix": "v1="}},
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--auth", "hmac"), "--auth hmac needs --hmac-header and --hmac-secret"),
        (("--auth", "hmac", "--hmac-header", "X-Sig"), "--auth hmac needs --hmac-secret"),
        (("--auth", "none", "--hmac-header", "X-Sig"), "--hmac-* options go with --auth hmac"),
        (("--secret", "lower=x"), "'lower' is not a secret name"),
        (("--secret", "AWS_KEY=x"), "names starting with AWS_ or HTTPEP_ are reserved"),
        (("--secret", "NOVALUE"), "is not NAME=VALUE"),
        (("--secret", "A=1", "--secret", "A=2"), "A is given twice"),
        (("--secret", "A=-", "--secret", "B=-"), "only one secret may be read from stdin"),
        (("--hmac-header", "X Sig"), "must be an HTTP header name"),
        (("--auth", "basic"), "'basic' is not one of"),
    ],
)
def test_bad_access_options_are_refused_before_any_request(fake: FakeApi, args: tuple[str, ...], message: str) -> None:
    result = api_cli(fake, *CREATE, *args, stdin=b"x")
    assert message in one_error_line(result)
    assert fake.requests == []


def test_a_secret_set_and_removed_at_once_is_refused(fake: FakeApi) -> None:
    result = api_cli(fake, "endpoint", "update", "hook", "--secret", "A=1", "--remove-secret", "A")
    assert "both set with --secret and removed" in one_error_line(result)
    assert fake.requests == []

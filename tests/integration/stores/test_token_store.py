"""The token store on moto: only SHA-256 hashes are kept; tokens are random, per account, revocable."""

from __future__ import annotations

import hashlib
import itertools
import math
import re
import secrets
from typing import Any

import pytest

from httpendpoint.core.errors import BadRequest, NotFound, Unavailable
from httpendpoint.stores import token_store
from httpep.local.template import LocalTemplate
from tests.support.aws import aws_client

pytestmark = pytest.mark.usefixtures("aws")

VALID_ACCOUNTS = ["jaydoe", "a", "0", "team_a-1", "a" * 63]
INVALID_ACCOUNTS = ["", "JayDoe", "-jay", "_jay", "jay doe", "jay/doe", "jay.doe", "a" * 64, "jäy", "jay\n"]


def scan_tokens_table(template: LocalTemplate) -> list[dict[str, Any]]:
    table = template.local_names["TokensTable"]
    paginator = aws_client("dynamodb").get_paginator("scan")
    return [item for page in paginator.paginate(TableName=table) for item in page["Items"]]


def every_string_in(value: Any) -> list[str]:
    """Every string anywhere in a DynamoDB item (attribute names too), whatever its type descriptor."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for key, inner in value.items() for s in (key, *every_string_in(inner))]
    if isinstance(value, list | tuple | set):
        return [s for inner in value for s in every_string_in(inner)]
    if isinstance(value, bytes):
        return [value.decode(errors="replace")]
    return []


def test_hash_is_hex_sha256_of_the_token() -> None:
    assert token_store.hash_token("hep_abc") == hashlib.sha256(b"hep_abc").hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", token_store.hash_token("anything"))


def test_created_token_is_found_with_its_account_and_label() -> None:
    token = token_store.create_token("jaydoe", "laptop")
    record = token_store.find_active(token)
    assert record is not None
    assert record.account == "jaydoe"
    assert record.label == "laptop"
    assert record.token_hash == token_store.hash_token(token)
    assert record.active
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", record.created_at)


def test_tokens_are_url_safe_and_carry_at_least_256_bits() -> None:
    tokens = {token_store.create_token("jaydoe") for _ in range(50)}
    assert len(tokens) == 50
    for token in tokens:
        assert token.startswith(token_store.TOKEN_PREFIX)
        secret = token.removeprefix(token_store.TOKEN_PREFIX)
        # base64url: 6 bits per character, so 43 characters hold the 32 random bytes.
        assert re.fullmatch(r"[A-Za-z0-9_-]+", secret)
        assert len(secret) >= math.ceil(256 / 6)
    # Fifty tokens share no long common prefix of the secret part: they are not sequential or time-based.
    secrets_only = sorted(t.removeprefix(token_store.TOKEN_PREFIX) for t in tokens)
    assert all(a[:8] != b[:8] for a, b in itertools.pairwise(secrets_only))


def test_tokens_come_from_the_secrets_module_with_32_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[int | None] = []

    def token_urlsafe(nbytes: int | None = None) -> str:
        asked.append(nbytes)
        return "Z" * 43

    monkeypatch.setattr(secrets, "token_urlsafe", token_urlsafe)
    assert token_store.create_token("jaydoe") == token_store.TOKEN_PREFIX + "Z" * 43
    assert asked == [32]


def test_unknown_token_is_not_found() -> None:
    token_store.create_token("jaydoe")
    assert token_store.find_active("hep_" + "x" * 43) is None
    assert token_store.find_active("") is None


def test_a_hash_is_not_a_token() -> None:
    token = token_store.create_token("jaydoe")
    assert token_store.find_active(token_store.hash_token(token)) is None


def test_revoked_token_is_no_longer_active_and_the_record_stays() -> None:
    token = token_store.create_token("jaydoe", "ci")
    record = token_store.revoke_token(token)
    assert record.account == "jaydoe"
    assert record.revoked_at is not None
    assert not record.active
    assert token_store.find_active(token) is None
    assert [r.revoked_at for r in token_store.list_tokens("jaydoe")] == [record.revoked_at]


def test_revoking_twice_keeps_the_first_revocation_time() -> None:
    token = token_store.create_token("jaydoe")
    first = token_store.revoke_token(token)
    second = token_store.revoke_token(token)
    assert second.revoked_at == first.revoked_at


def test_revoking_an_unknown_token_is_not_found_and_creates_nothing(template: LocalTemplate) -> None:
    with pytest.raises(NotFound, match="no such token"):
        token_store.revoke_token("hep_never-issued")
    assert scan_tokens_table(template) == []


def test_revoking_one_token_leaves_the_others() -> None:
    keep, drop = token_store.create_token("jaydoe"), token_store.create_token("jaydoe")
    token_store.revoke_token(drop)
    assert token_store.find_active(keep) is not None


def test_list_shows_only_the_accounts_tokens_and_never_a_token() -> None:
    mine = [token_store.create_token("jaydoe", label) for label in ("one", "two")]
    theirs = token_store.create_token("other")
    records = token_store.list_tokens("jaydoe")
    assert sorted(r.label for r in records) == ["one", "two"]
    assert {r.account for r in records} == {"jaydoe"}
    assert {r.token_hash for r in records} == {token_store.hash_token(t) for t in mine}
    shown = repr(records)
    assert not any(t in shown for t in [*mine, theirs])
    assert token_store.list_tokens("nobody") == []


@pytest.mark.parametrize("account", VALID_ACCOUNTS)
def test_valid_accounts_are_accepted(account: str) -> None:
    token = token_store.create_token(account)
    record = token_store.find_active(token)
    assert record is not None and record.account == account


@pytest.mark.parametrize("account", INVALID_ACCOUNTS)
def test_invalid_accounts_are_refused_and_nothing_is_stored(account: str, template: LocalTemplate) -> None:
    with pytest.raises(BadRequest, match="account"):
        token_store.create_token(account)
    with pytest.raises(BadRequest, match="account"):
        token_store.list_tokens(account)
    assert scan_tokens_table(template) == []


@pytest.mark.parametrize("label", ["x" * (token_store.MAX_LABEL_CHARS + 1), "two\nlines", "tab\there"])
def test_unprintable_or_long_labels_are_refused(label: str) -> None:
    with pytest.raises(BadRequest, match="label"):
        token_store.create_token("jaydoe", label)


def test_the_table_holds_no_plain_token_in_any_attribute(template: LocalTemplate) -> None:
    tokens = [token_store.create_token(account, f"label {n}") for n, account in enumerate(["jaydoe", "jaydoe", "b"])]
    token_store.revoke_token(tokens[0])
    items = scan_tokens_table(template)
    assert len(items) == len(tokens)
    stored = every_string_in(items)
    for token in tokens:
        secret = token.removeprefix(token_store.TOKEN_PREFIX)
        assert not any(token in value or secret in value for value in stored)
    # What is stored instead: the hash as the key, and nothing that is not a known attribute.
    assert {item["token_hash"]["S"] for item in items} == {token_store.hash_token(t) for t in tokens}
    assert {key for item in items for key in item} <= {
        "token_hash",
        "account",
        "label",
        "created_at",
        "revoked_at",
        "scope",
        "endpoints",
    }


def test_store_failures_become_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENS_TABLE", "no-such-table")
    with pytest.raises(Unavailable, match="ResourceNotFoundException"):
        token_store.find_active("hep_whatever")
    with pytest.raises(Unavailable, match="ResourceNotFoundException"):
        token_store.create_token("jaydoe")
    with pytest.raises(Unavailable, match="ResourceNotFoundException"):
        token_store.list_tokens("jaydoe")
    with pytest.raises(Unavailable, match="ResourceNotFoundException"):
        token_store.revoke_token("hep_whatever")


def test_a_call_token_names_its_scope_and_endpoints() -> None:
    token = token_store.create_token("jaydoe", scope=token_store.CALL, endpoints=("b", "a", "a"))
    record = token_store.find_active(token)
    assert record is not None
    assert (record.scope, record.endpoints) == ("call", ("a", "b"))
    assert not record.manages
    assert record.may_call("a") and not record.may_call("c")


def test_a_manage_token_is_the_default_and_may_call_every_endpoint() -> None:
    record = token_store.find_active(token_store.create_token("jaydoe"))
    assert record is not None and record.manages and record.may_call("anything")


@pytest.mark.parametrize(
    ("scope", "endpoints", "message"),
    [("admin", (), "scope must be one of"), ("manage", ("a",), "limit a 'call' token only")],
)
def test_a_bad_scope_is_refused(scope: str, endpoints: tuple[str, ...], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        token_store.create_token("jaydoe", scope=scope, endpoints=endpoints)

"""The signature check of `hmac` endpoints, on events alone (no AWS)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from httpendpoint.stores.endpoint_store import HmacSettings
from httpendpoint.trigger.access import decode_signature, header_values, raw_body, signature_matches
from tests.support.events import api_event

SECRETS = {"KEY": "k"}
BODY = bytes(range(256)) + "é".encode()
MAC = hmac.new(b"k", BODY, hashlib.sha256).digest()


def event(headers: dict[str, list[str]], body: bytes = BODY) -> dict[str, object]:
    return api_event("router", method="POST", body=body, headers=headers)


@pytest.mark.parametrize(
    ("signing", "value"),
    [
        (HmacSettings("X-Sig", "KEY"), MAC.hex()),
        (HmacSettings("X-Sig", "KEY", prefix="sha256="), "sha256=" + MAC.hex()),
        (HmacSettings("X-Sig", "KEY", encoding="base64"), base64.b64encode(MAC).decode()),
        (HmacSettings("x-sig", "KEY", encoding="base64", prefix="v1,"), "v1," + base64.b64encode(MAC).decode()),
    ],
)
def test_a_genuine_signature_matches_in_any_header_spelling(signing: HmacSettings, value: str) -> None:
    for name in ("X-Sig", "x-sig", "X-SIG"):
        assert signature_matches(signing, SECRETS, event({name: [value]}))


@pytest.mark.parametrize(
    "value",
    [
        "",
        MAC.hex()[:-1],
        MAC.hex() + "00",
        (MAC[:-1] + bytes([MAC[-1] ^ 1])).hex(),
        base64.b64encode(MAC).decode(),  # base64 where hex is expected
        "sha256=" + MAC.hex(),  # a prefix the endpoint does not use
        "é" * 64,
    ],
)
def test_anything_else_does_not(value: str) -> None:
    assert not signature_matches(HmacSettings("X-Sig", "KEY"), SECRETS, event({"X-Sig": [value]}))


def test_no_header_two_headers_or_no_such_secret_do_not_match() -> None:
    signing = HmacSettings("X-Sig", "KEY")
    assert not signature_matches(signing, SECRETS, event({}))
    assert not signature_matches(signing, SECRETS, event({"X-Sig": [MAC.hex(), MAC.hex()]}))
    assert not signature_matches(signing, {}, event({"X-Sig": [MAC.hex()]}))
    assert not signature_matches(signing, {"KEY": "other"}, event({"X-Sig": [MAC.hex()]}))


def test_the_raw_body_is_the_bytes_sent_base64_encoded_or_not() -> None:
    assert raw_body(event({})) == BODY
    plain = api_event("router", method="POST", body="text body")
    plain["body"], plain["isBase64Encoded"] = "text body", False
    assert raw_body(plain) == b"text body"
    plain["body"] = None
    assert raw_body(plain) == b""


def test_header_values_come_from_the_multi_value_map_first() -> None:
    both = event({"X-A": ["1", "2"]})
    assert header_values(both, "x-a") == ["1", "2"]
    only_single = {"headers": {"X-A": "3"}}
    assert header_values(only_single, "X-A") == ["3"]
    assert header_values({}, "X-A") == []


@pytest.mark.parametrize(("text", "encoding"), [("zz", "hex"), ("%%%", "base64"), ("ab\u00e9", "base64")])
def test_undecodable_signatures_are_none(text: str, encoding: str) -> None:
    assert decode_signature(text, encoding) is None

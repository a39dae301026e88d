"""The response rules, applied to responses as a hostile handler (or a forged result on its pipe) shapes them."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest

from httpendpoint.core import limits
from httpendpoint.trigger import responses


def handler_response(
    multi: dict[str, Any] | None = None,
    *,
    status: object = 200,
    body: object = "ok",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "statusCode": status,
        "multiValueHeaders": {"Content-Type": ["text/plain; charset=utf-8"]} if multi is None else multi,
        "body": body,
        "isBase64Encoded": False,
        **extra,
    }


def served(response: dict[str, Any]) -> dict[str, Any]:
    return responses.from_handler(response)


def header_values(response: dict[str, Any], name: str) -> list[str]:
    return [v for key, values in response["multiValueHeaders"].items() if key.lower() == name.lower() for v in values]


def rejected(response: dict[str, Any]) -> str:
    """The rule a handler's response broke (the router answers a JSON 500 naming it, as for any handler fault)."""
    with pytest.raises(responses.RuleBroken) as broken:
        responses.from_handler(response)
    return str(broken.value)


def test_an_allowed_response_keeps_its_status_headers_and_body() -> None:
    response = served(handler_response({"Content-Type": ["application/json"], "X-Custom": ["yes"]}, status=201))
    assert response["statusCode"] == 201
    assert response["body"] == "ok"
    assert response["multiValueHeaders"]["X-Custom"] == ["yes"]
    assert header_values(response, "Content-Type") == ["application/json"]


def test_every_response_carries_nosniff_and_a_sandboxing_csp_whatever_the_handler_said() -> None:
    headers = {
        "Content-Type": ["text/plain"],
        "x-content-type-options": ["sniff-away"],
        "Content-Security-Policy": ["default-src *"],
    }
    response = served(handler_response(headers))
    assert header_values(response, "X-Content-Type-Options") == ["nosniff"]
    assert header_values(response, "Content-Security-Policy") == ["sandbox; default-src 'none'"]


@pytest.mark.parametrize(
    ("given", "rebuilt"),
    [
        ("text/plain", "text/plain; charset=utf-8"),
        ("TEXT/Plain ;  Charset=UTF-8", "text/plain; charset=utf-8"),
        ('text/plain; charset="latin-1"; x=<script>', "text/plain; charset=latin-1"),
        ("application/json", "application/json"),
        ("application/json; charset=utf-8", "application/json; charset=utf-8"),
    ],
)
def test_the_content_type_is_parsed_and_rebuilt(given: str, rebuilt: str) -> None:
    response = served(handler_response({"Content-Type": [given]}))
    assert response["statusCode"] == 200
    assert header_values(response, "Content-Type") == [rebuilt]


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": ["text/plain;,text/html"]},
        {"Content-Type": ["text/plain, text/html"]},
        {"Content-Type": ["text/plain", "text/html"]},  # a second one through headers.add
        {"Content-Type": ["text/plain"], "content-type": ["text/html"]},  # a lowercase key beside it
        {"Content-Type": ["text/plain"], "CONTENT-TYPE": ["text/plain"]},  # even two allowed ones
    ],
)
def test_more_than_one_content_type_is_a_500(headers: dict[str, list[str]]) -> None:
    assert "Content-Type" in rejected(handler_response(headers))


def test_a_second_content_type_in_the_single_value_headers_is_a_500() -> None:
    forged = handler_response({"Content-Type": ["text/plain"]}, headers={"content-type": "text/html"})
    assert "Content-Type" in rejected(forged)


@pytest.mark.parametrize("given", ["text/html", "text/plain+html", "application/javascript", "image/svg+xml", ""])
def test_another_type_with_a_body_is_a_500_naming_the_rule(given: str) -> None:
    error = rejected(handler_response({"Content-Type": [given]} if given else {}))
    assert "only application/json and text/plain" in error


def test_an_unknown_charset_is_a_500() -> None:
    assert "charset" in rejected(handler_response({"Content-Type": ["text/plain; charset=x-no-such"]}))


def test_an_empty_body_of_another_type_is_served_as_text_plain() -> None:
    response = served(handler_response({"Content-Type": ["text/html"]}, status=404, body=""))
    assert response["statusCode"] == 404
    assert header_values(response, "Content-Type") == ["text/plain; charset=utf-8"]


@pytest.mark.parametrize("name", ["Set-Cookie", "set-cookie", "SET-COOKIE"])
def test_set_cookie_is_never_served(name: str) -> None:
    response = served(handler_response({"Content-Type": ["text/plain"], name: ["session=stolen; Path=/"]}))
    assert response["statusCode"] == 200
    assert header_values(response, "Set-Cookie") == []


@pytest.mark.parametrize(
    "name",
    [
        "Connection",
        "keep-alive",
        "Proxy-Authenticate",
        "proxy-connection",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Content-Length",
    ],
)
def test_hop_by_hop_headers_are_dropped(name: str) -> None:
    response = served(handler_response({"Content-Type": ["text/plain"], name: ["close"], "X-Kept": ["1"]}))
    assert header_values(response, name) == []
    assert header_values(response, "X-Kept") == ["1"]


@pytest.mark.parametrize("status", [199, 100, 101, 600, 0, -1, 999, "200", 200.0, True, None])
def test_a_status_outside_200_to_599_is_a_500(status: object) -> None:
    assert "200-599" in rejected(handler_response(status=status))


@pytest.mark.parametrize("status", [200, 204, 301, 404, 418, 599])
def test_statuses_200_to_599_pass(status: int) -> None:
    assert served(handler_response(status=status))["statusCode"] == status


def test_a_hundred_headers_pass_and_one_more_is_a_500_naming_the_limit() -> None:
    headers = {"Content-Type": ["text/plain"], **{f"X-H{i}": ["v"] for i in range(99)}}
    assert served(handler_response(headers))["statusCode"] == 200
    headers["X-One-Too-Many"] = ["v"]
    assert "100 headers" in rejected(handler_response(headers))


def test_twenty_thousand_headers_are_a_quick_500() -> None:
    headers = {"Content-Type": ["text/plain"], **{f"X-H{i}": ["v"] for i in range(20_000)}}
    started = time.perf_counter()
    error = rejected(handler_response(headers))
    assert "100 headers" in error
    # Far below the 22 s such a response took to serve; generous for a loaded machine.
    assert time.perf_counter() - started < 1.0


def test_values_of_one_name_count_one_by_one() -> None:
    headers = {"Content-Type": ["text/plain"], "X-Many": ["v"] * 100}
    assert "100 headers" in rejected(handler_response(headers))


def test_more_than_16_kib_of_headers_is_a_500_naming_the_limit() -> None:
    headers = {"Content-Type": ["text/plain"], **{f"X-H{i}": ["v" * 1000] for i in range(17)}}
    assert "16384 bytes" in rejected(handler_response(headers))
    headers = {"Content-Type": ["text/plain"], **{f"X-H{i}": ["v" * 1000] for i in range(15)}}
    assert served(handler_response(headers))["statusCode"] == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": ["text/plain"], "X-Split": ["a\r\nSet-Cookie: x=1"]},
        {"Content-Type": ["text/plain"], "X-Bad Name": ["v"]},
        {"Content-Type": ["text/plain"], "X-Num": [1]},
        {"Content-Type": "text/plain"},
    ],
)
def test_malformed_headers_are_a_500(headers: dict[str, Any]) -> None:
    rejected(handler_response(headers))


@pytest.mark.parametrize(
    "forged",
    [
        None,
        "a string",
        {"statusCode": 200, "multiValueHeaders": {"Content-Type": ["text/plain"]}, "body": {"not": "a string"}},
        {
            "statusCode": 200,
            "multiValueHeaders": {"Content-Type": ["text/plain"]},
            "body": "!!",
            "isBase64Encoded": True,
        },
        {
            "statusCode": 200,
            "multiValueHeaders": {"Content-Type": ["text/plain"]},
            "body": "x",
            "isBase64Encoded": "yes",
        },
        {"statusCode": 200, "multiValueHeaders": ["Content-Type", "text/html"], "body": "x"},
    ],
)
def test_a_forged_result_of_the_wrong_shape_is_a_500(forged: object) -> None:
    rejected(forged)  # type: ignore[arg-type]


def test_a_base64_body_is_served_as_it_came() -> None:
    body = base64.b64encode(b"\x00\x01").decode()
    response = served(handler_response({"Content-Type": ["text/plain"]}, body=body, isBase64Encoded=True))
    assert (response["body"], response["isBase64Encoded"]) == (body, True)


def test_a_body_over_the_lambda_limit_is_a_500() -> None:
    body = "x" * (limits.RESPONSE_LIMIT_BYTES + 1)
    assert "ResponseTooLarge" in rejected(handler_response({"Content-Type": ["text/plain"]}, body=body))


def test_only_the_rebuilt_headers_are_served() -> None:
    forged = handler_response({"Content-Type": ["text/plain"]}, headers={"Set-Cookie": "a=b", "X-Single": "1"})
    response = served(forged)
    assert "headers" not in response
    assert header_values(response, "Set-Cookie") == []
    assert header_values(response, "X-Single") == ["1"]

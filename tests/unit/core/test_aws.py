"""The shared boto3 clients: what they send is what botocore itself would send."""

from __future__ import annotations

from typing import Any

import pytest
from botocore import useragent

from httpendpoint.core.aws import client
from httpep.local.template import LocalTemplate


def user_agents(dynamodb: Any, calls: int) -> list[str]:
    sent: list[str] = []

    def record(request: Any, **_: Any) -> None:
        sent.append(request.headers["User-Agent"])

    dynamodb.meta.events.register("before-send", record)
    try:
        for _ in range(calls):
            dynamodb.list_tables()
    finally:
        dynamodb.meta.events.unregister("before-send", record)
    return [value.decode() if isinstance(value, bytes) else value for value in sent]


def test_the_user_agent_is_botocore_s_own_though_its_parts_are_remembered(
    aws: LocalTemplate, monkeypatch: pytest.MonkeyPatch
) -> None:
    dynamodb = client("dynamodb")
    remembered = user_agents(dynamodb, 2)
    clean = useragent.sanitize_user_agent_string_component
    assert clean.cache_info().hits > 0  # type: ignore[attr-defined]
    monkeypatch.setattr(useragent, "sanitize_user_agent_string_component", clean.__wrapped__)  # type: ignore[attr-defined]
    assert user_agents(dynamodb, 1) == remembered[:1] == remembered[1:]
    assert remembered[0].startswith("Boto3/") and " Botocore/" in remembered[0]

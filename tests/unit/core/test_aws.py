"""The shared boto3 clients: what they send is what botocore itself would send."""

from __future__ import annotations

from typing import Any

import pytest
from botocore import useragent

from httpendpoint.core.aws import client
from httpep.local.template import LocalTemplate


def user_agents(dynamodb: Any, calls: int, paginated: bool = False) -> list[str]:
    sent: list[str] = []

    def record(request: Any, **_: Any) -> None:
        sent.append(request.headers["User-Agent"])

    dynamodb.meta.events.register("before-send", record)
    try:
        for _ in range(calls):
            if paginated:  # botocore adds the paginator's feature id to the header
                list(dynamodb.get_paginator("list_tables").paginate())
            else:
                dynamodb.list_tables()
    finally:
        dynamodb.meta.events.unregister("before-send", record)
    return [value.decode() if isinstance(value, bytes) else value for value in sent]


def test_the_user_agent_is_botocore_s_own_though_it_is_built_once(
    aws: LocalTemplate, monkeypatch: pytest.MonkeyPatch
) -> None:
    dynamodb = client("dynamodb")
    remembered = user_agents(dynamodb, 2) + user_agents(dynamodb, 2, paginated=True)
    built = useragent.UserAgentString.to_string
    monkeypatch.setattr(useragent.UserAgentString, "to_string", built.__wrapped__)  # type: ignore[attr-defined]
    own = user_agents(dynamodb, 1) + user_agents(dynamodb, 1, paginated=True)
    assert remembered == [own[0], own[0], own[1], own[1]]
    assert own[0] != own[1]  # the feature ids of the request are in it
    assert own[0].startswith("Boto3/") and " Botocore/" in own[0]


def test_the_user_agent_is_built_once_per_client_and_feature_ids(
    aws: LocalTemplate, monkeypatch: pytest.MonkeyPatch
) -> None:
    dynamodb = client("dynamodb")
    user_agents(dynamodb, 1)
    builds: list[object] = []
    sdk_part = useragent.UserAgentString._build_sdk_metadata  # type: ignore[attr-defined]

    def counted(self: Any) -> Any:
        builds.append(self)
        return sdk_part(self)

    monkeypatch.setattr(useragent.UserAgentString, "_build_sdk_metadata", counted)
    user_agents(dynamodb, 3)
    assert builds == []
    user_agents(dynamodb, 2, paginated=True)  # a new set of feature ids: built once more, for both headers
    assert len(builds) == 1

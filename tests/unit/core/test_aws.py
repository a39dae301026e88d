"""The shared boto3 clients: what they send is what botocore itself would send."""

from __future__ import annotations

from typing import Any

import pytest
from botocore import useragent
from botocore.config import Config

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


def test_a_builder_copied_or_changed_after_building_its_text_builds_what_botocore_would(aws: LocalTemplate) -> None:
    client("dynamodb")  # the texts are remembered from the first client on
    own = useragent.UserAgentString.to_string.__wrapped__  # type: ignore[attr-defined]
    sessions = useragent.UserAgentString.from_environment()
    sessions.to_string()
    # What botocore does for each new client: a copy of the session's builder, with the client's settings.
    copied = sessions.with_client_config(Config(user_agent_extra="httpep-test"))
    assert copied.to_string() == own(copied)
    assert copied.to_string().endswith(" httpep-test")
    # What botocore does to the session's builder before each new client.
    sessions.set_session_config(
        session_user_agent_name="Other", session_user_agent_version="1.0", session_user_agent_extra="other-extra"
    )
    assert sessions.to_string() == own(sessions)
    assert sessions.to_string().startswith("Other/1.0") and "other-extra" in sessions.to_string()

"""The invocations table on moto: newest first, one endpoint incarnation and one account at a time, TTL."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from httpendpoint.stores import invocation_store
from httpendpoint.stores.invocation_store import Invocation
from tests.support.aws import aws_client

pytestmark = pytest.mark.usefixtures("aws")


def invocation(at: str, request_id: str = "r", status: int = 200, error: str | None = None) -> Invocation:
    return Invocation(request_id, at, "GET", status, 12.5, error, f"output of {request_id}")


def test_records_come_back_newest_first_and_limited() -> None:
    for n in range(5):
        invocation_store.put("jaydoe", "hello", invocation(f"2026-11-30T10:00:0{n}.000+00:00", f"r{n}"))
    records = invocation_store.recent("jaydoe", "hello", since="2026-11-30T00:00:00.000+00:00", limit=3)
    assert [r.request_id for r in records] == ["r4", "r3", "r2"]
    assert records[0] == invocation("2026-11-30T10:00:04.000+00:00", "r4")


def test_two_requests_in_one_millisecond_are_both_kept() -> None:
    at = "2026-11-30T10:00:00.000+00:00"
    invocation_store.put("jaydoe", "hello", invocation(at, "a"))
    invocation_store.put("jaydoe", "hello", invocation(at, "b", status=500, error="ValueError: x"))
    records = invocation_store.recent("jaydoe", "hello", since="2026-11-30T00:00:00.000+00:00", limit=10)
    assert {(r.request_id, r.status, r.error) for r in records} == {("a", 200, None), ("b", 500, "ValueError: x")}


def test_only_records_after_the_endpoints_creation_are_read() -> None:
    """A re-created id starts empty: the old endpoint's records are before the new one's created_at."""
    invocation_store.put("jaydoe", "hello", invocation("2026-11-30T10:00:00.000+00:00", "old"))
    invocation_store.put("jaydoe", "hello", invocation("2026-11-30T11:00:00.000+00:00", "new"))
    records = invocation_store.recent("jaydoe", "hello", since="2026-11-30T10:30:00.000+00:00", limit=10)
    assert [r.request_id for r in records] == ["new"]


def test_another_accounts_records_of_the_same_id_are_never_read() -> None:
    invocation_store.put("acme", "hello", invocation("2026-11-30T10:00:00.000+00:00", "theirs"))
    assert invocation_store.recent("jaydoe", "hello", since="2026-01-01T00:00:00.000+00:00", limit=10) == []


def item(request_id: str) -> dict[str, Any]:
    table = os.environ["INVOCATIONS_TABLE"]
    items = aws_client("dynamodb").scan(TableName=table)["Items"]
    (found,) = [i for i in items if i["request_id"]["S"] == request_id]
    return dict(found)


def test_a_record_expires_after_the_retention_days(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOCATION_RETENTION_DAYS", "3")
    invocation_store.put("jaydoe", "hello", invocation("2026-11-30T10:00:00.000+00:00", "kept"))
    expires_at = int(item("kept")["expires_at"]["N"])
    assert abs(expires_at - (time.time() + 3 * 86_400)) < 60


def test_an_expired_record_not_yet_removed_by_dynamodb_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    invocation_store.put("jaydoe", "hello", invocation("2026-11-30T10:00:00.000+00:00", "expired"))
    invocation_store.put("jaydoe", "hello", invocation("2026-11-30T11:00:00.000+00:00", "fresh"))
    later = time.time() + 8 * 86_400
    monkeypatch.setattr(time, "time", lambda: later)
    invocation_store.put("jaydoe", "hello", invocation("2026-11-30T12:00:00.000+00:00", "newest"))
    records = invocation_store.recent("jaydoe", "hello", since="2026-11-30T00:00:00.000+00:00", limit=10)
    assert [r.request_id for r in records] == ["newest"]


def test_records_larger_than_one_dynamodb_page_are_all_read() -> None:
    """100 records of 4096 four-byte characters of output and of error: about 3 MB, over DynamoDB's 1 MB page."""
    wide = "\U0001f600" * 4096
    for n in range(100):
        at = f"2026-11-30T10:{n // 60:02d}:{n % 60:02d}.000+00:00"
        invocation_store.put("jaydoe", "hello", Invocation(f"r{n:03d}", at, "GET", 500, 1.0, wide, wide))
    records = invocation_store.recent("jaydoe", "hello", since="2026-11-30T00:00:00.000+00:00", limit=100)
    assert [r.request_id for r in records] == [f"r{n:03d}" for n in reversed(range(100))]

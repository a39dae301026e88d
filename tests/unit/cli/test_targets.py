"""A deployed stack as the target: what a user is told when it cannot be read."""

from __future__ import annotations

import pytest

from httpep import targets


def test_a_stack_without_a_region_says_how_to_give_one(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    with pytest.raises(targets.TargetError) as refused:
        targets.stack_target("nosuch", None)
    assert str(refused.value) == "cannot read stack nosuch: no AWS region; pass --region REGION or set AWS_REGION"

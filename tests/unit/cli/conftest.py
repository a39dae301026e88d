"""Nothing of the developer's own settings reaches a CLI test: no target, no state file, an empty config dir."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def clean_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("HTTPEP_TARGET", "HTTPEP_LOCAL_STATE", "HTTPEP_API_URL", "HTTPEP_TOKEN", "PORT", "AWS_PORT"):
        monkeypatch.delenv(name, raising=False)
    config_home = tmp_path / "config-home"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    return config_home

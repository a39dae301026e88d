"""Nothing of the developer's own settings reaches a CLI test (no target, no state file, an empty config dir);
the fake API the client tests talk to."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.cli.test_client import FakeApi


@pytest.fixture(autouse=True)
def clean_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("HTTPEP_TARGET", "HTTPEP_LOCAL_STATE", "HTTPEP_API_URL", "HTTPEP_TOKEN", "PORT", "AWS_PORT"):
        monkeypatch.delenv(name, raising=False)
    config_home = tmp_path / "config-home"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    return config_home


@pytest.fixture
def fake() -> Iterator[FakeApi]:
    api = FakeApi()
    # A short poll interval: shutdown() waits for one.
    thread = threading.Thread(target=api.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield api
    api.server.shutdown()
    api.server.server_close()

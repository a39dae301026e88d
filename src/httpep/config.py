"""`httpep config`'s small settings file in the user's config directory (click's app dir: on Linux
$XDG_CONFIG_HOME/httpep/config.json, else ~/.config/httpep/config.json)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

APP_NAME = "httpep"
KEYS = {
    "target": "where commands go when no --local/--stack is given: `local` or `stack:NAME`",
    "region": "the AWS region of a `stack:NAME` target",
}


class ConfigError(Exception):
    """The file cannot be read or written; the message is one line."""


def path() -> Path:
    return Path(click.get_app_dir(APP_NAME)) / "config.json"


def load() -> dict[str, Any]:
    try:
        raw = json.loads(path().read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path()}: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path()} does not hold a JSON object; fix or delete it")
    return raw


def save(values: dict[str, Any]) -> None:
    target = path()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}")
        partial.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")
        partial.replace(target)
    except OSError as exc:
        raise ConfigError(f"cannot write {target}: {exc.strerror}") from None

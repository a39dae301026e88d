"""Drive-path rules, ownership and the compile check of handler scripts (nothing is ever executed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from httpendpoint import scripts
from httpendpoint.core.errors import BadRequest, Forbidden, PayloadTooLarge
from httpendpoint.stores import script_store
from httpendpoint.stores.script_store import Script, ScriptMissing

SEED = "/jaydoe/my_repo/fs/Instabase Drive/handlers/hello.py"
SEED_HANDLER = b"""from flask import Request, Response
from typing import Any
def handler(request:Request, *args: Any, **kwargs: Any):
    if request.method == "GET":
        return Response("Hello World", mimetype="text/plain")
    else:
        return Response(status=404)
"""


@pytest.mark.parametrize(
    "drive_path",
    [
        SEED,
        "/jaydoe/a.py",
        "/jaydoe/.hidden/a.py",
        "/jaydoe/a..b.py",
        "/jaydoe/ü n i.py",
        "/jaydoe/\xa0\u200b.py",  # spaces of other widths are names' business, not lines'
        "/j/" + "a" * 1018 + ".py",
    ],
)
def test_valid_drive_paths(drive_path: str) -> None:
    assert scripts.check_drive_path(drive_path) == drive_path


@pytest.mark.parametrize(
    ("drive_path", "message"),
    [
        ("", "may not be empty"),
        ("/j/" + "a" * 1019 + ".py", "at most 1024 characters"),
        ("jaydoe/a.py", "absolute"),
        ("/jaydoe/a.pyc", "ending in '.py'"),
        ("/jaydoe/a.py/", "ending in '.py'"),
        ("/jaydoe/a", "ending in '.py'"),
        ("/jaydoe//a.py", "empty segments"),
        ("//jaydoe/a.py", "empty segments"),
        ("/jaydoe/../other/a.py", "'..' segments"),
        ("/jaydoe/./a.py", "'.' or '..' segments"),
        ("/jaydoe/a\nb.py", "control characters"),
        ("/jaydoe/a\x00.py", "control characters"),
        ("/jaydoe/a\x7f.py", "control characters"),
        # C1 controls and Unicode's line breaks: each starts a new line in some reader's eyes.
        ("/jaydoe/a\x85.py", "control characters"),
        ("/jaydoe/a\x9b.py", "control characters"),
        ("/jaydoe/a\u2028.py", "control characters"),
        ("/jaydoe/a\u2029.py", "control characters"),
        ("/jaydoe/a\ud800.py", "lone surrogate"),
    ],
)
def test_invalid_drive_paths(drive_path: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        scripts.check_drive_path(drive_path)


def test_the_owner_is_the_first_segment() -> None:
    assert scripts.drive_owner(SEED) == "jaydoe"
    scripts.require_owner(SEED, "jaydoe")
    for account in ("jaydoe2", "jay", "someone-else"):
        with pytest.raises(Forbidden, match=f"/{account}/"):
            scripts.require_owner(SEED, account)


def test_the_seed_handler_compiles() -> None:
    scripts.require_usable_handler(SEED, SEED_HANDLER)


@pytest.mark.parametrize(
    "source",
    [
        b"def handler(request):\n    return 'x'\n",
        b"def handler(request, *args, **kwargs):\n    return 'x'\n",
        b"def handler(*args):\n    return 'x'\n",
        b"def handler(request, /):\n    return 'x'\n",
        b"def handler(request, extra=1, *, flag=False):\n    return 'x'\n",
        b"def handler(request=None):\n    return 'x'\n",
        b"import os\nif os.environ.get('X'):\n    pass\n\n@staticmethod\ndef handler(request):\n    return 'x'\n",
        b"def handler():\n    pass\n\ndef handler(request):\n    return 'the last one wins'\n",
        "# -*- coding: latin-1 -*-\ndef handler(request):\n    return 'caf\xe9'\n".encode("latin-1"),
        b"\xef\xbb\xbfdef handler(request):\n    return 'BOM'\n",
    ],
)
def test_usable_handlers(source: bytes) -> None:
    scripts.require_usable_handler(SEED, source)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (b"def handler(request)\n    return 'x'\n", "syntax error at line 1"),
        (b"import json\n\n\ndef handler(request):\n    return json.dumps({)\n", "syntax error at line 5"),
        (b"def handler(request):\n\treturn 1\n        return 2\n", "syntax error at line 3"),
        (b"def handler(request):\n    return 1\nreturn 2\n", "syntax error at line 3: 'return' outside function"),
        (b"def handler(request):\n    pass\nbreak\n", "'break' outside loop"),
        (b"def handler(request):\n    nonlocal x\n", "syntax error at line 2"),
        (b"def handler(request):\n    return '\xff'\n", "syntax error"),
        (b"def handler(request):\n    return 1\x00\n", "null bytes"),
        (b"x = " + b"(" * 500 + b"1" + b")" * 500 + b"\ndef handler(request):\n    return x\n", "too many nested"),
        (b"", "does not define a top-level function 'def handler(request)'"),
        (b"def handle(request):\n    return 'x'\n", "does not define a top-level function"),
        (b"class Handler:\n    def handler(self, request):\n        return 'x'\n", "does not define a top-level"),
        (b"if True:\n    def handler(request):\n        return 'x'\n", "does not define a top-level"),
        (b"handler = print\n", "does not define a top-level"),
        (b"from os import path as handler\n", "does not define a top-level"),
        (b"async def handler(request):\n    return 'x'\n", "not 'async def'"),
        (b"def handler():\n    return 'x'\n", "only required argument"),
        (b"def handler(request, response):\n    return 'x'\n", "only required argument"),
        (b"def handler(request, *, strict):\n    return 'x'\n", "only required argument"),
        (b"def handler(**kwargs):\n    return 'x'\n", "only required argument"),
    ],
)
def test_unusable_scripts_are_named(source: bytes, message: str) -> None:
    with pytest.raises(BadRequest, match="handler_script_path") as caught:
        scripts.require_usable_handler(SEED, source)
    assert message in caught.value.message
    assert SEED in caught.value.message


def test_checking_never_runs_the_script(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    source = f"open({str(marker)!r}, 'w').close()\nraise SystemExit(3)\ndef handler(request):\n    return 1\n"
    scripts.require_usable_handler(SEED, source.encode())
    assert not marker.exists()


class FakeStore:
    """Stands in for the script store: the S3 behaviour itself is covered by the integration tests."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, result: bytes | Exception) -> None:
        self.calls: list[tuple[str, str | None, int | None]] = []
        self.result = result
        monkeypatch.setattr(script_store, "fetch", self.fetch)
        monkeypatch.setenv("MAX_SCRIPT_BYTES", "2048")

    def fetch(self, drive_path: str, version: str | None = None, max_bytes: int | None = None) -> Script:
        self.calls.append((drive_path, version, max_bytes))
        if isinstance(self.result, Exception):
            raise self.result
        return Script(drive_path=drive_path, source=self.result, version=version or "v-current")


def test_a_registered_script_is_fetched_with_the_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    store = FakeStore(monkeypatch, SEED_HANDLER)
    assert scripts.check_handler_script(SEED, "jaydoe") == "v-current"
    assert store.calls == [(SEED, None, 2048)]


def test_a_given_version_is_the_one_fetched_checked_and_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    store = FakeStore(monkeypatch, SEED_HANDLER)
    assert scripts.check_handler_script(SEED, "jaydoe", "v-old") == "v-old"
    assert store.calls == [(SEED, "v-old", 2048)]


def test_another_drive_is_403_before_any_fetch(monkeypatch: pytest.MonkeyPatch) -> None:
    store = FakeStore(monkeypatch, SEED_HANDLER)
    with pytest.raises(Forbidden):
        scripts.check_handler_script(SEED, "someone-else")
    assert store.calls == []


def test_a_missing_script_is_a_400(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeStore(monkeypatch, ScriptMissing(SEED))
    with pytest.raises(BadRequest, match="does not exist in the script store"):
        scripts.check_handler_script(SEED, "jaydoe")


def test_a_script_over_the_limit_is_a_400_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeStore(monkeypatch, PayloadTooLarge("too big"))
    with pytest.raises(BadRequest, match="larger than the limit of 2048 bytes"):
        scripts.check_handler_script(SEED, "jaydoe")

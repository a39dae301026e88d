"""`httpep files ...` and `httpep dev` against the fake API of test_client (tests/e2e runs them on the stack)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from httpep import files_commands
from httpep.client import ApiClient
from tests.support.stack import free_port
from tests.unit.cli.test_client import Answer, FakeApi, Seen, api_cli, one_error_line

FILES = "/api/v2/files"
HELLO = b"def handler(request):\n    return 'hi'\n"


def saved_answer(seen: Seen, updated: list[str] | None = None, kept: list[dict[str, str]] | None = None) -> Answer:
    path = "/" + seen.path.removeprefix(FILES + "/").replace("%20", " ")
    body = {"path": path, "version": f"v{len(seen.body)}", "size": len(seen.body)}
    return Answer(201, {**body, "endpoints": {"updated": updated or [], "kept": kept or []}})


# ---------------------------------------------------------------------------------------------- files


def test_put_sends_the_bytes_with_the_token_and_prints_what_the_save_did(fake: FakeApi, tmp_path: Path) -> None:
    script = tmp_path / "hello.py"
    script.write_bytes(b"def handler(:\n")
    fake.respond = lambda seen: saved_answer(seen, ["a", "b"], [{"id": "c", "error": "line 1: syntax error"}])
    result = api_cli(fake, "files", "put", str(script), "/jaydoe/my repo/hello.py")
    assert result.exit_code == 0, result.stderr
    (seen,) = fake.requests
    assert (seen.method, seen.path, seen.body) == ("PUT", FILES + "/jaydoe/my%20repo/hello.py", b"def handler(:\n")
    assert seen.headers["Authorization"] == "Bearer hep_test"
    assert result.stdout.splitlines() == [
        f"uploaded {script} to /jaydoe/my repo/hello.py (version v14)",
        "re-pinned: a, b",
    ]
    assert result.stderr.splitlines() == ["kept c: line 1: syntax error"]


def test_get_prints_the_bytes_or_writes_them_to_a_file(fake: FakeApi, tmp_path: Path) -> None:
    data = bytes(range(256))
    fake.respond = lambda seen: Answer(200, data, {"Content-Type": "application/octet-stream", "X-Version": "v7"})
    printed = api_cli(fake, "files", "get", "/jaydoe/blob.bin")
    assert printed.exit_code == 0, printed.stderr
    assert printed.stdout_bytes == data
    out = tmp_path / "copy.bin"
    written = api_cli(fake, "files", "get", "/jaydoe/blob.bin", "--version", "v7", "-o", str(out))
    assert written.exit_code == 0, written.stderr
    assert out.read_bytes() == data and written.stdout_bytes == b""
    assert "version v7" in written.stderr
    assert [seen.query for seen in fake.requests] == [{}, {"version": ["v7"]}]


def nodes(count: int) -> list[dict[str, Any]]:
    return [
        {"name": f"f{n:03d}.py", "path": f"/jaydoe/h/f{n:03d}.py", "type": "file", "size": n, "modified": "2026-01-01"}
        for n in range(count)
    ]


def test_ls_fetches_every_page(fake: FakeApi) -> None:
    items = nodes(5)

    def respond(seen: Seen) -> Answer:
        start = int(seen.query.get("page_token", ["0"])[0])
        more = start + 2 < len(items)
        return Answer(
            200,
            {
                "path": "/jaydoe/h",
                "nodes": items[start : start + 2],
                "next_page_token": str(start + 2) if more else None,
            },
        )

    fake.respond = respond
    result = api_cli(fake, "files", "ls", "/jaydoe/h/", "--output", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == items
    assert [seen.query for seen in fake.requests] == [
        {"list": ["true"]},
        {"list": ["true"], "page_token": ["2"]},
        {"list": ["true"], "page_token": ["4"]},
    ]
    assert {seen.path for seen in fake.requests} == {FILES + "/jaydoe/h"}
    table = api_cli(fake, "files", "ls", "/jaydoe/h")
    assert table.stdout.splitlines()[0].split() == list(files_commands.NODE_COLUMNS)
    assert len(table.stdout.splitlines()) == 2 + len(items)


def test_a_page_token_seen_twice_stops_the_listing(fake: FakeApi) -> None:
    fake.respond = lambda seen: Answer(200, {"path": "/jaydoe", "nodes": [], "next_page_token": "same"})
    assert "page_token 'same' twice" in one_error_line(api_cli(fake, "files", "ls", "/jaydoe"))
    assert len(fake.requests) == 2


def test_versions_as_a_table_and_as_json(fake: FakeApi) -> None:
    versions = [
        {"version": "v2", "size": 3, "modified": "2026-01-02T00:00:00+00:00", "current": True},
        {"version": "v1", "size": 2, "modified": "2026-01-01T00:00:00+00:00", "current": False},
    ]
    fake.respond = lambda seen: Answer(200, {"path": "/jaydoe/h.py", "versions": versions})
    as_json = api_cli(fake, "files", "versions", "/jaydoe/h.py", "-o", "json")
    assert json.loads(as_json.stdout) == versions
    assert fake.requests[0].query == {"versions": ["true"]}
    table = api_cli(fake, "files", "versions", "/jaydoe/h.py").stdout.splitlines()
    assert table[0].split() == list(files_commands.VERSION_COLUMNS)
    assert table[2].split() == ["v2", "3", "2026-01-02T00:00:00+00:00", "*"]
    assert table[3].split() == ["v1", "2", "2026-01-01T00:00:00+00:00"]


def test_rm_deletes_and_prints_the_answer(fake: FakeApi) -> None:
    fake.respond = lambda seen: Answer(200, {"path": "/jaydoe/h.py"})
    result = api_cli(fake, "files", "rm", "/jaydoe/h.py")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"path": "/jaydoe/h.py"}
    assert (fake.requests[0].method, fake.requests[0].path) == ("DELETE", FILES + "/jaydoe/h.py")


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (409, "/jaydoe/h.py is used by endpoint(s) a, b; point them at another file or delete them first"),
        (403, "path must be in your own drive (start with /jaydoe/)"),
        (404, "/jaydoe/h.py does not exist in the script store"),
        (413, "body: 9 bytes is over the limit of 8 bytes (MaxScriptBytes)"),
    ],
)
def test_api_errors_are_one_line_with_the_service_s_reason(fake: FakeApi, status: int, error: str) -> None:
    fake.respond = lambda seen: Answer(status, {"error": error})
    assert one_error_line(api_cli(fake, "files", "rm", "/jaydoe/h.py")) == f"Error: {status} {error}"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("files", "get", "jaydoe/h.py"), "must be an absolute drive path"),
        (("files", "rm", "/jaydoe/../h.py"), "'.' or '..'"),
        (("files", "versions", "/h.py"), "must start with /<account>/"),
        (("files", "ls", "/jay doe"), "must start with /<account>"),
        (("files", "rm", "/jaydoe"), "'/jaydoe' names no file, only an account's drive"),
        (("files", "versions", "/Jay/h.py"), "account 'Jay' must match [a-z0-9][a-z0-9_-]{0,62}"),
        (("files", "ls", "/jaydoe//x"), "empty segments"),
        (("files", "ls", "/"), "names no account's drive (a drive folder is /<account>"),
        (("files", "ls", "//"), "drive folder '//' names no account's drive"),
        (("files", "ls", "/jaydoe/\udcff"), "lone surrogate"),  # what bytes that are not UTF-8 arrive as
        (("dev", ".", "/jaydoe/a\x01"), "control characters"),
    ],
)
def test_bad_drive_paths_are_refused_before_any_request(fake: FakeApi, args: tuple[str, ...], fragment: str) -> None:
    assert fragment in one_error_line(api_cli(fake, *args))
    assert fake.requests == []


# ---------------------------------------------------------------------------------------------- dev


def test_dev_once_uploads_every_script_under_the_folder_to_the_same_relative_path(
    fake: FakeApi, tmp_path: Path
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / ".venv").mkdir()
    (tmp_path / "a.py").write_bytes(HELLO)
    (tmp_path / "sub" / "b.py").write_bytes(HELLO + b"#\n")
    (tmp_path / "notes.txt").write_text("not a script")
    (tmp_path / ".venv" / "c.py").write_bytes(HELLO)
    fake.respond = lambda seen: saved_answer(seen, ["hello"]) if seen.method == "PUT" else Answer(404)
    result = api_cli(fake, "dev", str(tmp_path), "/jaydoe/dev/", "--once")
    assert result.exit_code == 0, result.stderr
    assert [(seen.method, seen.path, seen.body) for seen in fake.requests] == [
        ("GET", FILES + "/jaydoe/dev/a.py", b""),
        ("PUT", FILES + "/jaydoe/dev/a.py", HELLO),
        ("GET", FILES + "/jaydoe/dev/sub/b.py", b""),
        ("PUT", FILES + "/jaydoe/dev/sub/b.py", HELLO + b"#\n"),
    ]
    assert result.stdout.splitlines() == [
        "uploaded a.py to /jaydoe/dev/a.py (version v38)",
        "re-pinned: hello",
        "uploaded sub/b.py to /jaydoe/dev/sub/b.py (version v40)",
        "re-pinned: hello",
    ]


def test_dev_saves_no_file_the_drive_holds_already(fake: FakeApi, tmp_path: Path) -> None:
    (tmp_path / "same.py").write_bytes(HELLO)
    (tmp_path / "changed.py").write_bytes(HELLO + b"#\n")

    def respond(seen: Seen) -> Answer:
        if seen.method == "GET":  # the drive holds HELLO at both paths
            return Answer(200, HELLO, {"X-Version": "v1"})
        return saved_answer(seen, ["hello"])

    fake.respond = respond
    result = api_cli(fake, "dev", str(tmp_path), "/jaydoe/dev", "--once")
    assert result.exit_code == 0, result.stderr
    assert [(seen.method, seen.path) for seen in fake.requests if seen.method == "PUT"] == [
        ("PUT", FILES + "/jaydoe/dev/changed.py")
    ]
    assert "unchanged same.py at /jaydoe/dev/same.py (version v1)" in result.stdout.splitlines()


def test_dev_without_drive_dir_and_without_a_stack_asks_for_it(fake: FakeApi, tmp_path: Path) -> None:
    (tmp_path / "a.py").write_bytes(HELLO)
    line = one_error_line(api_cli(fake, "dev", str(tmp_path), "--once"))
    assert line.startswith("Error: give DRIVE_DIR (e.g. /ACCOUNT/handlers), or a stack whose tokens table")
    assert fake.requests == []  # nothing uploaded anywhere


def test_dev_stops_at_the_first_upload_error(fake: FakeApi, tmp_path: Path) -> None:
    (tmp_path / "a.py").write_bytes(HELLO)
    fake.respond = lambda seen: Answer(403, {"error": "path must be in your own drive (start with /jaydoe/)"})
    assert "403 path must be in your own drive" in one_error_line(
        api_cli(fake, "dev", str(tmp_path), "/other", "--once")
    )


def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_watch_uploads_each_save_once_and_only_changed_content(fake: FakeApi, tmp_path: Path) -> None:
    import click

    fake.respond = lambda seen: saved_answer(seen, ["hello"])
    script = tmp_path / "pkg" / "hello.py"
    script.parent.mkdir()
    script.write_bytes(HELLO)
    ctx = click.Context(files_commands.dev)
    uploader = files_commands.Uploader(ctx, ApiClient(fake.api_root, "hep_test"), tmp_path, "/jaydoe/dev")
    uploader.upload(script)
    stop = threading.Event()
    uploaded: list[Path] = []

    def on_save(path: Path) -> None:
        if uploader.upload(path):
            uploaded.append(path)

    watcher = threading.Thread(target=files_commands.watch, args=(tmp_path, on_save, stop))
    watcher.start()
    try:
        time.sleep(0.3)  # the observer is scheduled
        script.write_bytes(HELLO)  # same bytes: nothing to save
        (tmp_path / "pkg" / "notes.txt").write_text("ignored")
        time.sleep(0.5)
        assert uploaded == []
        # An editor's atomic save: write a temporary file, rename it over the script.
        temporary = tmp_path / "pkg" / ".hello.py.swp"
        temporary.write_bytes(b"def handler(request):\n    return 'edited'\n")
        temporary.replace(script)
        wait_for(lambda: uploaded == [script])
        (tmp_path / "pkg" / "new.py").write_bytes(HELLO)
        wait_for(lambda: len(uploaded) == 2)
    finally:
        stop.set()
        watcher.join(timeout=5)
    assert not watcher.is_alive()
    assert [(seen.path, seen.body) for seen in fake.requests] == [
        (FILES + "/jaydoe/dev/pkg/hello.py", HELLO),
        (FILES + "/jaydoe/dev/pkg/hello.py", b"def handler(request):\n    return 'edited'\n"),
        (FILES + "/jaydoe/dev/pkg/new.py", HELLO),
    ]


def test_dev_exits_cleanly_on_ctrl_c(fake: FakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.py").write_bytes(HELLO)
    fake.respond = lambda seen: saved_answer(seen)

    def interrupted(*args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(files_commands, "watch", interrupted)
    result = api_cli(fake, "dev", str(tmp_path), "/jaydoe/dev")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines()[-1] == "stopped"


def test_an_error_in_the_loop_is_one_line_and_the_loop_goes_on(
    fake: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import click

    script = tmp_path / "a.py"
    script.write_bytes(HELLO)
    fake.respond = lambda seen: Answer(413, {"error": "body: too large"})
    ctx = click.Context(files_commands.dev)
    uploader = files_commands.Uploader(ctx, ApiClient(fake.api_root, "hep_test"), tmp_path, "/jaydoe/dev")
    files_commands._upload_in_loop(ctx, uploader, script)  # no exception
    assert capsys.readouterr().err.splitlines() == ["Error: a.py: 413 body: too large"]
    fake.respond = lambda seen: saved_answer(seen)
    files_commands._upload_in_loop(ctx, uploader, script)  # the same bytes again: not saved before, so sent
    assert len(fake.requests) == 2
    assert capsys.readouterr().out.splitlines() == ["uploaded a.py to /jaydoe/dev/a.py (version v38)"]


def test_an_unreachable_local_stack_in_the_loop_says_to_start_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import click

    script = tmp_path / "a.py"
    script.write_bytes(HELLO)
    ctx = click.Context(files_commands.dev)
    api_root = f"http://127.0.0.1:{free_port()}/api/v1/http-endpoint"  # nothing listens: the stack was stopped
    uploader = files_commands.Uploader(ctx, ApiClient(api_root, "hep_test"), tmp_path, "/jaydoe/dev")
    files_commands._upload_in_loop(ctx, uploader, script)  # no exception: the loop goes on
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("Error: cannot reach http://127.0.0.1:")
    assert line.endswith("is the stack running? start it with `make dev`")

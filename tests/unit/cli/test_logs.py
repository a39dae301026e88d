"""`httpep logs` against the fake API: the blocks it prints, --json, and --follow printing only new records."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from httpep import logs_commands
from tests.unit.cli.test_client import Answer, FakeApi, Seen, api_cli, one_error_line


def record(n: int, **fields: Any) -> dict[str, Any]:
    return {
        "request_id": f"req-{n}",
        "time": f"2026-11-30T10:00:{n:02d}.000+00:00",
        "method": "GET",
        "status": 200,
        "duration_ms": 12.5,
        "error": None,
        "output": "",
        **fields,
    }


def answering(*records: dict[str, Any]) -> Any:
    def respond(seen: Seen) -> Answer:
        limit = int(seen.query["limit"][0])
        newest_first = sorted(records, key=lambda r: r["time"], reverse=True)[:limit]
        return Answer(200, {"id": "hook", "invocations": newest_first})

    return respond


def test_each_invocation_is_a_block_oldest_first_with_its_output_indented(fake: FakeApi) -> None:
    failed = record(
        2, status=500, duration_ms=40.25, error="ValueError: no", output="working\nTraceback (most recent call last):\n"
    )
    fake.respond = answering(record(1, output="hello\n"), failed)
    result = api_cli(fake, "logs", "hook")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "2026-11-30T10:00:01.000+00:00  GET 200  12.5 ms  request req-1\n"
        "    hello\n"
        "\n"
        "2026-11-30T10:00:02.000+00:00  GET 500  40.25 ms  request req-2\n"
        "    error: ValueError: no\n"
        "    working\n"
        "    Traceback (most recent call last):\n"
        "\n"
    )
    (seen,) = fake.requests
    assert (seen.method, fake.route(seen), seen.query) == ("GET", "/hook/invocations", {"limit": ["20"]})


def test_a_handler_s_output_cannot_forge_a_block_or_draw_on_the_terminal(fake: FakeApi) -> None:
    forged = "2026-11-30T10:00:09.000+00:00  GET 200  1 ms  request req-9"
    fake.respond = answering(
        record(1, method="GET\x1b[2J", error="E: x\u2028y", output=f"a\x1b[1A\x9b2K\u2028{forged}\x85z\r\nb\tc\rd\n")
    )
    result = api_cli(fake, "logs", "hook")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "2026-11-30T10:00:01.000+00:00  GET\\x1b[2J 200  12.5 ms  request req-1\n"
        "    error: E: x\\u2028y\n"
        f"    a\\x1b[1A\\x9b2K\\u2028{forged}\\x85z\n"
        "    b\tc\n"
        "    d\n"
        "\n"
    )


def test_limit_is_passed_on_and_checked_before_any_request(fake: FakeApi) -> None:
    fake.respond = answering(*(record(n) for n in range(5)))
    result = api_cli(fake, "logs", "hook", "--limit", "2")
    assert [line.split("request ")[1] for line in result.stdout.splitlines() if "request" in line] == ["req-3", "req-4"]
    assert fake.requests[0].query == {"limit": ["2"]}
    assert api_cli(fake, "logs", "hook", "--limit", "101").exit_code == 2
    assert len(fake.requests) == 1


@pytest.mark.parametrize("flag", [("--json",), ("--output", "json"), ("-o", "json")])
def test_json_prints_the_apis_answer(fake: FakeApi, flag: tuple[str, ...]) -> None:
    fake.respond = answering(record(1), record(2))
    result = api_cli(fake, "logs", "hook", *flag)
    assert json.loads(result.stdout) == {"id": "hook", "invocations": [record(2), record(1)]}


@pytest.mark.parametrize("follow", [(), ("--follow",)])
def test_json_is_the_same_value_with_nothing_raw_a_terminal_would_act_on(
    fake: FakeApi, monkeypatch: pytest.MonkeyPatch, follow: tuple[str, ...]
) -> None:
    output = "\x1b[2J\x85\x9b31m\x7f\u2028\u202e\ud800 ünï 🙂\n"
    fake.respond = answering(record(1, output=output))

    def ctrl_c(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(logs_commands, "_wait", ctrl_c)
    result = api_cli(fake, "logs", "hook", "--json", *follow)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.isascii() is False and "ünï 🙂" in result.stdout  # readable text stays as it is
    assert all(char.isprintable() or char == "\n" for char in result.stdout), ascii(result.stdout)
    parsed = json.loads(result.stdout)
    assert (parsed if follow else parsed["invocations"][0])["output"] == output


def test_no_invocations_says_so_on_stderr(fake: FakeApi) -> None:
    fake.respond = answering()
    result = api_cli(fake, "logs", "hook")
    assert (result.exit_code, result.stdout) == (0, "")
    assert "no invocations" in result.stderr


def test_an_unknown_endpoint_is_one_error_line(fake: FakeApi) -> None:
    fake.respond = lambda seen: Answer(404, {"error": "no endpoint with id 'hook'"})
    assert one_error_line(api_cli(fake, "logs", "hook")) == "Error: 404 no endpoint with id 'hook'"


def test_follow_prints_only_new_records_until_ctrl_c(fake: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    history = [record(1), record(2)]
    fake.respond = lambda seen: answering(*history)(seen)
    polls = []

    def wait(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 1:
            history.append(record(3))
        elif len(polls) == 2:
            history.extend([record(4), record(5)])
        elif len(polls) == 4:
            raise KeyboardInterrupt  # what Ctrl-C raises in the sleep between two polls

    monkeypatch.setattr(logs_commands, "_wait", wait)
    result = api_cli(fake, "logs", "hook", "--follow", "--interval", "0.5", "--json")
    assert result.exit_code == 0, result.stderr
    printed = [json.loads(line)["request_id"] for line in result.stdout.splitlines()]
    assert printed == ["req-1", "req-2", "req-3", "req-4", "req-5"]
    assert polls == [0.5] * 4
    # Following asks for as many as the API gives from the first request on.
    assert [seen.query["limit"] for seen in fake.requests] == [["100"]] * 4


def test_follow_with_a_small_limit_never_reprints_the_older_records(
    fake: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = [record(n) for n in range(1, 8)]
    fake.respond = lambda seen: answering(*history)(seen)
    polls = []

    def wait(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 1:
            history.append(record(8))
        elif len(polls) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(logs_commands, "_wait", wait)
    for flags in ((), ("--json",)):
        polls.clear()
        del history[7:]
        result = api_cli(fake, "logs", "hook", "--follow", "--limit", "1", "--interval", "0.5", *flags)
        assert result.exit_code == 0, result.stderr
        printed = re.findall(r"req-\d", result.stdout)
        assert printed == ["req-7", "req-8"], flags

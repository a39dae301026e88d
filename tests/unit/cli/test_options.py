"""How `httpep` is driven: target options anywhere, a target named once, help, version, and the checks made
before anything is sent (against the fake API of test_client, which records every request)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from httpep.cli import main
from tests.unit.cli.test_client import (
    ROOT_PATH,
    Answer,
    FakeApi,
    cli,
    endpoints,
    one_error_line,
    paged,
    write_state,
)

COMMANDS = [
    ("endpoint", "create"),
    ("endpoint", "get"),
    ("endpoint", "update"),
    ("endpoint", "delete"),
    ("endpoint", "list"),
    ("call",),
    ("token", "create"),
    ("token", "revoke"),
    ("token", "list"),
    ("script", "put"),
    ("api-root",),
]
READ_COMMANDS = [("endpoint", "get"), ("endpoint", "list"), ("token", "list"), ("config", "get")]


def help_of(*command: str) -> str:
    result = CliRunner(mix_stderr=False).invoke(main, [*command, "--help"], terminal_width=80)
    assert result.exit_code == 0, result.stderr
    return result.stdout


# ---------------------------------------------------------------------------------------------- options anywhere


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_lists_the_target_options_in_its_help(command: tuple[str, ...]) -> None:
    text = help_of(*command)
    section = text[text.index("Target options") :]
    for option in ("--local", "--stack NAME", "--region", "--template", "--api-url", "--token"):
        assert option in section


@pytest.mark.parametrize("command", READ_COMMANDS)
def test_every_read_command_takes_output_json_or_table(command: tuple[str, ...]) -> None:
    assert "-o, --output [json|table]" in help_of(*command)


def test_the_root_help_shows_every_command_s_help_uncut() -> None:
    text = help_of()
    commands = text[text.index("Commands:") :]
    assert "..." not in commands
    assert "in the foreground, until Ctrl-C." in " ".join(commands.split())
    for command in ("api-root", "call", "config", "endpoint", "script", "serve", "token"):
        assert re.search(rf"^  {command} ", text, flags=re.M), command


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert re.fullmatch(r"httpep \d+\.\d+\.\d+\n", result.output)


@pytest.mark.parametrize(
    "args",
    [
        ("--api-url", "{root}", "--token", "hep_t", "endpoint", "list"),
        ("endpoint", "--api-url", "{root}", "list", "--token", "hep_t"),
        ("endpoint", "list", "--api-url", "{root}", "--token", "hep_t"),
        ("--token", "hep_t", "endpoint", "list", "--api-url", "{root}"),
    ],
)
def test_target_options_work_before_or_after_the_subcommand(fake: FakeApi, args: tuple[str, ...]) -> None:
    fake.respond = paged(endpoints(1))
    result = cli(*(arg.format(root=fake.api_root) for arg in args))
    assert result.exit_code == 0, result.stderr
    assert fake.requests[0].headers["Authorization"] == "Bearer hep_t"


def test_local_and_stack_at_different_levels_still_exclude_each_other() -> None:
    line = one_error_line(cli("--local", "endpoint", "list", "--stack", "prod", "--token", "t"))
    assert "--local and --stack exclude each other" in line


# ---------------------------------------------------------------------------------------------- a target named once


def local_env(tmp_path: Path, fake: FakeApi) -> dict[str, str | None]:
    return {"HTTPEP_LOCAL_STATE": str(write_state(tmp_path, fake.api_root)), "HTTPEP_TOKEN": "hep_t"}


def test_httpep_target_local_needs_no_flag(tmp_path: Path, fake: FakeApi) -> None:
    fake.respond = paged(endpoints(2))
    result = cli("endpoint", "list", env={**local_env(tmp_path, fake), "HTTPEP_TARGET": "local"})
    assert result.exit_code == 0, result.stderr
    assert fake.requests[0].path == f"{ROOT_PATH}/list"


def test_config_set_target_is_kept_for_later_commands(tmp_path: Path, fake: FakeApi, clean_settings: Path) -> None:
    fake.respond = paged(endpoints(1))
    assert cli("config", "set", "target", "local").exit_code == 0
    stored = json.loads((clean_settings / "httpep" / "config.json").read_text())
    assert stored == {"target": "local"}
    got = cli("config", "get", "target")
    assert got.stdout == "local\n"
    result = cli("endpoint", "list", env=local_env(tmp_path, fake))
    assert result.exit_code == 0, result.stderr
    assert len(fake.requests) == 1
    assert cli("config", "unset", "target").exit_code == 0
    assert "say where the API is" in one_error_line(cli("endpoint", "list", env=local_env(tmp_path, fake)))


def test_the_flag_beats_the_variable_which_beats_the_config_file(tmp_path: Path, fake: FakeApi) -> None:
    fake.respond = paged(endpoints(1))
    cli("config", "set", "target", "stack:from-file")
    env = {**local_env(tmp_path, fake), "HTTPEP_TARGET": "local"}
    assert cli("endpoint", "list", env=env).exit_code == 0  # the variable, not the file's stack
    env["HTTPEP_TARGET"] = "stack:no-such-stack"
    assert cli("endpoint", "list", "--local", env=env).exit_code == 0  # the flag, not the variable


@pytest.mark.parametrize("value", ["locale", "stack:", "prod"])
def test_a_bad_target_names_the_two_forms(value: str) -> None:
    line = one_error_line(cli("endpoint", "list", "--token", "t", env={"HTTPEP_TARGET": value}))
    assert f"HTTPEP_TARGET: {value!r} is not a target; use `local` or `stack:NAME`" in line
    assert "is not a target" in one_error_line(cli("config", "set", "target", value))


def test_config_refuses_an_unknown_key() -> None:
    assert "'colour' is not a setting; known: target, region" in one_error_line(cli("config", "set", "colour", "x"))


def test_config_get_lists_every_setting_as_json(clean_settings: Path) -> None:
    cli("config", "set", "region", "eu-west-1")
    result = cli("config", "get", "-o", "json")
    assert json.loads(result.stdout) == {"region": "eu-west-1"}


def test_api_root_prints_the_target_s_root(tmp_path: Path, fake: FakeApi) -> None:
    result = cli("api-root", "--local", env=local_env(tmp_path, fake))
    assert result.stdout == fake.api_root + "\n"


def test_no_local_stack_is_one_line(tmp_path: Path) -> None:
    env = {"HTTPEP_LOCAL_STATE": str(tmp_path / "none.json"), "HTTPEP_TOKEN": "t"}
    assert one_error_line(cli("--local", "endpoint", "list", env=env)) == "Error: no local stack running: run make dev"


def test_outside_a_checkout_the_template_is_looked_for_upwards_and_named_in_the_error(tmp_path: Path) -> None:
    runner = CliRunner(mix_stderr=False)
    with runner.isolated_filesystem(temp_dir=tmp_path):
        result = runner.invoke(main, ["--local", "api-root"])
    line = result.stderr.strip()
    assert result.exit_code == 1
    assert line.startswith("Error: no template.yaml in ") and "or pass --template PATH" in line


def test_template_names_the_checkout_and_its_state_file(tmp_path: Path, fake: FakeApi) -> None:
    checkout = tmp_path / "checkout"
    (checkout / ".httpep").mkdir(parents=True)
    (checkout / "template.yaml").write_text("Resources: {}\n")
    write_state(checkout / ".httpep", fake.api_root).rename(checkout / ".httpep" / "local.json")
    runner = CliRunner(mix_stderr=False)
    with runner.isolated_filesystem(temp_dir=tmp_path):
        result = runner.invoke(main, ["api-root", "--local", "--template", str(checkout / "template.yaml")])
        assert result.stdout == fake.api_root + "\n", result.stderr
        nested = checkout / "a" / "b"
        nested.mkdir(parents=True)
    # From a folder inside the checkout, with no option: found upwards.
    before = Path.cwd()
    os.chdir(nested)
    try:
        result = CliRunner(mix_stderr=False).invoke(main, ["--local", "api-root"])
    finally:
        os.chdir(before)
    assert result.stdout == fake.api_root + "\n", result.stderr


# ---------------------------------------------------------------------------------------------- checks before sending


@pytest.mark.parametrize(
    ("args", "rule"),
    [
        (("endpoint", "get", "a/b"), "id 'a/b' must be 1-128 characters of letters, digits, '.', '_' and '-'"),
        (("endpoint", "delete", "list"), "id 'list' is reserved"),
        (("endpoint", "create", "ok", "--path", "a/b", "--handler", "/jaydoe/h.py"), "path 'a/b' must be 1-128"),
        (("endpoint", "create", "ok", "--handler", "jaydoe/h.py"), "drive path 'jaydoe/h.py'"),
        (("endpoint", "create", "ok", "--handler", "/jaydoe/h.txt"), "drive path '/jaydoe/h.txt'"),
        (("endpoint", "update", "ok", "--path", "x y"), "path 'x y' must be 1-128"),
        (("call", "a/b"), "path 'a/b' must be 1-128 characters of letters, digits, '_' and '-'"),
    ],
)
def test_ids_and_paths_are_checked_before_anything_is_sent(fake: FakeApi, args: tuple[str, ...], rule: str) -> None:
    line = one_error_line(cli("--api-url", fake.api_root, "--token", "t", *args))
    assert rule in line
    assert fake.requests == []


def test_create_without_path_uses_the_id(fake: FakeApi) -> None:
    fake.respond = lambda seen: Answer(201, {"id": "hook"})
    result = cli("--api-url", fake.api_root, "--token", "t", "endpoint", "create", "hook", "--handler", "/jaydoe/h.py")
    assert result.exit_code == 0, result.stderr
    assert json.loads(fake.requests[0].body) == {"path": "hook", "handler_script_path": "/jaydoe/h.py"}


def test_create_without_path_for_an_id_that_is_no_path_says_to_give_one(fake: FakeApi) -> None:
    line = one_error_line(
        cli("--api-url", fake.api_root, "--token", "t", "endpoint", "create", "v1.2", "--handler", "/j/h.py")
    )
    assert "give --path, as the ID cannot be a path" in line
    assert fake.requests == []


def test_call_refuses_a_url_and_says_how_to_give_the_root(fake: FakeApi) -> None:
    url = "https://abc.execute-api.eu-west-1.amazonaws.com/Prod/api/v1/http-endpoint/u/hook?x=1"
    line = one_error_line(cli("--api-url", fake.api_root, "--token", "t", "call", url))
    root = "https://abc.execute-api.eu-west-1.amazonaws.com/Prod/api/v1/http-endpoint"
    assert f"is a URL; give the endpoint's path alone, e.g. httpep --api-url {root} call hook?x=1" in line
    assert fake.requests == []


@pytest.mark.parametrize(
    ("given", "suggested"),
    [("/u/helloworld?x=1", "helloworld?x=1"), ("u/helloworld?x=1", "helloworld?x=1"), ("/u/", "PATH")],
)
def test_call_of_a_path_with_u_says_call_adds_it(fake: FakeApi, given: str, suggested: str) -> None:
    line = one_error_line(cli("--api-url", fake.api_root, "--token", "t", "call", given))
    assert f"give the endpoint's path without u/, which call adds: httpep call {suggested} (see" in line
    assert fake.requests == []


def test_call_of_a_url_with_no_scheme_suggests_no_api_root(fake: FakeApi) -> None:
    line = one_error_line(cli("--api-url", fake.api_root, "--token", "t", "call", "//u/x"))
    assert "is a URL; give the endpoint's path alone, e.g. httpep call PATH (the API root" in line


def test_call_of_a_path_starting_with_a_dash_says_to_use_double_dash(fake: FakeApi) -> None:
    line = one_error_line(cli("--api-url", fake.api_root, "--token", "t", "call", "-lead"))
    assert "a path that starts with '-' goes after `--`: httpep call -- -lead (see" in line
    fake.respond = lambda seen: Answer(200, b"led")
    result: Result = cli("--api-url", fake.api_root, "--token", "t", "call", "--", "-lead")
    assert result.exit_code == 0, result.stderr
    assert fake.requests[0].path == f"{ROOT_PATH}/u/-lead"


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (("-X", "POST", "-lead?x=1", "-d", "a b"), "httpep call -X POST -d 'a b' -- '-lead?x=1'"),
        (("-ilead",), "httpep call -- -ilead"),  # -i is call's own flag, -l is not
        (("-d", "-lx", "-dhello", "-lead"), "httpep call -d -lx -dhello -- -lead"),  # -d's values, not the path
        (("--lead",), "httpep call -- --lead"),
        (("--local", "-lead", "--token", "hep_secret"), "httpep call --local -- -lead"),  # no token echoed
        (("-H", "Authorization: Bearer hep_secret", "-lead"), "httpep call -H 'Authorization: ...' -- -lead"),
    ],
)
def test_the_double_dash_hint_repeats_the_whole_path_and_the_other_arguments(
    fake: FakeApi, args: tuple[str, ...], hint: str
) -> None:
    line = one_error_line(cli("--api-url", fake.api_root, "--token", "t", "call", *args))
    assert f"goes after `--`: {hint} (see" in line
    assert "hep_secret" not in line
    assert fake.requests == []


def test_endpoint_get_as_a_table(fake: FakeApi) -> None:
    item = {
        "id": "hook",
        "path": "hook",
        "handler_script_path": "/jaydoe/h.py",
        "handler_script_version": "v1",
        "state": "ENABLED",
        "auth": "hmac",
    }
    fake.respond = lambda seen: Answer(200, item)
    result = cli("--api-url", fake.api_root, "--token", "t", "endpoint", "get", "hook", "-o", "table")
    assert result.exit_code == 0, result.stderr
    header, _, row = result.stdout.splitlines()
    assert header.split() == ["id", "path", "state", "auth", "handler_script_path", "handler_script_version"]
    assert row.split() == ["hook", "hook", "ENABLED", "hmac", "/jaydoe/h.py", "v1"]


@pytest.mark.parametrize(
    ("words", "expected"), [("httpep endpoint li", "list"), ("httpep endpoint list --lo", "--local")]
)
def test_shell_completion_as_the_readme_sets_it_up(words: str, expected: str) -> None:
    env = {"_HTTPEP_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)}
    result = CliRunner().invoke(main, [], prog_name="httpep", env=env)
    assert f"plain,{expected}" in result.output.splitlines()

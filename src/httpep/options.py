"""What every `httpep` command shares: the target options (accepted before or after the subcommand), the target
they name, the output option of read commands, and one-line errors.

`cli` (operator commands) and `client_commands` (the HTTP API's) both import this module and never each other.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from unittest import mock
from urllib.parse import urlsplit

import click
from click.core import ParameterSource

from httpep import config
from httpep.local import defaults
from httpep.targets import Target, TargetError, local_target, stack_target
from httpep.text import json_text

TARGET_ENV = "HTTPEP_TARGET"
TARGET_HELP_TITLE = "Target options (before or after the subcommand)"
F = TypeVar("F", bound=Callable[..., Any])


def one_line(text: str) -> str:
    return " ".join(str(text).split())


class CliError(click.ClickException):
    """A one-line error and exit status 1, never a traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


# ---------------------------------------------------------------------------------------------- target options


def check_api_url(ctx: click.Context, param: click.Parameter | None, value: str | None) -> str | None:
    """An http(s) URL, kept as given minus a trailing slash."""
    if value is None or value == "":
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.BadParameter(
            f"{value!r} is not an http(s) URL such as http://127.0.0.1:3000/api/v1/http-endpoint", ctx=ctx, param=param
        )
    return value.rstrip("/")


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Store a target option given at any level in the root's settings; the one nearest the command wins."""
    assert param.name is not None
    source = ctx.get_parameter_source(param.name)
    if source in (None, ParameterSource.DEFAULT):
        return value
    if param.name == "api_url":
        value = check_api_url(ctx, param, value)
    settings = ctx.find_root().ensure_object(dict)
    sources = settings.setdefault("_sources", {})
    # An option typed on the command line beats the environment, at whatever level either was read.
    if source is ParameterSource.ENVIRONMENT and sources.get(param.name) is ParameterSource.COMMANDLINE:
        return value
    settings[param.name] = value
    sources[param.name] = source
    return value


def target_options() -> list[click.Parameter]:
    """Fresh copies of the target options for one command (click options hold per-command state)."""
    common: dict[str, Any] = {"expose_value": False, "callback": _remember}
    return [
        click.Option(
            ["--local"],
            is_flag=True,
            default=None,
            help="The local stack `make dev` runs (found through the state file it writes; no ports needed).",
            **common,
        ),
        click.Option(["--stack"], metavar="NAME", help="A deployed stack; names come from its outputs.", **common),
        click.Option(
            ["--region"], metavar="REGION", help="AWS region of the stack (default: your AWS config).", **common
        ),
        click.Option(
            ["--template"],
            metavar="PATH",
            type=click.Path(dir_okay=False, path_type=Path),
            help="The service's template.yaml (default: the nearest one from the working directory upwards).",
            **common,
        ),
        click.Option(
            ["--api-url"],
            metavar="URL",
            envvar="HTTPEP_API_URL",
            help="API root for the client commands (endpoint, call, logs, files, dev)"
            " [env HTTPEP_API_URL; default: the target's ApiRoot].",
            **common,
        ),
        click.Option(
            ["--token"],
            metavar="TOKEN",
            envvar="HTTPEP_TOKEN",
            help="Bearer token for the client commands [env HTTPEP_TOKEN].",
            **common,
        ),
    ]


def _full_help_rows(group: click.Group, ctx: click.Context) -> list[tuple[str, str]]:
    rows = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is not None and not command.hidden:
            # Never cut: the whole first paragraph, wrapped by the formatter.
            rows.append((name, command.get_short_help_str(limit=10_000)))
    return rows


class _Formatting:
    """Help with the target options in their own section."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        own: list[tuple[str, str]] = []
        shared: list[tuple[str, str]] = []
        for param in self.get_params(ctx):  # type: ignore[attr-defined]
            record = param.get_help_record(ctx)
            if record is not None:
                (shared if getattr(param, "callback", None) is _remember else own).append(record)
        if own:
            with formatter.section("Options"):
                formatter.write_dl(own)
        if shared:
            with formatter.section(TARGET_HELP_TITLE):
                formatter.write_dl(shared)
        if isinstance(self, click.Group):
            rows = _full_help_rows(self, ctx)
            if rows:
                with formatter.section("Commands"):
                    formatter.write_dl(rows)


class Command(_Formatting, click.Command):
    """A command that also takes the target options."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.extend(target_options())


class Group(_Formatting, click.Group):
    """A group whose commands and subgroups all take the target options, with full help texts."""

    command_class = Command
    group_class = type

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.extend(target_options())

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Listed by format_options, after the options."""


class PlainCommand(_Formatting, click.Command):
    """A command that works on no target (`serve`, `config`): no target options."""


class PlainGroup(_Formatting, click.Group):
    command_class = PlainCommand
    group_class = type

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Listed by format_options, after the options."""


def settings(ctx: click.Context) -> dict[str, Any]:
    return dict(ctx.find_root().obj or {})


# ---------------------------------------------------------------------------------------------- the target


@dataclass(frozen=True)
class Choice:
    """Which target the options, HTTPEP_TARGET or the config file name: `local`, or a stack's name."""

    stack: str | None
    source: str

    @property
    def is_local(self) -> bool:
        return self.stack is None

    @property
    def flag(self) -> str:
        return "--local" if self.stack is None else f"--stack {self.stack}"


def parse_target(value: str, source: str) -> Choice:
    value = value.strip()
    if value == "local":
        return Choice(None, source)
    kind, _, name = value.partition(":")
    if kind == "stack" and name:
        return Choice(name, source)
    raise CliError(f"{source}: {value!r} is not a target; use `local` or `stack:NAME`")


def choice(ctx: click.Context) -> Choice | None:
    """The target named by --local/--stack, else HTTPEP_TARGET, else `httpep config set target`; None if none."""
    given = settings(ctx)
    if given.get("local") and given.get("stack"):
        raise click.UsageError("--local and --stack exclude each other", ctx=ctx)
    if given.get("stack"):
        return Choice(given["stack"], "--stack")
    if given.get("local"):
        return Choice(None, "--local")
    if os.environ.get(TARGET_ENV):
        return parse_target(os.environ[TARGET_ENV], TARGET_ENV)
    configured = config.load().get("target")
    if configured:
        return parse_target(str(configured), f"target in {config.path()}")
    return None


def target(ctx: click.Context) -> Target:
    chosen = choice(ctx)
    given = settings(ctx)
    if chosen is None:
        raise click.UsageError(
            "say which stack: --local (the one `make dev` runs), --stack NAME, HTTPEP_TARGET=local|stack:NAME,"
            " or once for all: httpep config set target local",
            ctx=ctx,
        )
    if chosen.is_local:
        if given.get("region"):
            raise click.UsageError("--region goes with a stack (--stack NAME), not the local stack", ctx=ctx)
        return local_target(given.get("template"))
    assert chosen.stack is not None
    region = given.get("region") or (None if chosen.source == "--stack" else config.load().get("region"))
    return stack_target(chosen.stack, region)


@contextmanager
def store_errors(target: Target) -> Iterator[None]:
    """Turn the errors of a store call into one line that says what to do."""
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

    from httpendpoint.core.errors import ServiceError

    not_running = f"the local stack is not running (nothing answers at {target.endpoint_url}): start it with `make dev`"
    try:
        yield
    except ServiceError as exc:
        # The layer's stores wrap a refused connection in their own error: say what to do about it all the same.
        if target.is_local and isinstance(exc.__cause__, EndpointConnectionError):
            raise CliError(not_running) from None
        raise CliError(exc.message) from None
    except EndpointConnectionError as exc:
        if target.is_local:
            raise CliError(not_running) from None
        raise CliError(f"cannot reach AWS: {exc}") from None
    except (ClientError, BotoCoreError) as exc:
        raise CliError(str(exc)) from None


# ---------------------------------------------------------------------------------------------- checks


def _check(check: Callable[[str], Any], what: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A click callback applying one of the service's own rules, with the rule in the message."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None:
            return None
        try:
            check(value)
        except ValueError as exc:
            # Some of the service's messages name the value already ("'list' is reserved").
            detail = str(exc)
            named = detail if detail.startswith(repr(value)) else f"{value!r} {detail}"
            raise click.BadParameter(f"{what} {named}", ctx=ctx, param=param) from None
        return value

    return callback


def _endpoint_id(value: str) -> None:
    from httpendpoint.management.models import check_endpoint_id

    check_endpoint_id(value)


def _endpoint_path(value: str) -> None:
    from httpendpoint.management.models import check_endpoint_path

    check_endpoint_path(value)


DRIVE_FILE_RULE = "a file's drive path is /<account>/<any folders>/<file>, e.g. /jaydoe/handlers/hello.py"


def _drive_root(value: str, rule: str) -> None:
    """The first segment of `value` is an account (the drive's root), by the service's rule for accounts."""
    from httpendpoint import scripts
    from httpendpoint.core.errors import BadRequest
    from httpendpoint.stores import token_store

    try:
        token_store.validate_account(scripts.drive_owner(value))
    except BadRequest as exc:
        raise ValueError(f"must start with /<account>/, and {exc.message} ({rule})") from None


def _drive_file_in_folder(value: str) -> None:
    if value.strip("/").count("/") < 1:
        raise ValueError(f"names no file, only an account's drive ({DRIVE_FILE_RULE})")


def _drive_path(value: str) -> None:
    from httpendpoint import scripts

    scripts.check_drive_path(value)
    _drive_root(value, DRIVE_FILE_RULE)
    _drive_file_in_folder(value)


def _drive_file(value: str) -> None:
    """Any file on the drive (the files API's rule): /<account>/<any folders>/<name>."""
    from httpendpoint import scripts

    scripts.check_file_path(value)
    _drive_root(value, DRIVE_FILE_RULE)
    _drive_file_in_folder(value)


DRIVE_FOLDER_RULE = "a drive folder is /<account> or /<account>/<any folders>, e.g. /jaydoe/handlers"


def _drive_folder(value: str) -> None:
    """A folder on the drive: /<account> (the drive's root) or /<account>/<any folders>."""
    from httpendpoint import scripts

    if value.strip("/") == "":  # every account's drives together: not a folder anyone can list
        raise ValueError(f"names no account's drive ({DRIVE_FOLDER_RULE})")
    scripts.check_file_path(value)
    _drive_root(value, DRIVE_FOLDER_RULE)


def _account(value: str) -> None:
    from httpendpoint.core.errors import BadRequest
    from httpendpoint.stores import token_store

    try:
        token_store.validate_account(value)
    except BadRequest as exc:
        raise ValueError(exc.message.removeprefix(f"account {value!r} ")) from None


def _label(value: str) -> None:
    from httpendpoint.core.errors import BadRequest
    from httpendpoint.stores import token_store

    try:
        token_store.validate_label(value)
    except BadRequest as exc:
        raise ValueError(exc.message.removeprefix("label ")) from None


def _secret_name(value: str) -> None:
    from httpendpoint.management.models import check_secret_name

    check_secret_name(value)


def _header_name(value: str) -> None:
    from httpendpoint.management.models import check_header_name

    check_header_name(value)


check_endpoint_id = _check(_endpoint_id, "id")
check_endpoint_path = _check(_endpoint_path, "path")
check_drive_path = _check(_drive_path, "drive path")
check_drive_file = _check(_drive_file, "drive path")
check_drive_folder = _check(_drive_folder, "drive folder")
check_account = _check(_account, "account")


def check_endpoint_ids(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    """A repeatable option's endpoint ids, each checked as `check_endpoint_id` checks one."""
    for value in values:
        check_endpoint_id(ctx, param, value)
    return values


check_label = _check(_label, "label")
check_header_name = _check(_header_name, "header")


def check_secret_names(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    for value in values:
        try:
            _secret_name(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return values


def parse_secrets(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    """`NAME=VALUE` pairs; a VALUE of `-` is read from standard input (once: a secret need not be typed where
    the shell keeps its history)."""
    secrets: dict[str, str] = {}
    stdin_used = False
    for value in values:
        name, equals, secret = value.partition("=")
        if not equals:
            raise click.BadParameter(f"{name[:80]!r} is not NAME=VALUE (VALUE - reads stdin)", ctx=ctx, param=param)
        try:
            _secret_name(name)
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
        if name in secrets:
            raise click.BadParameter(f"{name} is given twice", ctx=ctx, param=param)
        if secret == "-":
            if stdin_used:
                raise click.BadParameter("only one secret may be read from stdin", ctx=ctx, param=param)
            stdin_used = True
            secret = click.get_text_stream("stdin").read().removesuffix("\n")
        secrets[name] = secret
    return secrets


def checked_script(local_file: Path, drive_path: str) -> bytes:
    """A local handler script's bytes, once it passes the service's own handler check (else one error line)."""
    from httpendpoint import scripts
    from httpendpoint.core.errors import BadRequest

    try:
        source = local_file.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {local_file}: {exc.strerror}") from None
    try:
        scripts.require_usable_handler(drive_path, source)
    except BadRequest as exc:
        message = exc.message.replace(f"handler_script_path: {drive_path}", str(local_file))
        raise CliError(f"not uploaded: {message}") from None
    return source


def report_save(local_file: Path, drive_path: str, saved: dict[str, Any], *, err: bool = False) -> None:
    """What a save did, from its answer (`PUT FILES_ROOT/...`'s shape): the version, the endpoints re-pinned and
    kept. On stdout, or stderr with `err` (for commands whose stdout is JSON)."""
    click.echo(f"uploaded {local_file} to {drive_path} (version {saved['version']})", err=err)
    endpoints = saved.get("endpoints") or {}
    if endpoints.get("updated"):
        click.echo(f"re-pinned: {', '.join(endpoints['updated'])}", err=err)
    for kept in endpoints.get("kept") or []:
        click.echo(f"kept {kept['id']}: {kept['error']}", err=True)


def upload_script(ctx: click.Context, local_file: Path, drive_path: str) -> None:
    """Check a local handler script, then save it as the files API does (a new version, and the endpoints that
    run the file re-pinned to it), with operator access to the target's table and bucket."""
    from httpendpoint import scripts
    from httpendpoint.files import drive

    where = target(ctx)
    source = checked_script(local_file, drive_path)
    with _layer_on(where), store_errors(where):
        written = drive.write_file(scripts.drive_owner(drive_path), drive_path.lstrip("/"), source)
    saved = {
        "version": written.stored.version,
        "endpoints": {"updated": written.updated, "kept": [{"id": k.id, "error": k.error} for k in written.kept]},
    }
    report_save(local_file, drive_path, saved)


@contextmanager
def _layer_on(where: Target) -> Iterator[None]:
    """Point the shared layer (its settings and clients) at the target, as the files function is configured."""
    from httpendpoint.core.aws import reset_clients

    settings = {
        "SCRIPT_BUCKET": where.output("ScriptBucketName"),
        "ENDPOINTS_TABLE": where.output("EndpointsTableName"),
        "AWS_DEFAULT_REGION": where.region,
    }
    if where.endpoint_url is not None:
        settings.update(AWS_ENDPOINT_URL=where.endpoint_url, **defaults.CREDENTIALS)
    # Restored on the way out, so a caller in the same process (a test) sees its own environment again.
    with mock.patch.dict(os.environ, settings):
        reset_clients()
        try:
            yield
        finally:
            reset_clients()


# ---------------------------------------------------------------------------------------------- output


def output_option(default: str = "table", for_people: str = "a table") -> Callable[[F], F]:
    """`--output json|table` for a read command; `for_people` says what `table` prints."""
    return click.option(
        "-o",
        "--output",
        type=click.Choice(["json", "table"]),
        default=default,
        show_default=True,
        help=f"Print JSON (for scripts) or {for_people} (for people).",
    )


def json_flag() -> Callable[[F], F]:
    """`--json`, the short form of `--output json` on the commands people pipe most (see `wants_json`)."""
    return click.option("--json", "as_json", is_flag=True, help="Same as --output json.")


def wants_json(ctx: click.Context, output: str, as_json: bool) -> bool:
    """Whether to print JSON: `--json` or `--output json`; `--json` with `--output table` given too is refused."""
    from click.core import ParameterSource

    if as_json and output == "table" and ctx.get_parameter_source("output") is not ParameterSource.DEFAULT:
        raise click.UsageError("--json and --output table contradict each other; give one of them", ctx=ctx)
    return as_json or output == "json"


def print_json(value: Any) -> None:
    click.echo(json_text(value, indent=2))


def print_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    from tabulate import tabulate

    click.echo(
        tabulate(
            [[("" if v is None else str(v)) for v in row] for row in rows], headers=list(headers), disable_numparse=True
        )
    )


__all__ = ["CliError", "Command", "Group", "TargetError", "choice", "settings", "target"]

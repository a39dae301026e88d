"""`httpep`: run the local stack, mint and revoke tokens, upload handler scripts; `client_commands` adds the API's.

Target options (--local, --stack, --api-url, --token, ...) are taken before or after any subcommand
(`options.Group`); HTTPEP_TARGET or `httpep config set target` names a target once for all commands.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from httpep import client_commands, config, files_commands, logs_commands, options
from httpep.local import defaults
from httpep.local.template import TemplateNotFound
from httpep.options import CliError, output_option, print_json, print_table, store_errors, target
from httpep.targets import TargetError

if TYPE_CHECKING:
    from httpendpoint.stores.token_store import TokenRecord

# Help is wrapped to the terminal up to this width, and short help texts are never cut (options.Group).
CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 110}
HASH_PREFIX_MIN = 4
HEX = frozenset("0123456789abcdef")


class OneLineErrors(options.Group):
    """The root command: every error a user can cause is one line on stderr and a non-zero exit.

    click's standalone mode prints usage and a hint over several lines for a bad argument; operators pipe
    this tool's output, so each failure is a single `Error: ...` line instead.
    """

    def main(
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx is not None else "httpep"
            _fail(f"{exc.format_message().rstrip('.')}{_usage_hint(exc)} (see '{command} --help')", exc.exit_code)
        except click.ClickException as exc:
            _fail(exc.format_message(), exc.exit_code)
        except (TargetError, TemplateNotFound, config.ConfigError) as exc:
            _fail(str(exc), 1)
        except click.Abort:
            _fail("aborted", 1)
        sys.exit(result if isinstance(result, int) else 0)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        # Kept for the `call --` hint: click's error names only the option it stopped at (`-l` of `-lead`).
        ctx.meta[COMMAND_WORDS] = list(rest)
        return name, command, rest


COMMAND_WORDS = "httpep.command_words"


def _usage_hint(exc: click.UsageError) -> str:
    if isinstance(exc, click.NoSuchOption) and exc.ctx is not None and exc.ctx.command.name == "call":
        hint = _call_after_double_dash(exc.ctx.command, exc.option_name, exc.ctx.meta.get(COMMAND_WORDS, []))
        return f"; a path that starts with '-' goes after `--`: {hint}"
    return ""


def _call_after_double_dash(command: click.Command, option_name: str, words: list[str]) -> str:
    """The user's `httpep call ...` with the word click took for an unknown option moved after `--`.

    The word is found as click's parser reads them (an option's value is skipped, a short cluster read letter by
    letter); the --token's value and an Authorization header's are left out, as errors end up in logs.
    """
    options = {opt: param for param in command.params if isinstance(param, click.Option) for opt in param.opts}
    takes_value = {opt for opt, param in options.items() if not param.is_flag and not param.count}
    if "--" in words:
        words = words[: words.index("--")]
    kept: list[str] = []
    found: str | None = None
    skip_next = False
    for word in words:
        if skip_next:
            skip_next = False
            if kept[-1:] == ["--token"]:
                kept.pop()
            elif kept[-1:] in (["-H"], ["--header"]) and word.lower().startswith("authorization:"):
                kept.append("Authorization: ...")
            else:
                kept.append(word)
            continue
        if found is None and _is_unknown_option(word, option_name, options, takes_value):
            found = word
            continue
        if word.startswith("--token="):
            continue
        kept.append(word)
        skip_next = word in takes_value
    if found is None:
        return f"httpep call -- {option_name}..."
    return shlex.join(["httpep", "call", *kept, "--", found])


def _is_unknown_option(word: str, option_name: str, options: dict[str, Any], takes_value: set[str]) -> bool:
    if option_name.startswith("--") or not word.startswith("-") or word.startswith("--"):
        return word == option_name or word.startswith(f"{option_name}=")
    for letter in word[1:]:
        short = f"-{letter}"
        if short not in options:
            return short == option_name
        if short in takes_value:
            return False  # the rest of the word is that option's value
    return False


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"Error: {options.one_line(message)}", err=True)
    sys.exit(code)


@click.group(cls=OneLineErrors, context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="httpep", message="httpep %(version)s")
def main() -> None:
    """Operate and use the HTTP Endpoint service.

    Operator commands (`serve`, `token`, `script`) work on a stack's AWS resources; client commands
    (`endpoint`, `call`, `files`, `dev`) use its HTTP API with a token (--token, or HTTPEP_TOKEN). Name the target once:
    `export HTTPEP_TARGET=local` (or `stack:NAME`), or `httpep config set target local`.
    """


# The HTTP API's client commands live in their own module.
main.add_command(client_commands.endpoint)
main.add_command(client_commands.call)
main.add_command(logs_commands.logs)
main.add_command(files_commands.files)
main.add_command(files_commands.dev)


def _port_option(flag: str, default: int, variable: str, what: str) -> Any:
    # `make dev PORT=8080` puts make's command-line variables in serve's environment: the help names them.
    return click.option(
        flag, type=int, default=default, show_default=True, envvar=variable, show_envvar=True, help=f"{what} port."
    )


@main.command(cls=options.PlainCommand)
@_port_option("--port", defaults.API_PORT, "PORT", "API")
@_port_option("--aws-port", defaults.AWS_PORT, "AWS_PORT", "Embedded AWS")
@_port_option("--lambda-port", defaults.LAMBDA_PORT, "LAMBDA_PORT", "Lambda")
@click.option("--host", default=defaults.HOST, show_default=True, help="Address to listen on.")
@click.option("--parameter", "parameters", multiple=True, metavar="KEY=VALUE", help="Override a template parameter.")
@click.option(
    "--template",
    "template_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The service's template.yaml (default: the nearest one from the working directory upwards).",
)
@click.option(
    "--json-logs", is_flag=True, help="Print the functions' JSON log lines as they are, not one line per request."
)
@click.option(
    "--authorizer-cache",
    type=click.FloatRange(min=0),
    default=0,
    metavar="SECONDS",
    help="Reuse the authorizer's answer for a token this long, as API Gateway's cache does [default: 0, so a"
    " revoked token is refused at once].",
)
def serve(
    port: int,
    aws_port: int,
    lambda_port: int,
    host: str,
    parameters: tuple[str, ...],
    template_path: Path | None,
    json_logs: bool,
    authorizer_cache: float,
) -> None:
    """Serve the whole API locally (moto as the embedded AWS), in the foreground, until Ctrl-C.

    Writes its ports to .httpep/local.json beside the template (removed on exit), where every `--local`
    command finds them; refuses to start while that file names a stack that still runs. HTTPEP_LOCAL_STATE=PATH
    names another file, for a second stack of the same checkout (its `--local` commands need it too).
    """
    from httpep.local import state
    from httpep.local.console import Console
    from httpep.local.server import LocalStack, PortInUse
    from httpep.local.template import find_template

    template_path = (template_path or find_template()).resolve()
    state_file = state.state_path(template_path)
    # Checked before any port is bound, and again just before writing (another serve may have started
    # meanwhile): two that pass the last check within the same instant can still both write, the later winning.
    _refuse_beside_a_running_stack(state_file)
    overrides = dict(p.split("=", 1) for p in parameters if "=" in p)
    console = Console(json_logs=json_logs)
    stack = LocalStack(
        host=host,
        port=port,
        aws_port=aws_port,
        lambda_port=lambda_port,
        parameter_overrides=overrides,
        template_path=template_path,
        console=console,
        authorizer_cache_seconds=authorizer_cache,
    )
    try:
        stack.start()
    except PortInUse as exc:
        console.close()
        raise CliError(
            f"{exc}; stop what uses it or pick another (make dev PORT=... AWS_PORT=... LAMBDA_PORT=...)"
        ) from None
    try:
        _refuse_beside_a_running_stack(state_file)
    except CliError:
        stack.stop()
        console.close()
        raise
    state.write(state_file, stack.state(os.getpid()))
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    console.say(f"API root:      {stack.api_root}")
    console.say(f"Embedded AWS:  {stack.aws_endpoint}   Lambda invoke API: {stack.lambda_endpoint}")
    console.say(f"State file:    {state_file} (--local commands read it)")
    # A stack with a state file of its own is found only by commands that are given the same file.
    own_state = (
        f"{defaults.STATE_FILE_ENV}={shlex.quote(str(state_file.resolve()))} "
        if os.environ.get(defaults.STATE_FILE_ENV)
        else ""
    )
    console.say(f"Get a token:   {own_state}.venv/bin/httpep --local token create --account jaydoe")
    console.say("Ready. Ctrl-C stops everything.")
    try:
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        state.remove(state_file, os.getpid())
    console.say("stopping...")
    stack.stop()
    console.close()


def _refuse_beside_a_running_stack(state_file: Path) -> None:
    """A second stack would take over the state file, so `--local` would lose the first one."""
    from httpep.local import state

    other = state.running(state_file)
    if other is not None:
        raise CliError(
            f"a local stack already runs here (pid {other.pid}, API {other.api_root}, state file {state_file}):"
            f" stop it first (Ctrl-C where it runs, or kill {other.pid}), or start this one with its own"
            " HTTPEP_LOCAL_STATE=PATH (its --local commands then need it too)"
        )


@main.command("api-root")
@click.pass_context
def api_root(ctx: click.Context) -> None:
    """Print the target's API root URL (for curl: API_ROOT=$(httpep api-root))."""
    click.echo(client_commands.api_root(ctx))


# ---------------------------------------------------------------------------------------------- token


@main.group()
def token() -> None:
    """Mint, list and revoke bearer tokens (only their SHA-256 hash is stored)."""


@token.command("create")
@click.option(
    "--account", required=True, callback=options.check_account, help="Account the token acts for, e.g. jaydoe."
)
@click.option("--label", default="", callback=options.check_label, help="A note to tell tokens apart in `token list`.")
@click.option(
    "--scope",
    type=click.Choice(["manage", "call"]),
    default="manage",
    show_default=True,
    help="manage: every route of the account. call: only triggers of its endpoints (e.g. for a webhook sender).",
)
@click.option(
    "--endpoint",
    "endpoints",
    multiple=True,
    callback=options.check_endpoint_ids,
    help="With --scope call: an endpoint id the token may trigger (repeatable; none = every endpoint of the account).",
)
@click.pass_context
def token_create(ctx: click.Context, account: str, label: str, scope: str, endpoints: tuple[str, ...]) -> None:
    """Print a new token for ACCOUNT, alone on one line (nothing else goes to stdout)."""
    from httpendpoint.stores import token_store

    if endpoints and scope != token_store.CALL:
        raise click.BadParameter("--endpoint limits a call token: add --scope call", param_hint="--endpoint")
    where = target(ctx)
    with store_errors(where):
        new_token = token_store.create_token(
            account,
            label,
            table=where.output("TokensTableName"),
            dynamodb=where.client("dynamodb"),
            scope=scope,
            endpoints=endpoints,
        )
    click.echo(new_token)


def _is_hash_prefix(value: str) -> bool:
    return HASH_PREFIX_MIN <= len(value) <= 64 and set(value) <= HEX


@token.command("revoke")
@click.argument("token_value", metavar="TOKEN|HASH_PREFIX")
@click.pass_context
def token_revoke(ctx: click.Context, token_value: str) -> None:
    """Revoke a token, given itself or the start of its hash as `token list` shows it (`-` reads stdin).

    At once locally; on AWS within the authorizer cache TTL. A hash prefix must match exactly one token.
    """
    from httpendpoint.stores import token_store

    if token_value == "-":
        # Keeps the token out of `ps` and shell history: `httpep token revoke - < token.txt`.
        token_value = click.get_text_stream("stdin").readline().strip()
        if not token_value:
            raise CliError("nothing on stdin: pipe the token or hash prefix in, e.g. httpep token revoke - < token.txt")
    if set(token_value.lower()) <= HEX:  # a hash prefix (a token starts with hep_), as typed in either case
        token_value = token_value.lower()
        if len(token_value) < HASH_PREFIX_MIN:  # too short to name one token safely
            raise CliError(
                f"a hash prefix needs at least {HASH_PREFIX_MIN} hex digits of the hash `token list` shows;"
                f" {token_value!r} has {len(token_value)}"
            )
    where = target(ctx)
    table, dynamodb = where.output("TokensTableName"), where.client("dynamodb")
    with store_errors(where):
        if _is_hash_prefix(token_value):
            matches = token_store.find_by_hash_prefix(token_value, table=table, dynamodb=dynamodb)
            if not matches:
                raise CliError(f"no token's hash starts with {token_value} (see `httpep token list --account NAME`)")
            if len(matches) > 1:
                accounts = ", ".join(sorted({m.account for m in matches}))
                raise CliError(
                    f"hash prefix {token_value} matches {len(matches)} tokens (of {accounts}); give more characters"
                )
            record = token_store.revoke_hash(matches[0].token_hash, table=table, dynamodb=dynamodb)
        else:
            record = token_store.revoke_token(token_value, table=table, dynamodb=dynamodb)
    click.echo(
        f"revoked token {record.token_hash[:12]} of {record.account} (created {record.created_at},"
        f" revoked {record.revoked_at})"
    )


@token.command("list")
@click.option("--account", required=True, callback=options.check_account, help="Account whose tokens to list.")
@output_option()
@click.pass_context
def token_list(ctx: click.Context, account: str, output: str) -> None:
    """Tokens of ACCOUNT: hash prefix, label, scope, dates (never the tokens)."""
    from httpendpoint.stores import token_store

    where = target(ctx)
    with store_errors(where):
        records = token_store.list_tokens(
            account, table=where.output("TokensTableName"), dynamodb=where.client("dynamodb")
        )
    if not records:
        raise CliError(
            f"unknown account {account}: it has no tokens on this stack (httpep token create --account {account})"
        )
    if output == "json":
        print_json(
            [
                {
                    "hash": r.token_hash,
                    "label": r.label,
                    "scope": r.scope,
                    "endpoints": list(r.endpoints),
                    "created_at": r.created_at,
                    "revoked_at": r.revoked_at,
                }
                for r in records
            ]
        )
        return
    rows = [
        (
            r.token_hash[:12],
            r.label,
            _scope_text(r),
            r.created_at,
            f"revoked {r.revoked_at}" if r.revoked_at else "active",
        )
        for r in records
    ]
    print_table(rows, ["hash", "label", "scope", "created", "state"])


def _scope_text(record: TokenRecord) -> str:
    if record.manages or not record.endpoints:
        return record.scope
    return f"{record.scope}: {', '.join(record.endpoints)}"


# ---------------------------------------------------------------------------------------------- script


@main.group()
def script() -> None:
    """Handler scripts in the script store."""


@script.command("put")
@click.argument("local_file", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@click.argument("drive_path", callback=options.check_drive_path)
@click.pass_context
def script_put(ctx: click.Context, local_file: Path, drive_path: str) -> None:
    """Check LOCAL_FILE as the service does, then save it at DRIVE_PATH.

    DRIVE_PATH is /<account>/<any folders>/<file>.py, e.g. /jaydoe/handlers/hello.py. The same write as
    `PUT /api/v2/files/...`: a new version, and the endpoints that run the file re-pinned to it.
    """
    options.upload_script(ctx, local_file, drive_path)


# ---------------------------------------------------------------------------------------------- config


@main.group("config", cls=options.PlainGroup)
def config_group() -> None:
    """Settings kept in your config directory, such as a target for every command."""


def _config_key(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if value not in config.KEYS:
        raise click.BadParameter(f"{value!r} is not a setting; known: {', '.join(config.KEYS)}", ctx=ctx, param=param)
    return value


@config_group.command("set")
@click.argument("key", callback=_config_key)
@click.argument("value")
def config_set(key: str, value: str) -> None:
    """Set KEY to VALUE: `target` (local or stack:NAME) or `region`."""
    if key == "target":
        options.parse_target(value, "target")
    values = config.load()
    values[key] = value
    config.save(values)
    click.echo(f"{key} = {value} (in {config.path()})", err=True)


@config_group.command("unset")
@click.argument("key", callback=_config_key)
def config_unset(key: str) -> None:
    """Remove KEY."""
    values = config.load()
    values.pop(key, None)
    config.save(values)


@config_group.command("get")
@click.argument("key", required=False, callback=lambda ctx, param, v: None if v is None else _config_key(ctx, param, v))
@output_option()
def config_get(key: str | None, output: str) -> None:
    """Print KEY's value, or every setting."""
    values = config.load()
    if key is not None:
        if key not in values:
            raise CliError(f"{key} is not set (httpep config set {key} VALUE)")
        click.echo(json.dumps(values[key]) if output == "json" else values[key])
        return
    if output == "json":
        print_json(values)
    else:
        print_table([(k, values.get(k, ""), about) for k, about in config.KEYS.items()], ["key", "value", "meaning"])


def run() -> None:
    """The console script: `main` with one-line errors (see OneLineErrors)."""
    # Ctrl-C stops `serve`, `dev` and `logs --follow` even when started in the background of a script, whose
    # shell hands its background commands SIGINT ignored (Python then never raises KeyboardInterrupt).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    main()

"""`httpep`: run the local stack, mint and revoke tokens, upload handler scripts; `client_commands` adds the API's."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click

from httpep import client_commands
from httpep.targets import Target, TargetError, local_target, stack_target


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class CliError(click.ClickException):
    """A one-line error and exit status 1, never a traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(_one_line(message))


class OneLineErrors(click.Group):
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
            _fail(f"{exc.format_message().rstrip('.')} (see '{command} --help')", exc.exit_code)
        except click.ClickException as exc:
            _fail(exc.format_message(), exc.exit_code)
        except TargetError as exc:
            _fail(str(exc), 1)
        except click.Abort:
            _fail("aborted", 1)
        sys.exit(result if isinstance(result, int) else 0)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"Error: {_one_line(message)}", err=True)
    sys.exit(code)


def _target(ctx: click.Context) -> Target:
    options = ctx.find_root().obj
    if options["stack"]:
        return stack_target(options["stack"], options["region"])
    if options["local"]:
        return local_target()
    raise click.UsageError("say which stack: --local (the one `make dev` runs) or --stack NAME", ctx=ctx.find_root())


@contextmanager
def _store_errors(target: Target) -> Iterator[None]:
    """Turn the errors of a store call into one line that says what to do."""
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

    from httpendpoint.core.errors import ServiceError

    try:
        yield
    except ServiceError as exc:
        # The layer's stores wrap a refused connection too; say what to do about it all the same.
        if not (isinstance(exc.__cause__, EndpointConnectionError) and target.is_local):
            raise CliError(exc.message) from None
        raise CliError(
            f"the local stack is not running (nothing answers at {target.endpoint_url});"
            " start it with `make dev` (and set AWS_PORT if it uses another port)"
        ) from None
    except EndpointConnectionError as exc:
        if target.is_local:
            raise CliError(
                f"the local stack is not running (nothing answers at {target.endpoint_url});"
                " start it with `make dev` (and set AWS_PORT if it uses another port)"
            ) from None
        raise CliError(f"cannot reach AWS: {exc}") from None
    except (ClientError, BotoCoreError) as exc:
        raise CliError(str(exc)) from None


def _account(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from httpendpoint.core.errors import BadRequest
    from httpendpoint.stores import token_store

    try:
        return token_store.validate_account(value)
    except BadRequest as exc:
        raise click.BadParameter(exc.message, ctx=ctx, param=param) from None


def _label(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from httpendpoint.core.errors import BadRequest
    from httpendpoint.stores import token_store

    try:
        return token_store.validate_label(value)
    except BadRequest as exc:
        raise click.BadParameter(exc.message, ctx=ctx, param=param) from None


def _drive_path(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """API.md's handler_script_path rule (the layer's own check), so an upload lands where an endpoint can use it."""
    from httpendpoint import scripts
    from httpendpoint.stores import token_store

    try:
        scripts.check_drive_path(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} {exc}", ctx=ctx, param=param) from None
    if not token_store.ACCOUNT_PATTERN.fullmatch(scripts.drive_owner(value)) or value.count("/") < 2:
        raise click.BadParameter(
            f"{value!r} must start with /<account>/ (the account's drive root)", ctx=ctx, param=param
        )
    return value


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--local", is_flag=True, help="Target the local stack started by `make dev` (honours AWS_PORT, PORT).")
@click.option("--stack", metavar="NAME", help="Target a deployed stack; names come from its outputs.")
@click.option("--region", metavar="REGION", help="AWS region of --stack (default: your AWS configuration).")
@click.option(
    "--api-url",
    metavar="URL",
    envvar="HTTPEP_API_URL",
    callback=client_commands.check_api_url,
    help="API root for `endpoint` and `call` [env HTTPEP_API_URL; default: the ApiRoot of --local / --stack].",
)
@click.option("--token", metavar="TOKEN", envvar="HTTPEP_TOKEN", help="Bearer token for `endpoint` and `call`.")
@click.pass_context
def main(
    ctx: click.Context, local: bool, stack: str | None, region: str | None, api_url: str | None, token: str | None
) -> None:
    """Operate and use the HTTP Endpoint service.

    Operator commands (`serve`, `token`, `script`) work on a stack's AWS resources; client commands
    (`endpoint`, `call`) use its HTTP API with a token (--token, or HTTPEP_TOKEN).
    """
    if local and stack:
        raise click.UsageError("--local and --stack exclude each other", ctx=ctx)
    if region and not stack:
        raise click.UsageError("--region goes with --stack NAME", ctx=ctx)
    ctx.obj = {"local": local, "stack": stack, "region": region, "api_url": api_url, "token": token}


# The HTTP API's client commands live in their own module.
main.add_command(client_commands.endpoint)
main.add_command(client_commands.call)


@main.command()
@click.option("--port", type=int, default=3000, show_default=True, envvar="PORT", help="API Gateway port.")
@click.option("--aws-port", type=int, default=4566, show_default=True, envvar="AWS_PORT", help="Embedded AWS port.")
@click.option("--lambda-port", type=int, default=3001, show_default=True, envvar="LAMBDA_PORT", help="Lambda port.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--parameter", "parameters", multiple=True, metavar="KEY=VALUE", help="Override a template parameter.")
def serve(port: int, aws_port: int, lambda_port: int, host: str, parameters: tuple[str, ...]) -> None:
    """Serve the whole API locally (moto as the embedded AWS), in the foreground."""
    from httpep.local.server import LocalStack, PortInUse

    overrides = dict(p.split("=", 1) for p in parameters if "=" in p)
    stack = LocalStack(host=host, port=port, aws_port=aws_port, lambda_port=lambda_port, parameter_overrides=overrides)
    try:
        stack.start()
    except PortInUse as exc:
        raise CliError(f"{exc}; stop what uses it or pick another (PORT=, AWS_PORT=, LAMBDA_PORT=)") from None
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    click.echo(f"API root:      {stack.api_root}", err=True)
    click.echo(f"Embedded AWS:  {stack.aws_endpoint}   Lambda invoke API: {stack.lambda_endpoint}", err=True)
    env = "" if aws_port == 4566 else f"AWS_PORT={aws_port} "
    click.echo(f"Get a token:   {env}.venv/bin/httpep --local token create --account jaydoe", err=True)
    click.echo("Ready. Ctrl-C stops everything.", err=True)
    try:
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    click.echo("stopping...", err=True)
    stack.stop()


@main.group()
def token() -> None:
    """Mint, list and revoke bearer tokens (only their SHA-256 hash is stored)."""


@token.command("create")
@click.option("--account", required=True, callback=_account, help="Account the token acts for, e.g. jaydoe.")
@click.option("--label", default="", callback=_label, help="A note to tell tokens apart in `token list`.")
@click.pass_context
def token_create(ctx: click.Context, account: str, label: str) -> None:
    """Print a new token for ACCOUNT, alone on one line (nothing else goes to stdout)."""
    from httpendpoint.stores import token_store

    target = _target(ctx)
    with _store_errors(target):
        new_token = token_store.create_token(
            account, label, table=target.output("TokensTableName"), dynamodb=target.client("dynamodb")
        )
    click.echo(new_token)


@token.command("revoke")
@click.argument("token_value", metavar="TOKEN")
@click.pass_context
def token_revoke(ctx: click.Context, token_value: str) -> None:
    """Revoke TOKEN (at once locally; on AWS within the authorizer cache TTL); `-` reads it from stdin."""
    from httpendpoint.stores import token_store

    if token_value == "-":
        # Keeps the token out of `ps` and shell history: `httpep --local token revoke - < token.txt`.
        token_value = click.get_text_stream("stdin").readline().strip()
    target = _target(ctx)
    with _store_errors(target):
        record = token_store.revoke_token(
            token_value, table=target.output("TokensTableName"), dynamodb=target.client("dynamodb")
        )
    click.echo(f"revoked a token of {record.account} (created {record.created_at}, revoked {record.revoked_at})")


@token.command("list")
@click.option("--account", required=True, callback=_account, help="Account whose tokens to list.")
@click.pass_context
def token_list(ctx: click.Context, account: str) -> None:
    """Tokens of ACCOUNT: hash prefix, label, dates (never the tokens)."""
    from tabulate import tabulate

    from httpendpoint.stores import token_store

    target = _target(ctx)
    with _store_errors(target):
        records = token_store.list_tokens(
            account, table=target.output("TokensTableName"), dynamodb=target.client("dynamodb")
        )
    rows = [(r.token_hash[:12], r.label, r.created_at, r.revoked_at or "active") for r in records]
    click.echo(tabulate(rows, headers=["hash", "label", "created", "revoked"]))


@main.group()
def script() -> None:
    """Handler scripts in the script store."""


@script.command("put")
@click.argument("local_file", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@click.argument("drive_path", callback=_drive_path)
@click.pass_context
def script_put(ctx: click.Context, local_file: Path, drive_path: str) -> None:
    """Save LOCAL_FILE at DRIVE_PATH, e.g. "/jaydoe/my_repo/fs/Instabase Drive/handlers/hello.py".

    The same write as `PUT /api/v2/files/...`: a new version, and the endpoints that run the file re-pinned
    to it if it passes the handler check (else they keep their version, and this says why).
    """
    try:
        source = local_file.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {local_file}: {exc.strerror}") from None
    from httpendpoint import scripts
    from httpendpoint.files import drive

    target = _target(ctx)
    with _layer_on(target), _store_errors(target):
        written = drive.write_file(scripts.drive_owner(drive_path), drive_path.lstrip("/"), source)
    click.echo(f"uploaded {local_file} to {drive_path} (version {written.stored.version})")
    if written.updated:
        click.echo(f"re-pinned: {', '.join(written.updated)}")
    for kept in written.kept:
        click.echo(f"kept {kept.id}: {kept.error}", err=True)


@contextmanager
def _layer_on(target: Target) -> Iterator[None]:
    """Point the shared layer (its settings and clients) at the target, as the files function is configured."""
    import os

    from httpendpoint.core.aws import reset_clients

    settings = {
        "SCRIPT_BUCKET": target.output("ScriptBucketName"),
        "ENDPOINTS_TABLE": target.output("EndpointsTableName"),
        "AWS_DEFAULT_REGION": target.region,
    }
    if target.endpoint_url is not None:
        settings.update(
            AWS_ENDPOINT_URL=target.endpoint_url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing"
        )
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    reset_clients()
    try:
        yield
    finally:
        # Restored, so a caller in the same process (a test) sees its own environment again.
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        reset_clients()


def run() -> None:
    """The console script: `main` with one-line errors (see OneLineErrors)."""
    main()

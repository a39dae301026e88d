"""`httpep`: run the local stack, mint and revoke tokens, upload handler scripts."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from httpep.targets import Target, TargetError, local_target, stack_target


class CliError(click.ClickException):
    """A one-line error and exit status 1, never a traceback."""


def _target(ctx: click.Context) -> Target:
    options = ctx.find_root().obj
    if options["stack"]:
        return stack_target(options["stack"], options["region"])
    if options["local"]:
        return local_target()
    raise CliError("say which stack: --local (the one `make dev` runs) or --stack NAME")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--local", is_flag=True, help="Target the local stack started by `make dev` (honours AWS_PORT, PORT).")
@click.option("--stack", metavar="NAME", help="Target a deployed stack; names come from its outputs.")
@click.option("--region", metavar="REGION", help="AWS region of --stack (default: your AWS configuration).")
@click.pass_context
def main(ctx: click.Context, local: bool, stack: str | None, region: str | None) -> None:
    """Operate the HTTP Endpoint service."""
    if local and stack:
        raise click.UsageError("--local and --stack exclude each other")
    ctx.obj = {"local": local, "stack": stack, "region": region}


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


def _tokens_table(target: Target) -> tuple[str, Any]:
    return target.output("TokensTableName"), target.client("dynamodb")


@token.command("create")
@click.option("--account", required=True, help="Account the token acts for, e.g. jaydoe.")
@click.option("--label", default="", help="A note to tell tokens apart in `token list`.")
@click.pass_context
def token_create(ctx: click.Context, account: str, label: str) -> None:
    """Print a new token for ACCOUNT, alone on one line."""
    from httpendpoint import token_store

    table, dynamodb = _tokens_table(_target(ctx))
    click.echo(_call(token_store.create_token, account, label, table=table, dynamodb=dynamodb))


@token.command("revoke")
@click.argument("token_value", metavar="TOKEN")
@click.pass_context
def token_revoke(ctx: click.Context, token_value: str) -> None:
    """Revoke TOKEN at once (on AWS, within the authorizer cache TTL)."""
    from httpendpoint import token_store

    table, dynamodb = _tokens_table(_target(ctx))
    record = _call(token_store.revoke_token, token_value, table=table, dynamodb=dynamodb)
    click.echo(f"revoked a token of {record.account} (created {record.created_at})")


@token.command("list")
@click.option("--account", required=True)
@click.pass_context
def token_list(ctx: click.Context, account: str) -> None:
    """Tokens of ACCOUNT: hash prefix, label, dates (never the tokens)."""
    from tabulate import tabulate

    from httpendpoint import token_store

    table, dynamodb = _tokens_table(_target(ctx))
    records = _call(token_store.list_tokens, account, table=table, dynamodb=dynamodb)
    rows = [(r.token_hash[:12], r.label, r.created_at, r.revoked_at or "active") for r in records]
    click.echo(tabulate(rows, headers=["hash", "label", "created", "revoked"]))


@main.group()
def script() -> None:
    """Handler scripts in the script store."""


@script.command("put")
@click.argument("local_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("drive_path")
@click.pass_context
def script_put(ctx: click.Context, local_file: Path, drive_path: str) -> None:
    """Upload LOCAL_FILE to DRIVE_PATH, e.g. "/jaydoe/my_repo/fs/Instabase Drive/handlers/hello.py"."""
    from httpendpoint import script_store

    if not drive_path.startswith("/"):
        raise CliError(f"DRIVE_PATH must start with /<account>/, got {drive_path!r}")
    target = _target(ctx)
    _call(
        script_store.put,
        drive_path,
        local_file.read_bytes(),
        bucket=target.output("ScriptBucketName"),
        s3=target.client("s3"),
    )
    click.echo(f"uploaded {local_file} to {drive_path}")


def _call(function: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a store call, turning the errors a user can cause into one line."""
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

    from httpendpoint.errors import ServiceError

    try:
        return function(*args, **kwargs)
    except ServiceError as exc:
        raise CliError(exc.message) from None
    except EndpointConnectionError:
        raise CliError("cannot reach the stack's AWS endpoint; is `make dev` running (and AWS_PORT right)?") from None
    except (ClientError, BotoCoreError) as exc:
        raise CliError(str(exc)) from None


def run() -> None:
    try:
        main(standalone_mode=True)
    except TargetError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)

"""`httpep endpoint create|get|update|delete|list` and `httpep call`: the HTTP API from the command line.

Where the API is: `--api-url`, else HTTPEP_API_URL, else the `ApiRoot` of `--local` / `--stack NAME`. The
token: `--token`, else HTTPEP_TOKEN (click reads both). Results go to stdout (JSON, a table, or a handler's
body); everything else, errors included, goes to stderr as one line.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from httpep import options
from httpep.client import MAX_PAGE_SIZE, ApiClient, ApiError, Unreachable, bare
from httpep.options import (
    check_drive_path,
    check_endpoint_id,
    check_endpoint_path,
    json_flag,
    output_option,
    print_json,
    wants_json,
)

TRIGGER_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
TABLE_COLUMNS = ("id", "path", "state", "auth", "handler_script_path", "handler_script_version")


# ---------------------------------------------------------------------------------------------- configuration


def api_root(ctx: click.Context) -> str:
    given = options.settings(ctx)
    if given.get("api_url"):
        return str(given["api_url"]).rstrip("/")
    if options.choice(ctx) is not None:
        return options.target(ctx).api_root
    raise click.UsageError(
        "say where the API is: --local, --stack NAME, HTTPEP_TARGET=local|stack:NAME,"
        " or --api-url URL (or HTTPEP_API_URL)",
        ctx=ctx,
    )


def _is_local(ctx: click.Context) -> bool:
    given = options.settings(ctx)
    if given.get("api_url"):
        return urlsplit(str(given["api_url"])).hostname in LOOPBACK_HOSTS
    chosen = options.choice(ctx)
    return chosen is None or chosen.is_local


def _token_hint(ctx: click.Context) -> str:
    chosen = None if options.settings(ctx).get("api_url") else options.choice(ctx)
    if chosen is not None and chosen.source in ("--local", "--stack"):
        where = f"{chosen.flag} "
    elif chosen is not None:
        where = ""
    else:
        where = "--local " if _is_local(ctx) else "--stack NAME "
    return f"get one with `httpep {where}token create --account NAME`"


def client(ctx: click.Context) -> ApiClient:
    token = (options.settings(ctx).get("token") or "").strip()
    if not token:
        raise click.ClickException(f"no token: pass --token TOKEN or set HTTPEP_TOKEN; {_token_hint(ctx)}")
    if any(char.isspace() for char in bare(token)):
        raise click.ClickException("the token contains spaces or line breaks; pass the token alone")
    return ApiClient(api_root(ctx), token)


# ---------------------------------------------------------------------------------------------- errors


# API Gateway's own words for a token its authorizer refused, and for a route it does not have. Every other
# refusal (a call-scope token on a management route, a webhook's bad signature, a token for other endpoints)
# says what is wrong itself, and gets no hint.
GATEWAY_UNAUTHORIZED = "Unauthorized"
GATEWAY_NO_ROUTE = "Missing Authentication Token"


def _refused_token(exc: ApiError) -> bool:
    """A 401 for the token itself: API Gateway's (the authorizer's refusal), or the trigger route's for a token
    it does not know (the client always sends one, so it is unknown or revoked)."""
    from httpendpoint.trigger.access import UNAUTHORIZED

    return exc.gateway and exc.status == 401 and exc.message in (GATEWAY_UNAUTHORIZED, UNAUTHORIZED)


def describe(ctx: click.Context, exc: ApiError) -> str:
    """`<status> <message>`, plus a pointer to the likely cause of API Gateway's own refusals."""
    hint = ""
    if _refused_token(exc):
        forgets = "; the local stack forgets its tokens when it stops" if _is_local(ctx) else ""
        hint = f" (the token is unknown or revoked{forgets}: {_token_hint(ctx)})"
    elif exc.gateway and exc.status == 403 and exc.message == GATEWAY_NO_ROUTE:
        hint = " (API Gateway has no such route: check the API URL, which ends in /api/v1/http-endpoint)"
    return f"{exc.status} {exc.message}{hint}"


@contextmanager
def api_errors(ctx: click.Context) -> Iterator[None]:
    """Turn the client's errors into one `Error: ...` line that says what to do."""
    try:
        yield
    except ApiError as exc:
        raise click.ClickException(describe(ctx, exc)) from None
    except Unreachable as exc:
        raise click.ClickException(unreachable_message(exc)) from None


def unreachable_message(exc: Unreachable) -> str:
    """What to say when the API cannot be reached: on this machine, the stack is probably not running."""
    if urlsplit(exc.url).hostname in LOOPBACK_HOSTS:
        return f"cannot reach {exc.url} ({exc.reason}); is the stack running? start it with `make dev`"
    return f"cannot reach {exc.url}: {exc.reason}"


# ---------------------------------------------------------------------------------------------- endpoint

ENDPOINT_ID = click.argument("endpoint_id", metavar="ID", callback=check_endpoint_id)
UPLOAD_HELP = "Check LOCAL_FILE, then save it at the drive path through the files API (a token will do)."


def _upload_option() -> Any:
    return click.option(
        "--upload",
        metavar="LOCAL_FILE",
        type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path),
        help=UPLOAD_HELP,
    )


AUTH_MODES = ("bearer", "none", "hmac")
HMAC_OPTIONS = ("hmac_header", "hmac_secret", "hmac_encoding", "hmac_prefix")


def _access_options(update: bool) -> Callable[[Any], Any]:
    """--auth, the --hmac-* settings and the secrets, for `endpoint create` and `endpoint update`."""
    decorators = [
        click.option(
            "--auth",
            type=click.Choice(AUTH_MODES),
            help="Who may call the endpoint: bearer (a token of the account; the default), none (anyone: the "
            "handler decides) or hmac (a valid HMAC-SHA256 signature of the body; see --hmac-*).",
        ),
        click.option(
            "--hmac-header",
            metavar="HEADER",
            callback=options.check_header_name,
            help="With --auth hmac: the header holding the signature, e.g. X-Hub-Signature-256.",
        ),
        click.option(
            "--hmac-secret",
            metavar="NAME",
            callback=lambda ctx, param, value: options.check_secret_names(ctx, param, (value,))[0] if value else None,
            help="With --auth hmac: the name of the endpoint's secret that keys the HMAC.",
        ),
        click.option(
            "--hmac-encoding", type=click.Choice(("hex", "base64")), help="How the signature is written [hex]."
        ),
        click.option("--hmac-prefix", metavar="TEXT", help="Text before the signature, e.g. sha256= [none]."),
        click.option(
            "--secret",
            "secrets",
            metavar="NAME=VALUE",
            multiple=True,
            callback=options.parse_secrets,
            help="Set a secret: the handler's environment variable NAME (repeatable; VALUE - reads stdin). "
            "Never shown again: get lists the names.",
        ),
    ]
    if update:
        decorators.append(
            click.option(
                "--remove-secret",
                "removed_secrets",
                metavar="NAME",
                multiple=True,
                callback=options.check_secret_names,
                help="Remove a secret (repeatable).",
            )
        )

    def decorate(function: Any) -> Any:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return decorate


def _access_body(
    ctx: click.Context, settings: dict[str, Any], current_hmac: Callable[[], dict[str, Any] | None] | None = None
) -> dict[str, Any]:
    """The API's `auth`, `hmac` and `secrets` from the access options given. On update, --hmac-* options
    change the endpoint's current settings (`current_hmac`), as the API replaces `hmac` whole."""
    body: dict[str, Any] = {}
    if settings["auth"] is not None:
        body["auth"] = settings["auth"]
    given = {name.removeprefix("hmac_"): settings[name] for name in HMAC_OPTIONS if settings[name] is not None}
    if given:
        if settings["auth"] not in (None, "hmac"):
            raise click.UsageError(f"--hmac-* options go with --auth hmac, not --auth {settings['auth']}", ctx=ctx)
        current = (current_hmac() if current_hmac is not None else None) or {}
        merged = {**current, **given}
        missing = [f"--hmac-{name}" for name in ("header", "secret") if name not in merged]
        if missing:
            raise click.UsageError(f"--auth hmac needs {' and '.join(missing)}", ctx=ctx)
        body["hmac"] = merged
    elif settings["auth"] == "hmac" and current_hmac is None:
        raise click.UsageError("--auth hmac needs --hmac-header and --hmac-secret", ctx=ctx)
    secrets: dict[str, str | None] = dict(settings["secrets"])
    for name in settings.get("removed_secrets") or ():
        if name in secrets:
            raise click.UsageError(f"{name} is both set with --secret and removed with --remove-secret", ctx=ctx)
        secrets[name] = None
    if secrets:
        body["secrets"] = secrets
    return body


@click.group(cls=options.Group)
def endpoint() -> None:
    """Create, get, update, delete and list endpoints (HTTP API)."""


@endpoint.command("create")
@ENDPOINT_ID
@click.option(
    "--path",
    metavar="PATH",
    callback=check_endpoint_path,
    help="URL path: the endpoint answers at API_ROOT/u/PATH [default: the ID].",
)
@click.option(
    "--handler",
    required=True,
    metavar="DRIVE_PATH",
    callback=check_drive_path,
    help="The handler script: /<account>/<any folders>/<file>.py, e.g. /jaydoe/handlers/hello.py.",
)
@_upload_option()
@_access_options(update=False)
@click.pass_context
def endpoint_create(
    ctx: click.Context, /, endpoint_id: str, path: str | None, handler: str, upload: Path | None, **access: Any
) -> None:
    """Create endpoint ID at --path (default: ID) with the script at --handler.

    Prints the API's {"id": ...}; with --upload, LOCAL_FILE is checked and uploaded to DRIVE_PATH first.
    A webhook receiver: --auth hmac --hmac-header X-Hub-Signature-256 --hmac-prefix sha256= --hmac-secret
    GITHUB_SECRET --secret GITHUB_SECRET=- (the secret's value from stdin).
    """
    access_body = _access_body(ctx, access)
    if path is None:
        try:
            options.check_endpoint_path(ctx, _param(ctx, "path"), endpoint_id)
        except click.BadParameter as exc:
            raise click.UsageError(
                f"{exc.format_message()}: give --path, as the ID cannot be a path", ctx=ctx
            ) from None
        path = endpoint_id
    api = client(ctx)
    if upload is not None:
        _upload(ctx, upload, handler)
    with api_errors(ctx):
        created = api.create_endpoint(endpoint_id, path, handler, access_body)
    print_json(created)
    click.echo(f"serving {api.api_root}/u/{path}", err=True)


def _param(ctx: click.Context, name: str) -> click.Parameter:
    return next(param for param in ctx.command.params if param.name == name)


def _upload(ctx: click.Context, local_file: Path, drive_path: str) -> None:
    """Check the file, then save it through the files API with the token (the write that re-pins); the note
    goes to stderr so stdout stays JSON."""
    source = options.checked_script(local_file, drive_path)
    with api_errors(ctx):
        saved = client(ctx).put_file(drive_path, source)
    options.report_save(local_file, drive_path, saved, err=True)


@endpoint.command("get")
@ENDPOINT_ID
@output_option(default="json")
@click.pass_context
def endpoint_get(ctx: click.Context, endpoint_id: str, output: str) -> None:
    """Print endpoint ID: JSON, or a table with -o table (id, path, state, auth, script and its version)."""
    api = client(ctx)
    with api_errors(ctx):
        found = api.get_endpoint(endpoint_id)
    if output == "json":
        print_json(found)
    else:
        options.print_table([[found.get(column) for column in TABLE_COLUMNS]], TABLE_COLUMNS)


@endpoint.command("update")
@ENDPOINT_ID
@click.option("--path", metavar="PATH", callback=check_endpoint_path, help="A new URL path.")
@click.option("--handler", metavar="DRIVE_PATH", callback=check_drive_path, help="A new handler script.")
# Two flags rather than click's `--enable/--disable` pair, where the last of the two given silently wins.
@click.option("--enable", is_flag=True, help="Enable the endpoint.")
@click.option("--disable", is_flag=True, help="Disable the endpoint (its calls get 503).")
@_upload_option()
@_access_options(update=True)
@click.pass_context
def endpoint_update(
    ctx: click.Context,
    /,
    endpoint_id: str,
    path: str | None,
    handler: str | None,
    enable: bool,
    disable: bool,
    upload: Path | None,
    **access: Any,
) -> None:
    """Change the path, handler, state, auth or secrets of endpoint ID, or upload a new version of its script.

    With --upload and no --handler, LOCAL_FILE replaces the endpoint's current handler script. --secret and
    --remove-secret change the named secrets only; leaving --auth hmac drops the endpoint's hmac settings.
    """
    if enable and disable:
        raise click.UsageError("--enable and --disable contradict each other: give one of them", ctx=ctx)
    enabled = True if enable else False if disable else None
    api = client(ctx)

    def current_hmac() -> dict[str, Any] | None:
        with api_errors(ctx):
            found = api.get_endpoint(endpoint_id).get("hmac")
        return dict(found) if isinstance(found, dict) else None

    access_body = _access_body(ctx, access, current_hmac)
    if path is None and handler is None and enabled is None and upload is None and not access_body:
        raise click.UsageError(
            "give at least one of --path, --handler, --enable/--disable, --upload, --auth, --hmac-*, --secret, "
            "--remove-secret",
            ctx=ctx,
        )
    if upload is not None:
        if handler is None:
            with api_errors(ctx):
                current = str(api.get_endpoint(endpoint_id).get("handler_script_path") or "")
            _upload(ctx, upload, current)
            # The same drive path again: the service checks the new version as it checks any handler.
            handler = current
        else:
            _upload(ctx, upload, handler)
    with api_errors(ctx):
        print_json(
            api.update_endpoint(
                endpoint_id, path=path, handler_script_path=handler, enabled=enabled, access=access_body
            )
        )


@endpoint.command("delete")
@ENDPOINT_ID
@click.pass_context
def endpoint_delete(ctx: click.Context, endpoint_id: str) -> None:
    """Delete endpoint ID (its path is free at once)."""
    api = client(ctx)
    with api_errors(ctx):
        print_json(api.delete_endpoint(endpoint_id))


@endpoint.command("list")
@click.option("--id", "endpoint_id", metavar="ID", callback=check_endpoint_id, help="Only this id.")
@click.option("--path", metavar="PATH", callback=check_endpoint_path, help="Only this path.")
@click.option("--handler", metavar="DRIVE_PATH", help="Only endpoints running this script.")
@click.option("--state", type=click.Choice(["enabled", "disabled"], case_sensitive=False), help="Only in this state.")
@click.option(
    "--page-size",
    type=click.IntRange(1, MAX_PAGE_SIZE),
    default=MAX_PAGE_SIZE,
    show_default=True,
    help="Endpoints per request; every page is fetched.",
)
@output_option()
@json_flag()
@click.pass_context
def endpoint_list(
    ctx: click.Context,
    endpoint_id: str | None,
    path: str | None,
    handler: str | None,
    state: str | None,
    page_size: int,
    output: str,
    as_json: bool,
) -> None:
    """List your endpoints: a table, or a JSON array with --output json.

    Filters combine with AND; every page is fetched; endpoints are ordered by id.
    """
    as_json = wants_json(ctx, output, as_json)
    given = {"id": endpoint_id, "path": path, "handler": handler, "state": state.upper() if state else None}
    filters = {name: value for name, value in given.items() if value is not None}
    api = client(ctx)
    with api_errors(ctx):
        endpoints = api.list_endpoints(filters, page_size)
    if as_json:
        print_json(endpoints)
        return
    if not endpoints:
        click.echo("no endpoints" + (" match the filters" if filters else ""), err=True)
        return
    options.print_table([[item.get(column, "") for column in TABLE_COLUMNS] for item in endpoints], TABLE_COLUMNS)
    click.echo(f"{len(endpoints)} endpoint{'' if len(endpoints) == 1 else 's'}", err=True)


# ---------------------------------------------------------------------------------------------- call


def _data(ctx: click.Context, param: click.Parameter, value: str | None) -> bytes | None:
    """curl's conventions: `@FILE` sends the file's bytes, `@-` standard input, anything else the text itself."""
    if value is None:
        return None
    if value == "@-":
        return click.get_binary_stream("stdin").read()
    if value.startswith("@"):
        try:
            return Path(value[1:]).read_bytes()
        except OSError as exc:
            raise click.BadParameter(f"cannot read {value[1:]}: {exc.strerror}", ctx=ctx, param=param) from None
    return value.encode()


def _headers(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for value in values:
        name, colon, content = value.partition(":")
        if not colon or not name.strip() or any(char.isspace() for char in name.strip()):
            raise click.BadParameter(f"{value!r} is not 'Name: value'", ctx=ctx, param=param)
        headers[name.strip()] = content.strip()
    return headers


def _call_path(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """The endpoint's path (a query string may follow), never a URL: the API root comes from the target."""
    parts = urlsplit(value)
    if parts.scheme in ("http", "https") or value.startswith("//"):
        root, found, rest = value.partition("/u/")
        hint = f"httpep --api-url {root} call {rest}" if parts.scheme and found and rest else "httpep call PATH"
        raise click.BadParameter(
            f"{value!r} is a URL; give the endpoint's path alone, e.g. {hint}"
            " (the API root comes from --local, --stack or --api-url)",
            ctx=ctx,
            param=param,
        )
    path, _, _ = value.partition("?")
    if path.lstrip("/").startswith("u/"):
        raise click.BadParameter(
            f"{value!r}: give the endpoint's path without u/, which call adds: httpep call"
            f" {value.lstrip('/')[2:] or 'PATH'}",
            ctx=ctx,
            param=param,
        )
    options.check_endpoint_path(ctx, param, path.lstrip("/"))
    return value


@click.command(cls=options.Command)
@click.argument("path", callback=_call_path)
@click.option(
    "-X",
    "--request",
    "method",
    type=click.Choice(TRIGGER_METHODS, case_sensitive=False),
    help="HTTP method (default GET, or POST with -d/--json).",
)
@click.option(
    "-d",
    "--data",
    metavar="DATA",
    callback=_data,
    help="Body: text, @FILE or @- (stdin); form data unless -H sets Content-Type.",
)
@click.option("--json", "json_data", callback=_data, metavar="DATA", help="Like -d, sent as application/json.")
@click.option(
    "-H", "--header", "headers", metavar="'NAME: VALUE'", multiple=True, callback=_headers, help="Extra header."
)
@click.option("-i", "--include", is_flag=True, help="Print the status line and headers (to stderr).")
@click.pass_context
def call(
    ctx: click.Context,
    path: str,
    method: str | None,
    data: bytes | None,
    json_data: bytes | None,
    headers: dict[str, str],
    include: bool,
) -> None:
    """Call API_ROOT/u/PATH[?QUERY] and print the response body (`httpep call -- -PATH` for a path starting with -).

    The body goes to stdout byte for byte; -i adds the status line and headers on stderr. Exits 1 for a
    status of 400 or more, after printing the body and an `Error: <status> ...` line.
    """
    if data is not None and json_data is not None:
        raise click.UsageError("give either -d/--data or --json, not both", ctx=ctx)
    body = json_data if json_data is not None else data
    # As curl does: a body's type is form data unless said otherwise, and --json says JSON.
    content_type = "application/json" if json_data is not None else "application/x-www-form-urlencoded"
    if body is not None and not any(name.lower() == "content-type" for name in headers):
        headers = {"Content-Type": content_type, **headers}
    if json_data is not None and not any(name.lower() == "accept" for name in headers):
        headers = {**headers, "Accept": "application/json"}
    api = client(ctx)
    with api_errors(ctx):
        response = api.trigger(path, (method or ("GET" if body is None else "POST")).upper(), body, headers)
    if include:
        version = "HTTP/1.0" if response.raw is not None and response.raw.version == 10 else "HTTP/1.1"
        click.echo(f"{version} {response.status_code} {response.reason}", err=True)
        raw_headers = response.raw.headers.items() if response.raw is not None else response.headers.items()
        for name, value in raw_headers:
            click.echo(f"{name}: {value}", err=True)
        click.echo("", err=True)
    stdout = click.get_binary_stream("stdout")
    stdout.write(response.content)
    if response.content and not response.content.endswith(b"\n") and sys.stdout.isatty():
        # Keep the shell prompt off the body's last line; pipes and files get the bytes unchanged.
        stdout.write(b"\n")
    stdout.flush()
    if response.status_code >= 400:
        raise click.ClickException(describe(ctx, ApiError.from_response(response)))

"""`httpep logs ID`: an endpoint's invocation history (`GET API_ROOT/<id>/invocations`), once or followed.

Each invocation is one block: time, method, status and duration on a line, then the error (if any) and the
handler's output, indented, with what is not printable escaped (`httpep.text`). Blocks are printed oldest
first, as a log reads; `--follow` polls and prints the invocations it has not shown yet (by request id) until
Ctrl-C: each one once, when it is recorded, so a slow request shows up when it ends, under the time it began.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import click

from httpep import options
from httpep.client_commands import ENDPOINT_ID, api_errors, client
from httpep.options import print_json
from httpep.text import json_text, printable, printable_lines

MAX_LIMIT = 100
INDENT = "    "


def _wait(seconds: float) -> None:
    time.sleep(seconds)


def format_invocation(record: dict[str, Any]) -> str:
    """One invocation as a block of text ending in a newline."""
    duration = record.get("duration_ms")
    took = f"{duration:g} ms" if isinstance(duration, int | float) else "? ms"
    head = f"{record.get('time', '?')}  {record.get('method', '?')} {record.get('status', '?')}  {took}"
    lines = [printable(f"{head}  request {record.get('request_id', '?')}")]
    if record.get("error"):
        lines += [f"{INDENT}error: {line}" for line in printable_lines(str(record["error"]))]
    lines += [INDENT + line for line in printable_lines(str(record.get("output") or ""))]
    return "\n".join(lines) + "\n"


def _show(records: Iterable[dict[str, Any]], as_json: bool) -> None:
    for record in records:
        if as_json:
            click.echo(json_text(record))
        else:
            click.echo(format_invocation(record))


@click.command(cls=options.Command)
@ENDPOINT_ID
@click.option(
    "-n",
    "--limit",
    type=click.IntRange(1, MAX_LIMIT),
    default=20,
    show_default=True,
    help="How many of the latest invocations to show first.",
)
@click.option("-f", "--follow", is_flag=True, help="Keep polling and print new invocations until Ctrl-C.")
@click.option(
    "--interval",
    type=click.FloatRange(0.2, 60),
    default=1.0,
    show_default=True,
    help="Seconds between polls with --follow.",
)
@options.output_option(for_people="a block of text per invocation")
@options.json_flag()
@click.pass_context
def logs(
    ctx: click.Context, endpoint_id: str, limit: int, follow: bool, interval: float, output: str, as_json: bool
) -> None:
    """Show the latest invocations of endpoint ID: time, method, status, duration, error and output.

    Every request that reached the endpoint is recorded (a fault, a timeout, a disabled endpoint and a rejected
    signature too), readable within 2 seconds, with secret values masked. JSON is the API's answer; with
    --follow, one record per line.
    """
    as_json = options.wants_json(ctx, output, as_json)
    api = client(ctx)
    # Following asks for the whole window at once, so that every record older than the latest --limit counts as
    # seen too and the first poll prints only what is new since.
    with api_errors(ctx):
        newest_first = api.invocations(endpoint_id, MAX_LIMIT if follow else limit)
    if as_json and not follow:
        print_json({"id": endpoint_id, "invocations": newest_first})
        return
    if not newest_first and not follow:
        click.echo(f"no invocations of {endpoint_id} yet", err=True)
    _show(reversed(newest_first[:limit]), as_json)
    if not follow:
        return
    # The previous answer's request ids: a record leaves later answers only once 100 newer ones pushed it out.
    shown = {record.get("request_id") for record in newest_first}
    try:
        while True:
            _wait(interval)
            with api_errors(ctx):
                newest_first = api.invocations(endpoint_id, MAX_LIMIT)
            _show(reversed([record for record in newest_first if record.get("request_id") not in shown]), as_json)
            shown = {record.get("request_id") for record in newest_first}
    except KeyboardInterrupt:
        pass

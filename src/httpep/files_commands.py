"""`httpep files put|get|ls|rm|versions` and `httpep dev`: the files API (`FILES_ROOT/<drive path>`) with a token.

Every save goes through `PUT FILES_ROOT/...`, so it re-pins the endpoints that run the file as any save does;
`dev` makes that a loop: each `.py` saved under a local folder is uploaded again at once.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from httpep import options
from httpep.client import ApiClient, ApiError, Unreachable, bare
from httpep.client_commands import api_errors, client, describe, unreachable_message
from httpep.options import output_option, print_json, print_table

NODE_COLUMNS = ("name", "type", "size", "modified", "path")
VERSION_COLUMNS = ("version", "size", "modified", "current")
# Editors write a save as several events (truncate, write, rename): events this close together are one save.
SETTLE_SECONDS = 0.15


def _folder(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A drive folder; a trailing '/' (as shells complete folders) is dropped."""
    if value is None:
        return None
    return str(options.check_drive_folder(ctx, param, value.rstrip("/") or value))


DRIVE_FILE = click.argument("drive_path", metavar="DRIVE_PATH", callback=options.check_drive_file)


@click.group(cls=options.Group)
def files() -> None:
    """Save, read, list, delete files on your drive and list their versions (files API, with a token)."""


@files.command("put")
@click.argument("local_file", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@DRIVE_FILE
@click.pass_context
def files_put(ctx: click.Context, local_file: Path, drive_path: str) -> None:
    """Save LOCAL_FILE at DRIVE_PATH as a new version; prints the version and the endpoints re-pinned or kept.

    Endpoints that run DRIVE_PATH move to the new version if it passes the handler check; the others are
    listed as kept, with the reason, and keep their version.
    """
    api = client(ctx)
    try:
        data = local_file.read_bytes()
    except OSError as exc:
        raise options.CliError(f"cannot read {local_file}: {exc.strerror}") from None
    with api_errors(ctx):
        saved = api.put_file(drive_path, data)
    options.report_save(local_file, drive_path, saved)


@files.command("get")
@DRIVE_FILE
@click.option("--version", metavar="V", help="An older version (see `files versions`) [default: the current one].")
@click.option(
    "-o",
    "--output-file",
    metavar="FILE",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the bytes to FILE instead of stdout.",
)
@click.pass_context
def files_get(ctx: click.Context, drive_path: str, version: str | None, output_file: Path | None) -> None:
    """Print the bytes of DRIVE_PATH (or write them to -o FILE)."""
    api = client(ctx)
    with api_errors(ctx):
        data, got = api.get_file(drive_path, version)
    if output_file is None:
        stdout = click.get_binary_stream("stdout")
        stdout.write(data)
        stdout.flush()
        return
    try:
        output_file.write_bytes(data)
    except OSError as exc:
        raise options.CliError(f"cannot write {output_file}: {exc.strerror}") from None
    click.echo(f"wrote {len(data)} bytes of {drive_path} (version {got or 'current'}) to {output_file}", err=True)


@files.command("ls")
@click.argument("folder", metavar="FOLDER", callback=_folder)
@output_option()
@click.pass_context
def files_ls(ctx: click.Context, folder: str, output: str) -> None:
    """List the files and sub-folders of FOLDER, such as /jaydoe/handlers; every page is fetched."""
    api = client(ctx)
    with api_errors(ctx):
        nodes = list(api.iter_folder(folder))
    if output == "json":
        print_json(nodes)
        return
    if not nodes:
        click.echo(f"{folder} is empty", err=True)
        return
    print_table([[node.get(column) for column in NODE_COLUMNS] for node in nodes], NODE_COLUMNS)


@files.command("versions")
@DRIVE_FILE
@output_option()
@click.pass_context
def files_versions(ctx: click.Context, drive_path: str, output: str) -> None:
    """List the versions of DRIVE_PATH, newest first (an endpoint can be pinned to any of them)."""
    api = client(ctx)
    with api_errors(ctx):
        found = api.file_versions(drive_path)
    versions = found.get("versions") or []
    if output == "json":
        print_json(versions)
        return
    rows = [[v.get("version"), v.get("size"), v.get("modified"), "*" if v.get("current") else ""] for v in versions]
    print_table(rows, VERSION_COLUMNS)


@files.command("rm")
@DRIVE_FILE
@click.pass_context
def files_rm(ctx: click.Context, drive_path: str) -> None:
    """Delete DRIVE_PATH and all its versions; refused (409, naming them) while endpoints run it."""
    api = client(ctx)
    with api_errors(ctx):
        print_json(api.delete_file(drive_path))


# ---------------------------------------------------------------------------------------------- dev


def _is_script(path: Path, root: Path) -> bool:
    """A `.py` under `root`, outside hidden files and folders (editors' swap files, .git, .venv)."""
    try:
        relative = path.relative_to(root)
    except ValueError:
        return False
    return path.suffix == ".py" and not any(part.startswith(".") for part in relative.parts)


def scripts_under(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*.py") if path.is_file() and _is_script(path, root))


class Uploader:
    """Uploads a local script to the same relative path under a drive folder, once per distinct content."""

    def __init__(self, ctx: click.Context, api: ApiClient, root: Path, drive_dir: str) -> None:
        self.ctx = ctx
        self.api = api
        self.root = root
        self.drive_dir = drive_dir
        self.digests: dict[Path, str] = {}

    def drive_path(self, path: Path) -> str:
        return f"{self.drive_dir}/{path.relative_to(self.root).as_posix()}"

    def upload(self, path: Path, unless_on_drive: bool = False) -> bool:
        """Save `path` if its bytes changed since the last upload; True if it was saved. `unless_on_drive`: not if
        the drive's current version holds them already (a save would only make an identical version); they are
        then remembered as uploaded."""
        try:
            data = path.read_bytes()
        except OSError:
            return False  # deleted or renamed away since the event: nothing to save
        digest = hashlib.sha256(data).hexdigest()
        if self.digests.get(path) == digest:
            return False
        drive_path = self.drive_path(path)
        options.check_drive_file(self.ctx, None, drive_path)  # type: ignore[arg-type]
        if unless_on_drive and self._on_drive(path.relative_to(self.root), drive_path, data):
            self.digests[path] = digest
            return False
        saved = self.api.put_file(drive_path, data)
        self.digests[path] = digest
        options.report_save(path.relative_to(self.root), drive_path, saved)
        return True

    def _on_drive(self, shown: Path, drive_path: str, data: bytes) -> bool:
        """Whether the drive's current version of `drive_path` is `data` (said on stdout, naming `shown`)."""
        try:
            current, version = self.api.get_file(drive_path)
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise
        if current != data:
            return False
        click.echo(f"unchanged {shown} at {drive_path} (version {version})")
        return True


class _Saves(FileSystemEventHandler):
    """Queues the paths of `.py` files written, created or renamed into place under the watched folder."""

    def __init__(self, root: Path, saved: queue.Queue[Path]) -> None:
        self.root = root
        self.saved = saved

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type not in ("modified", "created", "moved", "closed"):
            return
        # A rename into place (how many editors save) names the file in dest_path.
        raw = event.dest_path if event.event_type == "moved" else event.src_path
        path = Path(raw if isinstance(raw, str) else raw.decode())
        if _is_script(path, self.root):
            self.saved.put(path)


def watch(root: Path, on_save: Callable[[Path], Any], stop: threading.Event) -> None:
    """Call `on_save` for each `.py` saved under `root` (a burst of events for one file is one call) until `stop`."""
    saved: queue.Queue[Path] = queue.Queue()
    observer = Observer()
    # watchdog's observer methods carry no annotations.
    observer.schedule(_Saves(root, saved), str(root), recursive=True)  # type: ignore[no-untyped-call]
    observer.start()  # type: ignore[no-untyped-call]
    try:
        while not stop.is_set():
            for path in _settled(saved):
                on_save(path)
    finally:
        observer.stop()  # type: ignore[no-untyped-call]
        observer.join()


def _settled(saved: queue.Queue[Path]) -> Iterator[Path]:
    """The distinct paths of one burst of events, once none arrived for SETTLE_SECONDS (none after 0.2 s idle)."""
    try:
        first = saved.get(timeout=0.2)
    except queue.Empty:
        return
    burst = {first: None}
    while True:
        try:
            burst[saved.get(timeout=SETTLE_SECONDS)] = None
        except queue.Empty:
            break
    yield from burst


@click.command(cls=options.Command)
@click.argument(
    "directory", metavar="DIR", type=click.Path(exists=True, file_okay=False, resolve_path=True, path_type=Path)
)
@click.argument("drive_dir", metavar="[DRIVE_DIR]", required=False, callback=_folder)
@click.option("--once", is_flag=True, help="Upload every .py under DIR, then exit instead of watching.")
@click.pass_context
def dev(ctx: click.Context, directory: Path, drive_dir: str | None, once: bool) -> None:
    """Upload every .py under DIR to DRIVE_DIR, then upload each one again as it is saved, until Ctrl-C.

    DIR/a/b.py goes to DRIVE_DIR/a/b.py; a file the drive holds already, byte for byte, is not saved again.
    Each save prints its version and the endpoints re-pinned (live on the next call) or kept (the reason,
    e.g. a syntax error: they keep their last good version). Without DRIVE_DIR, the token's own drive
    (/ACCOUNT), which the stack's tokens table tells: --local, or --stack NAME with AWS credentials.
    """
    api = client(ctx)
    if drive_dir is None:
        drive_dir = _own_drive(ctx, api.token)
        click.echo(f"DRIVE_DIR is {drive_dir}, the token's own drive", err=True)
    uploader = Uploader(ctx, api, directory, drive_dir)
    found = scripts_under(directory)
    if not found:
        click.echo(f"no .py files under {directory} yet", err=True)
    with api_errors(ctx):
        for path in found:
            uploader.upload(path, unless_on_drive=True)
    if once:
        return
    click.echo(f"watching {directory} for saves to {drive_dir}/ (Ctrl-C to stop)", err=True)
    stop = threading.Event()
    try:
        watch(directory, lambda path: _upload_in_loop(ctx, uploader, path), stop)
    except KeyboardInterrupt:
        stop.set()
        click.echo("stopped", err=True)


def _own_drive(ctx: click.Context, token: str) -> str:
    """`/<account>` of `token`, from the target stack's tokens table: no API route tells a token its account."""
    from httpendpoint.stores import token_store

    if options.choice(ctx) is None:
        raise options.CliError(
            "give DRIVE_DIR (e.g. /ACCOUNT/handlers), or a stack whose tokens table tells the token's account:"
            " --local, or --stack NAME with AWS credentials"
        )
    where = options.target(ctx)
    with options.store_errors(where):
        record = token_store.find_active(
            bare(token), table=where.output("TokensTableName"), dynamodb=where.client("dynamodb")
        )
    if record is None:
        raise options.CliError(
            "the token is unknown or revoked on this stack, so it has no drive here"
            " (httpep token create --account NAME)"
        )
    return f"/{record.account}"


def _upload_in_loop(ctx: click.Context, uploader: Uploader, path: Path) -> None:
    """One save in the loop: an error is one line and the loop goes on (the next save may fix it)."""
    try:
        uploader.upload(path)
    except ApiError as exc:
        click.echo(f"Error: {path.relative_to(uploader.root)}: {describe(ctx, exc)}", err=True)
    except Unreachable as exc:
        click.echo(f"Error: {unreachable_message(exc)}", err=True)
    except click.ClickException as exc:
        click.echo(f"Error: {path.relative_to(uploader.root)}: {exc.format_message()}", err=True)

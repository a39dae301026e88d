"""`httpep` against a moto server (`--local`) and moto's CloudFormation (`--stack`), through click's runner.

Every failure a user can cause is exactly one `Error: ...` line on stderr, a non-zero exit and no traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result
from moto.server import ThreadedMotoServer

from httpendpoint.stores import token_store
from httpep.cli import main
from httpep.local import defaults
from httpep.local.resources import create_resources, table_definition
from httpep.local.state import LocalState
from httpep.local.state import write as write_state
from httpep.local.template import LOCAL_REGION, LocalTemplate
from tests.support.aws import aws_client
from tests.support.repo import TEMPLATE_PATH
from tests.support.stack import free_port

# Each fixture below starts its own AWS; none of them may leak into another test's environment.
HERMETIC_ENV = {"AWS_ENDPOINT_URL": None, "AWS_PROFILE": None, "HTTPEP_TARGET": None, "HTTPEP_LOCAL_STATE": None}


class MotoServer:
    def __init__(self, template: LocalTemplate) -> None:
        self.port = free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.template = template

    def client(self, service: str) -> Any:
        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=f"http://127.0.0.1:{self.port}",
            region_name=LOCAL_REGION,
            **defaults.boto3_credentials(),
        )

    @property
    def tokens_table(self) -> str:
        return self.template.local_names["TokensTable"]

    @property
    def bucket(self) -> str:
        return self.template.local_names["ScriptBucket"]


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoServer]:
    """What `make dev` serves at AWS_PORT, minus the API: moto with the template's tables and bucket."""
    server = MotoServer(LocalTemplate(TEMPLATE_PATH))
    server.server.start()
    create_resources(server.template, server.client)
    yield server
    server.server.stop()


STATE_DIR = Path(tempfile.mkdtemp(prefix="httpep-cli-state-"))


def state_file(aws_port: int, pid: int | None = None) -> Path:
    """The state file `httpep serve` would write for a stack whose embedded AWS is at `aws_port`."""
    template = LocalTemplate(TEMPLATE_PATH)
    state = LocalState(
        pid=pid or os.getpid(),
        api_root=f"http://127.0.0.1:{free_port()}/api/v1/http-endpoint",
        aws_endpoint=f"http://127.0.0.1:{aws_port}",
        lambda_endpoint=f"http://127.0.0.1:{free_port()}",
        region=LOCAL_REGION,
        template=str(template.path),
        outputs=template.outputs(),
    )
    path = STATE_DIR / f"{aws_port}-{state.pid}.json"
    write_state(path, state)
    return path


def invoke(*args: str, aws_port: int | None = None, stdin: str | None = None, **env: str | None) -> Result:
    state = None if aws_port is None else str(state_file(aws_port))
    env = {**HERMETIC_ENV, "HTTPEP_LOCAL_STATE": state or str(STATE_DIR / "none.json"), **env}
    return CliRunner(mix_stderr=False).invoke(main, list(args), env=env, input=stdin)


def local(server: MotoServer, *args: str) -> Result:
    return invoke("--local", *args, aws_port=server.port)


def assert_one_line_error(result: Result, *fragments: str) -> str:
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # not an uncaught exception
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def new_account() -> str:
    return "acct-" + uuid.uuid4().hex[:10]


# ---------------------------------------------------------------- tokens on --local


def test_token_create_prints_the_token_alone_and_stores_its_hash(moto_server: MotoServer) -> None:
    account = new_account()
    result = local(moto_server, "token", "create", "--account", account, "--label", "my laptop")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    token = result.stdout.removesuffix("\n")
    assert result.stdout == token + "\n"
    assert "\n" not in token and token.strip() == token
    record = token_store.find_active(token, table=moto_server.tokens_table, dynamodb=moto_server.client("dynamodb"))
    assert record is not None
    assert (record.account, record.label) == (account, "my laptop")


def test_token_list_shows_labels_and_dates_never_tokens(moto_server: MotoServer) -> None:
    account = new_account()
    tokens = [local(moto_server, "token", "create", "--account", account, "--label", f"label-{n}") for n in (1, 2)]
    plain = [t.stdout.strip() for t in tokens]
    result = local(moto_server, "token", "list", "--account", account)
    assert result.exit_code == 0, result.stderr
    assert "label-1" in result.stdout and "label-2" in result.stdout
    assert result.stdout.count("active") == 2
    for token in plain:
        assert token not in result.stdout
        assert token.removeprefix(token_store.TOKEN_PREFIX)[:8] not in result.stdout


def test_token_revoke_revokes_and_list_shows_it(moto_server: MotoServer) -> None:
    account = new_account()
    token = local(moto_server, "token", "create", "--account", account).stdout.strip()
    result = local(moto_server, "token", "revoke", token)
    assert result.exit_code == 0, result.stderr
    assert account in result.stdout and token not in result.stdout
    dynamodb = moto_server.client("dynamodb")
    assert token_store.find_active(token, table=moto_server.tokens_table, dynamodb=dynamodb) is None
    assert "active" not in local(moto_server, "token", "list", "--account", account).stdout


def test_token_revoke_reads_the_token_from_stdin(moto_server: MotoServer) -> None:
    token = local(moto_server, "token", "create", "--account", new_account()).stdout.strip()
    result = invoke("--local", "token", "revoke", "-", aws_port=moto_server.port, stdin=token + "\n")
    assert result.exit_code == 0, result.stderr
    dynamodb = moto_server.client("dynamodb")
    assert token_store.find_active(token, table=moto_server.tokens_table, dynamodb=dynamodb) is None


def test_revoking_an_unknown_token_is_one_line(moto_server: MotoServer) -> None:
    assert_one_line_error(local(moto_server, "token", "revoke", "hep_never-issued"), "no such token")


@pytest.mark.parametrize("account", ["JayDoe", "-jay", "jay doe", "a" * 64, ""])
def test_an_invalid_account_is_refused_in_one_line_and_nothing_is_stored(moto_server: MotoServer, account: str) -> None:
    before = moto_server.client("dynamodb").scan(TableName=moto_server.tokens_table)["Count"]
    assert_one_line_error(local(moto_server, "token", "create", "--account", account), "--account")
    assert_one_line_error(local(moto_server, "token", "list", "--account", account), "--account")
    assert moto_server.client("dynamodb").scan(TableName=moto_server.tokens_table)["Count"] == before


def test_an_invalid_label_is_one_line(moto_server: MotoServer) -> None:
    assert_one_line_error(local(moto_server, "token", "create", "--account", "jaydoe", "--label", "a\nb"), "label")


# ---------------------------------------------------------------- scripts on --local


def test_script_put_uploads_to_a_drive_path_with_spaces(moto_server: MotoServer, tmp_path: Path) -> None:
    source = b"def handler(request):\n    return 'hello'\n"
    script = tmp_path / "hello world.py"
    script.write_bytes(source)
    drive_path = f"/jaydoe/my_repo/fs/Instabase Drive/handlers/{uuid.uuid4().hex}.py"
    result = local(moto_server, "script", "put", str(script), drive_path)
    assert result.exit_code == 0, result.stderr
    assert drive_path in result.stdout
    stored = moto_server.client("s3").get_object(Bucket=moto_server.bucket, Key=drive_path.lstrip("/"))
    assert stored["Body"].read() == source


def test_script_put_re_pins_the_endpoints_that_run_the_file(moto_server: MotoServer, tmp_path: Path) -> None:
    """`script put` is the files API's own write (the shared module): an endpoint on the file moves to it."""
    from httpendpoint.core.aws import reset_clients
    from httpendpoint.stores import endpoint_store, script_store

    script = tmp_path / "h.py"
    script.write_bytes(b"def handler(request):\n    return 'one'\n")
    drive_path = f"/jaydoe/handlers/{uuid.uuid4().hex}.py"
    assert local(moto_server, "script", "put", str(script), drive_path).exit_code == 0
    endpoint_id = f"ep-{uuid.uuid4().hex[:8]}"
    environment = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_server.port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": LOCAL_REGION,
        "ENDPOINTS_TABLE": moto_server.template.local_names["EndpointsTable"],
        "SCRIPT_BUCKET": moto_server.bucket,
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, value)
        reset_clients()
        first = script_store.fetch(drive_path).version
        endpoint_store.create(endpoint_id, "jaydoe", endpoint_id, drive_path, 1000, handler_script_version=first)
        reset_clients()
    script.write_bytes(b"def handler(request):\n    return 'two'\n")
    result = local(moto_server, "script", "put", str(script), drive_path)
    assert result.exit_code == 0, result.stderr
    assert f"re-pinned: {endpoint_id}" in result.stdout
    # A broken script is refused before anything is stored: the endpoint keeps the version it has.
    script.write_bytes(b"def handler(request):\n    return 'oops'\n\ndef broken(:\n")
    result = local(moto_server, "script", "put", str(script), drive_path)
    assert result.exit_code != 0
    assert "not uploaded" in result.stderr and "syntax error" in result.stderr
    assert "ENDPOINTS_TABLE" not in os.environ or os.environ["ENDPOINTS_TABLE"] != environment["ENDPOINTS_TABLE"]


def test_script_put_of_a_missing_file_is_one_line(moto_server: MotoServer, tmp_path: Path) -> None:
    missing = tmp_path / "nope.py"
    assert_one_line_error(local(moto_server, "script", "put", str(missing), "/jaydoe/a.py"), "does not exist")


def test_script_put_of_a_directory_is_one_line(moto_server: MotoServer, tmp_path: Path) -> None:
    assert_one_line_error(local(moto_server, "script", "put", str(tmp_path), "/jaydoe/a.py"), "LOCAL_FILE")


@pytest.mark.parametrize(
    "drive_path",
    ["jaydoe/a.py", "/jaydoe/a.txt", "/jaydoe/../other/a.py", "/jaydoe//a.py", "/JayDoe/a.py", "/a.py", "/jaydoe/"],
)
def test_script_put_to_a_bad_drive_path_is_one_line(moto_server: MotoServer, tmp_path: Path, drive_path: str) -> None:
    script = tmp_path / "a.py"
    script.write_text("def handler(request):\n    return 'x'\n")
    assert_one_line_error(local(moto_server, "script", "put", str(script), drive_path), "DRIVE_PATH")


# ---------------------------------------------------------------- choosing and reaching the target


def test_a_target_is_required(tmp_path: Path) -> None:
    assert_one_line_error(invoke("token", "create", "--account", "jaydoe"), "--local", "--stack")
    assert_one_line_error(invoke("token", "revoke", "hep_x"), "--local", "--stack")
    script = tmp_path / "a.py"
    script.write_text("")
    assert_one_line_error(invoke("script", "put", str(script), "/jaydoe/a.py"), "--local", "--stack")


@pytest.mark.parametrize(
    "args",
    [
        ("--local", "--stack", "s", "token", "list", "--account", "jaydoe"),
        ("--local", "--region", "eu-west-1", "token", "list", "--account", "jaydoe"),
        ("--local", "token", "create"),
        ("--local", "token", "nope"),
        ("--local", "--bogus"),
        ("--local", "token", "revoke"),
        ("--local", "script", "put"),
    ],
)
def test_bad_arguments_are_one_line(args: tuple[str, ...]) -> None:
    result = invoke(*args)
    assert_one_line_error(result)
    assert result.exit_code == 2


def test_help_still_works() -> None:
    result = invoke("token", "create", "--help")
    assert result.exit_code == 0
    assert "--account" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("token", "create", "--account", "jaydoe"),
        ("token", "revoke", "hep_x"),
        ("token", "list", "--account", "jaydoe"),
    ],
)
def test_a_stopped_local_stack_is_one_line_that_says_make_dev(args: tuple[str, ...]) -> None:
    nothing_listens = free_port()
    line = assert_one_line_error(invoke("--local", *args, aws_port=nothing_listens), "not running", "make dev")
    assert str(nothing_listens) in line


def test_a_stopped_local_stack_for_script_put_is_one_line(tmp_path: Path) -> None:
    script = tmp_path / "a.py"
    script.write_text("def handler(request):\n    return 'x'\n")
    result = invoke("--local", "script", "put", str(script), "/jaydoe/a.py", aws_port=free_port())
    assert_one_line_error(result, "not running", "make dev")


def test_no_state_file_is_one_line_that_says_make_dev() -> None:
    result = invoke("--local", "token", "list", "--account", "jaydoe")
    assert assert_one_line_error(result) == "Error: no local stack running: run make dev"


def test_a_state_file_left_by_an_exited_stack_is_one_line_that_says_make_dev() -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    state = state_file(free_port(), pid=int(gone.stdout))
    result = invoke("--local", "token", "list", "--account", "jaydoe", HTTPEP_LOCAL_STATE=str(state))
    assert_one_line_error(result, "no local stack running: run make dev", "has exited")


def test_the_console_script_reports_a_stopped_stack_in_one_line() -> None:
    """`python -m httpep` goes through `run`, the console script's entry point."""
    env = {key: value for key, value in os.environ.items() if key not in HERMETIC_ENV}
    env["HTTPEP_LOCAL_STATE"] = str(STATE_DIR / "none.json")
    result = subprocess.run(
        [sys.executable, "-m", "httpep", "--local", "token", "create", "--account", "jaydoe"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr == "Error: no local stack running: run make dev\n"


# ---------------------------------------------------------------- revoking by hash prefix, output, checks


def token_hashes(server: MotoServer, account: str) -> list[str]:
    records = token_store.list_tokens(account, table=server.tokens_table, dynamodb=server.client("dynamodb"))
    return [record.token_hash for record in records]


def test_token_revoke_by_the_hash_prefix_token_list_shows(moto_server: MotoServer) -> None:
    account = new_account()
    token = local(moto_server, "token", "create", "--account", account).stdout.strip()
    shown = local(moto_server, "token", "list", "--account", account).stdout.splitlines()[2].split()[0]
    assert len(shown) == 12
    result = local(moto_server, "token", "revoke", shown)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"revoked token {shown} of {account} ")
    dynamodb = moto_server.client("dynamodb")
    assert token_store.find_active(token, table=moto_server.tokens_table, dynamodb=dynamodb) is None


def test_token_revoke_reads_a_hash_prefix_from_stdin(moto_server: MotoServer) -> None:
    account = new_account()
    local(moto_server, "token", "create", "--account", account)
    (token_hash,) = token_hashes(moto_server, account)
    result = invoke("token", "revoke", "-", "--local", aws_port=moto_server.port, stdin=token_hash[:16] + "\n")
    assert result.exit_code == 0, result.stderr
    listed = json.loads(local(moto_server, "token", "list", "--account", account, "-o", "json").stdout)
    assert listed[0]["hash"] == token_hash and listed[0]["revoked_at"]


def test_an_ambiguous_hash_prefix_revokes_nothing(moto_server: MotoServer) -> None:
    account = new_account()
    prefix = uuid.uuid4().hex[:6]
    for _ in range(2):  # two records whose hashes share a prefix, as two real tokens' hashes may
        item = {"token_hash": {"S": prefix + uuid.uuid4().hex}, "account": {"S": account}}
        item |= {"label": {"S": ""}, "created_at": {"S": "2026-01-01T00:00:00+00:00"}}
        moto_server.client("dynamodb").put_item(TableName=moto_server.tokens_table, Item=item)
    line = assert_one_line_error(local(moto_server, "token", "revoke", prefix), f"hash prefix {prefix} matches 2")
    assert "give more characters" in line
    listed = json.loads(local(moto_server, "token", "list", "--account", account, "-o", "json").stdout)
    assert [item["revoked_at"] for item in listed] == [None, None]


def test_an_unknown_hash_prefix_is_not_called_never_issued(moto_server: MotoServer) -> None:
    line = assert_one_line_error(local(moto_server, "token", "revoke", "ffff0000ffff"), "no token's hash starts with")
    assert "never issued" not in line


def test_token_list_of_an_account_with_no_tokens_says_so(moto_server: MotoServer) -> None:
    account = new_account()
    assert_one_line_error(local(moto_server, "token", "list", "--account", account), f"unknown account {account}")


def test_token_list_as_json_has_full_hashes_and_never_tokens(moto_server: MotoServer) -> None:
    account = new_account()
    token = local(moto_server, "token", "create", "--account", account, "--label", "ci").stdout.strip()
    listed = json.loads(local(moto_server, "token", "list", "--account", account, "--output", "json").stdout)
    assert [(item["hash"], item["label"], item["revoked_at"]) for item in listed] == [
        (token_store.hash_token(token), "ci", None)
    ]
    assert token not in json.dumps(listed)


def test_a_call_token_for_named_endpoints_shows_its_scope(moto_server: MotoServer) -> None:
    account = new_account()
    result = local(
        moto_server, "token", "create", "--account", account, "--scope", "call", "--endpoint", "hook", "--endpoint", "b"
    )
    assert result.exit_code == 0, result.stderr
    record = token_store.find_active(
        result.stdout.strip(), table=moto_server.tokens_table, dynamodb=moto_server.client("dynamodb")
    )
    assert record is not None and (record.scope, record.endpoints) == ("call", ("b", "hook"))
    assert "call: b, hook" in local(moto_server, "token", "list", "--account", account).stdout
    listed = json.loads(local(moto_server, "token", "list", "--account", account, "--output", "json").stdout)
    assert [(item["scope"], item["endpoints"]) for item in listed] == [("call", ["b", "hook"])]


def test_endpoint_ids_limit_a_call_token_only_and_are_checked(moto_server: MotoServer) -> None:
    account = new_account()
    refused = local(moto_server, "token", "create", "--account", account, "--endpoint", "hook")
    assert refused.exit_code == 2 and "--scope call" in refused.stderr
    bad = local(moto_server, "token", "create", "--account", account, "--scope", "call", "--endpoint", "a/b")
    assert bad.exit_code == 2 and "'a/b'" in bad.stderr
    assert (
        token_store.list_tokens(account, table=moto_server.tokens_table, dynamodb=moto_server.client("dynamodb")) == []
    )


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("def handler(request)\n    return 'x'\n", "has a syntax error at line 1"),
        ("def hello(request):\n    return 'x'\n", "does not define a top-level function 'def handler(request)'"),
    ],
)
def test_script_put_checks_the_script_as_the_service_does_and_uploads_nothing_bad(
    moto_server: MotoServer, tmp_path: Path, source: str, problem: str
) -> None:
    script = tmp_path / "bad.py"
    script.write_text(source)
    drive_path = f"/jaydoe/{uuid.uuid4().hex}.py"
    line = assert_one_line_error(local(moto_server, "script", "put", str(script), drive_path), "not uploaded")
    assert f"{script} {problem}" in line or f"{script}: {problem}" in line or problem in line
    listed = moto_server.client("s3").list_objects_v2(Bucket=moto_server.bucket, Prefix=drive_path.lstrip("/"))
    assert listed.get("KeyCount", 0) == 0


def test_operator_options_also_go_after_the_subcommand(moto_server: MotoServer) -> None:
    account = new_account()
    result = invoke("token", "create", "--account", account, "--local", aws_port=moto_server.port)
    assert result.exit_code == 0, result.stderr
    assert token_hashes(moto_server, account) == [token_store.hash_token(result.stdout.strip())]


def test_httpep_target_local_replaces_the_flag(moto_server: MotoServer) -> None:
    account = new_account()
    result = invoke("token", "create", "--account", account, aws_port=moto_server.port, HTTPEP_TARGET="local")
    assert result.exit_code == 0, result.stderr
    assert len(token_hashes(moto_server, account)) == 1


# ---------------------------------------------------------------- --stack (moto's CloudFormation)

STACK_REGION = "eu-west-1"


def create_cloudformation_stack(template: LocalTemplate, name: str, outputs: tuple[str, ...]) -> dict[str, str]:
    """A tiny deployed stack: the template's tokens table and script bucket, with the real stack's outputs."""
    tokens = template.resources["TokensTable"]["Properties"]
    endpoints = template.resources["EndpointsTable"]["Properties"]
    refs = {
        "TokensTableName": "TokensTable",
        "ScriptBucketName": "ScriptBucket",
        "EndpointsTableName": "EndpointsTable",
    }
    body = {
        "Resources": {
            "TokensTable": {"Type": "AWS::DynamoDB::Table", "Properties": table_definition(tokens)},
            "EndpointsTable": {"Type": "AWS::DynamoDB::Table", "Properties": table_definition(endpoints)},
            "ScriptBucket": {
                "Type": "AWS::S3::Bucket",
                "Properties": {"VersioningConfiguration": {"Status": "Enabled"}},
            },
        },
        "Outputs": {output: {"Value": {"Ref": refs[output]}} for output in outputs},
    }
    cloudformation = boto3.client("cloudformation", region_name=STACK_REGION)
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(body))
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def stack_invoke(*args: str) -> Result:
    return CliRunner(mix_stderr=False).invoke(main, list(args), env={"AWS_ENDPOINT_URL": None})


@pytest.mark.usefixtures("aws")
def test_stack_target_writes_to_the_table_named_in_the_outputs(template: LocalTemplate, tmp_path: Path) -> None:
    outputs = create_cloudformation_stack(
        template, "http-endpoint", ("TokensTableName", "ScriptBucketName", "EndpointsTableName")
    )
    assert outputs["TokensTableName"] != template.local_names["TokensTable"]
    base = ("--stack", "http-endpoint", "--region", STACK_REGION)

    created = stack_invoke(*base, "token", "create", "--account", "jaydoe", "--label", "deployed")
    assert created.exit_code == 0, created.stderr
    token = created.stdout.strip()
    dynamodb = boto3.client("dynamodb", region_name=STACK_REGION)
    items = dynamodb.scan(TableName=outputs["TokensTableName"])["Items"]
    assert [(i["token_hash"]["S"], i["account"]["S"], i["label"]["S"]) for i in items] == [
        (token_store.hash_token(token), "jaydoe", "deployed")
    ]
    # Nothing went to the local stack's table of the same template.
    assert aws_client("dynamodb").scan(TableName=template.local_names["TokensTable"])["Count"] == 0

    listed = stack_invoke(*base, "token", "list", "--account", "jaydoe")
    assert listed.exit_code == 0 and "deployed" in listed.stdout
    assert stack_invoke(*base, "token", "revoke", token).exit_code == 0
    assert token_store.find_active(token, table=outputs["TokensTableName"], dynamodb=dynamodb) is None

    script = tmp_path / "hello.py"
    script.write_text("def handler(request):\n    return 'hi'\n")
    put = stack_invoke(*base, "script", "put", str(script), "/jaydoe/repo/fs/Instabase Drive/hello.py")
    assert put.exit_code == 0, put.stderr
    s3 = boto3.client("s3", region_name=STACK_REGION)
    body = s3.get_object(Bucket=outputs["ScriptBucketName"], Key="jaydoe/repo/fs/Instabase Drive/hello.py")["Body"]
    assert body.read() == script.read_bytes()


@pytest.mark.usefixtures("aws")
def test_an_unknown_stack_is_one_line() -> None:
    result = stack_invoke("--stack", "no-such-stack", "--region", STACK_REGION, "token", "list", "--account", "jaydoe")
    assert_one_line_error(result, "no-such-stack")


@pytest.mark.usefixtures("aws")
def test_a_stack_without_the_output_is_one_line(template: LocalTemplate) -> None:
    create_cloudformation_stack(template, "bucket-only", ("ScriptBucketName",))
    result = stack_invoke("--stack", "bucket-only", "--region", STACK_REGION, "token", "create", "--account", "jaydoe")
    assert_one_line_error(result, "TokensTableName")

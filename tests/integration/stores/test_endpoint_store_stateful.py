"""The management API against a plain-Python model, across two accounts, as random sequences of operations.

Every operation goes through its real function handler on moto, so validation, ownership and status codes are
part of what is compared. Ids and paths come from small alphabets so that collisions (409) are frequent, and
the per-account limit is low so that it is reached. After every step the table is scanned for the invariants
of the endpoint store's layout (endpoint items and path items pair up one to one, the account counters are
exact) and each account's view is checked: it sees its own endpoints, page by page, and nothing of the other's.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from moto import mock_aws

from httpendpoint.core.aws import client, reset_clients
from httpendpoint.stores import script_store
from httpep.local.resources import create_resources
from httpep.local.template import LocalTemplate
from tests.support.aws import aws_client, fake_aws_environment
from tests.support.events import api_event
from tests.support.functions import FakeContext, load_function

ACCOUNTS = ("jaydoe", "acme")
MAX_ENDPOINTS = 3
IDS = ("a", "b", "c", "d", "e", "f", "g", "h")
# Ids no endpoint can have: reserved, a leading dash, one character over the length limit.
BAD_IDS = ("list", "-x", "x" * 129)
PATHS = ("p", "q", "r", "s", "t", "u", "v", "w")
BAD_PATHS = ("", "a.b", "p" * 129)
HELLO = b"def handler(request):\n    return 'hello'\n"
BROKEN = b"def handler(request)\n    return 'hello'\n"

# Script choices, resolved for the calling account by `script_for`: three valid scripts in its own drive,
# and the rejected kinds: one in the other account's drive (403), one missing, one that does not compile,
# and a path that breaks the drive-path rules.
OWN_SCRIPTS = ("one", "two", "three")
BAD_SCRIPTS = ("foreign", "missing", "broken", "not-python")

accounts = st.sampled_from(ACCOUNTS)
# The first account creates more than the other, so that it reaches its limit while the other has room.
creators = st.sampled_from((ACCOUNTS[0], ACCOUNTS[0], ACCOUNTS[1]))
ids = st.sampled_from(IDS)
paths = st.sampled_from(PATHS)
own_scripts = st.sampled_from(OWN_SCRIPTS)
any_ids = st.sampled_from(IDS + BAD_IDS)
# What is wrong with a create request, if anything: mostly nothing, so that endpoints accumulate.
faults = st.sampled_from(("none",) * 6 + ("id", "path", *BAD_SCRIPTS))


def script_for(account: str, choice: str) -> str:
    if choice in OWN_SCRIPTS:
        return f"/{account}/handlers/{choice}.py"
    if choice == "foreign":
        other = next(name for name in ACCOUNTS if name != account)
        return f"/{other}/handlers/one.py"
    if choice == "missing":
        return f"/{account}/handlers/missing.py"
    if choice == "broken":
        return f"/{account}/handlers/broken.py"
    return f"/{account}/handlers/notes.txt"


@dataclass(frozen=True)
class Model:
    account: str
    path: str
    handler_script_path: str
    enabled: bool

    def view(self, endpoint_id: str) -> dict[str, Any]:
        return {
            "id": endpoint_id,
            "path": self.path,
            "handler_script_path": self.handler_script_path,
            # Each script is stored once, so an endpoint is pinned to its only (current) version.
            "handler_script_version": script_store.fetch(self.handler_script_path).version,
            "state": "ENABLED" if self.enabled else "DISABLED",
            "auth": "bearer",
            "secrets": [],
        }


def invoke(function: str, event: dict[str, Any]) -> tuple[int, Any]:
    response = load_function(function).lambda_handler(event, FakeContext())
    assert response["multiValueHeaders"]["Content-Type"] == ["application/json"], response
    body = json.loads(response["body"])
    if response["statusCode"] >= 400:
        assert isinstance(body.get("error"), str) and body["error"], body
    return int(response["statusCode"]), body


def scan() -> list[dict[str, Any]]:
    """Every item of the endpoints table as plain values (strongly consistent, all pages)."""
    items = []
    for page in (
        client("dynamodb").get_paginator("scan").paginate(TableName=os.environ["ENDPOINTS_TABLE"], ConsistentRead=True)
    ):
        items += [{key: next(iter(value.values())) for key, value in item.items()} for item in page["Items"]]
    return items


class EndpointStoreMachine(RuleBasedStateMachine):
    """One example: a fresh moto backend, two accounts with their scripts, and a model of every endpoint."""

    template: ClassVar[LocalTemplate]
    # Outcomes seen over the whole run (rule, status, kind), so the test can show what it exercised.
    outcomes: ClassVar[Counter[tuple[str, int, str]]] = Counter()
    steps: ClassVar[int] = 0

    def __init__(self) -> None:
        super().__init__()
        self.model: dict[str, Model] = {}
        self.page_size = 2
        self.mock = mock_aws()
        # A backend of its own per example: mock_aws resets moto's state when it starts.
        self.mock.start()
        reset_clients()
        create_resources(self.template, aws_client)
        for account in ACCOUNTS:
            for name in OWN_SCRIPTS:
                script_store.put(f"/{account}/handlers/{name}.py", HELLO)
            script_store.put(f"/{account}/handlers/broken.py", BROKEN)

    def teardown(self) -> None:
        reset_clients()
        self.mock.stop()

    def record(self, rule_name: str, status: int, kind: str = "") -> None:
        EndpointStoreMachine.outcomes[(rule_name, status, kind)] += 1
        EndpointStoreMachine.steps += 1

    # ------------------------------------------------------------------------------------------ expectations

    def path_owner(self, path: str) -> str | None:
        return next((endpoint_id for endpoint_id, model in self.model.items() if model.path == path), None)

    def count(self, account: str) -> int:
        return sum(1 for model in self.model.values() if model.account == account)

    def owned(self, account: str, endpoint_id: str) -> Model | None:
        model = self.model.get(endpoint_id)
        return model if model is not None and model.account == account else None

    def pick(self, data: st.DataObject) -> tuple[str, str]:
        """A caller and an id: mostly an existing endpoint, asked for mostly by its owner; else any id."""
        if self.model and data.draw(st.sampled_from((True, True, False)), label="existing"):
            endpoint_id = data.draw(st.sampled_from(sorted(self.model)), label="endpoint_id")
            owner = self.model[endpoint_id].account
            other = next(name for name in ACCOUNTS if name != owner)
            return data.draw(st.sampled_from((owner, owner, owner, other)), label="account"), endpoint_id
        return data.draw(accounts, label="account"), data.draw(any_ids, label="endpoint_id")

    # ------------------------------------------------------------------------------------------ rules

    @initialize(endpoints=st.lists(st.tuples(creators, ids, paths, own_scripts), min_size=2, max_size=8))
    def seed(self, endpoints: list[tuple[str, str, str, str]]) -> None:
        """Start from a few endpoints: Hypothesis leaves some rules out of an example (swarm testing), and an
        example without `create` would otherwise only ever see empty tables."""
        for account, endpoint_id, path, choice in endpoints:
            self.create_endpoint(account, endpoint_id, path, choice)

    @rule(account=creators, endpoint_id=ids, path=paths, choice=own_scripts, fault=faults, data=st.data())
    def create(self, account: str, endpoint_id: str, path: str, choice: str, fault: str, data: st.DataObject) -> None:
        if fault == "id":
            endpoint_id = data.draw(st.sampled_from(BAD_IDS), label="bad_id")
        elif fault == "path":
            path = data.draw(st.sampled_from(BAD_PATHS), label="bad_path")
        elif fault in BAD_SCRIPTS:
            choice = fault
        self.create_endpoint(account, endpoint_id, path, choice, fault)

    def create_endpoint(self, account: str, endpoint_id: str, path: str, choice: str, fault: str = "none") -> None:
        """A valid request is created, or conflicts on the id, the path or the account's limit (in that order);
        one with something wrong is rejected (400, or 403 for another's script) before any conflict."""
        handler_script_path = script_for(account, choice)
        body = {"path": path, "handler_script_path": handler_script_path}
        event = api_event("create", path_parameters={"id": endpoint_id}, body=body, account=account)
        status, answer = invoke("create", event)
        kind = ""
        if fault != "none":
            expected, kind = (403 if fault == "foreign" else 400), "rejected"
        elif endpoint_id in self.model:
            # Ids are unique across accounts: another account's id is taken too.
            expected, kind = 409, "id"
            assert answer["error"] == f"endpoint id {endpoint_id!r} is already taken"
        elif self.path_owner(path) is not None:
            expected, kind = 409, "path"
            assert answer["error"] == f"path {path!r} is already taken"
        elif self.count(account) >= MAX_ENDPOINTS:
            expected, kind = 409, "limit"
            assert f"maximum of {MAX_ENDPOINTS} endpoints" in answer["error"]
        else:
            expected = 201
            assert answer == {"id": endpoint_id}
            self.model[endpoint_id] = Model(account, path, handler_script_path, True)
        assert status == expected, (status, answer)
        self.record("create", status, kind)

    @rule(choice=st.none() | own_scripts, enabled=st.none() | st.booleans(), data=st.data())
    def update(self, choice: str | None, enabled: bool | None, data: st.DataObject) -> None:
        """Valid changes are applied, or 404 for what the caller does not own, or 409 for a path that another
        endpoint holds (often one in use is asked for)."""
        account, endpoint_id = self.pick(data)
        in_use = sorted(model.path for model in self.model.values())
        path = data.draw(st.none() | paths | st.sampled_from(in_use or PATHS), label="path")
        handler_script_path = None if choice is None else script_for(account, choice)
        if path is None and handler_script_path is None and enabled is None:
            enabled = False  # an update must change something
        body = {
            name: value
            for name, value in (("path", path), ("handler_script_path", handler_script_path), ("enabled", enabled))
            if value is not None
        }
        status, answer = self.call_update(account, endpoint_id, body)
        current = self.owned(account, endpoint_id)
        kind = ""
        if current is None:
            # An unknown id, an invalid one and another account's all look the same.
            expected = 404
            assert answer == {"error": f"no endpoint with id {endpoint_id!r}"}
        elif path is not None and self.path_owner(path) not in (None, endpoint_id):
            expected, kind = 409, "path"
            assert answer["error"] == f"path {path!r} is already taken"
        else:
            expected = 200
            assert answer == {"id": endpoint_id}
            self.model[endpoint_id] = replace(
                current,
                path=current.path if path is None else path,
                handler_script_path=current.handler_script_path if handler_script_path is None else handler_script_path,
                enabled=current.enabled if enabled is None else enabled,
            )
        assert status == expected, (status, answer)
        self.record("update", status, kind)

    @rule(fault=st.sampled_from(("empty", "path", *BAD_SCRIPTS)), enabled=st.none() | st.booleans(), data=st.data())
    def update_rejected(self, fault: str, enabled: bool | None, data: st.DataObject) -> None:
        """A body that breaks a rule is 400 whatever the id; a script the caller may not use is looked at only
        once the endpoint is known to be theirs (403 for another account's, 400 missing or broken, else 404)."""
        account, endpoint_id = self.pick(data)
        body: dict[str, Any] = {}
        if fault != "empty" and enabled is not None:
            body["enabled"] = enabled
        if fault == "path":
            body["path"] = data.draw(st.sampled_from(BAD_PATHS), label="bad_path")
        elif fault in BAD_SCRIPTS:
            body["handler_script_path"] = script_for(account, fault)
        status, answer = self.call_update(account, endpoint_id, body)
        if fault in ("empty", "path", "not-python"):
            expected = 400
        elif self.owned(account, endpoint_id) is None:
            expected = 404
        else:
            expected = 403 if fault == "foreign" else 400
        assert status == expected, (status, answer)
        self.record("update", status, "rejected")

    def call_update(self, account: str, endpoint_id: str, body: dict[str, Any]) -> tuple[int, Any]:
        return invoke("update", api_event("update", path_parameters={"id": endpoint_id}, body=body, account=account))

    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        account, endpoint_id = self.pick(data)
        status, answer = invoke("delete", api_event("delete", path_parameters={"id": endpoint_id}, account=account))
        if self.owned(account, endpoint_id) is None:
            assert (status, answer) == (404, {"error": f"no endpoint with id {endpoint_id!r}"})
        else:
            assert (status, answer) == (200, {"id": endpoint_id})
            del self.model[endpoint_id]
        self.record("delete", status)

    @rule(data=st.data())
    def get(self, data: st.DataObject) -> None:
        account, endpoint_id = self.pick(data)
        status, answer = invoke("get", api_event("get", path_parameters={"id": endpoint_id}, account=account))
        model = self.owned(account, endpoint_id)
        if model is None:
            assert (status, answer) == (404, {"error": f"no endpoint with id {endpoint_id!r}"})
        else:
            assert (status, answer) == (200, model.view(endpoint_id))
        self.record("get", status)

    @rule(
        account=accounts,
        endpoint_id=st.none() | ids,
        path=st.none() | st.just("") | paths,
        choice=st.none() | own_scripts | st.sampled_from(BAD_SCRIPTS[:3]),
        state=st.none() | st.sampled_from(["ENABLED", "disabled", "Enabled"]),
        offset=st.none() | st.sampled_from(["0", "1", "2", "5"]),
        limit=st.none() | st.sampled_from(["1", "2", "3", "1000"]),
        page_size=st.integers(1, 4),
    )
    def list_page(
        self,
        account: str,
        endpoint_id: str | None,
        path: str | None,
        choice: str | None,
        state: str | None,
        offset: str | None,
        limit: str | None,
        page_size: int,
    ) -> None:
        """One page with any filters: exactly the model's matching endpoints, by id, from the offset on.

        It also sets the page size the invariant walks every account's list with from now on.
        """
        self.page_size = page_size
        handler = None if choice is None else script_for(account, choice)
        given = {"id": endpoint_id, "path": path, "handler": handler, "state": state, "offset": offset, "limit": limit}
        status, answer = self.call_list(account, given)
        first = int(offset or 0)
        size = int(limit or 100)
        matching = [
            model.view(key)
            for key, model in sorted(self.model.items())
            if model.account == account
            and endpoint_id in (None, key)
            # An empty value counts as not given (`list?id=&path=&...` lists everything).
            and path in (None, "", model.path)
            and handler in (None, model.handler_script_path)
            and (state is None or model.enabled == (state.upper() == "ENABLED"))
        ]
        expected = {
            "id": endpoint_id,
            "endpoints": matching[first : first + size],
            "next_offset": first + size if len(matching) > first + size else None,
        }
        assert (status, answer) == (200, expected)
        self.record("list", status)

    @rule(
        account=accounts,
        name=st.sampled_from(["id", "path", "handler", "state", "offset", "limit"]),
        data=st.data(),
    )
    def list_rejected(self, account: str, name: str, data: st.DataObject) -> None:
        """A bad value of any one filter is a 400 naming it."""
        bad = {
            "id": BAD_IDS,
            "path": BAD_PATHS[1:],
            "handler": (script_for(account, "not-python"), f"/{account}/" + "a" * 1020 + ".py"),
            "state": ("bogus", "true"),
            "offset": ("-1", "x", "1.5"),
            "limit": ("0", "1001", "-2"),
        }[name]
        status, answer = self.call_list(account, {name: data.draw(st.sampled_from(bad), label=name)})
        assert status == 400, (status, answer)
        assert answer["error"].startswith(f"{name}: "), answer
        self.record("list", status)

    def call_list(self, account: str, given: dict[str, str | None]) -> tuple[int, Any]:
        query = {name: [value] for name, value in given.items() if value is not None}
        return invoke("list", api_event("list", query=query, account=account))

    # ------------------------------------------------------------------------------------------ invariants

    @invariant()
    def the_table_is_consistent_and_matches_the_model(self) -> None:
        items = scan()
        endpoints = {item["pk"].removeprefix("endpoint#"): item for item in items if item["pk"].startswith("endpoint#")}
        claims = {item["pk"].removeprefix("path#"): item for item in items if item["pk"].startswith("path#")}
        counters = {
            item["pk"].removeprefix("account#"): int(item["endpoint_count"])
            for item in items
            if item["pk"].startswith("account#")
        }
        assert len(endpoints) + len(claims) + len(counters) == len(items), "an item of an unknown kind"
        # Each endpoint item has exactly one path item, and each path item belongs to exactly one endpoint.
        for endpoint_id, endpoint in endpoints.items():
            claim = claims.get(endpoint["path"])
            assert claim is not None, f"endpoint {endpoint_id} has no path item"
            assert claim["endpoint_id"] == endpoint_id == endpoint["id"]
            for attribute in ("account", "handler_script_path", "enabled"):
                assert claim[attribute] == endpoint[attribute], (attribute, claim, endpoint)
        for path, claim in claims.items():
            owner = endpoints.get(claim["endpoint_id"])
            assert owner is not None and owner["path"] == path, f"path item {path} is an orphan"
        for account in set(counters) | set(ACCOUNTS):
            assert counters.get(account, 0) == sum(1 for e in endpoints.values() if e["account"] == account)
        assert {
            endpoint_id: Model(item["account"], item["path"], item["handler_script_path"], item["enabled"])
            for endpoint_id, item in endpoints.items()
        } == self.model

    @invariant()
    def each_account_pages_through_its_own_endpoints_only(self) -> None:
        for account in ACCOUNTS:
            seen: list[dict[str, str]] = []
            offset: int | None = 0
            while offset is not None:
                query = {"offset": [str(offset)], "limit": [str(self.page_size)]}
                status, page = invoke("list", api_event("list", query=query, account=account))
                assert status == 200, page
                assert len(page["endpoints"]) <= self.page_size
                seen += page["endpoints"]
                offset = page["next_offset"]
            # Every endpoint exactly once, in id order, and none of another account's.
            assert seen == [model.view(key) for key, model in sorted(self.model.items()) if model.account == account]

    @invariant()
    def another_accounts_endpoint_is_not_found(self) -> None:
        for endpoint_id, model in self.model.items():
            for account in ACCOUNTS:
                if account != model.account:
                    event = api_event("get", path_parameters={"id": endpoint_id}, account=account)
                    assert invoke("get", event) == (404, {"error": f"no endpoint with id {endpoint_id!r}"})


STATEFUL_SETTINGS = settings(
    max_examples=40,
    stateful_step_count=20,
    # Reproducible in CI: a fixed sequence of examples and no example database carried between runs.
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.fixture
def environment(template: LocalTemplate, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The functions' environment, as the `aws` fixture sets it; moto itself is started per example."""
    for key, value in {**fake_aws_environment(template), "MAX_ENDPOINTS_PER_ACCOUNT": str(MAX_ENDPOINTS)}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setattr(EndpointStoreMachine, "template", template, raising=False)
    monkeypatch.setattr(EndpointStoreMachine, "outcomes", Counter())
    monkeypatch.setattr(EndpointStoreMachine, "steps", 0)
    yield
    reset_clients()


@pytest.mark.usefixtures("environment")
def test_management_operations_match_the_model() -> None:
    run_state_machine_as_test(EndpointStoreMachine, settings=STATEFUL_SETTINGS)
    outcomes = EndpointStoreMachine.outcomes
    print(f"{EndpointStoreMachine.steps} steps: {sorted(outcomes.items())}")
    # The run reached every outcome the model distinguishes, so none of its branches went untested.
    for outcome in [
        ("create", 201, ""),
        ("create", 400, "rejected"),
        ("create", 403, "rejected"),
        ("create", 409, "id"),
        ("create", 409, "path"),
        ("create", 409, "limit"),
        ("update", 200, ""),
        ("update", 400, "rejected"),
        ("update", 403, "rejected"),
        ("update", 404, ""),
        ("update", 404, "rejected"),
        ("update", 409, "path"),
        ("delete", 200, ""),
        ("delete", 404, ""),
        ("get", 200, ""),
        ("get", 404, ""),
        ("list", 200, ""),
        ("list", 400, ""),
    ]:
        assert outcomes[outcome] > 0, f"no step ended in {outcome}"

"""The layer's lock: every package pinned with hashes, a coherent SDK, and the very versions the tests run."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.repo import REPO_ROOT

LAYER = REPO_ROOT / "layers" / "shared"
# `name==version \` at the start of a line; the hashes and `# via` comments follow on indented lines.
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def locked(path: Path = LAYER / "requirements.txt") -> dict[str, str]:
    """Package name (canonical) to version, for every pin of a compiled lock file."""
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line)
        if match:
            pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def lock_entries(path: Path = LAYER / "requirements.txt") -> list[str]:
    """Each requirement of the lock as one string (its continuation lines joined), comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    return [line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip()]


def test_every_locked_package_is_pinned_with_hashes() -> None:
    entries = lock_entries()
    assert entries
    for entry in entries:
        assert PIN.match(entry), entry
        assert "--hash=sha256:" in entry, entry


def test_the_lock_carries_a_whole_sdk_so_the_runtimes_boto3_is_never_mixed_in() -> None:
    pins = locked()
    assert {"boto3", "botocore", "s3transfer"} <= pins.keys()
    # boto3 X.Y.Z is released with botocore X.Y.*: same minor line, or the SDK is a mix.
    assert pins["boto3"].split(".")[:2] == pins["botocore"].split(".")[:2]


def test_every_input_is_in_the_lock_at_its_pinned_version() -> None:
    pins = locked()
    for line in (LAYER / "requirements.in").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, requirement
        assert requirement.specifier.contains(pins[name]), (requirement, pins[name])


def test_the_venv_runs_exactly_the_locked_versions() -> None:
    """Tests and the deployed layer run the same code: any difference is drift (`make install` / `make lock`)."""
    drift = {}
    for name, version in locked().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "not installed"
        if installed != version:
            drift[name] = (version, installed)
    assert drift == {}, "locked vs installed: " + repr(drift)


def test_the_tool_pins_the_same_boto3_as_the_layer() -> None:
    import tomllib

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    tool_pins = {str(canonicalize_name(Requirement(d).name)): Requirement(d) for d in project["dependencies"]}
    for name, version in locked().items():
        if name in tool_pins:
            assert tool_pins[name].specifier.contains(version), (name, str(tool_pins[name]), version)

"""The project stands on its own: no file cites a document or a folder outside the repository.

Users read openapi.yaml and README.md; a comment pointing elsewhere leaves its reader with nothing to open.
"""

from __future__ import annotations

import subprocess

from tests.support.repo import REPO_ROOT

# Spelled in pieces, so that this file does not cite them itself.
OUTSIDE = ["API" + ".md", "DESIGN" + ".md", "../" + "shared"]


def project_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return [name for name in listed if (REPO_ROOT / name).is_file()]


def test_the_files_are_found() -> None:
    files = project_files()
    assert {"README.md", "template.yaml", "openapi.yaml", "layers/shared/httpendpoint/scripts.py"} <= set(files)


def test_no_file_cites_a_document_outside_the_repository() -> None:
    citing = []
    for name in project_files():
        text = (REPO_ROOT / name).read_bytes().decode("utf-8", "replace")
        citing += [
            f"{name}:{number}: {line.strip()}"
            for number, line in enumerate(text.splitlines(), 1)
            if any(cited in line for cited in OUTSIDE)
        ]
    assert citing == []

"""Where the checkout is, for the tests and benchmarks that read its files (the tool itself never assumes it)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

"""Where the checkout's files are, for tests and benchmarks (they always run inside the checkout)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
EVENTS_DIR = REPO_ROOT / "events"
FUNCTIONS_DIR = REPO_ROOT / "functions"
TEMPLATE_PATH = REPO_ROOT / "template.yaml"

"""The README tells the truth about what it can check: its sections and its benchmark figures."""

from __future__ import annotations

import json
import re
from collections import Counter

from bench import readme, report
from bench.support import RESULTS_PATH


def test_every_section_heading_appears_once() -> None:
    headings = re.findall(r"^#{1,3} .+$", readme.README_PATH.read_text(), flags=re.MULTILINE)
    assert headings
    assert [heading for heading, n in Counter(headings).items() if n > 1] == []


def test_the_performance_figures_are_those_of_the_committed_results() -> None:
    results = json.loads(RESULTS_PATH.read_text())
    assert readme.current_block(readme.README_PATH.read_text()) == readme.figures(results)


def test_the_figures_show_every_target_and_say_plainly_which_are_missed() -> None:
    results = json.loads(RESULTS_PATH.read_text())
    block = readme.figures({**results, "router_overhead_ratio": 9.5, "cold_start_ratio": 1.1})
    assert "9.50" in block
    rows = {line.split("|")[1].strip(): line for line in block.splitlines() if line.startswith("| ")}
    assert rows["router's own time per warm trigger (in-process, moto)"].rstrip(" |").endswith("≤ 3: **missed**")
    assert rows["cold start: new interpreter to first answer"].rstrip(" |").endswith("≤ 1.5: met")
    verdicts = [line for line in rows.values() if re.search(r": (met|\*\*missed\*\*) *\|$", line)]
    # Every target whose figure the results hold (a target added since the last full run has none yet).
    assert len(verdicts) == sum(1 for target in report.TARGETS if target.key in results)

"""The README tells the truth about what it can check: its sections and its benchmark figures."""

from __future__ import annotations

import json
import re
from collections import Counter

from bench import readme, report, support
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


def test_the_figures_show_the_machine_speed_next_to_the_requests_per_second_it_explains() -> None:
    results = json.loads(RESULTS_PATH.read_text())
    block = readme.figures({**results, "e2e_machine_probe_ms_median": 5.4})
    names = [line.split("|")[1].strip() for line in block.splitlines() if line.startswith("| ")]
    at = next(i for i, name in enumerate(names) if name.startswith("requests per second"))
    assert names[at + 1].startswith("machine speed during the 8 clients")
    assert "| 5.4 ms" in block


def test_the_machine_probe_times_a_fixed_piece_of_work_on_this_thread() -> None:
    probes = [support.machine_probe_ms() for _ in range(3)]
    assert all(0 < probe < 10_000 for probe in probes)

"""The grounding benchmarks still run: bench/ground_long.py at tiny sizes (issue 9, item 8)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ground_long_runs_at_tiny_sizes_and_finds_what_it_should() -> None:
    done = subprocess.run(
        [sys.executable, "bench/ground_long.py", "--sizes", "1500,3000", "--repeat", "1",
         "--label", "smoke"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    statuses = {line.split()[0]: line.split()[-1] for line in done.stdout.splitlines()
                if line.strip().endswith(("normalized", "fuzzy", "not_found"))}  # fmt: skip
    assert statuses == {"found": "normalized", "slip": "fuzzy", "absent": "not_found",
                        "half": "not_found", "small-page": "not_found"}  # fmt: skip
    assert "| slip (fuzzy) |" in done.stdout

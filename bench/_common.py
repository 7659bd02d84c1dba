"""Helpers shared by the benchmark scripts: machine description and result files."""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Where the benchmarks read and write. The smoke test (tests/test_bench_smoke.py) points
# them at tiny stand-ins, so it neither needs ../shared nor overwrites real results.
RESULTS = Path(os.environ.get("EXTRACTOR_BENCH_RESULTS") or ROOT / "bench" / "results")
EVAL = Path(os.environ.get("EXTRACTOR_EVAL") or ROOT.parent / "shared" / "eval")
CORPUS = Path(
    os.environ.get("EXTRACTOR_CORPUS") or ROOT.parent / "shared" / "corpus" / "pdf-malformed"
)

# The editable install in .venv lists ``extractor`` as a namespace package, so a script run
# from bench/ would import it without running extractor/__init__.py (no ``extract_many``
# at the top level). Put the checkout first, as ``python -m`` from the root would.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def machine() -> dict[str, Any]:
    """nproc, CPU model and load, so a figure can be read against the box it came from."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def revision() -> str:
    """The commit measured, with ``+dirty`` when tracked files differ from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "diff", "--quiet", "HEAD", "--", "extractor", "schemas"], cwd=ROOT
        ).returncode
    except OSError:
        return "unknown"
    return head + ("+dirty" if dirty else "")


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, min and max of ``values``."""
    return {"median": median(values), "min": min(values), "max": max(values)}


def write_result(name: str, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (plus the command and the machine) to bench/results/NAME.json."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "command": " ".join([".venv/bin/python", *sys.argv]),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        "revision": revision(),
        **payload,
    }
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


def run_cli_timed(
    args: list[str], sample: Callable[[int, float], None], interval: float
) -> tuple[int, float, int, str]:
    """Run ``extractor ARGS…`` under ``/usr/bin/time`` with no ``EXTRACTOR_*`` variables.

    ``sample(pid, elapsed)`` is called every ``interval`` seconds while it runs, with the
    pid of the ``time`` wrapper (the extractor process is its child). Returns the exit
    code, the wall time, the extractor process's peak RSS in KiB (``time``'s figure) and
    its stderr.
    """
    time_bin = shutil.which("time", path="/usr/bin:/bin")
    if time_bin is None:
        raise SystemExit("needs /usr/bin/time (apt-get install time)")
    command = [time_bin, "-f", "MAXRSS_KIB=%M", str(ROOT / ".venv" / "bin" / "extractor"), *args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXTRACTOR_")}
    started = time.perf_counter()
    wrapper = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    done = threading.Event()

    def loop() -> None:
        while not done.wait(interval):
            sample(wrapper.pid, time.perf_counter() - started)

    sampler = threading.Thread(target=loop, daemon=True)
    sampler.start()
    _, stderr = wrapper.communicate()
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    text = stderr.decode(errors="replace")
    peak_kib = next(
        int(line.split("=", 1)[1]) for line in text.splitlines() if line.startswith("MAXRSS_KIB=")
    )
    return wrapper.returncode, wall, peak_kib, text


def status_kib(pid: int, field: str) -> int | None:
    """A ``/proc/PID/status`` field in KiB (``VmRSS``), or None once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children first), from /proc."""
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        found.extend(int(child) for child in children)
        stack.extend(int(child) for child in children)
    return found

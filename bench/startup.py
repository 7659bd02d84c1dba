"""Start-up: how long `extractor --help` takes, and how long `extract` takes to send its
first request.

    .venv/bin/python bench/startup.py [--repeats 7] [--root DIR]

- ``help``: wall time of ``extractor --help``, beside ``python -c "import pydantic, httpx"``
  (the floor any CLI on this stack pays), median of ``--repeats``.
- ``first request``: ``extractor extract fixtures/invoice.pdf -s invoice --base-url …``
  against a ScriptedServer in this process: seconds from launching the command to the
  server receiving the first chat request (median).
- ``import extractor.cli``: the cumulative import time ``python -X importtime`` reports.

``--root`` measures another checkout the same way (run with ``python -S`` and its folder
first on ``PYTHONPATH``, from that folder), for before/after figures from one script.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, machine, revision

from extractor.testing import Reply, ScriptedServer

SITE = Path(sys.prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
ANSWER = (ROOT / "fixtures" / "expected" / "invoice.json").read_text()


def _command(root: Path | None, *args: str) -> tuple[list[str], dict[str, str], Path]:
    env = dict(os.environ)
    if root is None:
        return [sys.executable, "-m", "extractor.cli", *args], env, ROOT
    env["PYTHONPATH"] = f"{root}:{SITE / 'site-packages'}"
    code = "import sys; from extractor.cli import main; sys.argv[0] = 'extractor'; main()"
    return [sys.executable, "-S", "-c", code, *args], env, root


def _median_wall(command: list[str], env: dict[str, str], cwd: Path, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, env=env, cwd=cwd, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _first_request(root: Path | None, repeats: int) -> float:
    delays = []
    for _ in range(repeats):
        with ScriptedServer(responder=lambda _: Reply.chat(ANSWER)) as server, \
                tempfile.TemporaryDirectory() as out:  # fmt: skip
            command, env, cwd = _command(
                root, "extract", str(ROOT / "fixtures" / "invoice.pdf"), "-s", "invoice",
                "-o", f"{out}/r.jsonl", "--base-url", server.base_url, "--model", "m",
            )  # fmt: skip
            started = time.monotonic()
            subprocess.run(command, env=env, cwd=cwd, capture_output=True, check=True)
            delays.append(server.requests[0].received_at - started)
    return statistics.median(delays)


def _import_time(root: Path | None) -> float:
    command, env, cwd = _command(root)
    command = [c for c in command if c not in ("-m", "extractor.cli", "-c")]
    code = "import extractor.cli"
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *(["-S"] if root else []), "-c", code],
        env=env, cwd=cwd, capture_output=True, text=True, check=True,
    )  # fmt: skip
    line = [row for row in result.stderr.splitlines() if row.rstrip().endswith("extractor.cli")]
    return int(line[-1].split("|")[1]) / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--root", type=Path, default=None)
    args = parser.parse_args()
    root = args.root.resolve() if args.root else None
    print(f"machine: {machine()}, commit {revision() if root is None else root}")
    floor = _median_wall([sys.executable, "-c", "import pydantic, httpx"], dict(os.environ),
                         ROOT, args.repeats)  # fmt: skip
    command, env, cwd = _command(root, "--help")
    help_s = _median_wall(command, env, cwd, args.repeats)
    first = _first_request(root, max(3, args.repeats // 2))
    print(f"import pydantic, httpx: {floor:.3f} s")
    print(f"extractor --help: {help_s:.3f} s ({help_s / floor:.2f}x the floor)")
    print(f"import extractor.cli (importtime): {_import_time(root):.3f} s")
    print(f"extract: first request {first:.3f} s after launch")
    return 0


if __name__ == "__main__":
    sys.exit(main())

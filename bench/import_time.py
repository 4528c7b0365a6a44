"""Wall time of ``python -c "import omnicore"`` in fresh interpreters.

``import omnicore`` is what every plugin, tool and CLI invocation pays before
doing anything; ``omnicore/__init__.py`` defers the database layer so that it
stays small. Each statement runs ``--startup-runs`` times in a fresh subprocess (after
one untimed warm-up that fills the OS page cache and ``__pycache__``); the bare
interpreter start-up (``pass``) is measured the same way, so the cost of the
import itself is the difference. A second table lists the slowest modules of
one ``-X importtime`` run of ``import omnicore``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

from bench.proc import measure
from bench.report import Report, Table, summary, verdict

NAME = "import_time"
TARGET_MS = 150.0
STATEMENTS = [
    ("pass", "interpreter start-up alone (baseline)"),
    ("import omnicore", f"the public face (target < {TARGET_MS:.0f} ms)"),
    ("import omnicore.commerce", "the facade with the database layer (comparison)"),
]


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--startup-runs", dest="runs", type=int, default=20,
                       help="fresh interpreters per statement (20)")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    for key in ("PYTHONPROFILEIMPORTTIME", "PYTHONDONTWRITEBYTECODE", "PYTHONSTARTUP"):
        env.pop(key, None)
    return env


def _time_once(statement: str) -> tuple[float, float]:
    """(wall ms, CPU ms) of one fresh interpreter running ``statement``."""
    child = measure([sys.executable, "-c", statement], env=_env(), timeout=120)
    if child.returncode:
        raise RuntimeError(f"python -c {statement!r} failed:\n{child.output[-2000:]}")
    return child.wall * 1000, child.cpu * 1000


def _slowest_imports(statement: str, count: int = 8) -> list[tuple[str, int, int]]:
    """(module, self µs, cumulative µs) of the ``count`` costliest top-level imports."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", statement], check=True,
                          env=_env(), capture_output=True, text=True)
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, module = (p.strip() for p in line[len("import time:"):].split("|"))
        depth = (len(module) - len(module.lstrip())) // 2
        if depth <= 1:  # the statement's direct imports and their direct children
            rows.append((module.strip(), int(self_us), int(cumulative_us)))
    rows.sort(key=lambda r: r[2], reverse=True)
    return rows[:count]


def run(options: argparse.Namespace) -> Report:
    runs = max(1, options.runs)
    report = Report(NAME, params={"runs": runs, "python": sys.executable})
    table = Table(f"Fresh-interpreter wall time, {runs} runs each (ms)",
                  ["statement", "min", "median", "p90", "median - baseline", "CPU median",
                   "target", "what"])
    baseline = None
    for statement, what in STATEMENTS:
        _time_once(statement)  # warm-up: page cache, bytecode cache
        timings = [_time_once(statement) for _ in range(runs)]
        low, median, p90 = summary([wall for wall, _ in timings])
        cpu = statistics.median(cpu for _, cpu in timings)
        if baseline is None:
            baseline = median
        target = "—"
        if statement == "import omnicore":
            target = f"< {TARGET_MS:.0f} ms: {verdict(median < TARGET_MS)}"
        table.add(f"`{statement}`", low, median, p90, median - baseline, cpu, target, what)
    report.tables.append(table)

    slow = Table("Costliest imports under `import omnicore` (one `-X importtime` run, ms)",
                 ["module", "self", "cumulative"])
    for module, self_us, cumulative_us in _slowest_imports("import omnicore"):
        slow.add(f"`{module}`", self_us / 1000, cumulative_us / 1000)
    report.tables.append(slow)
    report.notes.append("CPU = the child's user + system time (os.wait4): on a busy machine it "
                        "stays close to the quiet wall time while wall time grows.")
    report.notes.append("`-X importtime` inflates times; use it for the ranking, not the totals.")
    return report

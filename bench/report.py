"""What a benchmark returns, rendered as markdown and saved as JSON."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


@dataclass
class Table:
    """One markdown table: a title, column headers, rows of cells."""

    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)

    def add(self, *cells: Any) -> None:
        self.rows.append(list(cells))

    def markdown(self) -> str:
        lines = [
            f"### {self.title}",
            "",
            "| " + " | ".join(self.columns) + " |",
            "|" + "|".join("---" for _ in self.columns) + "|",
        ]
        lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in self.rows]
        return "\n".join(lines)


@dataclass
class Report:
    """Everything one benchmark measured: tables, free-form notes, the parameters used."""

    name: str
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def markdown(self) -> str:
        parts = [f"## {self.name}", ""]
        for table in self.tables:
            parts += [table.markdown(), ""]
        parts += [f"- {note}" for note in self.notes]
        return "\n".join(parts).rstrip() + "\n"

    def save(self, folder: Path = RESULTS) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.name}.json"
        data = {
            "name": self.name,
            "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "params": self.params,
            "tables": [asdict(t) for t in self.tables],
            "notes": self.notes,
        }
        path.write_text(json.dumps(data, indent=2, default=str) + "\n")
        return path


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
    }


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile (0 … 1) by linear interpolation."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(values: Sequence[float]) -> tuple[float, float, float]:
    """(min, median, p90)."""
    return min(values), statistics.median(values), percentile(values, 0.9)


def verdict(ok: bool | None) -> str:
    if ok is None:
        return "n/a"
    return "met" if ok else "missed"


def run_alone(name: str, doc: str | None,
              add_arguments: Callable[[argparse._ArgumentGroup], None],
              run: Callable[[argparse.Namespace], Report], argv: list[str] | None) -> int:
    """``python -m bench.<name>``: one benchmark's options, its run, its table, its file."""
    parser = argparse.ArgumentParser(prog=f"python -m bench.{name}", description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser.add_argument_group(name))
    report = run(parser.parse_args(argv))
    path = report.save()
    print(report.markdown(), flush=True)
    print(f"(saved {path})", file=sys.stderr)
    return 0

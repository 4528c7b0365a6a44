"""What every import shares: the report, the records of a file, rejecting a row.

A row that cannot be imported becomes a ``RejectedRow`` with its line in the file,
the field to blame and a message; the import goes on with the next row.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from omnicore.errors import InvalidInput, Problem
from omnicore.importing._progress import Source

__all__ = ["FORMATS", "ImportReport", "RejectedRow", "detect_format"]

FORMATS = {"csv": "csv", "jsonl": "jsonl", "ndjson": "jsonl"}
_INTEGER = re.compile(r"^[+-]?\d+$")
_INDEXED = re.compile(r"^(?:[a-z_]+)?\[(\d+)\]\.?(.*)$")


@attrs.frozen
class RejectedRow:
    """A row that was not imported: its line in the file, the field to blame and why."""

    line: int
    field: str | None
    message: str


@attrs.define
class ImportReport:
    """What an import did: rows ``read``, ``accepted`` and ``rejected``, in ``seconds``."""

    read: int = 0
    accepted: int = 0
    rejected: list[RejectedRow] = attrs.Factory(list)
    seconds: float = 0.0


def detect_format(path: str | Path, format: str | None = None) -> str:
    """``"csv"`` or ``"jsonl"``: ``format`` when given, else from the file's extension."""
    given = format if format is not None else Path(path).suffix.lstrip(".")
    found = FORMATS.get(given.lower())
    if found is None:
        what = f"unknown format {format!r}" if format is not None else (
            f"cannot tell the format of {Path(path).name} from its extension")
        raise InvalidInput(f"{what} (csv, jsonl or ndjson)", field="format")
    return found


def _records(
    source: Source, kind: str, report: ImportReport, known: Sequence[str], required: Sequence[str]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Parsed rows as ``(line, data)``; rows that do not parse go to the report."""
    records = (source.csv_records(known=known, required=required) if kind == "csv"
               else source.jsonl_records())
    for record in records:
        report.read += 1
        if record.data is None:
            report.rejected.append(RejectedRow(record.line, record.field, record.message or ""))
        else:
            yield record.line, record.data


def _finish(report: ImportReport, started: float) -> ImportReport:
    report.rejected.sort(key=lambda row: row.line)
    report.accepted = report.read - len(report.rejected)
    report.seconds = time.perf_counter() - started
    return report


class _Reject(Exception):
    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _rejection(
    line: int, problems: Sequence[Problem], rename: Mapping[str, str] | None = None
) -> RejectedRow:
    first, *rest = problems or [Problem(None, "is not valid")]
    message = "; ".join([first.message, *(f"{p.field}: {p.message}" for p in rest)])
    return RejectedRow(line, (rename or {}).get(first.field or "", first.field), message)


def _integer(value: object, field: str) -> int:
    if type(value) is str and value.isascii() and value.isdigit():  # the common case, fast
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER.match(value):
        return int(value)
    raise _Reject(field, "is required" if value is None else f"{value!r} is not an integer")


def _indexed(problems: Sequence[Problem], size: int) -> dict[int, list[Problem]] | None:
    """Problems of a batch call (``[12].sku``) by index; None if one names no row."""
    found: dict[int, list[Problem]] = {}
    for problem in problems:
        match = _INDEXED.match(problem.field or "")
        if match is None or int(match[1]) >= size:
            return None
        found.setdefault(int(match[1]), []).append(Problem(match[2] or None, problem.message))
    return found

"""Reading an import file as a stream of records, counting its progress in bytes.

    with open_source("counts.csv", progress=bar.update) as source:
        for record in source.csv_records(known=COLUMNS, required=REQUIRED):
            ...
            source.report_progress()

The file is read line by line, never whole, so memory stays flat whatever its
size. Each record carries the line number it starts on (the header is line 1
of a CSV file); a line that cannot be parsed becomes a record with ``data``
None and the reason, so the importer can report it and go on.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import attrs

from omnicore.errors import InvalidInput

__all__ = ["Progress", "Record", "Source", "UnreadableFile", "open_source"]

#: Called with the number of bytes read since its previous call.
Progress = Callable[[int], object]

_BAD_TEXT = "is not valid UTF-8 text"


class UnreadableFile(InvalidInput):
    """The file cannot be imported at all: missing, unreadable, or a wrong header."""

    code = "unreadable_file"


@attrs.frozen
class Record:
    """One row (CSV) or line (JSON lines); ``data`` None when it could not be parsed."""

    line: int
    data: dict[str, Any] | None
    field: str | None = None
    message: str | None = None


class Source:
    """The lines of a binary file, decoded as UTF-8, with the bytes read so far."""

    def __init__(self, handle: IO[bytes], progress: Progress | None = None) -> None:
        self._handle = handle
        self._progress = progress
        self.bytes_read = 0
        self._reported = 0
        self._bad_lines: set[int] = set()

    def lines(self) -> Iterator[str]:
        for number, raw in enumerate(self._handle, 1):
            self.bytes_read += len(raw)
            try:
                yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                self._bad_lines.add(number)
                yield raw.decode("utf-8", "replace")

    def report_progress(self) -> None:
        """Tell the progress callback how many bytes were read since the last report."""
        if self._progress is not None and self.bytes_read > self._reported:
            self._progress(self.bytes_read - self._reported)
            self._reported = self.bytes_read

    def csv_records(self, *, known: Sequence[str], required: Sequence[str]) -> Iterator[Record]:
        """Rows as ``{column: stripped value}``, empty or missing cells left out.

        Blank rows are skipped; a row with more cells than the header is refused.

        :raises UnreadableFile: the header is missing, names an unknown column,
            lacks a ``required`` one or repeats one.
        """
        reader = csv.reader(self.lines())
        try:
            header = [name.strip().lower() for name in next(reader)]
        except StopIteration:
            raise UnreadableFile("is empty: expected a header line", field="file") from None
        except csv.Error as exc:
            raise UnreadableFile(f"line 1: malformed CSV header: {exc}", field="file") from None
        if not any(header):
            raise UnreadableFile("line 1 is empty: expected a header line", field="file")
        repeated = sorted({name for name in header if header.count(name) > 1})
        if repeated:
            raise UnreadableFile(
                f"line 1: the header names {', '.join(repr(n) for n in repeated)} more than "
                "once: each column may appear once", field="file")
        unknown = [name for name in header if name not in known]
        missing = [name for name in required if name not in header]
        if unknown or missing:
            raise UnreadableFile(
                f"line 1: the header must name columns among {', '.join(known)} "
                f"(required: {', '.join(required)}); got {', '.join(header) or 'nothing'}",
                field="file")
        last = reader.line_num
        while True:
            line = last + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                last = reader.line_num
                yield Record(line, None, None, f"malformed CSV: {exc}")
                continue
            last = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if any(n in self._bad_lines for n in range(line, last + 1)):
                yield Record(line, None, None, _BAD_TEXT)
            elif len(row) > len(header):
                yield Record(line, None, None, f"has {len(row)} columns, the header {len(header)}")
            else:  # a short row: its missing trailing cells are empty
                cells = zip(header, row, strict=False)
                yield Record(line, {name: text for name, value in cells if (text := value.strip())})

    def jsonl_records(self) -> Iterator[Record]:
        """One JSON object per line; blank lines skipped."""
        for line, text in enumerate(self.lines(), 1):
            if not text.strip():
                continue
            if line in self._bad_lines:
                yield Record(line, None, None, _BAD_TEXT)
                continue
            try:
                data = json.loads(text)
            except ValueError as exc:
                yield Record(line, None, None, f"malformed JSON: {exc}")
                continue
            if isinstance(data, dict):
                yield Record(line, data)
            else:
                yield Record(line, None, None, "expected a JSON object")


@contextmanager
def open_source(path: str | Path, progress: Progress | None = None) -> Iterator[Source]:
    """Open ``path`` for streaming; an unreadable file raises ``UnreadableFile``."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 (closed by the with below)
    except OSError as exc:
        raise UnreadableFile(f"cannot read {path}: {exc.strerror or exc}", field="file") from None
    with handle:
        yield Source(handle, progress)

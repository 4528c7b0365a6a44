"""``import_stock``: set stock levels from a file of physical counts.

Rows are validated here (a bad one is rejected with its line) and written
``batch_size`` at a time through ``commerce.stock.set_levels``, one transaction
per batch; the rows a batch names as refused (an unknown SKU or location) are
rejected and the rest of the batch is written again.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omnicore.errors import InvalidInput
from omnicore.importing._base import (
    ImportReport,
    RejectedRow,
    _finish,
    _indexed,
    _integer,
    _records,
    _Reject,
    _rejection,
    detect_format,
)
from omnicore.importing._progress import Progress, open_source
from omnicore.stock import LevelInput

if TYPE_CHECKING:
    from omnicore.commerce import Commerce

__all__ = ["STOCK_COLUMNS", "import_stock"]

STOCK_COLUMNS = ("sku", "location", "on_hand", "safety_stock")


def _level(data: Mapping[str, Any]) -> LevelInput:
    """Validate one row (the attrs validators of ``LevelInput`` name the bad field)."""
    for key in data:
        if key not in STOCK_COLUMNS:
            raise _Reject(key, "is not a known field")
    sku, location = data.get("sku"), data.get("location")
    if sku is None or location is None:
        raise _Reject("sku" if sku is None else "location", "is required")
    safety = data.get("safety_stock")
    return LevelInput(sku, location, _integer(data.get("on_hand"), "on_hand"),
                      None if safety is None else _integer(safety, "safety_stock"))


async def import_stock(
    commerce: Commerce, path: str | Path, *, format: str | None = None,
    batch_size: int = 2000, progress: Progress | None = None, source: str = "import",
) -> ImportReport:
    """Set stock levels from a file of counts (``sku,location,on_hand[,safety_stock]``).

    Each row is a physical count: ``on_hand`` becomes the given number and the
    difference is written to the ledger as a ``count`` movement of ``source``.

    :param progress: called with the number of bytes read since its last call.
    :raises UnreadableFile: the file cannot be read or its header is wrong.
    """
    started = time.perf_counter()
    report = ImportReport()
    kind = detect_format(path, format)
    batch: list[tuple[int, LevelInput]] = []
    with open_source(path, progress) as src:
        for line, data in _records(src, kind, report, STOCK_COLUMNS, STOCK_COLUMNS[:3]):
            try:
                batch.append((line, _level(data)))
            except (InvalidInput, _Reject) as exc:
                report.rejected.append(RejectedRow(line, exc.field, exc.message))
            if len(batch) >= batch_size:
                await _write_levels(commerce, batch, report.rejected, source)
                batch = []
                src.report_progress()
        await _write_levels(commerce, batch, report.rejected, source)
        src.report_progress()
    return _finish(report, started)


async def _write_levels(
    commerce: Commerce, batch: list[tuple[int, LevelInput]], rejected: list[RejectedRow],
    source: str,
) -> None:
    while batch:
        try:
            await commerce.stock.set_levels([level for _, level in batch], source=source)
            return
        except InvalidInput as exc:
            bad = _indexed(exc.problems, len(batch))
            if not bad:
                raise
            for index, problems in sorted(bad.items()):
                rejected.append(_rejection(batch[index][0], problems))
            batch = [item for index, item in enumerate(batch) if index not in bad]

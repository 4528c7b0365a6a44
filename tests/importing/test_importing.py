"""Streaming imports (omnicore.importing) on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from omnicore.errors import InvalidInput, NotFound
from omnicore.importing import RejectedRow, UnreadableFile, import_catalog, import_stock
from omnicore.store.tables import prices, products, stock_movements, variants
from omnicore.testing import seed_minimal


async def _count(commerce: Any, table: Any) -> int:
    async with commerce.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


def _write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _rejects(report: Any) -> list[tuple[int, str | None]]:
    return [(row.line, row.field) for row in report.rejected]


# -- stock ---------------------------------------------------------------------------------

STOCK_CSV = (
    "sku,location,on_hand,safety_stock",  # 1
    "TEE-M,wh,25,2",                      # 2  good: 10 → 25
    "TEE-L,wh",                           # 3  on_hand missing
    "TEE-L,paris-1,lots",                 # 4  not an integer
    "TEE-L,paris-1,-3",                   # 5  negative
    "GHOST,wh,4",                         # 6  unknown SKU (refused by set_levels)
    "TEE-L,mars,4",                       # 7  unknown location (refused by set_levels)
    "",                                   # 8  blank: skipped
    "TEE-L,paris-1,6",                    # 9  good
    "TEE-M,paris-1,1,0,extra",            # 10 too many columns
)


@pytest.mark.parametrize("batch_size", [2000, 2])
async def test_stock_csv_imports_good_rows_and_reports_each_bad_one(
    commerce: Any, tmp_path: Path, batch_size: int
) -> None:
    await seed_minimal(commerce)  # TEE-M: 10 at wh (one receipt)
    movements_before = await _count(commerce, stock_movements)

    report = await import_stock(commerce, _write(tmp_path / "counts.csv", *STOCK_CSV),
                                batch_size=batch_size)

    assert (report.read, report.accepted) == (8, 2)
    assert _rejects(report) == [
        (3, "on_hand"), (4, "on_hand"), (5, "on_hand"), (6, "sku"), (7, "location"), (10, None)]
    by_line = {row.line: row.message for row in report.rejected}
    assert "'lots' is not an integer" in by_line[4]
    assert "negative" in by_line[5]
    assert "GHOST" in by_line[6] and "mars" in by_line[7]
    assert "5 columns" in by_line[10]

    tee_m = await commerce.stock.level("TEE-M", "wh")
    assert (tee_m.on_hand, tee_m.safety_stock) == (25, 2)
    assert (await commerce.stock.level("TEE-L", "paris-1")).on_hand == 6
    assert (await commerce.stock.level("TEE-L", "wh")).on_hand == 0
    ledger = await commerce.stock.ledger("TEE-M", "wh")
    assert [(m.delta, m.kind.value, m.source) for m in ledger][-1] == (15, "count", "import")
    # exactly two count movements were written, nothing for the rejected rows
    assert await _count(commerce, stock_movements) == movements_before + 2
    assert await commerce.stock.ledger("TEE-L", "wh") == []
    assert await commerce.stock.ledger("TEE-M", "paris-1") == []


async def test_stock_jsonl_lines(commerce: Any, tmp_path: Path) -> None:
    await seed_minimal(commerce, on_hand=0)
    path = _write(
        tmp_path / "counts.ndjson",
        json.dumps({"sku": "TEE-M", "location": "wh", "on_hand": 7}),              # 1 good
        json.dumps({"sku": "TEE-L", "location": "wh", "on_hand": 1.5}),            # 2
        "{not json",                                                              # 3
        "[1, 2]",                                                                 # 4
        json.dumps({"sku": "TEE-L", "location": "wh", "on_hand": 3, "colour": 1}),  # 5
        "",                                                                       # 6 blank
        json.dumps({"sku": "TEE-L", "location": "wh", "on_hand": 3,
                    "safety_stock": 1}),                                          # 7 good
        json.dumps({"sku": "TEE-L", "location": "wh"}),                           # 8
    )
    report = await import_stock(commerce, path)
    assert (report.read, report.accepted) == (7, 2)
    assert _rejects(report) == [(2, "on_hand"), (3, None), (4, None), (5, "colour"),
                                (8, "on_hand")]
    assert "malformed JSON" in report.rejected[1].message
    assert (await commerce.stock.level("TEE-M", "wh")).on_hand == 7
    level = await commerce.stock.level("TEE-L", "wh")
    assert (level.on_hand, level.safety_stock) == (3, 1)


async def test_unreadable_files_write_nothing(commerce: Any, tmp_path: Path) -> None:
    await seed_minimal(commerce)
    before = await _count(commerce, stock_movements)
    with pytest.raises(UnreadableFile, match="cannot read"):
        await import_stock(commerce, tmp_path / "missing.csv")
    with pytest.raises(UnreadableFile, match="header"):
        await import_stock(commerce, _write(tmp_path / "typo.csv", "sku,location,onhand",
                                            "TEE-M,wh,3"))
    with pytest.raises(UnreadableFile, match="empty"):
        await import_stock(commerce, _write(tmp_path / "empty.csv", ""))
    with pytest.raises(InvalidInput, match="format"):
        await import_stock(commerce, _write(tmp_path / "counts.txt", "sku,location,on_hand"))
    assert await _count(commerce, stock_movements) == before


async def test_progress_receives_every_byte_and_bad_text_is_a_rejected_row(
    commerce: Any, tmp_path: Path
) -> None:
    await seed_minimal(commerce)
    path = tmp_path / "counts.csv"
    path.write_bytes(b"\xef\xbb\xbfsku,location,on_hand\r\nTEE-M,wh,4\r\nTEE-\xff,wh,1\r\n"
                     b"TEE-L,wh,2\r\n")
    seen: list[int] = []
    report = await import_stock(commerce, path, batch_size=1, progress=seen.append)
    assert sum(seen) == path.stat().st_size and len(seen) > 1
    assert report.rejected == [RejectedRow(3, None, "is not valid UTF-8 text")]
    assert report.accepted == 2


# -- catalog -------------------------------------------------------------------------------

CATALOG_CSV = (
    "handle,title,sku,variant_title,barcode,price,currency,description,family",  # 1
    "linen-shirt,Linen shirt,LIN-S,S,4006381333931,39.90,EUR,Pure linen,apparel",  # 2 good
    "linen-shirt,,LIN-M,M,,39.90,EUR,,",                                  # 3 good (same product)
    "linen-shirt,,LIN-L,L,4006381333932,39.90,EUR,,",                     # 4 bad check digit
    "linen-shirt,,LIN-XL,XL,,abc,EUR,,",                                  # 5 price not a number
    "wool-scarf,Wool scarf,SCARF-1,,,29.90,EUX,,",                        # 6 bad currency
    "wool-scarf,,SCARF-2,,,29.90,EUR,,",                                  # 7 good
    "wool-scarf,,LIN-S,,,,,,",                                            # 8 SKU of linen-shirt
    "no-title,,NT-1,,,,,,",                                               # 9 product without title
    "no-title,,NT-2,,,,,,",                                               # 10 idem
    "old-tee,Old tee,TEE-M,,,,,,",                                        # 11 TEE-M: classic-tee's
    ",Orphan,ORPH-1,,,,,,",                                               # 12 no handle
    "Bad Handle,Bad,BAD-1,,,,,,",                                         # 13 invalid handle
    "bath-towel,Bath towel,TOWEL-S,,9780201379624,,,,",                   # 14 good
    "bath-towel,,TOWEL-L,,9780201379624,,,,",                             # 15 barcode twice
    "bath-mat,Bath mat,MAT-1,,4006381333931,,,,",                         # 16 barcode of LIN-S
)


@pytest.mark.parametrize("batch_size", [2000, 1])
async def test_catalog_csv_groups_variants_and_rejects_bad_rows(
    commerce: Any, tmp_path: Path, batch_size: int
) -> None:
    await seed_minimal(commerce)
    report = await import_catalog(commerce, _write(tmp_path / "catalog.csv", *CATALOG_CSV),
                                  batch_size=batch_size)
    assert report.read == 15
    assert _rejects(report) == [
        (4, "barcode"), (5, "price"), (6, "currency"), (8, "sku"), (9, "title"), (10, "title"),
        (11, "sku"), (12, "handle"), (13, "handle"), (15, "barcode"), (16, "barcode")]
    assert report.accepted == 4
    assert "LIN-S" in report.rejected[3].message

    shirt = await commerce.catalog.product(handle="linen-shirt")
    assert [v.sku for v in shirt.variants] == ["LIN-S", "LIN-M"]
    assert (shirt.title, shirt.description, shirt.family) == (
        "Linen shirt", "Pure linen", "apparel")
    assert shirt.variants[0].barcode == "4006381333931"
    scarf = await commerce.catalog.product(handle="wool-scarf")
    assert [v.sku for v in scarf.variants] == ["SCARF-2"]
    found = await commerce.catalog.prices_for(["LIN-S", "LIN-M", "SCARF-2"], currency="EUR")
    assert {sku: str(p.amount.amount) for sku, p in found.items()} == {
        "LIN-S": "39.90", "LIN-M": "39.90", "SCARF-2": "29.90"}
    # nothing of the rejected rows exists
    classic = await commerce.catalog.product(sku="TEE-M")
    assert classic.handle == "classic-tee"
    towel = await commerce.catalog.product(handle="bath-towel")
    assert [(v.sku, v.barcode) for v in towel.variants] == [("TOWEL-S", "9780201379624")]
    for handle in ("no-title", "old-tee", "bad-handle", "bath-mat"):
        with pytest.raises(NotFound):
            await commerce.catalog.product(handle=handle)
    assert await _count(commerce, products) == 4
    assert await _count(commerce, variants) == 6
    assert await _count(commerce, prices) == 5


async def test_catalog_jsonl_with_channel_prices(commerce: Any, tmp_path: Path) -> None:
    await seed_minimal(commerce)

    def product(handle: str, *skus: str, **extra: Any) -> str:
        return json.dumps({"handle": handle, "title": handle.title(),
                           "variants": [{"sku": sku} for sku in skus], **extra})

    def price(sku: str, amount: str, channel: str | None = None, currency: str = "EUR") -> Any:
        return {"sku": sku, "amount": {"amount": amount, "currency": currency},
                **({"channel": channel} if channel else {})}

    path = _write(
        tmp_path / "catalog.jsonl",
        product("mug", "MUG-1", "MUG-2", prices=[price("MUG-1", "9.90"),
                                                 price("MUG-1", "8.90", "web")]),   # 1 good
        product("bowl", "BOWL-1", prices=[price("BOWL-1", "5", "amazon")]),          # 2
        product("plate", "PLATE-1", prices=[price("PLATE-1", "5", "web", "USD")]),   # 3
        product("cup", "CUP-1", prices=[price("MUG-2", "5")]),                       # 4
        json.dumps({"handle": "untitled", "variants": [{"sku": "U-1"}]}),            # 5
        product("tee-copy", "NEW-1", "TEE-L"),                                       # 6
        product("spoon", "SPOON-1"),                                                 # 7 good
        json.dumps({"handle": "twins", "title": "Twins", "variants": [
            {"sku": "TW-1", "barcode": "4006381333931"},
            {"sku": "TW-2", "barcode": "4006381333931"}]}),                         # 8
    )
    report = await import_catalog(commerce, path)
    assert (report.read, report.accepted) == (8, 2)
    assert _rejects(report) == [(2, "prices[0].channel"), (3, "prices[0].amount"),
                                (4, "prices[0].sku"), (5, "title"), (6, "variants[1].sku"),
                                (8, "variants[1].barcode")]
    mug = await commerce.catalog.product(handle="mug")
    assert [v.sku for v in mug.variants] == ["MUG-1", "MUG-2"]
    web = await commerce.catalog.prices_for(["MUG-1"], currency="EUR", channel="web")
    default = await commerce.catalog.prices_for(["MUG-1"], currency="EUR")
    assert (str(web["MUG-1"].amount.amount), str(default["MUG-1"].amount.amount)) == (
        "8.90", "9.90")
    assert (await commerce.catalog.product(handle="spoon")).variants[0].sku == "SPOON-1"
    for handle in ("bowl", "plate", "cup", "untitled", "tee-copy", "twins"):
        with pytest.raises(NotFound):
            await commerce.catalog.product(handle=handle)
    assert (await commerce.catalog.product(sku="TEE-L")).handle == "classic-tee"


async def test_catalog_reimport_updates_in_place(commerce: Any, tmp_path: Path) -> None:
    path = _write(tmp_path / "catalog.csv", CATALOG_CSV[0],
                  "candle,Candle,CANDLE-1,,,12.00,EUR,,home")
    first = await import_catalog(commerce, path)
    second = await import_catalog(commerce, _write(
        tmp_path / "again.csv", CATALOG_CSV[0], "candle,Scented candle,CANDLE-1,,,14.00,EUR,,home",
        "candle,,CANDLE-2,,,14.00,EUR,,"))
    assert (first.accepted, second.accepted, second.rejected) == (1, 2, [])
    candle = await commerce.catalog.product(handle="candle")
    assert candle.title == "Scented candle"
    assert [v.sku for v in candle.variants] == ["CANDLE-1", "CANDLE-2"]
    found = await commerce.catalog.prices_for(["CANDLE-1"], currency="EUR")
    assert str(found["CANDLE-1"].amount.amount) == "14.00"
    assert await _count(commerce, products) == 1

"""Bulk loads: ``set_levels`` takes a whole retailer's stock in one call (SQLite)."""

from __future__ import annotations

from helpers.stock_world import build_world, location, snapshot

from omnicore import Commerce
from omnicore.stock import LevelInput
from omnicore.testing import FakeClock


async def test_set_levels_takes_100_000_levels_in_one_call(
    sqlite_url: str, clock: FakeClock
) -> None:
    async with Commerce.open(sqlite_url, clock=clock, dispatch=False, load_entry_points=False,
                             auto_migrate=True) as commerce:
        await build_world(commerce)
        codes = [f"s{i:02d}" for i in range(10)]
        for code in codes:
            await commerce.locations.save(location(code, "store", 48.8, 2.3))
        skus = [f"SKU-{i:05d}" for i in range(10_000)]
        for batch in range(0, 10_000, 2_500):
            await commerce.catalog.save_products([
                {"handle": f"p-{p}", "title": f"P {p}",
                 "variants": [{"sku": s} for s in skus[p * 250:(p + 1) * 250]]}
                for p in range(batch // 250, (batch + 2_500) // 250)
            ])
        levels = [LevelInput(s, c, (i + j) % 9) for i, s in enumerate(skus)
                  for j, c in enumerate(codes)]
        assert len(levels) == 100_000
        result = await commerce.stock.set_levels(levels, source="initial-load")
        assert result.levels == 100_000
        assert result.movements == sum(1 for lv in levels if lv.on_hand)
        assert (await commerce.stock.level("SKU-09999", "s09")).on_hand == (9999 + 9) % 9
        assert (await commerce.stock.level("SKU-00001", "s03")).on_hand == 4
        snap = await snapshot(commerce)
        assert len(snap["levels"]) == 100_000
        assert snap["movements"] == result.movements

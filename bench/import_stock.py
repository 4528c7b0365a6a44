"""``omnicore import stock FILE``: wall time and peak memory of a 100,000-row CSV.

Untimed set-up: a SQLite file with a catalog of ``--import-skus`` SKUs (products of 5
variants) and ``--import-locations`` locations (a warehouse and stores), created
through the public APIs, then a CSV ``sku,location,on_hand,safety_stock`` with
one row per (SKU, location) — 10,000 x 10 = 100,000 rows by default.

Timed: the command a retailer runs, as a subprocess::

    omnicore --database-url sqlite:///<tmp>/bench.db import stock stock.csv

wall time from spawn to exit (interpreter start-up, imports and schema check
included), and the child's peak resident set size (``ru_maxrss`` from
``os.wait4`` on that very child). The same file is then imported a second time:
every level already matches, so that run measures reading and comparing alone (and
must write no movement). After each run the bench checks the levels, Σ on_hand, and
that Σ movement deltas equals Σ on_hand (the ledger).

Before the CLI exists the bench falls back to ``omnicore.importing.import_stock``
in a subprocess, and says so; without either it reports the figure as pending.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.proc import measure
from bench.report import Report, Table, verdict

NAME = "import_stock"
TARGET_S = 15.0
TARGET_MB = 200.0
VARIANTS_PER_PRODUCT = 5
SIZES = ["XS", "S", "M", "L", "XL"]
TIMEOUT_S = 600
# Installed entry-point plugins (the dev venv has the test plugin) would each add
# outbox deliveries; load none so the dev venv and `nox -s bench` measure the same.
CONFIG_TOML = "[plugins]\nallow = []\n"

API_SCRIPT = """
import asyncio, sys
from omnicore import Commerce
from omnicore.importing import import_stock

async def main():
    async with Commerce.open(sys.argv[1]) as commerce:
        print(await import_stock(commerce, sys.argv[2]))

asyncio.run(main())
"""


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--import-skus", dest="import_skus", type=int, default=10_000,
                       help="catalog SKUs (10000)")
    group.add_argument("--import-locations", dest="import_locations", type=int, default=10,
                       help="locations: rows = SKUs x locations (10)")


# -- set-up (untimed) ------------------------------------------------------------------------


def _address(n: int) -> dict[str, str]:
    return {"line1": f"{n} rue de Rivoli", "city": "Paris", "postal_code": "75001",
            "country": "FR"}


async def _seed(url: str, skus: int, locations: int) -> tuple[list[str], list[str]]:
    from omnicore import Commerce

    codes = ["wh"] + [f"store-{i:02d}" for i in range(1, locations)]
    products = (skus + VARIANTS_PER_PRODUCT - 1) // VARIANTS_PER_PRODUCT
    all_skus: list[str] = []
    async with Commerce.open(url, load_entry_points=False, dispatch=False,
                             auto_migrate=True) as commerce:
        for i, code in enumerate(codes):
            await commerce.locations.save({
                "code": code, "name": code, "kind": "warehouse" if i == 0 else "store",
                "address": _address(i + 1), "geo": {"lat": 48.80 + i / 100, "lng": 2.30},
                "timezone": "Europe/Paris",
                "capabilities": ["ship"] if i == 0 else ["pickup", "ship_from_store"],
            })
        batch: list[dict[str, Any]] = []
        for p in range(products):
            variants = []
            for size in SIZES:
                if len(all_skus) == skus:
                    break
                sku = f"SKU-{p:05d}-{size}"
                all_skus.append(sku)
                variants.append({"sku": sku, "title": size})
            batch.append({"handle": f"product-{p:05d}", "title": f"Product {p}",
                          "variants": variants})
            if len(batch) == 250 or p == products - 1:
                await commerce.catalog.save_products(batch)
                batch = []
    return all_skus, codes


def _write_csv(path: Path, skus: list[str], codes: list[str]) -> tuple[int, int]:
    """One row per (sku, location); returns (rows, Σ on_hand)."""
    rng = random.Random(20260302)
    rows = total = 0
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sku", "location", "on_hand", "safety_stock"])
        for sku in skus:
            for code in codes:
                on_hand = rng.randint(0, 200)
                writer.writerow([sku, code, on_hand, rng.choice([0, 0, 0, 1, 2, 5])])
                rows += 1
                total += on_hand
    return rows, total


async def _levels(url: str) -> tuple[int, int, int, int]:
    """(levels, Σ on_hand, movements, Σ movement deltas) in the database."""
    from sqlalchemy import func, select

    from omnicore import Commerce
    from omnicore.store.tables import stock_levels, stock_movements

    async with (Commerce.open(url, load_entry_points=False, dispatch=False) as commerce,
                commerce.db.read() as conn):
        levels = (await conn.execute(select(func.count(), func.coalesce(
            func.sum(stock_levels.c.on_hand), 0)))).one()
        moves = (await conn.execute(select(func.count(), func.coalesce(
            func.sum(stock_movements.c.delta), 0)))).one()
    return int(levels[0]), int(levels[1]), int(moves[0]), int(moves[1])


# -- the timed subprocess --------------------------------------------------------------------


def _omnicore_command() -> list[str]:
    script = Path(sys.executable).with_name("omnicore")
    if script.exists():
        return [str(script)]
    found = shutil.which("omnicore")
    return [found] if found else [sys.executable, "-c", "from omnicore.cli import main; main()"]


def _quiet(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def _how(env: dict[str, str]) -> tuple[str, list[str] | None]:
    """Which entry point exists: ("cli", argv prefix builder), ("api", …) or ("pending", None)."""
    base = _omnicore_command()
    if _quiet([*base, "import", "stock", "--help"], env).returncode == 0:
        return "cli", base
    probe = _quiet([sys.executable, "-c", "from omnicore.importing import import_stock"], env)
    if probe.returncode == 0:
        return "api", [sys.executable, "-c", API_SCRIPT]
    return "pending", None


def _argv(how: str, prefix: list[str], url: str, csv_path: Path, env: dict[str, str]) -> list[str]:
    if how == "api":
        return [*prefix, url, str(csv_path)]
    # --database-url is a global option: before the sub-command when the group takes it
    if "--database-url" in _quiet([*prefix, "--help"], env).stdout:
        return [*prefix, "--database-url", url, "import", "stock", str(csv_path)]
    return [*prefix, "import", "stock", str(csv_path), "--database-url", url]


# -- the benchmark ---------------------------------------------------------------------------


def run(options: argparse.Namespace) -> Report:
    report = Report(NAME, params={"skus": options.import_skus,
                                  "locations": options.import_locations})
    with tempfile.TemporaryDirectory(prefix="omnicore-bench-") as folder:
        work = Path(folder)
        (work / "omnicore.toml").write_text(CONFIG_TOML)
        env = {**os.environ, "OMNICORE_CONFIG": str(work / "omnicore.toml")}
        env.pop("OMNICORE_DATABASE_URL", None)
        db_path = work / "bench.db"
        seeded_at = time.perf_counter()
        skus, codes = asyncio.run(
            _seed(f"sqlite+aiosqlite:///{db_path}", options.import_skus, options.import_locations))
        csv_path = work / "stock.csv"
        rows, total = _write_csv(csv_path, skus, codes)
        report.params.update(rows=rows, csv_mb=round(csv_path.stat().st_size / 2**20, 2),
                             setup_s=round(time.perf_counter() - seeded_at, 1))

        how, prefix = _how(env)
        report.params["entry_point"] = how
        table = Table(
            f"Import of a {rows:,}-row stock CSV ({len(skus):,} SKUs x {len(codes)} locations) "
            "into a SQLite file",
            ["run", "via", "wall s", "CPU s", "rows/s", "peak RSS MB", "levels after",
             "Σ on_hand ok", "movements after", "ledger ok", "targets (< 15 s, < 200 MB)"],
        )
        if prefix is None:
            table.add("first import", "pending", "—", "—", "—", "—", "—", "—", "—", "—",
                      "pending")
            report.tables.append(table)
            report.notes.append("neither `omnicore import stock` nor "
                                "`omnicore.importing.import_stock` exists yet: figure pending.")
            return report
        url = f"sqlite:///{db_path}"
        argv = _argv(how, prefix, url, csv_path, env)
        report.params["command"] = " ".join(argv if how == "cli" else [*argv[:2], "…"])
        via = "`omnicore import stock`" if how == "cli" else "`import_stock()` API"
        for label in ("first import", "same file again"):
            timed = measure(argv, env=env, cwd=work, timeout=TIMEOUT_S)
            if timed.returncode != 0:
                table.add(label, via, timed.wall, timed.cpu, "—", timed.peak_rss_mb, "—", "—",
                          "—", "—", f"exit {timed.returncode}")
                report.notes.append(f"{label} failed:\n\n```\n{timed.output[-2000:]}\n```")
                break
            levels, on_hand, moves, moved = asyncio.run(
                _levels(f"sqlite+aiosqlite:///{db_path}"))
            ok = timed.wall < TARGET_S and timed.peak_rss_mb < TARGET_MB
            table.add(label, via, timed.wall, timed.cpu, rows / timed.wall, timed.peak_rss_mb,
                      levels, "yes" if on_hand == total else f"no ({on_hand} ≠ {total})",
                      moves, "yes" if moved == on_hand else f"no (Σ deltas {moved} ≠ {on_hand})",
                      verdict(ok))
            last_line = (timed.output.strip().splitlines() or [""])[-1][-300:]
            report.notes.append(f"{label} said: `{last_line}`")
        report.tables.append(table)
    report.notes.append("wall time includes interpreter start-up, imports and the schema "
                        "check; CPU s (user + system, SQLite's thread included) and peak RSS "
                        "are the subprocess's own, from os.wait4. The catalog starts with no "
                        "stock, so after each run Σ movement deltas must equal Σ on_hand "
                        "(ledger ok), and the second run must add no movement.")
    return report

"""``omnicore amazon sync`` and ``omnicore amazon status``, through the real command line.

The plugin is found through its entry point (the distribution is installed), as in
production; ``[plugins] allow`` keeps other installed plugins out.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from amazon_fake import FakeAmazon, order_2026
from amazon_world import SOCKS, build_world
from click.testing import CliRunner
from conftest import SETTINGS
from omnicore_amazon import AmazonPlugin

from omnicore import Commerce
from omnicore.cli.main import main


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f'"{k}" = {_toml_value(v)}' for k, v in value.items()) + "}"
    return json.dumps(value)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    lines = ["[plugins]", 'allow = ["amazon"]', "", "[plugins.amazon]"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in SETTINGS.items()]
    path = tmp_path / "omnicore.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def world(db_url: str, amazon: FakeAmazon) -> str:
    async def build() -> None:
        async with Commerce.open(db_url, dispatch=False, load_entry_points=False,
                                 plugins=[AmazonPlugin()],
                                 config={"plugins": {"amazon": SETTINGS}}) as commerce:
            await build_world(commerce)
            await commerce.stock.set_levels(
                [{"sku": sku, "location": "wh", "on_hand": 8} for sku in SOCKS]
                + [{"sku": "TEE-M", "location": "wh", "on_hand": 10}])
            await commerce.outbox.drain()

    asyncio.run(build())
    amazon.calls.clear()
    return db_url


def omnicore(db_url: str, config: Path, *args: str) -> Any:
    result = CliRunner().invoke(main, ["--database-url", db_url, "--config", str(config),
                                       *args], catch_exceptions=False)
    return result


def test_sync_pushes_stock_imports_orders_and_status_tells(
        world: str, config: Path, amazon: FakeAmazon) -> None:
    amazon.feed_errors["SOCK-12"] = {"code": "8541", "severity": "ERROR",
                                     "message": "The SKU does not match the ASIN."}
    amazon.order_pages = [{"orders": [order_2026("402-8812345-1234567")]}]

    stock = omnicore(world, config, "amazon", "sync", "--stock")

    assert stock.exit_code == 0, stock.output
    assert "stock: 13 pending" in stock.output
    assert "messages 13" in stock.output
    assert "feeds: accepted 12, rejected 1" in stock.output
    assert len(amazon.calls["createFeed"]) == 1

    orders = omnicore(world, config, "amazon", "sync", "--orders")

    assert orders.exit_code == 0, orders.output
    assert "402-8812345-1234567  UNSHIPPED         imported" in orders.output
    assert "orders: seen 1, imported 1" in orders.output

    status = omnicore(world, config, "amazon", "status")

    assert status.exit_code == 0, status.output
    text = status.output
    assert "Amazon seller A2EXAMPLESELLER, region eu, marketplaces A13V1IB3VIYZZH" in text
    assert "stock    " in text and "messages 13" in text
    assert "feeds     " in text and "accepted 12, rejected 1" in text
    assert "orders    " in text and "imported 1" in text
    assert "listings: 14 listed, 1 with issues" in text
    assert "SOCK-12" in text and "8541 The SKU does not match the ASIN." in text
    assert "outbox: " in text

    as_json = json.loads(omnicore(world, config, "amazon", "status", "--json").output)
    assert as_json["listings"]["problems"][0]["sku"] == "SOCK-12"
    assert as_json["last_runs"]["orders"]["summary"]["imported"] == 1
    # the import allocated two units; its stock.changed waits in the outbox for a worker
    assert as_json["outbox"]["pending"] >= 1


def test_sync_listings_counts_and_records(world: str, config: Path,
                                          amazon: FakeAmazon) -> None:
    result = omnicore(world, config, "amazon", "sync", "--listings")

    assert result.exit_code == 0, result.output
    assert "listings: unchanged 14, skipped 1" in result.output
    assert "putListingsItem" not in amazon.calls and "patchListingsItem" not in amazon.calls


def test_a_failing_sync_exits_non_zero_without_leaking_secrets(
        world: str, config: Path, amazon: FakeAmazon) -> None:
    import httpx

    amazon.script("token", httpx.Response(401, json={
        "error_description": "Client authentication failed", "error": "invalid_client"}))
    amazon.order_pages = [{"orders": [order_2026("402-8812345-1234567")]}]

    result = omnicore(world, config, "amazon", "sync", "--orders")

    assert result.exit_code == 1
    assert "invalid_client" in result.output
    assert "plugins.amazon.client_secret" in result.output
    assert SETTINGS["client_secret"] not in result.output
    status = omnicore(world, config, "amazon", "status")
    assert "orders    " in status.output and "FAILED" in status.output

"""Every script in examples/ runs as a user would run it, and prints what it promises."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from omnicore import Money

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))

#: The lines each example must print. A new example adds its entry here.
EXPECTED_OUTPUT: dict[str, list[str]] = {
    "embed.py": [
        "MUG-BLUE at lyon-1: on hand 24",
        "MUG-BLUE on channel web: available 23 (the channel's buffer keeps 1 back)",
        "MUG-BLUE on channel web: price 12.50 EUR",
    ],
    "mount_gateway.py": [
        "GET / -> my shop (the commerce API is under /commerce)",
        "GET /commerce/readyz -> ready",
        "POST /commerce/graphql -> MUG-BLUE: 14.90 EUR, available 24",
        "POST /commerce/admin/graphql without a staff key -> 401: "
        "missing Authorization: Bearer <staff key>",
    ],
}


def _clean_env() -> dict[str, str]:
    """The caller's environment without OMNICORE_* settings that would redirect the example."""
    return {k: v for k, v in os.environ.items() if not k.startswith("OMNICORE_")}


def _run(example: Path, database: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(example.relative_to(ROOT)), str(database)],
        cwd=ROOT, env=_clean_env(), capture_output=True, text=True, timeout=120,
    )


def test_examples_are_found() -> None:
    assert [p.name for p in EXAMPLES] == sorted(EXPECTED_OUTPUT)


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs_and_prints_its_figures(example: Path, tmp_path: Path) -> None:
    database = tmp_path / f"{example.stem}.db"
    result = _run(example, database)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for expected in EXPECTED_OUTPUT[example.name]:
        assert expected in lines, result.stdout
    assert database.is_file()

    # A second run on the same file replays the same operations: nothing changes.
    again = _run(example, database)
    assert again.returncode == 0, again.stderr
    assert again.stdout == result.stdout


async def test_embed_main_returns_what_it_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in [k for k in os.environ if k.startswith("OMNICORE_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no omnicore.toml of the checkout is read
    spec = importlib.util.spec_from_file_location("embed_example", ROOT / "examples" / "embed.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    figures = await module.main(str(tmp_path / "embed.db"))

    assert figures["on_hand"] == 24
    assert figures["available"] == 23
    assert figures["price"] == Money("12.50", "EUR")
    assert figures["sku"] == "MUG-BLUE"
    assert (figures["location"], figures["channel"]) == ("lyon-1", "web")

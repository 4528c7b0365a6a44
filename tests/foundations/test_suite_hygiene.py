"""The suite shares its PostgreSQL server politely: no database is left behind, and
pools fit in the connections the server has free."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import _pg_fetch

TESTS = Path(__file__).resolve().parents[1]


@pytest.mark.postgres
def test_a_failing_run_leaves_no_database_behind(postgres_admin: str) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
         str(TESTS / "helpers" / "leaky_case.py")],
        cwd=TESTS.parent, capture_output=True, text=True, timeout=300,
        env={**os.environ, "OMNICORE_TEST_POSTGRES_URL": postgres_admin},
    )
    assert run.returncode == 1, run.stdout + run.stderr  # the case failed, as it must
    found = re.search(r"RUN_ID=(\w+)", run.stdout)
    assert found, run.stdout
    left = asyncio.run(_pg_fetch(
        postgres_admin, "SELECT datname FROM pg_database "
                        f"WHERE datname LIKE '%\\_{found.group(1)}\\_%'"))
    assert left == []


@pytest.mark.postgres
def test_pools_fit_in_the_free_connections(
    postgres_free_connections: int, pool_size_for: Callable[[str, int, int], int]
) -> None:
    url = "postgresql://somewhere/db"
    for instances, wanted in [(1, 10), (4, 16), (8, 3), (40, 5)]:
        size = pool_size_for(url, instances, wanted)
        assert 1 <= size <= wanted
        if size > 1:  # a pool of one is the floor: those tests need a connection each
            assert instances * (2 * size + 1) <= postgres_free_connections
    assert pool_size_for("sqlite+aiosqlite:///x.db", 4, 16) == 16

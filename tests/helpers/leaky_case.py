"""A deliberately failing test run for ``tests/foundations/test_suite_hygiene.py``.

Run on its own (``pytest tests/helpers/leaky_case.py``), it creates PostgreSQL
databases the way the fixtures do and fails before any teardown could drop one
of them: the session's finaliser in ``tests/conftest.py`` must drop them all.
"""

from __future__ import annotations

import conftest


async def test_fails_after_creating_databases(postgres_url: str, postgres_admin: str) -> None:
    stray = conftest.database_name("t")
    await conftest._pg_execute(postgres_admin, f'CREATE DATABASE "{stray}"')
    print(f"RUN_ID={conftest.RUN_ID}")
    raise AssertionError("this run fails on purpose")

"""``omnicore.store.uow.retrying``: the one loop that runs a transaction again after a
PostgreSQL deadlock or serialization failure (real ones, provoked with a second
connection) or a domain's "a concurrent writer won" — and knows when to give up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from omnicore import Commerce
from omnicore.store.uow import RETRY_ATTEMPTS, Tx, is_retryable, retrying
from omnicore.testing import FakeClock


class DriverError(Exception):
    """What a driver raises: asyncpg names the SQLSTATE ``sqlstate``, psycopg ``pgcode``."""

    def __init__(self, *, sqlstate: str | None = None, pgcode: str | None = None) -> None:
        super().__init__(sqlstate or pgcode)
        if sqlstate is not None:
            self.sqlstate = sqlstate
        if pgcode is not None:
            self.pgcode = pgcode


def db_error(**state: str) -> DBAPIError:
    return DBAPIError("UPDATE stock_levels …", {}, DriverError(**state))


class Raced(Exception):
    """A domain's "a concurrent writer won: plan again" (stock's ``Contention``)."""


class TryAgain(Exception):
    """The caller's error once every attempt lost."""


class Script:
    """An attempt that raises the scripted exceptions, one per call, then returns."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "done"


@pytest.mark.parametrize("state", [{"sqlstate": "40P01"}, {"sqlstate": "40001"},
                                   {"pgcode": "40P01"}, {"pgcode": "40001"}])
async def test_a_deadlock_or_serialization_failure_runs_the_attempt_again(
    state: dict[str, str],
) -> None:
    assert is_retryable(db_error(**state))
    attempt = Script(db_error(**state), db_error(**state))
    assert await retrying(attempt) == "done"
    assert attempt.calls == 3


async def test_it_gives_up_after_the_last_attempt_with_the_database_error() -> None:
    errors = [db_error(sqlstate="40P01") for _ in range(RETRY_ATTEMPTS)]
    attempt = Script(*errors)
    with pytest.raises(DBAPIError) as raised:
        await retrying(attempt)
    assert raised.value is errors[-1]
    assert attempt.calls == RETRY_ATTEMPTS == 8

    attempt = Script(*(db_error(sqlstate="40001") for _ in range(3)))
    with pytest.raises(DBAPIError):
        await retrying(attempt, attempts=3)
    assert attempt.calls == 3


@pytest.mark.parametrize("error", [
    db_error(sqlstate="23505"),  # a unique violation is a bug or a race the caller handles
    db_error(),
    IntegrityError("INSERT …", {}, DriverError(sqlstate="23505")),
    ValueError("a bug"),
    Raced(),  # not in retry_on here
])
async def test_any_other_error_propagates_at_once(error: BaseException) -> None:
    attempt = Script(error)
    with pytest.raises(type(error)):
        await retrying(attempt)
    assert attempt.calls == 1
    assert not is_retryable(error)


async def test_a_domain_race_runs_again_then_becomes_the_callers_error() -> None:
    attempt = Script(Raced(), db_error(sqlstate="40P01"), Raced())
    assert await retrying(attempt, retry_on=(Raced,)) == "done"
    assert attempt.calls == 4

    attempt = Script(*(Raced() for _ in range(5)))
    with pytest.raises(TryAgain) as raised:
        await retrying(attempt, attempts=5, retry_on=(Raced,),
                       exhausted=lambda exc: TryAgain(type(exc).__name__))
    assert attempt.calls == 5 and str(raised.value) == "Raced"
    assert raised.value.__cause__ is None and raised.value.__suppress_context__

    attempt = Script(*(Raced() for _ in range(2)))
    with pytest.raises(Raced):  # without ``exhausted`` the last one propagates
        await retrying(attempt, attempts=2, retry_on=(Raced,))


async def test_attempts_must_be_at_least_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        await retrying(Script(), attempts=0)


# -- real failures on PostgreSQL -------------------------------------------------------------


@pytest.fixture
async def probe(postgres_url: str, clock: FakeClock) -> AsyncIterator[tuple[Commerce, Any]]:
    """A Commerce on a fresh database with a ``retry_probe`` table (rows 1 and 2 at 0),
    and a second client of the same database: another process."""
    shop = await Commerce.open(postgres_url, clock=clock, dispatch=False,
                               load_entry_points=False)
    other = await asyncpg.connect(postgres_url)
    try:
        await other.execute("CREATE TABLE retry_probe (id int PRIMARY KEY, n int NOT NULL);"
                            "INSERT INTO retry_probe VALUES (1, 0), (2, 0)")
        yield shop, other
    finally:
        await other.close()
        await shop.close()


async def waits(tx: Tx, pid: int) -> bool:
    """Whether the server process ``pid`` waits for a lock."""
    blocked = text("SELECT cardinality(pg_blocking_pids(:pid)) > 0")
    return bool((await tx.conn.execute(blocked, {"pid": pid})).scalar_one())


async def counts(other: Any) -> dict[int, int]:
    return {r["id"]: r["n"] for r in await other.fetch("SELECT id, n FROM retry_probe")}


@pytest.mark.postgres
async def test_a_real_serialization_failure_is_run_again(probe: tuple[Commerce, Any]) -> None:
    """REPEATABLE READ: the first attempt reads row 1, another client commits a change
    to it, the attempt's update fails with 40001; the second attempt sees that change."""
    shop, other = probe
    attempts = 0

    async def work(tx: Tx) -> int:
        nonlocal attempts
        attempts += 1
        await tx.conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        seen = int((await tx.conn.execute(text("SELECT n FROM retry_probe WHERE id = 1"))
                    ).scalar_one())
        if attempts == 1:
            await other.execute("UPDATE retry_probe SET n = n + 100 WHERE id = 1")
        await tx.conn.execute(text("UPDATE retry_probe SET n = :n WHERE id = 1"),
                              {"n": seen + 1})
        return seen

    assert await shop.uow.run(work) == 100
    assert attempts == 2
    assert await counts(other) == {1: 101, 2: 0}


@pytest.mark.postgres
async def test_a_real_deadlock_is_run_again(probe: tuple[Commerce, Any]) -> None:
    """The attempt locks row 1, the other client row 2 and then waits for row 1; the
    attempt's update of row 2 closes the cycle. The attempt is the one that checks for
    deadlocks first (deadlock_timeout 50 ms against 30 s), so it is the one rolled back
    (40P01); the other client then commits, and the second attempt goes through."""
    shop, other = probe
    attempts = 0
    others: list[asyncio.Task[None]] = []

    async def other_client() -> None:
        async with other.transaction():
            await other.execute("UPDATE retry_probe SET n = n + 10 WHERE id = 2")
            locked.set()
            await other.execute("UPDATE retry_probe SET n = n + 10 WHERE id = 1")

    locked = asyncio.Event()
    await other.execute("SET deadlock_timeout = '30s'")
    other_pid = other.get_server_pid()

    async def work(tx: Tx) -> None:
        nonlocal attempts
        attempts += 1
        await tx.conn.execute(text("SET LOCAL deadlock_timeout = '50ms'"))
        await tx.conn.execute(text("UPDATE retry_probe SET n = n + 1 WHERE id = 1"))
        if attempts == 1:
            others.append(asyncio.create_task(other_client()))
            await locked.wait()
            # until the other client waits for the lock on row 1, which this attempt holds:
            # only the server knows, so ask it (PostgreSQL checks for a deadlock once, when
            # deadlock_timeout ends; this attempt must start waiting last to be the one)
            while not await waits(tx, other_pid):  # noqa: ASYNC110 (no event to await)
                await asyncio.sleep(0.01)
        await tx.conn.execute(text("UPDATE retry_probe SET n = n + 1 WHERE id = 2"))

    await shop.uow.run(work)
    await asyncio.wait_for(others[0], timeout=30)
    assert attempts == 2
    assert await counts(other) == {1: 11, 2: 11}

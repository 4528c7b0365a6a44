"""The background jobs of ``Commerce``: each fails on its own, and says which it was.

The worker (``omnicore worker``, or the background task of a ``Commerce``) runs six
jobs every ``[outbox] sweep_interval_seconds``. Here the database itself refuses the
first one (a trigger refuses to delete stock holds, on SQLite and PostgreSQL): the
round logs ``expired-hold sweep failed`` with the database's error, and the jobs after
it still run — the last one deletes an ended sign-in window.
"""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from sqlalchemy import func, select, text

from omnicore import Commerce
from omnicore.errors import Forbidden
from omnicore.store.auth_tables import login_attempts
from omnicore.store.tables import stock_holds
from omnicore.testing import FakeClock, seed_minimal

REFUSAL = "the test refuses to delete holds"


async def count(commerce: Commerce, table: object) -> int:
    async with commerce.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


async def refuse_deleting_holds(commerce: Commerce, refuse: bool) -> None:
    async with commerce.db.transaction() as conn:
        if commerce.db.is_sqlite:
            if refuse:
                await conn.execute(text(
                    "CREATE TRIGGER refuse_hold_delete BEFORE DELETE ON stock_holds "
                    f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"))
            else:
                await conn.execute(text("DROP TRIGGER refuse_hold_delete"))
        elif refuse:
            await conn.execute(text(
                "CREATE FUNCTION refuse_hold_delete() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN RAISE EXCEPTION '{REFUSAL}'; END $$"))
            await conn.execute(text(
                "CREATE TRIGGER refuse_hold_delete BEFORE DELETE ON stock_holds "
                "FOR EACH ROW EXECUTE FUNCTION refuse_hold_delete()"))
        else:
            await conn.execute(text("DROP TRIGGER refuse_hold_delete ON stock_holds"))


def errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "omnicore" and r.levelno >= logging.ERROR]


async def test_each_job_has_a_name(commerce: Commerce) -> None:
    names = [name for name, _ in commerce.background_jobs()]
    assert names == ["expired-hold sweep", "abandoned-cart sweep", "checkout reconciliation",
                     "capture retry", "pickup expiry", "sign-in attempt sweep"]


async def test_a_failing_job_does_not_stop_the_others_and_the_log_names_it(
        commerce: Commerce, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    await seed_minimal(commerce)
    await commerce.stock.hold("TEE-M", 2, channel="web", ttl=dt.timedelta(minutes=5))
    with pytest.raises(Forbidden):
        await commerce.auth.login("nobody@example.com", "not-the-password")
    assert (await count(commerce, stock_holds), await count(commerce, login_attempts)) == (1, 1)
    clock.advance(hours=1)  # the hold has expired, the sign-in window has ended
    await refuse_deleting_holds(commerce, True)

    with caplog.at_level(logging.ERROR, logger="omnicore"):
        assert await commerce.run_background_jobs() == ["expired-hold sweep"]
    [record] = errors(caplog)
    assert record.getMessage() == "expired-hold sweep failed"
    assert record.exc_info is not None and REFUSAL in str(record.exc_info[1])
    assert await count(commerce, stock_holds) == 1  # refused
    assert await count(commerce, login_attempts) == 0  # the last job ran all the same

    await refuse_deleting_holds(commerce, False)
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="omnicore"):
        assert await commerce.run_background_jobs() == []  # the next round clears it
    assert errors(caplog) == []
    assert await count(commerce, stock_holds) == 0

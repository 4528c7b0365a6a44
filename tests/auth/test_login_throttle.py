"""Sign-ins counted per e-mail: past ``[gateway] login_max_attempts`` in the window,
``TooManyAttempts`` — before the password is checked, for known and unknown
e-mails alike, exactly under concurrency; on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from omnicore import Commerce
from omnicore.errors import Forbidden, InvalidInput, TooManyAttempts
from omnicore.gateway import create_app
from omnicore.gateway.app import CHANNEL_HEADER
from omnicore.store.auth_tables import login_attempts
from omnicore.testing import FakeClock, seed_minimal

PASSWORD = "correct horse battery"
LIMIT = 3
WINDOW = dt.timedelta(minutes=10)


@pytest.fixture
async def shop(db_url: str, clock: FakeClock) -> AsyncIterator[Commerce]:
    async with Commerce.open(
        db_url, clock=clock, dispatch=False, load_entry_points=False, auto_migrate=True,
        config={"gateway": {"login_max_attempts": LIMIT, "login_window_minutes": 10}},
    ) as commerce:
        ada = await commerce.customers.create(email="ada@example.com")
        await commerce.auth.set_password(ada.id, PASSWORD)
        yield commerce


async def outcome(commerce: Commerce, email: str, password: str) -> str:
    """``ok``, ``wrong`` (Forbidden) or ``throttled`` (TooManyAttempts)."""
    try:
        await commerce.auth.login(email, password)
    except TooManyAttempts:
        return "throttled"
    except Forbidden:
        return "wrong"
    return "ok"


async def test_past_the_limit_even_the_right_password_waits_for_the_window(
        shop: Commerce, clock: FakeClock) -> None:
    for _ in range(LIMIT):
        assert await outcome(shop, "ada@example.com", "not the password") == "wrong"
    clock.now += dt.timedelta(minutes=4)
    with pytest.raises(TooManyAttempts) as refused:
        await shop.auth.login("ada@example.com", PASSWORD)
    assert refused.value.code == "too_many_attempts" and refused.value.field == "email"
    assert refused.value.retry_after_seconds == 6 * 60 + 1
    assert isinstance(refused.value, Forbidden)
    clock.now += dt.timedelta(minutes=6)  # the window has ended
    token = await shop.auth.login("ada@example.com", PASSWORD)
    assert await shop.auth.authenticate_customer(token.token)


async def test_a_success_clears_the_count(shop: Commerce) -> None:
    for _ in range(LIMIT - 1):
        assert await outcome(shop, "ada@example.com", "nope nope nope") == "wrong"
    assert await outcome(shop, "ada@example.com", PASSWORD) == "ok"
    seen = [await outcome(shop, "ada@example.com", "nope nope nope") for _ in range(LIMIT + 1)]
    assert seen == ["wrong"] * LIMIT + ["throttled"]


async def test_unknown_e_mails_are_answered_alike(shop: Commerce) -> None:
    known = [await outcome(shop, "ada@example.com", "guess") for _ in range(LIMIT + 1)]
    unknown = [await outcome(shop, "bob@example.com", "guess") for _ in range(LIMIT + 1)]
    assert known == unknown == ["wrong"] * LIMIT + ["throttled"]
    messages = set()
    for email in ("ada@example.com", "bob@example.com"):
        with pytest.raises(TooManyAttempts) as refused:
            await shop.auth.login(email, "guess")
        messages.add(refused.value.message)
    assert len(messages) == 1  # nothing tells a customer's e-mail from another
    # and what is not an e-mail at all is counted too
    assert [await outcome(shop, "not-an-email", "x") for _ in range(LIMIT + 1)][-1] == \
        "throttled"


async def test_an_e_mail_is_counted_as_normalised(shop: Commerce) -> None:
    for spelling in ("Ada@Example.com", " ada@example.com", "ADA@EXAMPLE.COM"):
        assert await outcome(shop, spelling, "guess") == "wrong"
    assert await outcome(shop, "ada@example.com", PASSWORD) == "throttled"


async def test_concurrent_attempts_cannot_slip_past_the_limit(shop: Commerce) -> None:
    seen = await asyncio.gather(*(outcome(shop, "ada@example.com", f"guess {i}")
                                  for i in range(4 * LIMIT)))
    assert sorted(seen) == sorted(["wrong"] * LIMIT + ["throttled"] * (3 * LIMIT))


async def test_no_address_is_kept_and_ended_windows_are_swept(
        shop: Commerce, clock: FakeClock) -> None:
    await outcome(shop, "ada@example.com", "guess")
    await outcome(shop, "bob@example.com", "guess")
    async with shop.db.read() as conn:
        rows = (await conn.execute(select(login_attempts))).all()
    assert len(rows) == 2
    assert all(len(row.key_hash) == 64 and "example" not in str(tuple(row)) for row in rows)
    clock.now += WINDOW - dt.timedelta(seconds=1)
    assert await shop.auth.sweep_login_attempts() == 0
    clock.now += dt.timedelta(seconds=1)
    assert await shop.auth.sweep_login_attempts() == 2
    async with shop.db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(login_attempts))).scalar() \
            == 0


@pytest.mark.parametrize("key,value", [("login_max_attempts", 0),
                                       ("login_window_minutes", "15"),
                                       ("login_max_attempts", True)])
async def test_bad_settings_are_refused_naming_the_key(sqlite_url: str, key: str,
                                                       value: Any) -> None:
    with pytest.raises(InvalidInput) as refused:
        await Commerce.open(sqlite_url, dispatch=False, load_entry_points=False,
                            auto_migrate=True, config={"gateway": {key: value}})
    assert refused.value.field == f"gateway.{key}"


async def test_the_storefront_answers_a_user_error(shop: Commerce) -> None:
    seeded = await seed_minimal(shop)
    transport = httpx.ASGITransport(app=create_app(shop))
    query = ("mutation($e: String!, $p: String!) { customerAccessTokenCreate(email: $e, "
             "password: $p) { customerAccessToken { accessToken } userErrors { code field "
             "message } } }")
    async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
        client.headers[CHANNEL_HEADER] = seeded["channel"].public_token
        answers = []
        for password in ["guess"] * LIMIT + [PASSWORD]:
            response = await client.post("/graphql", json={
                "query": query, "variables": {"e": "ada@example.com", "p": password}})
            assert response.status_code == 200
            answers.append(response.json()["data"]["customerAccessTokenCreate"])
    assert [a["userErrors"][0]["code"] for a in answers] == ["forbidden"] * LIMIT + [
        "too_many_attempts"]
    assert answers[-1]["userErrors"][0]["field"] == "email"
    assert answers[-1]["customerAccessToken"] is None

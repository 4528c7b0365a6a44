"""Staff keys, customer passwords and customer tokens (``commerce.auth``)."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from omnicore import Commerce
from omnicore.auth import Permission
from omnicore.errors import Forbidden, InvalidInput, NotFound
from omnicore.store.auth_tables import customer_credentials, customer_tokens, staff_keys
from omnicore.testing import FakeClock


async def test_staff_keys_are_stored_hashed_and_carry_permissions(commerce: Commerce) -> None:
    issued = await commerce.auth.create_staff_key(
        "Rivoli associate", ["MANAGE_STOCK", "HANDOFF_CARTS"], locations=["paris-1"])
    assert issued.key.startswith("ock_") and len(issued.key) > 40
    async with commerce.db.read() as conn:
        row = (await conn.execute(select(staff_keys))).one()
    assert issued.key not in str(tuple(row))  # only its digest is kept
    staff = await commerce.auth.authenticate_staff(issued.key)
    assert staff.permissions == {Permission.MANAGE_STOCK, Permission.HANDOFF_CARTS}
    staff.require(Permission.MANAGE_STOCK, location="paris-1")
    with pytest.raises(Forbidden) as other_store:
        staff.require(Permission.MANAGE_STOCK, location="paris-2")
    assert other_store.value.field == "location"
    with pytest.raises(Forbidden) as missing:
        staff.require(Permission.MANAGE_ORDERS)
    assert missing.value.field == "permission"
    await commerce.auth.revoke_staff_key(issued.id)
    with pytest.raises(Forbidden):
        await commerce.auth.authenticate_staff(issued.key)
    with pytest.raises(NotFound):
        await commerce.auth.revoke_staff_key(issued.id)


async def test_bad_staff_key_input_names_the_field(commerce: Commerce) -> None:
    with pytest.raises(InvalidInput) as unknown:
        await commerce.auth.create_staff_key("x", ["MANAGE_STOCK", "ROOT"])
    assert unknown.value.field == "permissions[1]"
    with pytest.raises(InvalidInput) as empty:
        await commerce.auth.create_staff_key("x", [])
    assert empty.value.field == "permissions"
    with pytest.raises(InvalidInput) as name:
        await commerce.auth.create_staff_key(" ", ["MANAGE_STOCK"])
    assert name.value.field == "name"
    with pytest.raises(Forbidden):
        await commerce.auth.authenticate_staff("ock_forged")


async def test_customer_login_tokens_expire_and_can_be_revoked(
    commerce: Commerce, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ada = await commerce.customers.create(email="ada@example.com")
    await commerce.auth.set_password(ada.id, "correct horse battery")
    async with commerce.db.read() as conn:
        stored = (await conn.execute(select(customer_credentials.c.password_hash))).scalar()
    assert stored is not None and stored.startswith("$argon2id$")
    assert "correct horse battery" not in caplog.text
    token = await commerce.auth.login("ADA@example.com", "correct horse battery")
    assert await commerce.auth.authenticate_customer(token.token) == ada.id
    async with commerce.db.read() as conn:
        hashes = (await conn.execute(select(customer_tokens.c.token_hash))).scalars().all()
    assert token.token not in hashes
    with pytest.raises(Forbidden) as wrong:
        await commerce.auth.login("ada@example.com", "wrong password!")
    with pytest.raises(Forbidden) as unknown:
        await commerce.auth.login("nobody@example.com", "wrong password!")
    assert str(wrong.value) == str(unknown.value)  # no way to tell who has an account
    clock.advance(hours=24 * 30 + 1)
    with pytest.raises(Forbidden):
        await commerce.auth.authenticate_customer(token.token)
    fresh = await commerce.auth.login("ada@example.com", "correct horse battery")
    await commerce.auth.revoke_token(fresh.token)
    with pytest.raises(Forbidden):
        await commerce.auth.authenticate_customer(fresh.token)


async def test_a_new_password_signs_out_everywhere(commerce: Commerce) -> None:
    ada = await commerce.customers.create(email="ada@example.com")
    await commerce.auth.set_password(ada.id, "first password!")
    phone = await commerce.auth.login("ada@example.com", "first password!")
    await commerce.auth.set_password(ada.id, "second password!")
    with pytest.raises(Forbidden):
        await commerce.auth.authenticate_customer(phone.token)
    with pytest.raises(InvalidInput) as short:
        await commerce.auth.set_password(ada.id, "short")
    assert short.value.field == "password"


async def test_a_token_of_a_merged_customer_reaches_the_survivor(commerce: Commerce) -> None:
    web = await commerce.customers.create(email="ada@example.com")
    store = await commerce.customers.create(phone="+33612345678")
    token = await commerce.auth.issue_token(web.id)
    await commerce.customers.merge(store.id, web.id, actor="staff:ana")
    assert await commerce.auth.authenticate_customer(token.token) == store.id
    assert await commerce.auth.revoke_all(store.id) == 0  # the token row is the merged one's
    assert await commerce.auth.revoke_all(web.id) == 1
    with pytest.raises(Forbidden):
        await commerce.auth.authenticate_customer(token.token)

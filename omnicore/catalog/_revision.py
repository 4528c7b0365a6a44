"""The catalog's revision: a number that moves with every change of products or prices.

Every catalog write (``catalog.save_products``, ``catalog.set_prices``) bumps it
in its own transaction, so a reader that sees the number also sees the change.
A cache of catalog reads (the gateway's ``CatalogCache``) keeps what it read at
one revision and throws it away when the number moves — in any process: the
number lives in the database (a ``counters`` row), not in memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select, text

from omnicore.store.order_tables import counters
from omnicore.store.prepared import PreparedSelect

if TYPE_CHECKING:
    from omnicore.store.uow import Tx

__all__ = ["bump_revision", "read_revision"]

NAME = "catalog"

# One statement on both databases (SQLite ≥ 3.24 and PostgreSQL speak ON CONFLICT).
_BUMP = text(
    "INSERT INTO counters (name, value) VALUES ('catalog', 1) "
    "ON CONFLICT (name) DO UPDATE SET value = counters.value + 1"
)
_READ = PreparedSelect(select(counters.c.value).where(counters.c.name == bindparam("name")))


async def bump_revision(tx: Tx) -> None:
    """Move the revision on; call it in the transaction that changes the catalog."""
    await tx.conn.execute(_BUMP)


async def read_revision(tx: Tx) -> int:
    """The revision now (0 before the first catalog write)."""
    rows = await _READ.rows(tx.conn, {"name": NAME})
    return int(rows[0][0]) if rows else 0

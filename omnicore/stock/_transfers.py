"""Transfers: free units sent from one location to another, in transit until received.

Sending takes the units off ``on_hand`` at the origin (a ``transfer_out``
movement, only free units); receiving adds them at the destination (a
``transfer_in`` movement). Both movements carry the transfer's id as their
external id, so neither can be recorded twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select, update

from omnicore.errors import Conflict, NotFound, OutOfStock
from omnicore.stock._figures import StockChanges, read_level
from omnicore.stock._ledger import add_movement, check_sku_and_location, new_id, take_units
from omnicore.stock._models import MovementKind, Transfer, TransferStatus
from omnicore.store.tables import stock_movements, stock_transfers

if TYPE_CHECKING:
    from omnicore.store.uow import Tx


async def send(
    tx: Tx,
    changes: StockChanges,
    sku: str,
    from_location: str,
    to_location: str,
    quantity: int,
    *,
    source: str,
    note: str | None,
) -> Transfer:
    """Take ``quantity`` free units off ``from_location`` towards ``to_location``; emits
    ``stock.transfer_sent``. ``OutOfStock`` when that many are not free."""
    await check_sku_and_location(tx, sku, from_location, location_field="from_location")
    await check_sku_and_location(tx, sku, to_location, location_field="to_location")
    if not await take_units(tx, sku, from_location, quantity, changes=changes):
        level = await read_level(tx, sku, from_location)
        raise OutOfStock(
            f"only {level.available} of {sku} free at {from_location}",
            sku=sku,
            requested=quantity,
            available=level.available,
        )
    transfer = Transfer(
        new_id("trf"), sku, from_location, to_location, quantity, TransferStatus.IN_TRANSIT,
        tx.now,
    )
    await tx.conn.execute(
        stock_movements.insert().values(
            sku=sku,
            location_code=from_location,
            delta=-quantity,
            kind=MovementKind.TRANSFER_OUT.value,
            source=source,
            external_id=f"{transfer.id}:out",
            note=note,
            created_at=tx.now,
        )
    )
    await tx.conn.execute(
        stock_transfers.insert().values(
            id=transfer.id,
            sku=sku,
            from_location=from_location,
            to_location=to_location,
            quantity=quantity,
            status=TransferStatus.IN_TRANSIT.value,
            source=source,
            created_at=tx.now,
        )
    )
    tx.emit(
        "stock.transfer_sent",
        {
            "transfer_id": transfer.id,
            "sku": sku,
            "from": from_location,
            "to": to_location,
            "quantity": quantity,
        },
    )
    return transfer


async def receive(tx: Tx, changes: StockChanges, transfer_id: str, *, source: str) -> Transfer:
    """The transfer arrives: its units join ``on_hand`` at the destination.

    ``NotFound`` for an unknown transfer, ``Conflict`` for one already received.
    """
    row = (
        await tx.conn.execute(
            select(stock_transfers).where(stock_transfers.c.id == transfer_id).with_for_update()
        )
    ).first()
    if row is None:
        raise NotFound(f"no transfer {transfer_id!r}", field="transfer_id")
    if row.status != TransferStatus.IN_TRANSIT:
        raise Conflict("the transfer was already received", field="transfer_id")
    await tx.conn.execute(
        update(stock_transfers)
        .where(stock_transfers.c.id == transfer_id)
        .values(status=TransferStatus.RECEIVED.value, received_at=tx.now)
    )
    await add_movement(
        tx,
        row.sku,
        row.to_location,
        row.quantity,
        MovementKind.TRANSFER_IN,
        source=source,
        external_id=f"{transfer_id}:in",
    )
    changes.add(row.sku, row.to_location, row.quantity)
    return Transfer(
        row.id,
        row.sku,
        row.from_location,
        row.to_location,
        row.quantity,
        TransferStatus.RECEIVED,
        row.created_at,
        tx.now,
    )


async def in_transit(tx: Tx, sku: str) -> list[Transfer]:
    """The transfers of ``sku`` sent and not yet received."""
    rows = (
        await tx.conn.execute(
            select(stock_transfers).where(
                stock_transfers.c.sku == sku,
                stock_transfers.c.status == TransferStatus.IN_TRANSIT.value,
            )
        )
    ).all()
    return [
        Transfer(r.id, r.sku, r.from_location, r.to_location, r.quantity,
                 TransferStatus(r.status), r.created_at)
        for r in rows
    ]

"""A sync line replayed twice at the same moment is recorded once (PostgreSQL)."""

from __future__ import annotations

import asyncio

import pytest

from omnicore import Commerce
from omnicore.testing import seed_minimal


@pytest.mark.postgres
async def test_concurrent_replays_of_one_external_id_record_one_movement(postgres_url: str) -> None:
    opened = [
        await Commerce.open(postgres_url, dispatch=False, load_entry_points=False) for _ in range(2)
    ]
    try:
        await seed_minimal(opened[0], on_hand=0)
        for round_number in range(10):
            external_id = f"pos-sale-{round_number}"
            levels = await asyncio.gather(*[
                commerce.stock.receive("TEE-M", "paris-1", 2, source="pos", external_id=external_id)
                for commerce in opened for _ in range(3)
            ])
            assert {level.on_hand for level in levels} == {2 * (round_number + 1)}
        ledger = await opened[0].stock.ledger("TEE-M", "paris-1")
        assert len(ledger) == 10
        assert sum(m.delta for m in ledger) == 20
    finally:
        for commerce in opened:
            await commerce.close()

"""An inactive location sells nothing: availability and holds agree."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from omnicore.errors import OutOfStock
from omnicore.testing import seed_minimal


async def test_inactive_location_counts_for_neither_availability_nor_holds(commerce: Any) -> None:
    await seed_minimal(commerce, on_hand=0)
    await commerce.stock.receive("TEE-M", "paris-1", 9, source="test")
    assert (await commerce.stock.availability("TEE-M", channel="web")).total == 9
    store = await commerce.locations.get("paris-1")
    await commerce.locations.save(attrs.evolve(store, active=False))
    availability = await commerce.stock.availability("TEE-M", channel="web")
    assert availability.total == 0
    assert [p.location for p in availability.locations] == ["wh"]
    with pytest.raises(OutOfStock):
        await commerce.stock.hold("TEE-M", 1, channel="web")

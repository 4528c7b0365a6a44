"""Hold N PostgreSQL connections until interrupted: another client on a shared server.

    python tests/helpers/hold_connections.py 50 &     # then run the suite
    OMNICORE_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test pytest -q

The suite sizes its pools from the connections the server has free when it
starts (``tests/conftest.py``), so it passes on a server with ``max_connections
= 100`` while this holds 50 of them.
"""

from __future__ import annotations

import asyncio
import os
import sys

import asyncpg


async def hold(count: int, dsn: str) -> None:
    connections = [await asyncpg.connect(dsn) for _ in range(count)]
    print(f"holding {len(connections)} connections to {dsn}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        for connection in connections:
            await connection.close()


if __name__ == "__main__":
    wanted = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    url = os.environ.get("OMNICORE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    asyncio.run(hold(wanted, url))

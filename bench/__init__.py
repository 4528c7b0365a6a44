"""omnicore's benchmarks: figures printed as markdown tables, never asserted.

Run them all with ``python -m bench`` (or ``nox -s bench``), or some of them with
``python -m bench import_time outbox``. Each run also writes a JSON copy of its
tables to ``bench/results/<name>.json`` (git-ignored). See ``bench/README.md``.
"""

from __future__ import annotations

__all__ = ["BENCHMARKS"]

#: Benchmark name → module under ``bench/`` (imported only when it runs).
BENCHMARKS = {
    "import_time": "bench.import_time",
    "outbox": "bench.outbox",
    "import_stock": "bench.import_stock",
    "stock_holds": "bench.stock_holds",
    "stock_reads": "bench.stock_reads",
    "pricing": "bench.pricing",
    "customers": "bench.customers",
    "sourcing": "bench.sourcing",
    "checkout": "bench.checkout",
    "gateway": "bench.gateway",
    "gateway_stall": "bench.gateway_stall",
}

"""DataLoaders: one bulk read per relation and request, whatever the number of parents.

    price = await loaders.price(info.context, variant.sku)          # Price | None
    stock = await loaders.availability(info.context, variant.sku)   # ChannelAvailability
    where = await loaders.location(info.context, code)              # Location | None

A resolver asks for one key and awaits; the keys asked for while the event loop
runs the current batch of ready callbacks (graphql-core resolves the items of a
list as concurrent tasks: one such round per level of the query) are loaded by
one call of a bulk API of the core — ``catalog.prices_for``,
``stock.availability_many``, ``locations.list`` — and each key is loaded once
per request. Loaders live in ``RequestContext.loaders`` and die with the
request, so nothing is cached across requests (a price changed between two
requests is seen by the second).

A new relation gets its loader with ``loader(context, name, batch)``, where
``batch(keys) -> {key: value}`` makes one bulk read; a key missing from the
answer resolves to ``None``.

A parent that knows what its children will ask for loads it ahead, in one
round (``prefetch_variants``: a product resolver loads its variants' prices
and availability when the query selects them); the children then find the
values ready with ``peek`` and resolve without awaiting — graphql-core
completes a subtree without awaitables in one pass, with no task per field.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

if TYPE_CHECKING:
    from omnicore.catalog import Price
    from omnicore.gateway.context import RequestContext
    from omnicore.network import Location
    from omnicore.stock import ChannelAvailability

__all__ = ["MISSING", "DataLoader", "availability", "loader", "location", "peek",
           "prefetch_variants", "price"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

Batch = Callable[[list[K]], Awaitable[dict[K, V]]]

#: what ``peek`` answers for a key not loaded (yet)
MISSING: Any = object()


class DataLoader(Generic[K, V]):
    """Batches ``load(key)`` calls made in one event-loop round into one ``batch(keys)``.

    The first key of a round schedules the dispatch with ``loop.call_soon``: it
    runs after every callback that was ready with it, so the sibling resolvers
    started in the same round add their keys first. Results (and a failure of
    the batch) are cached per key for the loader's life.
    """

    def __init__(self, batch: Batch[K, V], *, max_batch: int | None = None) -> None:
        self._batch = batch
        self._max_batch = max_batch
        self._futures: dict[K, asyncio.Future[V | None]] = {}
        self._queue: list[K] = []
        self._tasks: set[asyncio.Task[None]] = set()
        #: how many times ``batch`` was called (tests and benchmarks read it)
        self.batches = 0

    def load(self, key: K) -> asyncio.Future[V | None]:
        """A future of the value of ``key`` (``None`` when the batch did not return it)."""
        future = self._futures.get(key)
        if future is not None:
            return future
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._futures[key] = future
        self._queue.append(key)
        if len(self._queue) == 1:
            loop.call_soon(self._dispatch)
        return future

    async def load_many(self, keys: Iterable[K]) -> list[V | None]:
        return list(await asyncio.gather(*(self.load(key) for key in keys)))

    def peek(self, key: K) -> V | None:
        """The value of ``key`` if it is loaded already, else ``MISSING`` (never waits)."""
        future = self._futures.get(key)
        if future is None or not future.done() or future.cancelled() or future.exception():
            return MISSING  # type: ignore[no-any-return]
        return future.result()

    async def fill(self, keys: list[K]) -> None:
        """Run the batch for ``keys`` now, in the caller's task, and keep the values
        (a key the batch does not return is kept as ``None``)."""
        self.batches += 1
        found = await self._batch(keys)
        for key in keys:
            self.prime(key, found.get(key))

    def prime(self, key: K, value: V | None) -> None:
        """Cache ``value`` for ``key`` (a value read by other means) unless already asked."""
        if key not in self._futures:
            future: asyncio.Future[V | None] = asyncio.get_running_loop().create_future()
            future.set_result(value)
            self._futures[key] = future

    def _dispatch(self) -> None:
        keys, self._queue = self._queue, []
        size = self._max_batch or len(keys)
        for start in range(0, len(keys), size):
            task = asyncio.ensure_future(self._run(keys[start : start + size]))
            self._tasks.add(task)  # keep a reference until it is done
            task.add_done_callback(self._tasks.discard)

    async def _run(self, keys: list[K]) -> None:
        self.batches += 1
        try:
            found = await self._batch(keys)
        except asyncio.CancelledError:
            for key in keys:
                self._futures[key].cancel()
            raise
        except Exception as exc:
            for key in keys:
                if not self._futures[key].done():
                    self._futures[key].set_exception(exc)
            return
        for key in keys:
            if not self._futures[key].done():
                self._futures[key].set_result(found.get(key))


def loader(context: RequestContext, name: str, batch: Batch[K, V]) -> DataLoader[K, V]:
    """The request's loader called ``name``, made with ``batch`` on first use."""
    found = context.loaders.get(name)
    if found is None:
        found = context.loaders[name] = DataLoader(batch)
    return found  # type: ignore[no-any-return]


def _price_loader(context: RequestContext) -> DataLoader[str, Price]:
    channel = context.require_channel()

    async def batch(skus: list[str]) -> dict[str, Price]:
        if context.catalog_cache is not None:
            return await context.catalog_cache.prices_for(
                context, skus, currency=channel.currency, channel=channel.code)
        return await context.commerce.catalog.prices_for(
            skus, currency=channel.currency, channel=channel.code)

    return loader(context, "loaders.price", batch)


def _availability_loader(context: RequestContext) -> DataLoader[str, ChannelAvailability]:
    channel = context.require_channel()

    async def batch(skus: list[str]) -> dict[str, ChannelAvailability]:
        return dict(await context.commerce.stock.availability_many(skus, channel=channel))

    return loader(context, "loaders.availability", batch)


async def price(context: RequestContext, sku: str) -> Price | None:
    """The price of ``sku`` for the caller's channel (its own list, else the default one)."""
    return await _price_loader(context).load(sku)


async def availability(context: RequestContext, sku: str) -> ChannelAvailability:
    """What the caller's channel may sell of ``sku``, per location and in total."""
    found = await _availability_loader(context).load(sku)
    assert found is not None  # availability_many answers every SKU asked for
    return found


def peek(context: RequestContext, relation: Literal["price", "availability"],
         sku: str) -> Any:
    """``price`` or ``availability`` of ``sku`` if loaded already, else ``MISSING``."""
    found = _price_loader(context) if relation == "price" else _availability_loader(context)
    return found.peek(sku)


async def prefetch_variants(context: RequestContext, skus: Iterable[str], *,
                            prices: bool, stock: bool) -> None:
    """Load the prices and/or the availability of ``skus`` now, one bulk read each.

    The reads run one after the other and their values are primed in the loaders:
    no task, no round of the event loop (reads of one request share a connection,
    so running them side by side would gain nothing).
    """
    wanted = list(dict.fromkeys(skus))
    loaders: list[DataLoader[str, Any]] = []
    if prices:
        loaders.append(_price_loader(context))
    if stock:
        loaders.append(_availability_loader(context))
    for found in loaders:
        missing = [sku for sku in wanted if found.peek(sku) is MISSING]
        if missing:
            await found.fill(missing)


async def location(context: RequestContext, code: str) -> Location | None:
    """The location ``code`` (every location is read once per request)."""

    async def batch(codes: list[str]) -> dict[str, Location]:
        wanted = set(codes)
        return {loc.code: loc for loc in await context.commerce.locations.list()
                if loc.code in wanted}

    return await loader(context, "loaders.location", batch).load(code)


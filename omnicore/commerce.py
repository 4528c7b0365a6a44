"""``Commerce``: the facade a developer embeds.

    commerce = await Commerce.open("sqlite+aiosqlite:///shop.db")
    await commerce.catalog.save_product(...)
    await commerce.close()

or ``async with Commerce.open(...) as commerce:``. Several instances may live
in one process; nothing is global.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

from omnicore.auth import AuthService
from omnicore.carts import CartService
from omnicore.catalog import CatalogService
from omnicore.checkout import CheckoutService
from omnicore.config import Config, load_config
from omnicore.customers import CustomerService
from omnicore.delivery import DeliveryService
from omnicore.external_orders import ExternalOrders
from omnicore.fulfilment import FulfilmentService
from omnicore.network import ChannelService, LocationService
from omnicore.orders import Order, OrderService, OrderSettings
from omnicore.outbox import Dispatcher, OutboxService
from omnicore.payments import PaymentService
from omnicore.plugins import PluginHost
from omnicore.pricing import PricingService, PromotionService
from omnicore.returns import ReturnService
from omnicore.stock import StockService
from omnicore.store.database import Database, connection_problem
from omnicore.store.migrate import ensure_schema
from omnicore.store.uow import UnitOfWork

__all__ = ["Commerce"]

log = logging.getLogger("omnicore")

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Commerce:
    """One retailer's commerce core on one database, with its plugins."""

    def __init__(
        self, config: Config, db: Database, plugins: PluginHost, clock: Clock
    ) -> None:
        self.config = config
        self.db = db
        self.plugins = plugins
        self.clock = clock
        self._dispatcher = Dispatcher(self, config.outbox)
        self.uow = UnitOfWork(db, clock, plugins.consumers, self._dispatcher.wake.set)
        self.catalog = CatalogService(self.uow)
        self.channels = ChannelService(self.uow)
        self.locations = LocationService(self.uow)
        self.stock = StockService(self.uow, low_threshold=config.stock.low_threshold)
        self.customers = CustomerService(self.uow, default_region=config.customers.default_region)
        self.promotions = PromotionService(self.uow)
        self.pricing = PricingService(self)
        self.delivery = DeliveryService(self)
        self.carts = CartService(
            self, settings=config.carts, stock=self.stock, promotions=self.promotions,
            pricing=self.pricing, delivery=self.delivery)
        self.order_settings = OrderSettings.from_config(config)
        self.payments = PaymentService(self)
        self.orders = OrderService(self)
        self.orders.attach_external(ExternalOrders(self, self.orders))
        self.fulfilment = FulfilmentService(self)
        self.returns = ReturnService(self)
        self.checkouts = CheckoutService(
            self, settings=self.order_settings, carts=self.carts, payments=self.payments,
            orders=self.orders, customers=self.customers, stock=self.stock,
            pricing=self.pricing, delivery=self.delivery)
        gateway = config.gateway  # the sign-in keys live in [gateway]
        self.auth = AuthService(
            self.uow, token_hours=gateway.customer_token_hours,
            login_max_attempts=gateway.login_max_attempts,
            login_window_minutes=gateway.login_window_minutes)
        self.outbox = OutboxService(self, self._dispatcher)
        self._stop = asyncio.Event()
        self._background: asyncio.Task[None] | None = None
        self._closed = False

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        config: Config | Mapping[str, Any] | None = None,
        plugins: Iterable[object] = (),
        load_entry_points: bool = True,
        auto_migrate: bool | None = None,
        dispatch: bool | None = None,
        clock: Clock | None = None,
    ) -> Opening:
        """Open a Commerce: ``await Commerce.open(...)`` or ``async with Commerce.open(...)``.

        :param url: database URL; default ``OMNICORE_DATABASE_URL``, then
            ``[database] url`` of omnicore.toml, then the SQLite file ``./omnicore.db``.
        :param config: a ``Config`` or a mapping shaped like omnicore.toml.
        :param plugins: plugin objects to register besides the entry points.
        :param load_entry_points: also load installed plugins (group ``omnicore``).
        :param auto_migrate: migrate an older schema instead of refusing (default:
            yes for SQLite, no for PostgreSQL).
        :param dispatch: deliver outbox events from a background task of this
            instance (default: ``[outbox] in_process``).
        :param clock: a function returning the current aware datetime (tests).
        """
        return Opening(cls._open(url, config=config, plugins=plugins,
                                  load_entry_points=load_entry_points, auto_migrate=auto_migrate,
                                  dispatch=dispatch, clock=clock))

    @classmethod
    async def _open(
        cls, url: str | None, *, config: Config | Mapping[str, Any] | None,
        plugins: Iterable[object], load_entry_points: bool, auto_migrate: bool | None,
        dispatch: bool | None, clock: Clock | None,
    ) -> Commerce:
        settings = load_config(config)
        host = PluginHost(settings.plugins, plugins, load_entry_points=load_entry_points)
        host.configure()
        if host.not_configured:
            log.warning("installed plugins not started, their settings are absent: %s "
                        "(set them, block the plugins in [plugins] block, or list them in "
                        "[plugins] require to make this an error)",
                        "; ".join(f"{entry.plugin} ({entry})" for entry in host.not_configured),
                        extra={"plugins_not_configured": host.not_configured})
        db = Database(url or settings.database.url, pool_size=settings.database.pool_size,
                      prepared_reads=settings.database.prepared_reads)
        try:
            migrate = auto_migrate
            if migrate is None:
                migrate = settings.database.auto_migrate
            if migrate is None:
                migrate = db.is_sqlite
            try:
                await ensure_schema(db, auto_migrate=migrate)
            except Exception as exc:  # a connection failure says what to do, in one line
                problem = connection_problem(exc, db.url)
                if problem is None:
                    raise
                raise problem from exc
            commerce = cls(settings, db, host, clock or utc_now)
            await host.startup(commerce)
        except BaseException:
            await db.dispose()
            raise
        if settings.outbox.in_process if dispatch is None else dispatch:
            commerce.start_dispatcher()
        return commerce

    async def checkout(
        self, cart_id: str, *, payments: Sequence[Mapping[str, Any]], idempotency_key: str,
        customer_id: str | None = None, email: str | None = None, phone: str | None = None,
        actor: str | None = None,
    ) -> Order:
        """Turn a cart into an order, all or nothing (see ``CheckoutService.checkout``)."""
        return await self.checkouts.checkout(
            cart_id, payments=payments, idempotency_key=idempotency_key,
            customer_id=customer_id, email=email, phone=phone, actor=actor)

    def start_dispatcher(self) -> None:
        """Deliver outbox events and sweep expired holds from a background task until ``close``."""
        if self._background is None:
            self._stop.clear()
            self._background = asyncio.create_task(
                self.run_worker(self._stop), name="omnicore-worker"
            )

    async def run_worker(self, stop: asyncio.Event) -> None:
        """Deliver outbox events and run the background jobs (expired holds, abandoned carts
        … see ``background_jobs``) until ``stop`` is set (the worker)."""
        await asyncio.gather(self._dispatcher.run_forever(stop), self._sweep_forever(stop))

    def background_jobs(self) -> list[tuple[str, Callable[[], Awaitable[object]]]]:
        """The worker's periodic jobs, in the order each round runs them: ``(name, run)``."""
        return [
            ("expired-hold sweep", self._sweep_holds),
            ("abandoned-cart sweep", self.carts.sweep_abandoned),
            ("checkout reconciliation", self.checkouts.reconcile),
            ("capture retry", self.orders.retry_captures),
            ("pickup expiry", self.fulfilment.expire_pickups),
            ("sign-in attempt sweep", self.auth.sweep_login_attempts),
        ]

    async def _sweep_holds(self) -> None:
        while await self.stock.sweep():
            pass

    async def run_background_jobs(self) -> list[str]:
        """Run each of ``background_jobs`` once, as the worker does every ``[outbox]
        sweep_interval_seconds``: a job that fails (the database went away, a bug) is
        logged as ``"<job> failed"`` with its traceback and the next jobs still run; it
        is tried again next round. Returns the names of the jobs that failed."""
        failed = []
        for name, job in self.background_jobs():
            try:
                await job()
            except Exception:
                log.exception("%s failed", name)
                failed.append(name)
        return failed

    async def _sweep_forever(self, stop: asyncio.Event) -> None:
        interval = self.config.outbox.sweep_interval_seconds
        while not stop.is_set():
            await self.run_background_jobs()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    async def close(self) -> None:
        """Stop the dispatcher, call plugins' ``shutdown``, release the database."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._background is not None:
            await self._background
            self._background = None
        for failure in await self.plugins.shutdown(self):
            log.warning("%s", failure)
        await self.db.dispose()

    async def __aenter__(self) -> Commerce:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class Opening:
    """Lets ``Commerce.open`` be awaited or used with ``async with``."""

    def __init__(self, coro: Any) -> None:
        self._coro = coro
        self._commerce: Commerce | None = None

    def __await__(self) -> Generator[Any, None, Commerce]:
        return self._coro.__await__()  # type: ignore[no-any-return]

    async def __aenter__(self) -> Commerce:
        self._commerce = await self._coro
        return self._commerce

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._commerce is not None:
            await self._commerce.close()

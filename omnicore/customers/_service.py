"""``commerce.customers``: one customer across every channel (DESIGN.md §1).

A profile holds identities (e-mail, phone, loyalty card, ids in other systems),
consents per contact channel, addresses, activity and favourites. Duplicate
profiles are merged into one; the merged id keeps resolving to the survivor.
``view`` is the 360° view of the associate's tablet; ``export`` and ``erase``
answer the customer's privacy requests. See docs/customers.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
from sqlalchemy import delete, insert, update

from omnicore.customers import _activity as act
from omnicore.customers._identity import (
    attach_identities,
    check_region,
    customer_tree,
    find_customer,
    load_customer,
    new_customer_id,
    normalise_identity,
    parse_identities,
    resolve,
)
from omnicore.customers._merge import MergeStep, load_merges, merge_customers
from omnicore.customers._models import (
    PROFILE_FIELDS,
    Activity,
    ActivityKind,
    ConsentDecision,
    Consents,
    Customer,
    CustomerMerge,
    CustomerStatus,
    Erasure,
    Favourite,
    Identity,
    IdentityKind,
    Profile,
    SavedAddress,
)
from omnicore.customers._privacy import EraseStep, ExportSection, erase_customer, export_customer
from omnicore.customers._view import CustomerView, ViewSection, build_view
from omnicore.errors import Conflict, InvalidInput, NotFound
from omnicore.network import Address
from omnicore.serialization import unstructure
from omnicore.store.tables import customer_identities
from omnicore.store.tables import customers as table

if TYPE_CHECKING:
    from omnicore.store.uow import Tx, UnitOfWork

__all__ = ["CustomerService"]


class CustomerService:
    """Profiles, identities, consents, activity, merges, the 360° view, privacy requests.

    Every method taking a ``customer_id`` accepts the id of a merged customer
    and acts on its survivor; an unknown or erased id raises ``NotFound``.
    """

    def __init__(self, uow: UnitOfWork, *, default_region: object = "FR") -> None:
        self._uow = uow
        self.default_region = check_region(default_region)
        #: ``async def step(tx, survivor_id, merged_id) -> dict`` run by ``merge`` inside its
        #: transaction (orders, loyalty …); each result lands in the audit summary.
        self.merge_steps: list[MergeStep] = []
        #: ``name -> async def section(tx, customer_id)``; ``orders`` and ``loyalty`` fill
        #: those fields of the view, other names land in ``CustomerView.extra``.
        self.view_sections: dict[str, ViewSection] = {}
        #: ``async def step(tx, customer_id) -> dict`` run by ``erase`` in its transaction.
        self.erase_steps: list[EraseStep] = []
        #: ``name -> async def section(tx, customer_id)`` whose JSON result ``export`` adds.
        self.export_sections: dict[str, ExportSection] = {}

    # -- profiles ---------------------------------------------------------------------------

    async def create(
        self, *, email: str | None = None, phone: str | None = None,
        first_name: str | None = None, last_name: str | None = None, language: str | None = None,
        preferred_store: str | None = None, attributes: Mapping[str, Any] | None = None,
        identities: Sequence[Identity | Mapping[str, Any]] = (), source: str = "api",
    ) -> Customer:
        """Create a customer; emits ``customer.created``.

        ``email`` and ``phone`` are shorthands for identities; ``identities`` takes
        ``Identity`` objects or mappings ``{"kind", "value", "source", "verified"}``.
        An identity another customer holds raises ``Conflict`` naming its field.
        """
        profile = Profile(first_name, last_name, language, preferred_store,
                          dict(attributes) if isinstance(attributes, Mapping) else attributes)
        wanted = self._shorthands(email, phone)
        wanted += parse_identities(identities, region=self.default_region)
        if not isinstance(source, str) or not source.strip():
            raise InvalidInput("must say where the customer comes from", field="source")
        async with self._uow() as tx:
            return await self._create(tx, profile, wanted, source)

    def _shorthands(self, email: object, phone: object) -> list[tuple[Identity, str]]:
        found = []
        for kind, value in ((IdentityKind.EMAIL, email), (IdentityKind.PHONE, phone)):
            if value is not None:
                kind, source, normal = normalise_identity(kind, value, region=self.default_region)
                found.append((Identity(kind, normal, source), kind.value))
        return found

    async def _create(
        self, tx: Tx, profile: Profile, wanted: list[tuple[Identity, str]], source: str
    ) -> Customer:
        if profile.preferred_store:
            await act.require_location(tx, profile.preferred_store, field="preferred_store")
        customer_id = new_customer_id()
        await tx.conn.execute(insert(table).values(
            id=customer_id, status=CustomerStatus.ACTIVE.value, merged_into=None,
            **attrs.asdict(profile), created_at=tx.now, updated_at=tx.now,
        ))
        await attach_identities(tx, customer_id, wanted)
        customer = await load_customer(tx, customer_id)
        tx.emit("customer.created", {"customer": unstructure(customer), "source": source})
        return customer

    async def get(self, customer_id: str) -> Customer:
        """The customer; a merged id gives its survivor; unknown or erased: ``NotFound``."""
        async with self._uow.read() as tx:
            return await load_customer(tx, customer_id)

    async def find(self, kind: IdentityKind | str, value: str, *, source: str = "") -> Customer:
        """The customer holding an identity (normalised like ``add_identity``), or ``NotFound``."""
        parsed = normalise_identity(kind, value, source=source, region=self.default_region)
        async with self._uow.read() as tx:
            return await self._find(tx, *parsed)

    async def _find(self, tx: Tx, kind: IdentityKind, source: str, value: str) -> Customer:
        found = await find_customer(tx, kind, source, value)
        if found is None:
            raise NotFound(f"no customer with this {kind.value}", field=kind.value)
        return found

    async def find_or_create_by_identity(
        self, kind: IdentityKind | str, value: str, *, source: str = "", **profile: Any
    ) -> Customer:
        """The customer holding the identity, else a new one with it and ``profile``.

        ``profile`` takes the keyword arguments of ``create`` (``email``, ``first_name`` …).
        Marketplace and POS imports use it: replaying an import finds, not duplicates.
        """
        unknown = sorted(set(profile) - {*PROFILE_FIELDS, "email", "phone"})
        if unknown:
            raise InvalidInput("is not a profile field", field=unknown[0])
        parsed = normalise_identity(kind, value, source=source, region=self.default_region)
        fields = {f: profile.get(f) for f in PROFILE_FIELDS}
        wanted = [(Identity(parsed[0], parsed[2], parsed[1]), parsed[0].value)]
        wanted += self._shorthands(profile.get("email"), profile.get("phone"))
        built = Profile(**fields)
        for attempt in (1, 2):
            try:
                async with self._uow() as tx:
                    try:
                        return await self._find(tx, *parsed)
                    except NotFound:
                        return await self._create(tx, built, wanted, parsed[1] or "api")
            except Conflict:
                if attempt == 2:  # else a concurrent import created it first: find it now
                    raise
        raise AssertionError("unreachable")

    async def update(self, customer_id: str, **fields: Any) -> Customer:
        """Change profile fields (``first_name``, ``last_name``, ``language``,
        ``preferred_store``, ``attributes`` — which it replaces); None clears one.
        Emits ``customer.updated`` with the names of the fields that changed."""
        unknown = sorted(set(fields) - set(PROFILE_FIELDS))
        if unknown:
            raise InvalidInput("is not a profile field (identities have their own methods)",
                               field=unknown[0])
        async with self._uow() as tx:
            row = await resolve(tx, customer_id, lock=True)
            current = Profile(**{f: getattr(row, f) for f in PROFILE_FIELDS})
            wanted = attrs.evolve(current, **fields)
            changed = [f for f in PROFILE_FIELDS if getattr(wanted, f) != getattr(current, f)]
            if "preferred_store" in changed and wanted.preferred_store:
                await act.require_location(tx, wanted.preferred_store, field="preferred_store")
            if changed:
                await tx.conn.execute(update(table).where(table.c.id == row.id).values(
                    **{f: getattr(wanted, f) for f in changed}, updated_at=tx.now,
                ))
                return await self._updated(tx, row.id, changed)
            return await load_customer(tx, row.id)

    async def _updated(self, tx: Tx, customer_id: str, changed: list[str]) -> Customer:
        customer = await load_customer(tx, customer_id)
        tx.emit("customer.updated", {"customer_id": customer_id, "changed": changed,
                                     "customer": unstructure(customer)})
        return customer

    # -- identities -------------------------------------------------------------------------

    async def add_identity(
        self, customer_id: str, kind: IdentityKind | str, value: str, *, source: str = "",
        verified: bool = False,
    ) -> Customer:
        """Give the customer an identity; emits ``customer.identity_added`` if it is new.

        Adding one it already holds changes nothing (or marks it verified);
        one another customer holds raises ``Conflict`` naming the kind.
        """
        if not isinstance(verified, bool):
            raise InvalidInput("must be true or false", field="verified")
        kind, source, value = normalise_identity(kind, value, source=source,
                                                 region=self.default_region)
        async with self._uow() as tx:
            row = await resolve(tx, customer_id, lock=True)
            added = await attach_identities(
                tx, row.id, [(Identity(kind, value, source, verified), kind.value)]
            )
            for identity in added:
                tx.emit("customer.identity_added", {
                    "customer_id": row.id, "kind": identity.kind.value,
                    "source": identity.source, "value": identity.value,
                    "verified": identity.verified,
                })
            return await load_customer(tx, row.id)

    async def verify_identity(
        self, customer_id: str, kind: IdentityKind | str, value: str, *, source: str = ""
    ) -> Customer:
        """Mark an identity of the customer verified (e-mail link clicked, SMS code typed)."""
        return await self._change_identity(customer_id, kind, value, source, remove=False)

    async def remove_identity(
        self, customer_id: str, kind: IdentityKind | str, value: str, *, source: str = ""
    ) -> Customer:
        """Take an identity away from the customer (it becomes free for another one)."""
        return await self._change_identity(customer_id, kind, value, source, remove=True)

    async def _change_identity(
        self, customer_id: str, kind: object, value: object, source: object, *, remove: bool
    ) -> Customer:
        kind, source, value = normalise_identity(kind, value, source=source,
                                                 region=self.default_region)
        async with self._uow() as tx:
            row = await resolve(tx, customer_id, lock=True)
            where = (customer_identities.c.customer_id == row.id,
                     customer_identities.c.kind == kind.value,
                     customer_identities.c.source == source,
                     customer_identities.c.value == value)
            statement = (delete(customer_identities).where(*where) if remove else
                         update(customer_identities).where(*where).values(verified=True))
            if (await tx.conn.execute(statement)).rowcount == 0:
                raise NotFound(f"the customer has no such {kind.value}", field=kind.value)
            return await self._updated(tx, row.id, ["identities"])

    # -- addresses --------------------------------------------------------------------------

    async def add_address(
        self, customer_id: str, address: Address | Mapping[str, Any], *,
        label: str | None = None, default: bool = False,
    ) -> SavedAddress:
        """Add an address to the address book (the first one becomes the default)."""
        async with self._uow() as tx:
            row = await resolve(tx, customer_id, lock=True)
            saved = await act.save_address(tx, row.id, address, label=label, default=default)
            await self._updated(tx, row.id, ["addresses"])
            return saved

    async def addresses(self, customer_id: str) -> list[SavedAddress]:
        """The address book, the default address first."""
        async with self._uow.read() as tx:
            return await act.load_addresses(tx, (await resolve(tx, customer_id)).id)

    async def remove_address(self, customer_id: str, address_id: int) -> None:
        """Delete an address; if it was the default, the oldest remaining one becomes it."""
        async with self._uow() as tx:
            row = await resolve(tx, customer_id, lock=True)
            await act.delete_address(tx, row.id, address_id)
            await self._updated(tx, row.id, ["addresses"])

    # -- consents ---------------------------------------------------------------------------

    async def set_consent(
        self, customer_id: str, contact_channel: str, granted: bool, *, source: str
    ) -> ConsentDecision:
        """Record a decision on a contact channel (``email``, ``sms``, ``push``, ``post``).

        Decisions are appended, never overwritten: the history is the proof.
        Emits ``consent.changed`` with the decision and the ``previous`` state.
        """
        channel = act.contact_channel(contact_channel)
        async with self._uow() as tx:
            row = await resolve(tx, customer_id, lock=True)
            before = act.current_consents(await act.consent_history(tx, row.id)).get(channel)
            decision = await act.record_consent(tx, row.id, channel, granted, source)
            tx.emit("consent.changed", {
                "customer_id": row.id, "contact_channel": channel.value,
                "granted": decision.granted, "source": decision.source,
                "recorded_at": decision.recorded_at.isoformat(),
                "previous": None if before is None else before.granted,
            })
            return decision

    async def consents(self, customer_id: str) -> Consents:
        """The current decision per contact channel (with source and time) and the history."""
        async with self._uow.read() as tx:
            history = await act.consent_history(tx, (await resolve(tx, customer_id)).id)
        return Consents(act.current_consents(history), history)

    async def may_contact(self, customer_id: str, contact_channel: str) -> bool:
        """True only if the current decision on that channel is a grant: no consent, no message."""
        channel = act.contact_channel(contact_channel)
        return (await self.consents(customer_id)).granted(channel)

    # -- activity and favourites ------------------------------------------------------------

    async def record_activity(
        self, customer_id: str, kind: ActivityKind | str, *, channel: str,
        sku: str | None = None, category: str | None = None, query: str | None = None,
        location: str | None = None, data: Mapping[str, Any] | None = None,
    ) -> Activity:
        """Append an activity event (``product_viewed`` needs a SKU, ``search`` a query,
        ``store_visit`` a location); the channel, SKU and location must exist."""
        async with self._uow() as tx:
            row = await resolve(tx, customer_id, lock=True)
            return await act.add_activity(tx, row.id, kind, channel=channel, sku=sku,
                                          category=category, query=query, location=location,
                                          data=data)

    async def activity(
        self, customer_id: str, *, kind: ActivityKind | str | None = None, limit: int = 100
    ) -> list[Activity]:
        """The customer's activity, newest first (at most ``limit`` events, 1 to 1000)."""
        parsed = None if kind is None else act.activity_kind(kind)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise InvalidInput("must be an integer from 1 to 1000", field="limit")
        async with self._uow.read() as tx:
            row = await resolve(tx, customer_id)
            return await act.load_activity(tx, row.id, kind=parsed, limit=limit)

    async def add_favourite(self, customer_id: str, sku: str, *, channel: str) -> Favourite:
        """Add a SKU to the favourites (once) and record ``favourite_added``."""
        async with self._uow() as tx:
            row = await resolve(tx, customer_id, lock=True)
            return await act.add_favourite(tx, row.id, sku, channel=channel)

    async def remove_favourite(self, customer_id: str, sku: str, *, channel: str) -> bool:
        """Remove a favourite and record ``favourite_removed``; False if it was not one."""
        async with self._uow() as tx:
            row = await resolve(tx, customer_id, lock=True)
            return await act.remove_favourite(tx, row.id, sku, channel=channel)

    async def favourites(self, customer_id: str) -> list[Favourite]:
        """The favourites, newest first, with product titles."""
        async with self._uow.read() as tx:
            return await act.load_favourites(tx, (await resolve(tx, customer_id)).id)

    # -- merge, 360° view, privacy ----------------------------------------------------------

    async def merge(self, survivor_id: str, merged_id: str, *, actor: str) -> CustomerMerge:
        """Merge ``merged_id`` into ``survivor_id`` in one transaction (docs/customers.md).

        Everything the merged customer has moves to the survivor, ``merge_steps``
        run, an audit record is written and ``customer.merged`` is emitted.
        """
        async with self._uow() as tx:
            return await merge_customers(tx, survivor_id, merged_id, actor=actor,
                                         steps=self.merge_steps)

    async def merges(self, customer_id: str) -> list[CustomerMerge]:
        """The audit records of the merges that built this customer, oldest first."""
        async with self._uow.read() as tx:
            row = await resolve(tx, customer_id)
            return await load_merges(tx, await customer_tree(tx, row.id))

    async def view(self, customer_id: str) -> CustomerView:
        """The 360° view: profile, consents, addresses, open carts, favourites, recently
        viewed products, top categories and the ``view_sections`` (orders, loyalty)."""
        async with self._uow.read() as tx:
            return await build_view(tx, customer_id, self.view_sections)

    async def export(self, customer_id: str) -> dict[str, Any]:
        """Everything held about the customer, as JSON-ready data (a subject access request)."""
        async with self._uow.read() as tx:
            return await export_customer(tx, customer_id, self.export_sections)

    async def erase(self, customer_id: str, *, actor: str) -> Erasure:
        """Remove the customer's personal data (and that of customers merged into it);
        emits ``customer.erased`` carrying ids and counts only."""
        async with self._uow() as tx:
            return await erase_customer(tx, customer_id, actor=actor, steps=self.erase_steps)

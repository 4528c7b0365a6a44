"""customers."""

from __future__ import annotations

from omnicore.customers._identity import (
    attach_identities,
    load_customer,
    new_customer_id,
    normalise_identity,
    owner_of,
    resolve,
)
from omnicore.customers._merge import (
    MergeStep,
)
from omnicore.customers._models import (
    Activity,
    ActivityKind,
    ConsentDecision,
    Consents,
    ContactChannel,
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
from omnicore.customers._privacy import (
    EraseStep,
    ExportSection,
)
from omnicore.customers._service import (
    CustomerService,
)
from omnicore.customers._view import (
    CartSummary,
    CategoryCount,
    CustomerView,
    OrderSummary,
    ViewedProduct,
    ViewSection,
)

__all__ = [
    "Activity",
    "ActivityKind",
    "CartSummary",
    "CategoryCount",
    "ConsentDecision",
    "Consents",
    "ContactChannel",
    "Customer",
    "CustomerMerge",
    "CustomerService",
    "CustomerStatus",
    "CustomerView",
    "EraseStep",
    "Erasure",
    "ExportSection",
    "Favourite",
    "Identity",
    "IdentityKind",
    "MergeStep",
    "OrderSummary",
    "Profile",
    "SavedAddress",
    "ViewSection",
    "ViewedProduct",
    "attach_identities",
    "load_customer",
    "new_customer_id",
    "normalise_identity",
    "owner_of",
    "resolve",
]

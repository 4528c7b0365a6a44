"""sourcing."""

from __future__ import annotations

from omnicore.sourcing._models import (
    Assignment,
    Candidate,
    GroupKind,
    SourcingGroup,
    SourcingLine,
    SourcingPlan,
    SourcingRequest,
)
from omnicore.sourcing._search import (
    Cover,
    Distances,
    Stock,
)
from omnicore.sourcing._service import (
    choose,
    load_candidates,
)
from omnicore.sourcing._strategy import (
    default_plan,
)

__all__ = [
    "Assignment",
    "Candidate",
    "Cover",
    "Distances",
    "GroupKind",
    "SourcingGroup",
    "SourcingLine",
    "SourcingPlan",
    "SourcingRequest",
    "Stock",
    "choose",
    "default_plan",
    "load_candidates",
]

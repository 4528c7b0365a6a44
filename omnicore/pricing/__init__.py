"""pricing."""

from __future__ import annotations

from omnicore.pricing._context import (
    Adjustment,
    CodeStatus,
    Explanation,
    LineTotal,
    PricingContext,
    PricingLine,
    Totals,
    price_lines,
    validate,
)
from omnicore.pricing._engine import (
    Engine,
)
from omnicore.pricing._promotions import (
    PromotionService,
)
from omnicore.pricing._rules import (
    Promotion,
    PromotionKind,
    Target,
    normalise_code,
)
from omnicore.pricing._service import (
    PricingService,
)
from omnicore.pricing._usage import (
    Redemption,
    redeem,
)

__all__ = [
    "Adjustment",
    "CodeStatus",
    "Engine",
    "Explanation",
    "LineTotal",
    "PricingContext",
    "PricingLine",
    "PricingService",
    "Promotion",
    "PromotionKind",
    "PromotionService",
    "Redemption",
    "Target",
    "Totals",
    "normalise_code",
    "price_lines",
    "redeem",
    "validate",
]

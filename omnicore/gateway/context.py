"""What every resolver receives as ``info.context``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from omnicore.channels import Channel
    from omnicore.commerce import Commerce


@attrs.define
class RequestContext:
    commerce: Commerce
    channel: Channel

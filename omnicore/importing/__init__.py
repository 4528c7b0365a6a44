"""importing."""

from __future__ import annotations

from omnicore.importing._base import (
    ImportReport,
    RejectedRow,
    detect_format,
)
from omnicore.importing._progress import (
    Progress,
    Record,
    Source,
    UnreadableFile,
    open_source,
)
from omnicore.importing._service import (
    import_catalog,
)
from omnicore.importing._stock import (
    import_stock,
)

__all__ = [
    "ImportReport",
    "Progress",
    "Record",
    "RejectedRow",
    "Source",
    "UnreadableFile",
    "detect_format",
    "import_catalog",
    "import_stock",
    "open_source",
]

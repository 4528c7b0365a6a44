"""The ``omnicore`` command line: one module per command group.

``main`` is the root group (``omnicore.cli.main``); importing this package
registers the built-in commands: ``migrate`` (database), ``worker``,
``plugins``, ``import`` (importing), ``serve``/``demo`` (serve), ``staff``.
"""

from __future__ import annotations

from omnicore.cli import database, importing, plugins, serve, staff, worker
from omnicore.cli.main import CliContext, main, run

__all__ = ["CliContext", "database", "importing", "main", "plugins", "run", "serve", "staff",
           "worker"]

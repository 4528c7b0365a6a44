"""Prepared reads: the hottest SELECTs, compiled once and run on the driver itself.

A statement through SQLAlchemy costs more Python than the database spends on it:
for a product page's availability, ~60 µs of SQLAlchemy around ~17 µs of SQLite,
and ~230 µs around ~70 µs of asyncpg on PostgreSQL (its greenlet hops, the
expansion of ``IN`` lists, the result's machinery). ``PreparedSelect`` keeps one
SQLAlchemy ``Select`` as the single source of truth, compiles it once per dialect
and list size to the driver's SQL and parameter order, and runs it on the driver's
connection of a read: ``sqlite3`` for the inline reads of a SQLite file, asyncpg
for the shared reads of a storefront request on PostgreSQL. Anywhere else (a write
transaction, SQLite in memory) the statement goes through SQLAlchemy as usual, so
the rows are the same everywhere.

Only reads take this path: they run in autocommit on PostgreSQL, or inside the
read's own transaction on SQLite, so no transaction of SQLAlchemy's is bypassed.
The engines' ``before_cursor_execute`` listeners still see every statement
(``omnicore.testing.counting_statements`` counts them). ``IN`` lists are padded to a
power of two with their last value (which changes no answer), so a statement has a
handful of compiled forms, not one per list length.

The compiled form is read from SQLAlchemy's compiled internals (``positiontup``,
``binds``, ``BindParameter.expanding`` and ``effective_value``, the ``name_<n>`` names
of an expanded list) and the events are called through ``conn.dispatch``: none of it
is a public API. pyproject.toml pins ``SQLAlchemy>=2.0.30,<2.2``,
``tests/store/test_prepared.py`` fails naming any of them that is missing, and
``[database] prepared_reads = false`` runs every ``PreparedSelect`` through SQLAlchemy
instead (``nox -s slow_paths`` runs the gateway's tests that way; the tests of this
module compare both). The inline SQLite reads of ``omnicore.store.reads`` use only
SQLAlchemy's public API (a synchronous engine) and stay on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Dialect

__all__ = ["Compiled", "PreparedSelect", "before_cursor_execute"]

#: compiled forms kept per statement (per dialect and list sizes)
MAX_FORMS = 64


class Compiled:
    """One compiled form: the SQL, where each positional value comes from, and how
    each is converted for the driver (the column types' bind processors)."""

    __slots__ = ("sources", "sql")

    def __init__(self, sql: str,
                 sources: list[tuple[str, int | None, Any, Callable[[Any], Any] | None]]) -> None:
        self.sql = sql
        #: per position: (parameter, index in its list or None, constant, processor)
        self.sources = sources

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        """The positional values of ``params`` (lists already padded)."""
        values = []
        for name, index, constant, process in self.sources:
            if name == "":
                value = constant
            elif index is None:
                value = params[name]
            else:
                value = params[name][index]
            values.append(process(value) if process is not None else value)
        return values


def before_cursor_execute(conn: Any, cursor: Any, compiled: Compiled,
                          arguments: Sequence[Any]) -> None:
    """Tell the listeners of ``conn`` (a SQLAlchemy ``Connection``) about a statement
    run on its driver, as SQLAlchemy would."""
    listeners = conn.dispatch.before_cursor_execute
    if listeners:
        listeners(conn, cursor, compiled.sql, tuple(arguments), None, False)


def _bind_processor(type_: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    """How SQLAlchemy converts a value of ``type_`` for ``dialect``'s driver (the
    dialect's own implementation of the type: SQLite's ``DATETIME`` writes text)."""
    process: Callable[[Any], Any] | None = type_.dialect_impl(dialect).bind_processor(dialect)
    return process


def _padded(values: Sequence[Any]) -> list[Any]:
    size = 1
    while size < len(values):
        size *= 2
    return [*values, *([values[-1]] * (size - len(values)))]


class PreparedSelect:
    """A ``Select`` run on the driver of a read connection (see the module's docstring).

    ``lists`` names the statement's expanding parameters (``bindparam(...,
    expanding=True)``); each needs at least one value. ``rows(conn, params)``
    answers plain tuples, in the statement's column order.
    """

    def __init__(self, statement: Select[Any], *, lists: Sequence[str] = ()) -> None:
        self.statement = statement
        self.lists = tuple(lists)
        self._forms: dict[tuple[str, tuple[int, ...]], Compiled] = {}

    def form(self, dialect: Dialect, params: Mapping[str, Any]) -> Compiled:
        """The compiled form for ``dialect`` and the (padded) list sizes of ``params``."""
        sizes = tuple(len(params[name]) for name in self.lists)
        key = (dialect.name, sizes)
        found = self._forms.get(key)
        if found is None:
            found = self._compile(dialect, params)
            if len(self._forms) >= MAX_FORMS:
                self._forms.pop(next(iter(self._forms)))
            self._forms[key] = found
        return found

    def _compile(self, dialect: Dialect, params: Mapping[str, Any]) -> Compiled:
        compiled = self.statement.params(**params).compile(
            dialect=dialect, compile_kwargs={"render_postcompile": True})
        binds = compiled.binds
        order = compiled.positiontup
        if order is None:
            raise TypeError(f"{dialect.name} does not use positional parameters")
        sources: list[tuple[str, int | None, Any, Callable[[Any], Any] | None]] = []
        for position in order:
            bind = binds.get(position)
            if bind is not None and not bind.expanding:
                process = _bind_processor(bind.type, dialect)
                if bind.key in params:
                    sources.append((bind.key, None, None, process))
                else:  # a constant of the statement itself (``coalesce(..., 0)``)
                    sources.append(("", None, bind.effective_value, process))
                continue
            name, _, index = position.rpartition("_")
            expanding = binds.get(name)
            if expanding is None or not expanding.expanding or name not in self.lists:
                raise TypeError(f"parameter {position!r} is not in lists={self.lists}")
            sources.append((name, int(index) - 1, None, _bind_processor(expanding.type, dialect)))
        processors = [column.type.dialect_impl(dialect).result_processor(dialect, None)
                      for column in self.statement.selected_columns]
        if any(process is not None for process in processors):
            raise TypeError("PreparedSelect answers the driver's values: select columns "
                            "whose types convert nothing (strings, numbers)")
        return Compiled(compiled.string, sources)

    def prepare_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``params`` with each list padded to a power of two."""
        ready = dict(params)
        for name in self.lists:
            values = ready[name]
            if not values:
                raise ValueError(f"{name}: at least one value is needed")
            ready[name] = _padded(values)
        return ready

    async def rows(self, conn: Any, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """The statement's rows on ``conn`` (a read's connection, or any connection)."""
        run = getattr(conn, "prepared_rows", None)
        if run is not None:
            found: list[tuple[Any, ...]] | None = await run(self, self.prepare_params(params))
            if found is not None:
                return found
        result = await conn.execute(self.statement, dict(params))
        return [tuple(row) for row in result.all()]

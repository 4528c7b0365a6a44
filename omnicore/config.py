"""Configuration: ``omnicore.toml``, ``OMNICORE_*`` environment variables, arguments.

Precedence, lowest first: defaults, the TOML file (``OMNICORE_CONFIG`` or
``./omnicore.toml``), environment variables, then what the code passes to
``Commerce.open``. Plugin sections live under ``[plugins.<name>]`` and are
validated by the plugin host at start-up.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from omnicore.errors import InvalidInput, Problem
from omnicore.serialization import structure

__all__ = ["Config", "DatabaseConfig", "OutboxConfig", "PluginsConfig", "load_config",
           "positive_int", "section_of"]

ENV_PREFIX = "OMNICORE_"

#: Sections read by the domain services (``[stock] low_threshold`` …), kept in ``Config.extra``.
DOMAIN_SECTIONS = frozenset(
    {
        "stock", "customers", "carts", "promotions", "checkout", "orders", "gateway", "loyalty",
        "delivery", "sourcing", "payments", "fulfilment",
    }
)


def section_of(extra: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """The ``[name]`` table of the configuration's extra sections (empty when absent);
    ``InvalidInput`` naming it when it is not a table."""
    section = extra.get(name, {})
    if not isinstance(section, Mapping):
        raise InvalidInput("must be a table", field=name)
    return section


def positive_int(section: Mapping[str, Any], name: str, key: str, default: int) -> int:
    """``key`` of the ``[name]`` table ``section``: a positive integer (not a bool), else
    ``InvalidInput`` naming ``name.key``."""
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidInput("must be a positive integer", field=f"{name}.{key}")
    return value


@attrs.frozen
class DatabaseConfig:
    url: str | None = None
    #: None means "yes for a SQLite file, no for PostgreSQL".
    auto_migrate: bool | None = None
    pool_size: int = 10


@attrs.frozen
class OutboxConfig:
    #: Deliver events from a background task of every ``Commerce`` (set false on
    #: gateway processes when ``omnicore worker`` processes do the delivering).
    in_process: bool = True
    #: With the default back-off (1 s doubling, capped at an hour) 25 attempts span
    #: about 14 hours: a vendor outage shorter than that only delays delivery.
    max_attempts: int = 25
    base_delay_seconds: float = 1.0
    max_delay_seconds: float = 3600.0
    batch_size: int = 200
    lease_seconds: float = 120.0
    poll_interval_seconds: float = 1.0
    #: How often the worker deletes expired stock holds and emits their events.
    sweep_interval_seconds: float = 30.0


@attrs.frozen
class PluginsConfig:
    #: When set, only these entry-point plugins load.
    allow: list[str] | None = None
    block: list[str] = attrs.field(factory=list)
    #: ``[plugins.<name>]`` sections, validated by each plugin's settings class.
    sections: dict[str, dict[str, Any]] = attrs.field(factory=dict)


@attrs.frozen
class Config:
    database: DatabaseConfig = attrs.field(factory=DatabaseConfig)
    outbox: OutboxConfig = attrs.field(factory=OutboxConfig)
    plugins: PluginsConfig = attrs.field(factory=PluginsConfig)
    #: Cart-hold and similar defaults live with their domains; this is free-form
    #: room for domain sections (``[stock]``, ``[carts]`` …) that later code reads.
    extra: dict[str, Any] = attrs.field(factory=dict)


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path}: {exc}", field="config") from None


def _env_tree(environ: Mapping[str, str]) -> dict[str, Any]:
    """``OMNICORE_DATABASE_URL`` → database.url, ``OMNICORE_PLUGINS__STRIPE__SECRET_KEY`` →
    plugins.stripe.secret_key (double underscores separate levels below the first)."""
    tree: dict[str, Any] = {}
    if url := environ.get(f"{ENV_PREFIX}DATABASE_URL"):
        tree["database"] = {"url": url}
    for key, value in environ.items():
        if not key.startswith(f"{ENV_PREFIX}PLUGINS__"):
            continue
        parts = [p.lower() for p in key[len(ENV_PREFIX) :].split("__")]
        if len(parts) < 3:
            continue
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return tree


def _to_config(raw: Mapping[str, Any]) -> Config:
    plugins_raw = dict(raw.get("plugins", {}))
    plugins = {
        "allow": plugins_raw.pop("allow", None),
        "block": plugins_raw.pop("block", []),
        "sections": plugins_raw,
    }
    known = {"database", "outbox", "plugins"}
    for section in raw:
        if section not in known and section not in DOMAIN_SECTIONS:
            raise InvalidInput(
                f"unknown configuration section [{section}] (known: "
                f"{', '.join(sorted(known | DOMAIN_SECTIONS))})",
                field=section,
            )
    data = {
        "database": raw.get("database", {}),
        "outbox": raw.get("outbox", {}),
        "plugins": plugins,
        "extra": {k: v for k, v in raw.items() if k not in known},
    }
    try:
        return structure(data, Config)
    except InvalidInput as exc:  # show plugins.<name>.key, not the internal plugins.sections path
        problems = [
            Problem(
                p.field.replace("plugins.sections.", "plugins.") if p.field else None, p.message
            )
            for p in exc.problems
        ]
        raise InvalidInput(
            exc.message.replace("plugins.sections.", "plugins."),
            field=problems[0].field if problems else exc.field,
            problems=problems,
        ) from None


def load_config(
    overrides: Mapping[str, Any] | Config | None = None,
    *,
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Build the configuration from file, environment and ``overrides``."""
    if isinstance(overrides, Config):
        return overrides
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    file = Path(path or environ.get(f"{ENV_PREFIX}CONFIG") or "omnicore.toml")
    if file.is_file():
        raw = _read_toml(file)
    elif path is not None or environ.get(f"{ENV_PREFIX}CONFIG"):
        raise InvalidInput(f"configuration file {file} does not exist", field="config")
    raw = _deep_merge(raw, _env_tree(environ))
    raw = _deep_merge(raw, dict(overrides or {}))
    return _to_config(raw)

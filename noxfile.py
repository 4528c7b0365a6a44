"""nox sessions: lint, typecheck, tests (SQLite + PostgreSQL), slow_paths, plugin (one per
plugin), docs, bench.

``nox`` alone runs lint, typecheck, tests, slow_paths, every plugin's tests and the docs
build — the command the README gives and CI runs.
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["lint", "typecheck", "tests", "slow_paths", "plugin", "docs"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
PLUGINS = sorted(
    p.name for p in (ROOT / "plugins").glob("omnicore-*") if (p / "pyproject.toml").exists()
)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the core, plugins, tests, examples, benchmarks and the docs hooks."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", "omnicore", "plugins", "tests", "examples", "bench", "docs/_gen",
                "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy, strict on omnicore/."""
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session
def tests(session: nox.Session) -> None:
    """The core suite on a SQLite file and on PostgreSQL (OMNICORE_TEST_POSTGRES_URL)."""
    session.install("-e", ".[dev]")
    session.install("-e", "tests/fixtures/omnicore-testplugin")
    session.run("pytest", "-q", *session.posargs)


@nox.session
def slow_paths(session: nox.Session) -> None:
    """The gateway's tests again (SQLite + PostgreSQL) with its fast paths switched off —
    ``[gateway] fast_execution`` and ``[database] prepared_reads``, which rely on
    graphql-core's and SQLAlchemy's internals — so that their slow twins stay correct."""
    session.install("-e", ".[dev]")
    session.install("-e", "tests/fixtures/omnicore-testplugin")
    session.run("pytest", "-q", "tests/gateway", *session.posargs,
                env={"OMNICORE_CONFIG": str(ROOT / "tests" / "fixtures" / "slow-paths.toml")})


@nox.session
@nox.parametrize("plugin", PLUGINS or ["(none)"])
def plugin(session: nox.Session, plugin: str) -> None:
    """One plugin's tests in its own environment: the core, then the plugin."""
    if plugin == "(none)":
        session.log("no plugin under plugins/ yet")
        return
    session.install("-e", ".[dev]")
    session.install("-e", f"plugins/{plugin}[test]")
    session.run("pytest", "-q", f"plugins/{plugin}/tests", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site (mkdocs.yml) into site/, strict: a broken link or anchor, a
    page missing from the nav or a reference that cannot be generated fails the build."""
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", *session.posargs,
                env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks: prints tables of the figures the issues ask for (never asserts)."""
    session.install("-e", ".[dev]")
    session.run("python", "-m", "bench", *session.posargs)

"""The documentation keeps up with the code.

* every hook of ``omnicore.hookspecs`` is documented in docs/plugins.md under a
  heading with its parameters, followed by its exact ``def`` line, and nothing
  else is documented there as a hook;
* every event topic the core emits is documented in docs/events-and-outbox.md;
* every docs page is linked from docs/index.md and from the README, and every
  relative link (and its ``#anchor``) of the docs, the README, CONTRIBUTING.md and
  CHANGELOG.md resolves; LICENSE is the Apache-2.0 text, and the README names the
  databases the suite creates;
* every Python snippet compiles, and what it imports from omnicore exists.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from omnicore.orders import OrderStatus
from omnicore.plugins import hookspecs

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
MARKDOWN = [ROOT / "README.md", *PAGES]

HOOK_HEADING = re.compile(r"^### `(\w+)\((.*)\)`\s*$", re.MULTILINE)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} (.+?)\s*$", re.MULTILINE)
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _annotation(value: Any) -> str:
    # hookspecs.py uses ``from __future__ import annotations``: annotations are their source text.
    return value if isinstance(value, str) else inspect.formatannotation(value)


def _spec(name: str) -> Callable[..., Any]:
    spec = getattr(hookspecs, name)
    assert callable(spec)
    return spec


def hook_heading(name: str) -> str:
    """``### `startup(commerce, settings)` `` — the parameter names, in order."""
    params = inspect.signature(_spec(name)).parameters
    return f"### `{name}({', '.join(params)})`"


def hook_def_line(name: str) -> str:
    """``def startup(commerce: Commerce, settings: Any) -> Awaitable[None] | None:``"""
    signature = inspect.signature(_spec(name))
    parts = []
    for param in signature.parameters.values():
        text = param.name
        if param.annotation is not param.empty:
            text += f": {_annotation(param.annotation)}"
        if param.default is not param.empty:
            text += f" = {param.default!r}"
        parts.append(text)
    returns = signature.return_annotation
    arrow = "" if returns is signature.empty else f" -> {_annotation(returns)}"
    return f"def {name}({', '.join(parts)}){arrow}:"


def _section(text: str, heading: str) -> str:
    """The text under ``heading`` up to the next heading of any level."""
    start = text.index(heading) + len(heading)
    following = re.search(r"^#{1,6} ", text[start:], re.MULTILINE)
    return text[start : start + following.start()] if following else text[start:]


# -- hooks ------------------------------------------------------------------------------------


def test_hook_names_are_found() -> None:
    assert hookspecs.HOOK_NAMES
    assert set(hookspecs.HOOK_NAMES) <= set(hookspecs.__all__)


@pytest.mark.parametrize("name", hookspecs.HOOK_NAMES)
def test_hook_is_documented_with_its_exact_signature(name: str) -> None:
    plugins_md = _text(DOCS / "plugins.md")
    heading = hook_heading(name)
    assert heading in plugins_md.splitlines(), (
        f"docs/plugins.md has no heading {heading!r} for the hook {name}"
    )
    section = _section(plugins_md, heading)
    blocks = [body for lang, body in FENCE.findall(section) if lang == "python"]
    assert blocks, f"{heading}: no python code block"
    assert hook_def_line(name) in blocks[0].splitlines(), (
        f"{heading}: the first code block must hold the exact line {hook_def_line(name)!r}"
    )
    prose = FENCE.sub("", section).strip()
    assert len(prose) > 80, f"{heading}: explain what the hook is for and when it is called"


def test_no_hook_is_documented_that_does_not_exist() -> None:
    documented = HOOK_HEADING.findall(_text(DOCS / "plugins.md"))
    stale = [name for name, _ in documented if name not in hookspecs.HOOK_NAMES]
    assert not stale, f"docs/plugins.md documents hooks that hookspecs.py lacks: {stale}"
    names = [name for name, _ in documented]
    assert len(names) == len(set(names)), "a hook is documented twice"


# -- events -----------------------------------------------------------------------------------


def _emitted_topics() -> set[str]:
    """Every string in the first argument of an ``….emit(topic, payload)`` call of the core."""
    topics = set()
    for path in (ROOT / "omnicore").rglob("*.py"):
        for node in ast.walk(ast.parse(_text(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "emit"
                and node.args
            ):
                # f"order.{status}" builds a topic: its pieces are not topics (a test of
                # the module that emits it checks the dynamic topics are documented)
                pieces = {id(part) for joined in ast.walk(node.args[0])
                          if isinstance(joined, ast.JoinedStr) for part in joined.values}
                topics.update(
                    value.value
                    for value in ast.walk(node.args[0])
                    if isinstance(value, ast.Constant) and isinstance(value.value, str)
                    and id(value) not in pieces
                )
    return topics


@pytest.mark.parametrize("status", [s.value for s in OrderStatus])
def test_every_order_status_topic_is_documented(status: str) -> None:
    page = _text(DOCS / "events-and-outbox.md")
    assert f"`order.{status}`" in page, f"docs/events-and-outbox.md lacks order.{status}"


def test_topics_are_found() -> None:
    assert {"product.created", "stock.changed"} <= _emitted_topics()


@pytest.mark.parametrize("topic", sorted(_emitted_topics()))
def test_event_topic_is_documented(topic: str) -> None:
    page = _text(DOCS / "events-and-outbox.md")
    assert f"`{topic}`" in page, f"docs/events-and-outbox.md does not document {topic}"


# -- command line -----------------------------------------------------------------------------

CLI_HEADING = re.compile(r"^##+ `omnicore ([a-z-]+(?: [a-z-]+)*)", re.MULTILINE)


def _cli_commands() -> set[str]:
    """Built-in commands of ``omnicore``, sub-commands of groups as ``"import stock"``."""
    import click

    from omnicore.cli.main import main

    found = set()
    for name, command in main.commands.items():
        found.add(name)
        if isinstance(command, click.Group):
            found.update(f"{name} {sub}" for sub in command.commands)
    return found


def _documented_commands() -> set[str]:
    return {
        " ".join(word for word in heading.split() if word.islower())
        for heading in CLI_HEADING.findall(_text(DOCS / "cli.md"))
    }


@pytest.mark.parametrize("command", sorted(_cli_commands()))
def test_cli_command_is_documented(command: str) -> None:
    assert command in _documented_commands(), f"docs/cli.md has no section for omnicore {command}"


@pytest.mark.parametrize("command", sorted(_documented_commands()))
def test_documented_cli_command_exists(command: str) -> None:
    assert command in _cli_commands(), f"docs/cli.md documents omnicore {command}, which is missing"


# -- pages and links --------------------------------------------------------------------------


def _links(path: Path) -> list[str]:
    text = FENCE.sub("", _text(path))
    return [target for target in LINK.findall(text) if ":" not in target.split("#")[0]]


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for heading in HEADING.findall(FENCE.sub("", _text(path))):
        slug = _slug(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def test_there_are_docs_pages() -> None:
    assert {"index.md", "plugins.md", "getting-started.md"} <= {p.name for p in PAGES}


@pytest.mark.parametrize("page", [p for p in PAGES if p.name != "index.md"], ids=lambda p: p.name)
def test_page_is_linked_from_the_index(page: Path) -> None:
    linked = {target.split("#")[0] for target in _links(DOCS / "index.md")}
    assert page.name in linked, f"docs/index.md does not link to {page.name}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_is_listed_in_the_readme(page: Path) -> None:
    linked = {target.split("#")[0] for target in _links(ROOT / "README.md")}
    assert f"docs/{page.name}" in linked, f"README.md's Documentation list lacks {page.name}"


def test_license_contributing_and_changelog() -> None:
    license_text = _text(ROOT / "LICENSE")
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert "END OF TERMS AND CONDITIONS" in license_text
    assert 'license = "Apache-2.0"' in _text(ROOT / "pyproject.toml")
    contributing = _text(ROOT / "CONTRIBUTING.md")
    assert "docs/architecture.md" in contributing and "OMNICORE_TEST_POSTGRES_URL" in contributing
    assert _text(ROOT / "CHANGELOG.md").startswith("# Changelog")


def test_readme_says_which_databases_the_suite_creates() -> None:
    """The README names the prefixes tests/conftest.py gives the databases it creates."""
    readme = _text(ROOT / "README.md")
    kinds = set(re.findall(r'database_name\("(\w+)"\)', _text(ROOT / "tests" / "conftest.py")))
    assert kinds == {"t", "tpl", "e"}
    for kind in kinds:
        assert f"`omnicore_{kind}_" in readme, f"README.md does not mention omnicore_{kind}_*"
    assert "PostgreSQL 13 or newer" in readme


@pytest.mark.parametrize(
    "page", [*MARKDOWN, ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md"],
    ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in _links(page):
        file_part, _, anchor = target.partition("#")
        destination = (page.parent / file_part).resolve() if file_part else page
        missing_anchor = anchor and destination.suffix == ".md" and (
            not destination.exists() or anchor not in _anchors(destination)
        )
        if not destination.exists() or missing_anchor:
            broken.append(target)
    assert not broken, f"{page.name}: broken links {broken}"


# -- snippets ---------------------------------------------------------------------------------


def _snippets() -> list[tuple[str, str]]:
    found = []
    for path in MARKDOWN:
        for index, (lang, body) in enumerate(FENCE.findall(_text(path))):
            if lang == "python":
                found.append((f"{path.relative_to(ROOT)}#{index}", body))
    return found


@pytest.mark.parametrize(("where", "code"), _snippets(), ids=[w for w, _ in _snippets()])
def test_python_snippet_compiles_and_imports_what_exists(where: str, code: str) -> None:
    if code.rstrip().endswith(":"):  # a signature alone, as in the hook reference
        code += "    ...\n"
    tree = compile(code, where, "exec", ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and (
            node.module == "omnicore" or node.module.startswith("omnicore.")
        ):
            module = importlib.import_module(node.module)
            missing = [a.name for a in node.names if not hasattr(module, a.name)]
            assert not missing, f"{where}: {node.module} has no {missing}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "omnicore" or alias.name.startswith("omnicore."):
                    importlib.import_module(alias.name)

"""The documentation site: mkdocs.yml's nav and the references docs/_gen/hooks.py generates.

``nox -s docs`` builds the site strictly; these tests hold the same promises in the
core suite, without MkDocs: every docs page is in the nav, every public package of
omnicore has its Python API page, and the generated GraphQL and hook references
show every operation, argument, type and hook.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
from pathlib import Path
from types import ModuleType

import pytest

from omnicore.gateway.schema import admin_schema, storefront_schema
from omnicore.plugins import hookspecs

ROOT = Path(__file__).resolve().parents[2]
MKDOCS = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
NAV = MKDOCS[MKDOCS.index("\nnav:"):]
NAV_PAGES = re.findall(r"^\s*- (?:[^:\n]+: )?([\w/.-]+\.md)\s*$", NAV, re.MULTILINE)


def _hooks_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "_gen" / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HOOKS = _hooks_module()


def test_every_docs_page_is_in_the_nav() -> None:
    pages = {p.name for p in (ROOT / "docs").glob("*.md")}
    assert pages <= set(NAV_PAGES), f"mkdocs.yml's nav lacks {sorted(pages - set(NAV_PAGES))}"
    generated = {"contributing.md", "changelog.md", "reference/graphql-storefront.md",
                 "reference/graphql-admin.md", "reference/hooks.md"}
    for page in NAV_PAGES:
        assert (page in pages or page in generated or page.startswith(HOOKS.PYTHON_API)), page


def test_every_public_package_has_a_python_api_page() -> None:
    named = {page[len(HOOKS.PYTHON_API):-3] for page in NAV_PAGES
             if page.startswith(HOOKS.PYTHON_API) and not page.endswith("index.md")}
    modules = set(HOOKS.public_modules())
    assert {"commerce", "stock", "carts", "checkout", "orders"} <= modules
    assert named == modules, f"add {sorted(modules - named)}, remove {sorted(named - modules)}"


@pytest.mark.parametrize("schema", [storefront_schema, admin_schema], ids=["storefront", "admin"])
def test_graphql_reference_shows_every_operation_argument_and_type(schema: object) -> None:
    page = HOOKS.graphql_reference("Reference", "/graphql", schema, "../guide.md")
    graphql_schema = schema.graphql_schema  # type: ignore[attr-defined]
    for root in (graphql_schema.query_type, graphql_schema.mutation_type,
                 graphql_schema.subscription_type):
        if root is None:
            continue
        for name, field in root.fields.items():
            section = page[page.index(f"### `{name}` {{ #"):]
            section = section[:section.index("\n### ", 1)] if "\n### " in section else section
            assert field.description, f"{root.name}.{name} has no description"
            assert " ".join(field.description.split()) in " ".join(section.split())
            for argument in field.args:
                assert f"| `{argument}` |" in section, f"{name}({argument})"
    for name in graphql_schema.type_map:
        if not name.startswith("__") and name not in {"Query", "Mutation", "Subscription",
                                                      "AdminQuery", "AdminMutation"}:
            assert f"### `{name}` {{ #type-{name.lower()} }}" in page, name
    # a link to a type points at its section
    for target in set(re.findall(r"\]\(#(type-\w+)\)", page)):
        assert f"{{ #{target} }}" in page, target


def test_hook_reference_shows_every_hook_with_its_signature_and_docstring() -> None:
    page = HOOKS.hook_reference()
    for name in hookspecs.HOOK_NAMES:
        spec = getattr(hookspecs, name)
        assert f"## `{name}`" in page, name
        source = inspect.getsource(spec)
        signature = source[source.index("def "):].split('"""')[0].rstrip()
        assert signature in page, f"{name}: its exact signature"
        first_line = inspect.cleandoc(spec.__doc__ or "").splitlines()[0]
        assert first_line.replace("``", "`") in page, f"{name}: its docstring"

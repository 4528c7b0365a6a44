"""MkDocs hooks (``hooks:`` in mkdocs.yml): the reference pages, generated at build time.

Nothing generated is committed, so nothing can go stale:

* ``reference/graphql-storefront.md`` and ``reference/graphql-admin.md`` — every
  operation, argument and type of ``omnicore.gateway.schema``'s two schemas, with
  their descriptions;
* ``reference/hooks.md`` — every hook of ``omnicore.plugins.hookspecs``: its exact
  signature and its docstring;
* ``reference/python/<name>.md`` — ``::: omnicore.<name>`` for mkdocstrings, one page
  per entry of the nav's "Python API" section. The build fails when a public
  package of omnicore has no entry there (or an entry names none);
* ``contributing.md`` and ``changelog.md`` — the repository's CONTRIBUTING.md and
  CHANGELOG.md.

Links that leave docs/ (``../examples/embed.py``) point into the repository: on
GitHub they work as they are; on the site they become the file's path, as code
(CONTRIBUTING.md and CHANGELOG.md: their pages).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the generators import without MkDocs: tests/docs/test_site.py runs them
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.files import Files
    from mkdocs.structure.pages import Page

ROOT = Path(__file__).resolve().parents[2]
PYTHON_API = "reference/python/"
#: omnicore packages that are no public API: persistence and the edge
NOT_PUBLIC = {"store", "cli"}
#: the modules of the shared foundations that a program uses directly
FOUNDATIONS = ["commerce", "money", "errors", "events", "config", "testing"]
ROOT_FILES = {"contributing.md": "CONTRIBUTING.md", "changelog.md": "CHANGELOG.md"}
LINK = re.compile(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)")


# -- GraphQL ----------------------------------------------------------------------------------


def _named(graphql_type: Any) -> Any:
    while hasattr(graphql_type, "of_type"):
        graphql_type = graphql_type.of_type
    return graphql_type


def _type_link(graphql_type: Any, local: set[str]) -> str:
    """``[Cart!]!`` with ``Cart`` linked to its section when this page defines it."""
    text = str(graphql_type)
    name = _named(graphql_type).name
    if name in local:
        return text.replace(name, f"[{name}](#type-{name.lower()})", 1)
    return text


def _cell(text: str | None) -> str:
    return " ".join((text or "").split()).replace("|", "\\|")


def _default(argument: Any) -> str:
    from graphql import Undefined, ast_from_value, print_ast

    if argument.default_value is Undefined:
        return ""
    node = ast_from_value(argument.default_value, argument.type)
    return f" = {print_ast(node)}" if node is not None else ""


def _arguments_table(arguments: dict[str, Any], local: set[str]) -> list[str]:
    if not arguments:
        return []
    lines = ["", "| argument | type | description |", "|---|---|---|"]
    for name, argument in arguments.items():
        lines.append(f"| `{name}` | {_type_link(argument.type, local)}{_default(argument)} "
                     f"| {_cell(argument.description)} |")
    return lines


def _operation(kind: str, name: str, field: Any, local: set[str]) -> list[str]:
    arguments = ", ".join(f"{n}: {a.type}{_default(a)}" for n, a in field.args.items())
    signature = f"{name}({arguments}): {field.type}" if arguments else f"{name}: {field.type}"
    lines = [f"### `{name}` {{ #{kind}-{name.lower()} }}", ""]
    if field.description:
        lines += [field.description, ""]
    lines += ["```graphql", signature, "```"]
    lines += _arguments_table(field.args, local)
    lines += ["", f"Returns {_type_link(field.type, local)}."]
    if field.deprecation_reason:
        lines += ["", f"**Deprecated**: {field.deprecation_reason}"]
    return [*lines, ""]


def _type_section(graphql_type: Any, local: set[str]) -> list[str]:
    from graphql import (
        GraphQLEnumType,
        GraphQLInputObjectType,
        GraphQLInterfaceType,
        GraphQLObjectType,
        GraphQLScalarType,
        GraphQLUnionType,
    )

    name = graphql_type.name
    lines = [f"### `{name}` {{ #type-{name.lower()} }}", ""]
    if graphql_type.description:
        lines += [graphql_type.description, ""]
    if isinstance(graphql_type, GraphQLObjectType | GraphQLInterfaceType):
        lines += ["| field | type | description |", "|---|---|---|"]
        for field_name, field in graphql_type.fields.items():
            arguments = ", ".join(f"{n}: {a.type}{_default(a)}" for n, a in field.args.items())
            shown = f"`{field_name}({arguments})`" if arguments else f"`{field_name}`"
            described = _cell(field.description)
            for argument_name, argument in field.args.items():
                if argument.description:
                    described += f" `{argument_name}`: {_cell(argument.description)}."
            lines.append(f"| {shown} | {_type_link(field.type, local)} | {described.strip()} |")
    elif isinstance(graphql_type, GraphQLInputObjectType):
        lines += ["| field | type | description |", "|---|---|---|"]
        for field_name, field in graphql_type.fields.items():
            lines.append(f"| `{field_name}` | {_type_link(field.type, local)}{_default(field)} "
                         f"| {_cell(field.description)} |")
    elif isinstance(graphql_type, GraphQLEnumType):
        lines += ["| value | description |", "|---|---|"]
        for value_name, value in graphql_type.values.items():
            lines.append(f"| `{value_name}` | {_cell(value.description)} |")
    elif isinstance(graphql_type, GraphQLUnionType):
        members = ", ".join(_type_link(t, local) for t in graphql_type.types)
        lines.append(f"One of {members}.")
    elif isinstance(graphql_type, GraphQLScalarType) and not graphql_type.description:
        lines.append("A scalar.")
    return [*lines, ""]


def graphql_reference(title: str, endpoint: str, schema: Any, guide: str) -> str:
    """The whole reference page of one schema."""
    graphql_schema = schema.graphql_schema
    roots = [("query", "Queries", graphql_schema.query_type),
             ("mutation", "Mutations", graphql_schema.mutation_type),
             ("subscription", "Subscriptions", graphql_schema.subscription_type)]
    root_names = {root.name for _, _, root in roots if root is not None}
    types = sorted((t for name, t in graphql_schema.type_map.items()
                    if not name.startswith("__") and name not in root_names),
                   key=lambda t: t.name.lower())
    local = {t.name for t in types}
    lines = [f"# {title}", "",
             f"Generated from the schema `{endpoint}` serves when this site was built: every "
             "operation, its arguments and every type, with their descriptions. The "
             f"[guide]({guide}) explains them with examples that run on the "
             "[demo](../demo.md).", ""]
    for kind, heading, root in roots:
        if root is None:
            continue
        lines += [f"## {heading}", ""]
        for name, field in root.fields.items():
            lines += _operation(kind, name, field, local)
    lines += ["## Types", ""]
    for graphql_type in types:
        lines += _type_section(graphql_type, local)
    return "\n".join(lines)


# -- hooks ------------------------------------------------------------------------------------


def _docstring_markdown(docstring: str) -> str:
    """A hookspec docstring: ``:param x:`` fields become a list, the rest stays prose."""
    body, params = [], []
    current: list[str] | None = None
    for line in inspect.cleandoc(docstring).splitlines():
        field = re.match(r":param (\w+):\s*(.*)", line.strip())
        returns = re.match(r":returns?:\s*(.*)", line.strip())
        if field:
            current = [f"- `{field.group(1)}`: {field.group(2)}"]
            params.append(current)
        elif returns:
            current = [f"- returns: {returns.group(1)}"]
            params.append(current)
        elif current is not None and line.startswith(" "):
            current.append(line.strip())
        else:
            current = None
            body.append(line)
    text = "\n".join(body).strip()
    text = re.sub(r"``([^`]+)``", r"`\1`", text)
    if params:
        items = "\n".join(re.sub(r"``([^`]+)``", r"`\1`", " ".join(p)) for p in params)
        text += "\n\n**Parameters**\n\n" + items
    return text


def hook_reference() -> str:
    from omnicore.plugins import hookspecs

    lines = ["# Hook reference", "",
             "Generated from `omnicore/plugins/hookspecs.py` when this site was built: every "
             "hook a plugin may implement, with its exact signature and its documentation. "
             "[Writing a plugin](../plugins.md) walks through a whole plugin.", "",
             _docstring_markdown(hookspecs.__doc__ or ""), ""]
    for name in hookspecs.HOOK_NAMES:
        spec = getattr(hookspecs, name)
        source = inspect.getsource(spec)
        signature = source[source.index("def "):].split('"""')[0].rstrip()
        options = getattr(spec, f"{hookspecs.PROJECT}_spec", {}) or {}
        flags = [key for key, value in options.items() if value is True]
        lines += [f"## `{name}`", "", "```python", f"@hookspec{_flags(flags)}", signature,
                  "```", "", _docstring_markdown(spec.__doc__ or "(no documentation)"), ""]
    return "\n".join(lines)


def _flags(flags: list[str]) -> str:
    return f"({', '.join(f'{flag}=True' for flag in flags)})" if flags else ""


# -- the Python API ---------------------------------------------------------------------------


def public_modules() -> list[str]:
    """``omnicore.<name>`` modules the Python API reference must show."""
    packages = sorted(path.parent.name for path in (ROOT / "omnicore").glob("*/__init__.py")
                      if path.parent.name not in NOT_PUBLIC)
    return FOUNDATIONS + packages


def _nav_paths(nav: Any) -> Iterator[str]:
    if isinstance(nav, str):
        yield nav
    elif isinstance(nav, dict):
        for value in nav.values():
            yield from _nav_paths(value)
    elif isinstance(nav, list):
        for item in nav:
            yield from _nav_paths(item)


def python_pages(config: MkDocsConfig) -> dict[str, str]:
    """``reference/python/<name>.md`` of the nav -> its page; every public module has one."""
    named = [path for path in _nav_paths(config.nav or []) if path.startswith(PYTHON_API)]
    modules = {path[len(PYTHON_API):-3]: path for path in named
               if not path.endswith("index.md")}
    missing = [m for m in public_modules() if m not in modules]
    unknown = [m for m in modules if m not in public_modules()]
    if missing or unknown:
        from mkdocs.exceptions import PluginError

        raise PluginError(f"mkdocs.yml's Python API nav: add {missing}, remove {unknown}")
    pages = {f"{PYTHON_API}index.md": python_index(modules)}
    for module, path in modules.items():
        pages[path] = "\n".join([
            f"# `omnicore.{module}`", "",
            f"::: omnicore.{module}",
            "    options:",
            "      show_root_heading: false",
            "      show_root_toc_entry: false", ""])
    return pages


def python_index(modules: dict[str, str]) -> str:
    """The Python API's first page: each module with the first line of its docstring."""
    import importlib

    lines = ["# Python API", "",
             "Generated from the docstrings when this site was built. A program embeds "
             "`Commerce` (`from omnicore import Commerce`) and reaches every service from "
             "it: `commerce.stock`, `commerce.carts` … Each domain package's `__init__` "
             "lists its public names in `__all__`: those are the pages below; everything "
             "else (`_underscore` modules) may change without notice.", "",
             "| module | what |", "|---|---|"]
    for module, path in modules.items():
        doc = (importlib.import_module(f"omnicore.{module}").__doc__ or "").strip()
        first = _cell(doc.split("\n\n")[0]) if doc else ""
        first = re.sub(r"``([^`]+)``", r"`\1`", first)
        lines.append(f"| [`omnicore.{module}`]({path[len(PYTHON_API):]}) | {first} |")
    return "\n".join(lines) + "\n"


# -- the MkDocs events ------------------------------------------------------------------------


def on_files(files: Files, config: MkDocsConfig) -> Files:
    from mkdocs.structure.files import File

    from omnicore.gateway.schema import admin_schema, storefront_schema

    generated = {
        "reference/graphql-storefront.md": graphql_reference(
            "Storefront schema reference", "/graphql", storefront_schema,
            "../graphql-storefront.md"),
        "reference/graphql-admin.md": graphql_reference(
            "Admin schema reference", "/admin/graphql", admin_schema, "../graphql-admin.md"),
        "reference/hooks.md": hook_reference(),
        **python_pages(config),
    }
    for page, source in ROOT_FILES.items():
        generated[page] = (ROOT / source).read_text(encoding="utf-8")
    for path, content in generated.items():
        files.append(File.generated(config, path, content=content))
    return files


def _outside_link(page: Page, target: str, config: MkDocsConfig) -> str | None:
    """The repository path of a relative link that leaves docs/, else None."""
    if re.match(r"^[a-z][a-z0-9+.-]*:|^#|^/", target):
        return None
    path = target.split("#")[0]
    if page.file.src_uri in ROOT_FILES:
        source = ROOT / ROOT_FILES[page.file.src_uri]
    else:
        source = Path(config.docs_dir) / page.file.src_uri
    resolved = (source.parent / path).resolve()
    docs = Path(config.docs_dir).resolve()
    if resolved == docs or docs in resolved.parents:
        return None
    return resolved.relative_to(ROOT).as_posix() if ROOT in resolved.parents else path


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Links to the repository outside docs/ become the path, as code; the root files'
    links into docs/ (``docs/stock.md``) point at the page."""
    in_root_file = page.file.src_uri in ROOT_FILES

    def replace(match: re.Match[str]) -> str:
        text, target = match.group(1), match.group(2)
        if in_root_file and target.startswith("docs/"):
            return f"[{text}]({target[len('docs/'):]})"
        outside = _outside_link(page, target, config)
        if outside is None:
            return match.group(0)
        for generated, source in ROOT_FILES.items():
            if outside == source:  # CONTRIBUTING.md, CHANGELOG.md: their pages on the site
                depth = page.file.src_uri.count("/")
                return f"[{text}]({'../' * depth}{generated})"
        label = text if text.startswith("`") else f"{text}"
        return label if outside in label else f"{label} (`{outside}`)"

    parts = re.split(r"(^```.*?^```)", markdown, flags=re.MULTILINE | re.DOTALL)
    return "".join(part if part.startswith("```") else LINK.sub(replace, part)
                   for part in parts)

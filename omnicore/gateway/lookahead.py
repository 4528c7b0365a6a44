"""Look-ahead: does the query select a field below the one being resolved?

A resolver that can load its children's data in bulk asks before it does::

    if selects(info, "variants", "price"):
        ...

Fragments (named and inline) are followed; ``@skip``/``@include`` are not
evaluated — a field they may leave out counts as selected, which costs at most
a read the answer does not use.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLResolveInfo,
    InlineFragmentNode,
    SelectionNode,
)

__all__ = ["selects"]


def _fields(selections: Iterable[SelectionNode], info: GraphQLResolveInfo,
            seen: frozenset[str] = frozenset()) -> Iterator[FieldNode]:
    """The fields of a selection set, fragments spread in (each fragment once per path)."""
    for selection in selections:
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _fields(selection.selection_set.selections, info, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = info.fragments.get(name)
            if fragment is not None and name not in seen:
                yield from _fields(fragment.selection_set.selections, info, seen | {name})


def selects(info: GraphQLResolveInfo, *path: str) -> bool:
    """Whether the field being resolved selects ``path`` (field names, as in the schema)."""
    level: list[FieldNode] = list(info.field_nodes)
    for name in path:
        level = [field for node in level if node.selection_set is not None
                 for field in _fields(node.selection_set.selections, info)
                 if field.name.value == name]
        if not level:
            return False
    return True

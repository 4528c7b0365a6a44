"""A cheap look at a document's text before graphql-core parses and validates it.

graphql-core's validation is superlinear in some shapes: ``OverlappingFieldsCanBeMerged``
compares every pair of fields that share a response name in one selection set
(1,600 repeated ``c:channel{code}`` — 25 KB — cost ~1.7 s), and every pair of
fragments spread into one. ``prepass`` bounds that work from the raw text in one
regular-expression scan (a 25 KB document in well under a millisecond), so that
no document costs more than a few milliseconds to refuse:

* selections (fields, fragment spreads, inline fragments) in the whole text:
  at most ``[gateway] max_selections``;
* aliases in the whole text: at most ``[gateway] max_aliases`` (the walk of
  ``omnicore.gateway.cost`` counts them again, fragments expanded);
* one response name in one selection set (inline fragments merged into their
  set, as validation merges them): at most ``MAX_REPEATS`` times;
* fragment definitions: at most ``MAX_FRAGMENTS``;
* lexical tokens: at most ``max_tokens`` (``MAX_TOKENS`` of ``omnicore.gateway.limits``);
* nesting of braces, brackets and parentheses: at most ``MAX_NESTING``.

The scan does not check the syntax: what it lets through is parsed (at most
``MAX_TOKENS`` tokens) and validated as before, and a malformed text it cannot
follow is simply left to the parser to refuse.
"""

from __future__ import annotations

import re

import attrs

__all__ = ["MAX_FRAGMENTS", "MAX_NESTING", "MAX_REPEATS", "Found", "TextLimits", "prepass"]

#: fragment definitions a document may have (validation compares them pairwise)
MAX_FRAGMENTS = 50
#: times one response name may appear in one selection set (compared pairwise)
MAX_REPEATS = 10
#: nested ``{`` / ``(`` / ``[`` a document may have (graphql-core parses recursively)
MAX_NESTING = 64

_TOKEN = re.compile(r'''
    (?P<skip>[\s,\ufeff]+|\#[^\n\r]*)
  | (?P<block>"""(?:\\"""|[^"]|"(?!""))*(?:"""|$))
  | (?P<string>"(?:\\.|[^"\\\n\r])*"?)
  | (?P<spread>\.\.\.)
  | (?P<name>[_A-Za-z][_0-9A-Za-z]*)
  | (?P<number>-?[0-9][0-9.eE+\-]*)
  | (?P<punct>[!$&():=@\[\]{}|])
  | (?P<other>.)
''', re.VERBOSE | re.DOTALL)


@attrs.frozen
class TextLimits:
    """The bounds the pre-pass applies (from ``[gateway]``)."""

    max_selections: int
    max_aliases: int
    max_tokens: int


@attrs.frozen
class Found:
    """What broke a bound: the ``[gateway]`` key or constant, its limit and the value."""

    what: str
    code: str
    limit: int
    value: int
    setting: str | None = None

    @property
    def message(self) -> str:
        where = f" ([gateway] {self.setting})" if self.setting else ""
        return (f"the document has more than {self.limit} {self.what}, the limit of "
                f"{self.limit}{where}: refused before parsing")


class _Set:
    """A selection set being scanned: the response names seen in it."""

    __slots__ = ("names",)

    def __init__(self) -> None:
        self.names: dict[str, int] = {}


def prepass(text: str, limits: TextLimits) -> Found | None:
    """``None`` when ``text`` stays within the bounds, else the first bound it breaks."""
    # the stack: a ``_Set`` for a selection set, "(", "[" or "o" (an object value)
    stack: list[_Set | str] = []
    selections = aliases = fragments = tokens = 0
    skip_name = False    # the next name is a directive's, a variable's or a type's
    inline = False       # after ``...`` (``on Type``, directives): a ``{`` is an inline fragment
    spread = False       # right after ``...``
    pending: str | None = None  # a field's name in a selection set: an alias if ":" follows

    def repeat(frame: _Set, name: str) -> Found | None:
        count = frame.names[name] = frame.names.get(name, 0) + 1
        if count > MAX_REPEATS:
            return Found(f"selections named {name!r} in one selection set",
                         "too_many_selections", MAX_REPEATS, count)
        return None

    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind == "skip":
            continue
        tokens += 1
        if tokens > limits.max_tokens:
            return Found("lexical tokens", "query_too_large", limits.max_tokens, tokens)
        value = match.group()
        top = stack[-1] if stack else None
        if pending is not None:
            assert isinstance(top, _Set)
            name, pending = pending, None
            if value == ":":  # ``alias: field``: the response name is the alias
                aliases += 1
                if aliases > limits.max_aliases:
                    return Found("aliases", "too_many_aliases", limits.max_aliases,
                                 aliases, "max_aliases")
                skip_name = True  # the field's own name follows
                found = repeat(top, name)
                if found is not None:
                    return found
                continue
            found = repeat(top, name)
            if found is not None:
                return found
        if kind == "name":
            if skip_name:
                skip_name = False
                continue
            if spread:
                spread = False
                if value == "on":
                    skip_name = True  # the type condition
                else:
                    inline = False  # ``...Name``: a fragment spread
                continue
            if not stack:
                if value == "fragment":
                    fragments += 1
                    if fragments > MAX_FRAGMENTS:
                        return Found("fragment definitions", "too_many_fragments",
                                     MAX_FRAGMENTS, fragments)
                    skip_name = True  # its name; then ``on Type``
                elif value == "on":
                    skip_name = True
                continue
            if isinstance(top, _Set):
                selections += 1
                if selections > limits.max_selections:
                    return Found("selections", "too_many_selections",
                                 limits.max_selections, selections, "max_selections")
                pending = value
                inline = False
            continue
        spread = False
        if kind == "spread":
            if isinstance(top, _Set):
                selections += 1
                if selections > limits.max_selections:
                    return Found("selections", "too_many_selections",
                                 limits.max_selections, selections, "max_selections")
            spread = inline = True
            continue
        if kind != "punct":
            continue
        if value in "@$":
            skip_name = True
            continue
        if value == "{":
            if top is None:
                frame: _Set | str = _Set()
            elif isinstance(top, _Set):
                frame = top if inline else _Set()  # an inline fragment merges into its set
            else:
                frame = "o"
            inline = False
            stack.append(frame)
        elif value in "([":
            stack.append(value)
        elif value in ")]}":
            if stack:
                stack.pop()
            continue
        else:
            continue
        if len(stack) > MAX_NESTING:
            return Found("levels of nesting", "query_too_deep", MAX_NESTING, len(stack))
    return None

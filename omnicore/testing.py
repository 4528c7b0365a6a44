"""Fixtures and fakes for tests — ours and plugin authors'.

    from omnicore.testing import FakeClock, RecordingPlugin, seed_minimal

``FakeClock`` lets a test move time (hold expiry, back-off) without sleeping;
``RecordingPlugin`` collects the events delivered to it; ``seed_minimal``
creates a warehouse, a store, a web channel and a product with stock;
``counting_statements`` lists the SQL statements run inside a block.

For plugins that call a vendor's HTTP API: ``RequestRecorder`` records every
request sent through httpx (respx mocks included), ``OpenApiDocument`` reads the
vendor's OpenAPI 3 / Swagger 2.0 model and ``ApiConformance`` checks recorded
requests against it (path, query parameters, body); ``conformance_fixture``
makes a pytest fixture that does both for every test. httpx and pytest are
imported only when these are used: the core does not depend on them.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

import attrs
from sqlalchemy import event

from omnicore.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from omnicore.commerce import Commerce
    from omnicore.events import Event

__all__ = ["ApiConformance", "ConformanceProblem", "FakeClock", "OpenApiDocument",
           "RecordedRequest", "RecordingPlugin", "RequestRecorder", "conformance_fixture",
           "counting_statements", "find_contracts", "paris_address", "seed_minimal"]


class FakeClock:
    """A clock that stands still until told to move."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = start or dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float = 0, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(seconds=seconds, **delta)
        return self.now


class RecordingPlugin:
    """Records every event delivered to it; can be told to fail the next ``fail_times`` calls."""

    def __init__(self, name: str = "recorder", *, fail_times: int = 0) -> None:
        self.name = name
        self.events: list[Event] = []
        self.fail_times = fail_times
        self.calls = 0

    @hookimpl
    def on_event(self, event: Event) -> None:
        self.calls += 1
        if self.fail_times > 0:
            self.fail_times -= 1
            raise RuntimeError("recorder told to fail")
        self.events.append(event)

    def topics(self) -> list[str]:
        return [e.topic for e in self.events]


def paris_address(line1: str = "1 rue de Rivoli", postal_code: str = "75001") -> dict[str, Any]:
    return {"line1": line1, "city": "Paris", "postal_code": postal_code, "country": "FR"}


async def seed_minimal(commerce: Commerce, *, on_hand: int = 10) -> dict[str, Any]:
    """A warehouse ``wh``, a store ``paris-1``, channel ``web`` (EUR) and SKU ``TEE-M``."""
    hours = {"weekly": {d: [{"open": "10:00", "close": "19:00"}]
                        for d in ("mon", "tue", "wed", "thu", "fri", "sat")}}
    await commerce.locations.save({
        "code": "wh", "name": "Central warehouse", "kind": "warehouse",
        "address": paris_address("5 avenue du Port", "93200"), "geo": {"lat": 48.93, "lng": 2.36},
        "timezone": "Europe/Paris", "capabilities": ["ship"], "priority": 10,
    })
    await commerce.locations.save({
        "code": "paris-1", "name": "Paris Rivoli", "kind": "store", "address": paris_address(),
        "geo": {"lat": 48.8606, "lng": 2.3376}, "timezone": "Europe/Paris", "hours": hours,
        "capabilities": ["pickup", "ship_from_store", "returns"], "priority": 50,
    })
    channel = await commerce.channels.save({
        "code": "web", "name": "Web shop", "kind": "web", "currency": "EUR",
        "locations": [{"location": "wh", "priority": 0}, {"location": "paris-1", "priority": 1}],
    })
    product = await commerce.catalog.save_product({
        "handle": "classic-tee", "title": "Classic tee",
        "variants": [{"sku": "TEE-M", "title": "M"}, {"sku": "TEE-L", "title": "L"}],
    })
    await commerce.catalog.set_prices([
        {"sku": "TEE-M", "amount": {"amount": "19.90", "currency": "EUR"}},
        {"sku": "TEE-L", "amount": {"amount": "19.90", "currency": "EUR"}},
    ])
    if on_hand:
        await commerce.stock.receive("TEE-M", "wh", on_hand, source="seed")
    return {"channel": channel, "product": product}


@contextmanager
def counting_statements(commerce: Commerce) -> Iterator[list[str]]:
    """Every SQL statement ``commerce`` runs inside the block, in order (SQLite's
    ``BEGIN`` included) — on each of its engines: writes and inline SQLite reads."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    engines = commerce.db.sync_engines()
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


# -- vendor API conformance ------------------------------------------------------------------
#
# A plugin's tests mock its vendor at the HTTP boundary. Whether the mock answers is no
# proof that the vendor would: these helpers record what the plugin sends and check it
# against the vendor's own machine-readable model (an OpenAPI 3 or Swagger 2.0 document).


@attrs.frozen
class RecordedRequest:
    """One HTTP request as the vendor receives it. Headers are not kept (they carry the
    credentials), only the content type."""

    method: str
    url: str
    content: bytes = b""
    content_type: str | None = None
    #: the pytest node id of the test that sent it, when known
    test: str | None = None

    @classmethod
    def of(cls, request: Any, *, test: str | None = None) -> RecordedRequest:
        """From an ``httpx.Request`` (or anything with ``method``, ``url``, ``headers``,
        ``content``)."""
        try:
            content = bytes(request.content)
        except Exception:  # a streamed body not read yet: nothing to check
            content = b""
        return cls(str(request.method).upper(), str(request.url), content,
                   request.headers.get("content-type"), test)

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def path(self) -> str:
        """The path as sent (percent-encoding kept: ``%2F`` stays inside its segment)."""
        return urlsplit(self.url).path or "/"

    @property
    def query(self) -> list[tuple[str, str]]:
        return parse_qsl(urlsplit(self.url).query, keep_blank_values=True)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


@attrs.frozen
class ConformanceProblem:
    """What is wrong with one request: ``where`` is ``path.<name>``, ``query.<name>``,
    ``body.<pointer>`` or ``operation``."""

    request: str
    operation: str | None
    where: str
    message: str
    test: str | None = None

    def __str__(self) -> str:
        operation = f" ({self.operation})" if self.operation else ""
        test = f" [in {self.test}]" if self.test else ""
        return f"{self.request}{operation}: {self.where}: {self.message}{test}"


_FORM = "application/x-www-form-urlencoded"
_PARAMETER = re.compile(r"\{([^}/]+)\}")
_INTEGER = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


@attrs.frozen
class _Operation:
    method: str
    template: str
    operation_id: str
    pattern: re.Pattern[str]
    literal: int
    parameters: tuple[Mapping[str, Any], ...]
    #: media type → schema (None: the operation takes no body)
    bodies: Mapping[str, Any] | None
    body_required: bool


class OpenApiDocument:
    """A vendor's API model: an OpenAPI 3.x or a Swagger 2.0 document (a parsed JSON dict).

    ``base_path`` is the prefix of every path in requests (Swagger's ``basePath``, or the
    path of OpenAPI's first server URL, by default). Requests are matched to operations by
    method and path; a literal segment wins over a template (``/items/search`` before
    ``/items/{id}``).
    """

    def __init__(self, document: Mapping[str, Any], *, name: str | None = None,
                 base_path: str | None = None) -> None:
        self.document = document
        info = document.get("info") or {}
        self.name = name or f"{info.get('title', 'API')} {info.get('version', '')}".strip()
        self.swagger2 = "swagger" in document
        if base_path is None:
            if self.swagger2:
                base_path = str(document.get("basePath") or "")
            else:
                servers = document.get("servers") or [{}]
                base_path = urlsplit(str(servers[0].get("url") or "")).path
        self.base_path = base_path.rstrip("/")
        self.operations = self._operations()

    @classmethod
    def load(cls, path: str | os.PathLike[str], **options: Any) -> OpenApiDocument:
        with open(path, encoding="utf-8") as handle:
            return cls(json.load(handle), **options)

    def resolve(self, node: Any) -> Any:
        """``node`` with its ``$ref`` (``#/definitions/X``, ``#/components/schemas/X`` …)
        followed."""
        seen = 0
        while isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise ValueError(f"only local references are supported: {ref}")
            target: Any = self.document
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node, seen = target, seen + 1
            if seen > 64:
                raise ValueError(f"reference loop at {ref}")
        return node

    def _operations(self) -> list[_Operation]:
        found: list[_Operation] = []
        for template, item in (self.document.get("paths") or {}).items():
            item = self.resolve(item)
            shared = [self.resolve(p) for p in item.get("parameters") or []]
            for method in _HTTP_METHODS:
                operation = item.get(method)
                if not isinstance(operation, Mapping):
                    continue
                own = [self.resolve(p) for p in operation.get("parameters") or []]
                names = {(p.get("in"), p.get("name")) for p in own}
                parameters = tuple(own + [p for p in shared
                                          if (p.get("in"), p.get("name")) not in names])
                bodies, required = self._bodies(operation, parameters)
                regex, literal = "", 0
                for piece in re.split(r"(\{[^}/]+\})", self.base_path + template):
                    if _PARAMETER.fullmatch(piece):
                        regex += f"(?P<p{len(regex)}>[^/]+)"
                    else:
                        regex += re.escape(piece)
                        literal += len(piece)
                found.append(_Operation(
                    method.upper(), template,
                    str(operation.get("operationId") or f"{method.upper()} {template}"),
                    re.compile(f"^{regex}/?$"), literal, parameters, bodies, required))
        # the most literal template first: /items/search before /items/{id}
        found.sort(key=lambda o: -o.literal)
        return found

    def _bodies(self, operation: Mapping[str, Any], parameters: Sequence[Mapping[str, Any]]
                ) -> tuple[dict[str, Any] | None, bool]:
        if self.swagger2:
            body = next((p for p in parameters if p.get("in") == "body"), None)
            form = [p for p in parameters if p.get("in") == "formData"]
            consumes = list(operation.get("consumes") or self.document.get("consumes")
                            or ["application/json"])
            if body is not None:
                return ({media: body.get("schema") or {} for media in consumes},
                        bool(body.get("required")))
            if form:
                schema = {"type": "object",
                          "properties": {p["name"]: p for p in form},
                          "required": [p["name"] for p in form if p.get("required")]}
                return {_FORM: schema}, any(p.get("required") for p in form)
            return None, False
        request_body = operation.get("requestBody")
        if request_body is None:
            return None, False
        request_body = self.resolve(request_body)
        content = request_body.get("content") or {}
        return ({media: (spec or {}).get("schema") or {} for media, spec in content.items()},
                bool(request_body.get("required")))

    def find(self, method: str, path: str) -> tuple[_Operation, dict[str, str]] | None:
        """The operation answering ``method path`` (the raw path) and its path parameters."""
        for operation in self.operations:
            if operation.method != method.upper():
                continue
            match = operation.pattern.match(path)
            if match is None:
                continue
            names = _PARAMETER.findall(operation.template)
            return operation, {name: unquote(value)
                               for name, value in zip(names, match.groups(), strict=True)}
        return None

    # -- checking one request ----------------------------------------------------------------

    def check(self, request: RecordedRequest) -> list[ConformanceProblem]:
        """Every way ``request`` departs from this model ([] when it conforms)."""
        found = self.find(request.method, request.path)
        if found is None:
            return [ConformanceProblem(str(request), None, "operation",
                                       f"no operation of {self.name} answers it",
                                       request.test)]
        operation, path_values = found
        problems: list[tuple[str, str]] = []
        self._check_parameters(operation, path_values, request, problems)
        self._check_body(operation, request, problems)
        return [ConformanceProblem(str(request), operation.operation_id, where, message,
                                   request.test) for where, message in problems]

    def _schema_of(self, parameter: Mapping[str, Any]) -> Any:
        # Swagger 2.0 puts type, enum, items, maxItems … on the parameter itself
        return parameter.get("schema") if "schema" in parameter else parameter

    def _check_parameters(self, operation: _Operation, path_values: Mapping[str, str],
                          request: RecordedRequest, problems: list[tuple[str, str]]) -> None:
        query: dict[str, list[tuple[str, str]]] = {}
        for key, value in request.query:
            query.setdefault(key.split("[", 1)[0], []).append((key, value))
        declared = {p.get("name") for p in operation.parameters if p.get("in") == "query"}
        for name in query:
            if name not in declared:
                problems.append((f"query.{name}", "is not a parameter of this operation"))
        for parameter in operation.parameters:
            where, name = parameter.get("in"), str(parameter.get("name"))
            schema = self.resolve(self._schema_of(parameter))
            if where == "path":
                if name in path_values:
                    self.validate(schema, path_values[name], f"path.{name}", problems,
                                  text=True)
            elif where == "query":
                pairs = query.get(name)
                if not pairs:
                    if parameter.get("required"):
                        problems.append((f"query.{name}", "is required but missing"))
                    continue
                value = self._query_value(parameter, schema, name, pairs, problems)
                if value is not None:
                    self.validate(schema, value, f"query.{name}", problems, text=True)

    def _query_value(self, parameter: Mapping[str, Any], schema: Any, name: str,
                     pairs: list[tuple[str, str]], problems: list[tuple[str, str]]) -> Any:
        if any(key != name for key, _ in pairs):  # bracket notation: name[], name[key]
            return _unflatten(pairs).get(name)
        values = [value for _, value in pairs]
        kind = schema.get("type") if isinstance(schema, Mapping) else None
        if kind == "array":
            style = parameter.get("collectionFormat", "csv") if self.swagger2 else (
                "multi" if parameter.get("explode", True) else "csv")
            if style == "multi":
                return values
            if len(values) > 1:
                problems.append((f"query.{name}", f"is given {len(values)} times; the model "
                                 f"wants one {style} list"))
            separator = {"csv": ",", "ssv": " ", "tsv": "\t", "pipes": "|"}.get(style, ",")
            return values[-1].split(separator) if values[-1] else []
        if len(values) > 1:
            problems.append((f"query.{name}", f"is given {len(values)} times"))
        return values[-1]

    def _check_body(self, operation: _Operation, request: RecordedRequest,
                    problems: list[tuple[str, str]]) -> None:
        content = request.content
        if operation.bodies is None:
            if content:
                problems.append(("body", "is sent, but the operation takes none"))
            return
        if not content:
            if operation.body_required:
                problems.append(("body", "is required but missing"))
            return
        media = (request.content_type or "").split(";", 1)[0].strip().lower()
        schema = operation.bodies.get(media)
        if schema is None:
            schema = next((s for m, s in operation.bodies.items()
                           if fnmatch.fnmatch(media, m.lower())), None)
        if schema is None:
            problems.append(("body", f"content type {media or 'none'!r} is not one of "
                             f"{', '.join(operation.bodies)}"))
            return
        if media == _FORM:
            value: Any = _unflatten(parse_qsl(content.decode(), keep_blank_values=True))
            self.validate(schema, value, "body", problems, text=True)
            return
        try:
            value = json.loads(content)
        except ValueError:
            problems.append(("body", "is not JSON"))
            return
        self.validate(schema, value, "body", problems)

    # -- a JSON Schema subset ------------------------------------------------------------------

    def validate(self, schema: Any, value: Any, where: str, problems: list[tuple[str, str]],
                 *, text: bool = False) -> None:
        """Check ``value`` against ``schema``: ``$ref``, ``allOf``/``anyOf``/``oneOf``,
        ``type`` (with ``nullable``), ``enum``, ``properties``, ``required``,
        ``additionalProperties``, ``items``, ``minItems``/``maxItems``, ``minLength``/
        ``maxLength``, ``pattern``, ``minimum``/``maximum``, ``format`` date-time and date.

        ``text``: scalars arrived as text (a query string, a form body) and are read as
        the schema's type says (``"4470"`` is an integer, ``"true"`` a boolean). Unlike
        JSON Schema, an object property the schema does not list is a problem unless
        ``additionalProperties`` allows it: vendors refuse unknown parameters.
        """
        schema = self.resolve(schema)
        if not isinstance(schema, Mapping):
            return
        if value is None and (schema.get("nullable") or schema.get("x-nullable")):
            return
        for part in schema.get("allOf") or []:
            self.validate(part, value, where, problems, text=text)
        alternatives = schema.get("anyOf") or schema.get("oneOf")
        if alternatives:
            outcomes: list[list[tuple[str, str]]] = []
            for alternative in alternatives:
                found: list[tuple[str, str]] = []
                self.validate(alternative, value, where, found, text=text)
                if not found:
                    break
                outcomes.append(found)
            else:
                fewest: list[tuple[str, str]] = min(outcomes, key=len)
                problems.extend(fewest)
                return
        kinds = schema.get("type")
        kinds = kinds if isinstance(kinds, list) else [kinds] if kinds else []
        if kinds:
            typed = [self._as_type(kind, value, text) for kind in kinds]
            if all(t is _MISMATCH for t in typed):
                shown = value if not isinstance(value, dict | list) else type(value).__name__
                problems.append((where, f"{shown!r} is not of type {' or '.join(kinds)}"))
                return
            value = next(t for t in typed if t is not _MISMATCH)
        if "enum" in schema and not _in_enum(value, schema["enum"], text):
            problems.append((where, f"{value!r} is not one of {schema['enum']!r}"))
        if isinstance(value, dict):
            self._object(schema, value, where, problems, text)
        elif isinstance(value, list):
            self._array(schema, value, where, problems, text)
        elif isinstance(value, str):
            self._string(schema, value, where, problems)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            if "minimum" in schema and value < schema["minimum"]:
                problems.append((where, f"{value} is less than the minimum {schema['minimum']}"))
            if "maximum" in schema and value > schema["maximum"]:
                problems.append((where, f"{value} is more than the maximum {schema['maximum']}"))

    def _as_type(self, kind: str, value: Any, text: bool) -> Any:
        if kind == "object":
            return value if isinstance(value, dict) else _MISMATCH
        if kind == "array":
            return value if isinstance(value, list) else _MISMATCH
        if kind == "null":
            return value if value is None else _MISMATCH
        if text and isinstance(value, str):
            if kind == "string":
                return value
            if kind == "integer":
                return int(value) if _INTEGER.fullmatch(value) else _MISMATCH
            if kind == "number":
                return float(value) if _NUMBER.fullmatch(value) else _MISMATCH
            if kind == "boolean":
                return {"true": True, "false": False}.get(value, _MISMATCH)
            return _MISMATCH
        if kind == "string":
            return value if isinstance(value, str) else _MISMATCH
        if kind == "boolean":
            return value if isinstance(value, bool) else _MISMATCH
        if kind == "integer":
            return value if isinstance(value, int) and not isinstance(value, bool) else (
                int(value) if isinstance(value, float) and value.is_integer() else _MISMATCH)
        if kind == "number":
            return value if isinstance(value, int | float) and not isinstance(value, bool) \
                else _MISMATCH
        return value

    def _object(self, schema: Mapping[str, Any], value: dict[str, Any], where: str,
                problems: list[tuple[str, str]], text: bool) -> None:
        properties = schema.get("properties") or {}
        for name in schema.get("required") or []:
            if name not in value:
                problems.append((f"{where}.{name}", "is required but missing"))
        extra = schema.get("additionalProperties")
        for name, item in value.items():
            if name in properties:
                self.validate(properties[name], item, f"{where}.{name}", problems, text=text)
            elif isinstance(extra, Mapping):
                self.validate(extra, item, f"{where}.{name}", problems, text=text)
            elif extra is False or (extra is None and properties):
                problems.append((f"{where}.{name}", "is not a property the model knows"))

    def _array(self, schema: Mapping[str, Any], value: list[Any], where: str,
               problems: list[tuple[str, str]], text: bool) -> None:
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            problems.append((where, f"has {len(value)} items; the model allows at most "
                             f"{schema['maxItems']}"))
        if "minItems" in schema and len(value) < schema["minItems"]:
            problems.append((where, f"has {len(value)} items; the model wants at least "
                             f"{schema['minItems']}"))
        if "items" in schema:
            for index, item in enumerate(value):
                self.validate(schema["items"], item, f"{where}[{index}]", problems, text=text)

    def _string(self, schema: Mapping[str, Any], value: str, where: str,
                problems: list[tuple[str, str]]) -> None:
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            problems.append((where, f"is {len(value)} characters long; at most "
                             f"{schema['maxLength']}"))
        if "minLength" in schema and len(value) < schema["minLength"]:
            problems.append((where, f"is {len(value)} characters long; at least "
                             f"{schema['minLength']}"))
        if "pattern" in schema and not re.search(schema["pattern"], value):
            problems.append((where, f"{value!r} does not match {schema['pattern']!r}"))
        kind = schema.get("format")
        if kind in ("date-time", "date"):
            try:
                parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                problems.append((where, f"{value!r} is not an ISO 8601 {kind}"))
            else:
                if kind == "date-time" and "T" not in value.upper():
                    problems.append((where, f"{value!r} is a date, not a date-time"))
                elif kind == "date-time" and parsed.tzinfo is None:
                    problems.append((where, f"{value!r} has no time zone"))


_MISMATCH = object()


def _in_enum(value: Any, choices: Sequence[Any], text: bool) -> bool:
    if value in choices and not (isinstance(value, bool) and True in choices and 1 in choices):
        return True
    if text:  # compare as the text it was sent as
        shown = ("true" if value else "false") if isinstance(value, bool) else str(value)
        return any(shown == (("true" if c else "false") if isinstance(c, bool) else str(c))
                   for c in choices)
    return False


def _unflatten(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Bracket notation → nested values: ``metadata[a]=1`` → ``{"metadata": {"a": "1"}}``,
    ``expand[]=x`` → ``{"expand": ["x"]}``, ``items[0][price]=p`` → ``{"items": [{…}]}``."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = [key.split("[", 1)[0], *re.findall(r"\[([^\]]*)\]", key)]
        node: Any = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            nxt = None if last else parts[index + 1]
            empty: Any = [] if nxt is not None and (nxt == "" or nxt.isdigit()) else {}
            if isinstance(node, list):
                if part == "":
                    node.append(value if last else empty)
                    node = node[-1]
                    continue
                position = int(part) if part.isdigit() else len(node)
                while len(node) <= position:
                    node.append(None)
                if last:
                    node[position] = value
                elif node[position] is None:
                    node[position] = empty
                node = node[position]
            else:
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, empty)
    return root


class ApiConformance:
    """Checks recorded requests against one or more models of a vendor.

    Requests to ``hosts`` (``fnmatch`` patterns: ``sellingpartnerapi-*.amazon.com``) must
    be answered by an operation of one of ``documents`` and conform to it; requests to
    other hosts (a token endpoint the models leave out, a pre-signed upload URL, the
    application's own ASGI app) are not checked.
    """

    def __init__(self, documents: Sequence[OpenApiDocument], *, hosts: Iterable[str]) -> None:
        self.documents = list(documents)
        self.hosts = tuple(hosts)

    def concerns(self, request: RecordedRequest) -> bool:
        return any(fnmatch.fnmatch(request.host, host) for host in self.hosts)

    def check(self, requests: Iterable[RecordedRequest | Any]) -> list[ConformanceProblem]:
        problems: list[ConformanceProblem] = []
        for item in requests:
            request = item if isinstance(item, RecordedRequest) else RecordedRequest.of(item)
            if not self.concerns(request):
                continue
            for document in self.documents:
                if document.find(request.method, request.path) is not None:
                    problems += document.check(request)
                    break
            else:
                names = ", ".join(d.name for d in self.documents)
                problems.append(ConformanceProblem(
                    str(request), None, "operation", f"no operation of {names} answers it",
                    request.test))
        return problems

    def assert_conform(self, requests: Iterable[RecordedRequest | Any]) -> None:
        """Raise ``AssertionError`` listing every problem of ``requests``."""
        problems = self.check(requests)
        if problems:
            raise AssertionError("requests that the vendor's model does not allow:\n"
                                 + "\n".join(f"  {p}" for p in problems))


class RequestRecorder:
    """Records the requests sent through httpx while ``recording()`` is active — by any
    ``httpx.Client`` or ``AsyncClient``, whatever its transport (a respx mock, an ASGI
    app, the network)."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []

    def record(self, request: Any, *, test: str | None = None) -> None:
        self.requests.append(request if isinstance(request, RecordedRequest)
                             else RecordedRequest.of(request, test=test))

    def clear(self) -> None:
        self.requests.clear()

    @contextmanager
    def recording(self, *, test: str | None = None) -> Iterator[RequestRecorder]:
        import httpx

        recorder = self
        async_send, sync_send = httpx.AsyncClient.send, httpx.Client.send

        async def record_async(client: httpx.AsyncClient, request: httpx.Request,
                               *args: Any, **kwargs: Any) -> httpx.Response:
            recorder.record(request, test=test)
            return await async_send(client, request, *args, **kwargs)

        def record_sync(client: httpx.Client, request: httpx.Request,
                        *args: Any, **kwargs: Any) -> httpx.Response:
            recorder.record(request, test=test)
            return sync_send(client, request, *args, **kwargs)

        httpx.AsyncClient.send = record_async  # type: ignore[method-assign,assignment]
        httpx.Client.send = record_sync  # type: ignore[method-assign,assignment]
        try:
            yield self
        finally:
            httpx.AsyncClient.send = async_send  # type: ignore[method-assign,assignment]
            httpx.Client.send = sync_send  # type: ignore[method-assign,assignment]


def find_contracts(start: str | os.PathLike[str], *parts: str) -> Path | None:
    """The folder ``shared/contracts/<parts>`` beside the repository that holds ``start``
    (a test file): the first ``<ancestor>/../shared/contracts/<parts>`` that exists."""
    for folder in Path(start).resolve().parents:
        candidate = folder.parent.joinpath("shared", "contracts", *parts)
        root = (folder / ".git").exists() or (folder / "pyproject.toml").exists()
        if root and candidate.is_dir():
            return candidate
    return None


def conformance_fixture(conformance: Callable[[], ApiConformance | None], *,
                        name: str = "vendor_requests", autouse: bool = True) -> Any:
    """A pytest fixture that records each test's httpx requests and, when the test ends,
    fails it (an error at teardown) if one of them does not conform::

        # conftest.py of a plugin
        vendor_requests = conformance_fixture(lambda: ApiConformance(
            [OpenApiDocument.load(CONTRACTS / "vendor.json")], hosts=["api.vendor.com"]))

    ``conformance`` is called once, at the first test; it may return None (the models
    are not available: requests are recorded, not checked). The fixture yields the
    ``RequestRecorder``; a test that sends a bad request on purpose calls
    ``vendor_requests.clear()`` after it.
    """
    import pytest

    loaded: list[ApiConformance | None] = []

    @pytest.fixture(name=name, autouse=autouse)
    def fixture(request: Any) -> Iterator[RequestRecorder]:
        if not loaded:
            loaded.append(conformance())
        recorder = RequestRecorder()
        with recorder.recording(test=request.node.nodeid):
            yield recorder
        if loaded[0] is not None:
            loaded[0].assert_conform(recorder.requests)

    return fixture

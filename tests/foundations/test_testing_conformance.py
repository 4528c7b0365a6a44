"""``omnicore.testing``'s conformance helpers: a recorder around httpx and a checker of
requests against a vendor's OpenAPI 3 / Swagger 2.0 model."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from omnicore.testing import (
    ApiConformance,
    OpenApiDocument,
    RecordedRequest,
    RequestRecorder,
)

UPDATE = "#/components/schemas/Update"
OPENAPI3: dict[str, Any] = {
    "openapi": "3.0.0", "info": {"title": "Shop API", "version": "1"},
    "servers": [{"url": "https://api.vendor.test/v1"}],
    "paths": {
        "/items/search": {"get": {"operationId": "SearchItems", "parameters": [
            {"name": "query", "in": "query", "required": True, "schema": {"type": "string"}},
            {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 100}},
            {"name": "expand", "in": "query", "style": "deepObject", "explode": True,
             "schema": {"type": "array", "items": {"type": "string"}}}]}},
        "/items/{item}": {
            "parameters": [{"name": "item", "in": "path", "required": True,
                            "schema": {"type": "string", "pattern": "^it_"}}],
            "get": {"operationId": "GetItem"},
            "post": {"operationId": "UpdateItem", "requestBody": {"required": True, "content": {
                "application/x-www-form-urlencoded": {"schema": {"$ref": UPDATE}},
                "application/json": {"schema": {"$ref": UPDATE}}}}}},
    },
    "components": {"schemas": {"Update": {"type": "object", "required": ["amount"], "properties": {
        "amount": {"type": "integer", "minimum": 0},
        "state": {"type": "string", "enum": ["open", "closed"]},
        "when": {"type": "string", "format": "date-time", "nullable": True},
        "tags": {"type": "array", "maxItems": 2, "items": {"type": "string"}},
        "metadata": {"anyOf": [{"type": "object", "additionalProperties": {"type": "string"}},
                               {"type": "string", "enum": [""]}]}}}}},
}

SWAGGER2: dict[str, Any] = {
    "swagger": "2.0", "info": {"title": "Listings", "version": "2021"}, "basePath": "/api",
    "paths": {"/things/{id}": {"put": {"operationId": "putThing", "parameters": [
        {"name": "id", "in": "path", "required": True, "type": "string"},
        {"name": "markets", "in": "query", "required": True, "type": "array", "maxItems": 1,
         "items": {"type": "string"}, "collectionFormat": "csv"},
        {"name": "body", "in": "body", "required": True,
         "schema": {"$ref": "#/definitions/Thing"}}]}}},
    "definitions": {"Thing": {"type": "object", "required": ["kind"],
                              "properties": {"kind": {"type": "string"}}}},
}


def wheres(document: dict[str, Any], method: str, url: str, body: bytes = b"",
           content_type: str | None = None) -> list[str]:
    """Where the request departs from the model, sorted."""
    request = RecordedRequest(method, url, body, content_type)
    return sorted(p.where for p in OpenApiDocument(document).check(request))


def test_a_literal_path_wins_over_a_template_and_parameters_are_read_as_typed() -> None:
    api = "https://api.vendor.test/v1"
    assert wheres(OPENAPI3, "GET", f"{api}/items/search?query=a&limit=5&expand[]=x") == []
    assert wheres(OPENAPI3, "GET", f"{api}/items/search?limit=500") == [
        "query.limit", "query.query"]
    assert wheres(OPENAPI3, "GET", f"{api}/items/search?query=a&limit=five&sort=up") == [
        "query.limit", "query.sort"]
    assert wheres(OPENAPI3, "GET", f"{api}/items/xx_1") == ["path.item"]
    assert wheres(OPENAPI3, "DELETE", f"{api}/items/it_1") == ["operation"]


def test_form_and_json_bodies_are_checked_against_the_schema() -> None:
    url, form = "https://api.vendor.test/v1/items/it_1", "application/x-www-form-urlencoded"
    good = b"amount=4470&state=open&tags[]=a&metadata[order]=1"
    assert wheres(OPENAPI3, "POST", url, good, form) == []
    assert wheres(OPENAPI3, "POST", url, b"amount=1&metadata=", form) == []  # emptyable
    assert wheres(OPENAPI3, "POST", url, b"amount=-1&state=gone&tags[]=a&tags[]=b&tags[]=c"
                  b"&extra=1", form) == ["body.amount", "body.extra", "body.state", "body.tags"]
    body = json.dumps({"amount": 1, "when": None}).encode()
    assert wheres(OPENAPI3, "POST", url, body, "application/json") == []
    body = json.dumps({"amount": True, "when": "2026-03-02"}).encode()
    assert wheres(OPENAPI3, "POST", url, body, "application/json") == [
        "body.amount", "body.when"]
    assert wheres(OPENAPI3, "POST", url, b"amount=1", "text/plain") == ["body"]
    assert wheres(OPENAPI3, "POST", url) == ["body"]  # required
    assert wheres(OPENAPI3, "GET", url, b"x", "text/plain") == ["body"]  # takes none


def test_swagger_2_parameters_and_comma_lists() -> None:
    url, body = "https://x.test/api/things/a%2Fb", json.dumps({"kind": "k"}).encode()
    assert wheres(SWAGGER2, "PUT", f"{url}?markets=A", body, "application/json") == []
    assert wheres(SWAGGER2, "PUT", f"{url}?markets=A,B", body, "application/json") == [
        "query.markets"]
    assert wheres(SWAGGER2, "PUT", url, b"{}", "application/json") == [
        "body.kind", "query.markets"]
    found = OpenApiDocument(SWAGGER2).find("PUT", "/api/things/a%2Fb")
    assert found is not None and found[1] == {"id": "a/b"}


async def test_the_recorder_sees_every_httpx_request_and_the_checker_only_its_hosts() -> None:
    checker = ApiConformance([OpenApiDocument(OPENAPI3)], hosts=["api.vendor.test"])
    recorder = RequestRecorder()
    with respx.mock() as router, recorder.recording(test="here"):
        router.route().mock(return_value=httpx.Response(200, json={}))
        async with httpx.AsyncClient() as client:
            await client.post("https://api.vendor.test/v1/items/it_1",
                              data={"amount": "3", "colour": "red"})
            await client.post("https://auth.vendor.test/token", data={"grant": "x"})
        with httpx.Client() as client:
            client.get("https://api.vendor.test/v1/items/search", params={"query": "q"})
    assert [str(r) for r in recorder.requests] == [
        "POST /v1/items/it_1", "POST /token", "GET /v1/items/search"]
    assert {r.test for r in recorder.requests} == {"here"}
    (problem,) = checker.check(recorder.requests)
    assert (problem.operation, problem.where, problem.test) == (
        "UpdateItem", "body.colour", "here")
    with pytest.raises(AssertionError, match=r"body\.colour"):
        checker.assert_conform(recorder.requests)
    assert httpx.AsyncClient.send.__name__ == "send"  # put back


def test_the_fixture_fails_the_test_that_sent_a_bad_request(tmp_path: Path) -> None:
    (tmp_path / "openapi.json").write_text(json.dumps(OPENAPI3))
    (tmp_path / "test_vendor.py").write_text(textwrap.dedent('''
        import httpx, respx
        from pathlib import Path
        from omnicore.testing import ApiConformance, OpenApiDocument, conformance_fixture

        vendor_requests = conformance_fixture(lambda: ApiConformance(
            [OpenApiDocument.load(Path(__file__).with_name("openapi.json"))],
            hosts=["api.vendor.test"]))

        def call(data):
            with respx.mock() as router:
                router.route().mock(return_value=httpx.Response(200, json={}))
                httpx.post("https://api.vendor.test/v1/items/it_1", data=data)

        def test_good():
            call({"amount": "3"})

        def test_bad():
            call({"amount": "three"})
    '''))
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(tmp_path)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "2 passed, 1 error" in run.stdout, run.stdout
    assert "ERROR" in run.stdout and "test_bad" in run.stdout
    assert "body.amount: 'three' is not of type integer" in run.stdout

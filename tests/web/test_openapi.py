"""The OpenAPI document describes the API as it answers (issue 23, item 10): the one error shape for every
error status, a true `Allow` on 405, downloads as the files they are, and request schemas that refuse what
the server refuses (empty required text, dates given as numbers, booleans given as words)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


@pytest.fixture
def spec(app: Any) -> dict[str, Any]:
    c = TestClient(app)
    try:
        return c.get("/openapi.json").json()
    finally:
        c.close()


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, op in item.items():
            yield method.upper(), path, op


def test_errors_are_documented_in_the_one_shape(spec: dict[str, Any]) -> None:
    body = spec["components"]["schemas"]["ErrorBody"]
    assert set(body["required"]) == {"error", "message", "detail"}
    assert "HTTPValidationError" not in spec["components"]["schemas"]  # FastAPI's 422, which we never send
    wrong = [f"{method} {path} {status}" for method, path, op in _operations(spec)
             for status in ("401", "403", "404", "409", "413", "422", "429")
             if op["responses"].get(status, {}).get("content") != {"application/json": {"schema": ERROR_REF}}]
    assert wrong == []


def test_downloads_are_documented_as_what_they_are(spec: dict[str, Any]) -> None:
    files = {"/api/v1/access/entities/{code}/records/{category}/export": "text/csv",
             "/api/v1/deliveries/{delivery_id}/issues.csv": "text/csv",
             "/api/v1/credit/reports/{report_no}/pdf": "application/pdf"}
    for path, media in files.items():
        assert list(spec["paths"][path]["get"]["responses"]["200"]["content"]) == [media], path


def test_an_unsupported_method_names_the_allowed_ones(login: Any) -> None:
    c = login("operator")
    r = c.put("/api/v1/access/authorizations", headers={"X-CSRF-Token": c.csrf})
    assert r.status_code == 405 and r.json()["error"] == "METHOD_NOT_ALLOWED"
    assert r.headers["allow"] == "GET, POST"  # two routes share the path: both methods are named
    assert c.request("TRACE", "/api/v1/catalog").headers["allow"] == "GET"



MAY_BE_EMPTY = {("Decision", "reason"): "登记审核（check）的意见可以为空；其余决定由服务要求至少 2 个字"}


def _request_schemas(spec: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    pending = [media.get("schema", {}) for _, _, op in _operations(spec)
               for media in op.get("requestBody", {}).get("content", {}).values()]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref and ref.rsplit("/", 1)[-1] not in names:
                names.add(ref.rsplit("/", 1)[-1])
                pending.append(spec["components"]["schemas"][ref.rsplit("/", 1)[-1]])
            pending.extend(v for k, v in node.items() if k != "$ref")
        elif isinstance(node, list):
            pending.extend(node)
    return names


def test_required_strings_say_they_cannot_be_empty(spec: dict[str, Any]) -> None:
    loose = []
    for name in sorted(_request_schemas(spec)):
        model = spec["components"]["schemas"][name]
        for prop in model.get("required", []):
            field = model["properties"][prop]
            free_text = not {"format", "enum", "contentMediaType"} & set(field)
            if field.get("type") == "string" and free_text and not field.get("minLength") \
                    and (name, prop) not in MAY_BE_EMPTY:
                loose.append(f"{name}.{prop}")
    assert loose == []


def test_the_server_refuses_what_the_document_refuses(login: Any) -> None:
    """Empty required text and dates given as numbers: refused as the document says, naming the field."""
    op = login("operator")
    h = {"X-CSRF-Token": op.csrf}
    r = op.post("/api/v1/network/feedback", json={"entity_code": "91230100XY00000121", "category": "tax",
                                                  "problem": ""}, headers=h)
    assert r.status_code == 422 and r.json()["error"] == "INVALID_INPUT"
    assert [d["field"] for d in r.json()["detail"]] == ["problem"]
    for query in ("from=0", "to=1700000000", "from=2026-11-15T00:00:00"):
        r = op.get(f"/api/v1/access/audit?{query}")
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == query.split("=")[0], query
    assert op.get("/api/v1/access/audit?from=2026-11-01&to=2026-11-15").status_code == 200
    r = op.post("/api/v1/network/reconciliations", json={"force": "yes"}, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "force"

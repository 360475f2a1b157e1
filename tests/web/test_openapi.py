"""The OpenAPI document describes the API as it answers (issue 23, item 10): the one error shape for every
error status, a true `Allow` on 405, downloads as the files they are."""

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

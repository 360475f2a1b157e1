"""Integers a client sends are bounded before they reach the database (issue 23, item 9).

SQLite and PostgreSQL store 64-bit integers: a page number whose offset passes 2⁶³ or an id of 2⁶³ made the
driver raise, and the caller got a 500. Every integer a route takes is now declared with bounds, so such a
request is refused with a 422 in the one error shape, naming the parameter."""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import BaseModel

from xinyidai.kit.pagination import MAX_PAGE, PageRequest

HUGE = 2**63
PAGE = 2**60

# The list endpoints of the JSON API that page (each as a role allowed to read it).
PAGED_API = [
    ("operator", "/api/v1/access/authorizations"),
    ("enterprise", "/api/v1/access/my/accesses"),
    ("operator", "/api/v1/access/audit"),
    ("operator", "/api/v1/access/alerts"),
    ("operator", "/api/v1/network/peers"),
    ("operator", "/api/v1/network/transfers"),
    ("operator", "/api/v1/entities"),
    ("operator", "/api/v1/deliveries"),
    ("operator", "/api/v1/deliveries/1/issues"),
    ("operator", "/api/v1/institutions"),
    ("operator", "/api/v1/whitelists"),
    ("bank", "/api/v1/whitelists/delivered"),
    ("operator", "/api/v1/whitelists/WL-1"),
]

# Pages that page, as people reach them.
PAGED_PAGES = [
    ("operator", "/entities"), ("operator", "/deliveries"), ("operator", "/deliveries/1"),
    ("operator", "/institutions"), ("operator", "/audit"), ("operator", "/access/audit"),
    ("operator", "/access/alerts"), ("enterprise", "/my/authorizations"), ("enterprise", "/my/accesses"),
    ("operator", "/network/applications"), ("operator", "/network/transfers"),
    ("operator", "/network/reconciliation"), ("operator", "/network/needs"), ("operator", "/whitelists/lists"),
    ("operator", "/whitelists/lists/WL-1"), ("operator", "/keyprojects"), ("bank", "/bank/whitelists"),
    ("bank", "/bank/whitelists/WL-1"),
]

# Routes naming a stored row by its integer id: (role, method, path with {id}, the parameter's name).
BY_ID = [
    ("operator", "POST", "/api/v1/access/alerts/{id}/close", "alert_id"),
    ("operator", "GET", "/api/v1/deliveries/{id}", "delivery_id"),
    ("operator", "GET", "/api/v1/deliveries/{id}/issues", "delivery_id"),
    ("operator", "GET", "/api/v1/deliveries/{id}/issues.csv", "delivery_id"),
    ("operator", "GET", "/api/v1/records/{id}/history", "record_id"),
    ("operator", "POST", "/api/v1/records/{id}/withdraw", "record_id"),
    ("operator", "POST", "/api/v1/records/{id}/correct", "record_id"),
    ("operator", "POST", "/api/v1/institutions/91230100MA1AAAAA0X/users/{id}/active", "user_id"),
    ("operator", "GET", "/deliveries/{id}", "delivery_id"),
    ("operator", "GET", "/deliveries/{id}/progress", "delivery_id"),
    ("operator", "GET", "/records/{id}/history", "record_id"),
    ("operator", "GET", "/credit/models/{id}", "model_id"),
    ("operator", "POST", "/credit/models/{id}/status", "model_id"),
    ("operator", "POST", "/credit/models/{id}/monitor", "model_id"),
    ("operator", "GET", "/credit/runs/{id}/progress", "run_id"),
    ("operator", "POST", "/whitelists/subscriptions/{id}/delete", "sub_id"),
    ("operator", "POST", "/institutions/91230100MA1AAAAA0X/users/{id}/active", "user_id"),
    ("operator", "POST", "/access/alerts/{id}/close", "alert_id"),
    ("enterprise", "POST", "/my/colleagues/{id}/active", "user_id"),
]


def _refusal(c: TestClient, method: str, url: str, field: str) -> str | None:
    """None when the request is refused with a 422 in the one error shape naming `field`, else what came
    instead (the test client raises what the server did not handle)."""
    try:
        r = c.request(method, url, headers={"X-CSRF-Token": c.csrf})  # type: ignore[attr-defined]
    except Exception as exc:  # noqa: BLE001 - reported with the route it came from
        return f"500 {type(exc).__name__}: {exc}"
    try:
        body = r.json()
    except ValueError:
        return f"{r.status_code} {r.text[:80]!r}"
    if r.status_code == 422 and set(body) == {"error", "message", "detail"} and body["error"] == "INVALID_INPUT" \
            and field in {d["field"] for d in body["detail"]}:
        return None
    return f"{r.status_code} {str(body)[:120]}"


def _by_role(rows: list[tuple[str, ...]]) -> dict[str, list[tuple[str, ...]]]:
    out: dict[str, list[tuple[str, ...]]] = {}
    for role, *rest in rows:
        out.setdefault(role, []).append(tuple(rest))
    return out


def test_a_huge_page_number_is_refused(login) -> None:  # noqa: ANN001
    wrong = []
    for role, paths in _by_role(PAGED_API + PAGED_PAGES).items():
        c: TestClient = login(role)
        for (path,) in paths:
            for page in (PAGE, MAX_PAGE + 1):
                if (got := _refusal(c, "GET", f"{path}?page={page}", "page")) is not None:
                    wrong.append(f"{role} {path}?page={page}: {got}")
    assert wrong == []


def test_an_id_beyond_64_bits_is_refused(login) -> None:  # noqa: ANN001
    wrong = []
    for role, routes in _by_role(BY_ID).items():
        c: TestClient = login(role)
        for method, path, field in routes:
            for bad in (HUGE, -HUGE - 1, 10**30):
                if (got := _refusal(c, method, path.format(id=bad), field)) is not None:
                    wrong.append(f"{role} {method} {path} {bad}: {got}")
    assert wrong == []


# Keys stored as INTEGER are 32 bits on PostgreSQL: one past that was a driver error (found by schemathesis).
SMALL_IDS = {"user_id", "model_id", "run_id", "sub_id"}


def test_an_id_beyond_a_32_bit_key_is_refused(login) -> None:  # noqa: ANN001
    wrong = []
    for role, routes in _by_role(BY_ID).items():
        c: TestClient = login(role)
        for method, path, field in routes:
            if field in SMALL_IDS and (got := _refusal(c, method, path.format(id=2**31), field)) is not None:
                wrong.append(f"{role} {method} {path}: {got}")
    assert wrong == []
    c = login("operator")
    assert c.get(f"/credit/models/{2**31 - 1}").status_code == 404  # the largest such key is only not found


def test_a_nul_character_is_refused_with_a_clear_error(login) -> None:  # noqa: ANN001
    """PostgreSQL stores no NUL in text; in an address or a query it is refused before any route runs."""
    c: TestClient = login("operator")
    for url in ("/api/v1/entities?q=a%00b", "/api/v1/entities/9123%000100MA1AAAAA0X"):
        r = c.get(url)
        assert r.status_code == 422 and r.json()["error"] == "INVALID_INPUT" and "空字符" in r.json()["message"]
    assert c.get("/api/v1/entities?q=ab").status_code == 200


def test_the_last_page_any_client_may_ask_for_runs(login) -> None:  # noqa: ANN001
    c: TestClient = login("operator")
    r = c.get("/api/v1/deliveries", params={"page": MAX_PAGE, "size": 200})
    assert r.status_code == 200 and r.json()["items"] == [] and r.json()["page"] == MAX_PAGE


def test_paging_clamps_what_services_are_given() -> None:
    assert PageRequest(PAGE, 10**6).clamp() == PageRequest(MAX_PAGE, 200)
    assert PageRequest(-PAGE, -5).clamp() == PageRequest(1, 1)


def _int_fields(annotation: Any) -> list[tuple[str, Any]]:
    """The integer fields a request model takes, nested models included."""
    found: list[tuple[str, Any]] = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, f in annotation.model_fields.items():
            if f.annotation in (int, int | None):
                found.append((f"{annotation.__name__}.{name}", f))
            found.extend(_int_fields(f.annotation))
    return found


def _bounded(field_info: Any) -> bool:
    lows = [getattr(m, "ge", None) if getattr(m, "ge", None) is not None else getattr(m, "gt", None)
            for m in field_info.metadata]
    highs = [getattr(m, "le", None) if getattr(m, "le", None) is not None else getattr(m, "lt", None)
             for m in field_info.metadata]
    low = max((x for x in lows if x is not None), default=None)
    high = min((x for x in highs if x is not None), default=None)
    return low is not None and high is not None and low >= -(2**63) and high <= 2**63 - 1


def _params(dependant: Any) -> list[Any]:
    out = [*dependant.path_params, *dependant.query_params, *dependant.header_params, *dependant.body_params]
    for sub in dependant.dependencies:
        out.extend(_params(sub))
    return out


def test_every_integer_a_route_takes_is_bounded(app) -> None:  # noqa: ANN001
    """Keeps it true for routes still to come: each integer parameter (path, query, header, form) and each
    integer field of a JSON body declares a lower and an upper bound within 64 bits."""
    loose: list[str] = []
    for ctx in iter_route_contexts(app.routes):
        route = ctx.original_route
        if not isinstance(route, APIRoute):
            continue
        for param in _params(route.dependant):
            info = param.field_info
            if param.field_info.annotation in (int, int | None) and not _bounded(info):
                loose.append(f"{route.path} {param.name}")
            loose.extend(f"{route.path} {name}" for name, f in _int_fields(info.annotation) if not _bounded(f))
    assert loose == []

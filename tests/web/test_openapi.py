"""The OpenAPI document describes the API as it answers (issue 23, item 10).

The document promises an error shape, status codes, media types and bounds; `schemathesis` generates
requests from it for every operation, sends them to the application in-process (ASGI, no network) as an
operator (session cookie) and as a bank (API key), and checks each answer against the promise. Bounded:
eight random examples per operation besides the coverage scenarios, seeded and deterministic; about half a
minute per role here.

Every operation of the document is run; none is excluded. The HTML pages and /healthz are not in the
document (`include_in_schema=False`: they are for browsers and load balancers, not API clients), so they
are not run here; their bounds and errors are tested in test_bounds.py, test_limits.py and test_shell.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events, from_schema
from sqlalchemy import update

from tests.access.conftest import BANK_A, BANK_B, ENTITY, OTHER_ENTITY, populate
from tests.web.conftest import PASSWORD, csrf_of
from xinyidai.accounts.users import create_user
from xinyidai.app import create_app
from xinyidai.config import load_settings
from xinyidai.institutions import onboarding
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit.db import Database
from xinyidai.kit.principal import Principal
from xinyidai.policy import programmes

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
            free_text = not {"format", "enum", "const", "contentMediaType"} & set(field)
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


# ── the whole API, generated from the document ───────────────────────────────────────────────────────────

# What each answer is held to: no server error; the status, media type, headers and body the document
# declares; schema-invalid input refused; an undeclared method answered 405 with `Allow`.
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance", "response_headers_conformance", "negative_data_rejection",
          "unsupported_method")


@pytest.fixture
def world(db: Database, catalog: Any, tmp_path: Path) -> dict[str, Any]:
    """A node with the access tests' small world, users for each role, an API key for its bank and a running
    policy programme of Harbin's finance office. Each run has its own: an operator's run suspends
    institutions and revokes keys, as it may, and a policy officer's run revises and closes the programme."""
    populate(db, catalog)
    operator = Principal(1, "operator", "测试operator", "operator", None)
    officer = Principal(2, "policy", "测试policy", "policy", "230100")
    with db.session() as s:
        for role in ("operator", "bank", "enterprise", "regulator", "security", "policy"):
            create_user(s, username=role, display_name=f"测试{role}", role=role, password=PASSWORD,
                        org_code={"enterprise": ENTITY, "bank": BANK_A, "policy": "230100"}.get(role))
        # a run sends a few thousand calls in half a minute: above the default 600 a minute, which would
        # leave the bank with nothing but 429s
        s.execute(update(FinancialInstitution).where(FinancialInstitution.code == BANK_A)
                  .values(rate_per_minute=100_000))
    with db.session() as s:
        api_key = onboarding.issue_api_key(s, operator, BANK_A, label="schemathesis").token
        programme = programmes.create(s, officer, kind="interest", name="哈尔滨市贷款贴息", region_code="230100",
                                      starts_on=date(2026, 1, 1), ends_on=date(2026, 12, 31), budget_fen=10**8,
                                      raw_rules={}).number
        programmes.start(s, officer, programme)
    app = create_app(load_settings(env={}, var_dir=tmp_path / "var", database_url=db.url), db)
    auth: dict[str, dict[str, str]] = {"bank": {"X-Api-Key": api_key}}
    for role in ("operator", "policy"):
        c = TestClient(app)
        page = c.get("/login")
        r = c.post("/login", data={"username": role, "password": PASSWORD, "csrf_token": csrf_of(page.text),
                                   "next": "/"}, follow_redirects=False)
        assert r.status_code == 303, r.text
        auth[role] = {"X-CSRF-Token": csrf_of(c.get("/catalog").text),
                      "Cookie": f"xyd_session={c.cookies['xyd_session']}"}
        c.close()
    return {"app": app, "auth": auth, "programmes": [programme]}


@dataclass
class Run:
    failures: list[str]  # each once: operation, check, what was wrong
    answers: dict[str, int]  # calls per class of status (2xx, 4xx, …)
    tested: set[str]  # operations that ran (not skipped)
    skipped: set[str]  # why scenarios were skipped


def run_contract(app: Any, headers: dict[str, str], programmes: list[str]) -> Run:
    """Every operation, from its examples, the coverage scenarios and random (seeded) input."""
    config = SchemathesisConfig.from_dict({
        "headers": headers, "seed": 23, "workers": 1,
        "generation": {"max-examples": 8, "deterministic": True},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        "phases": {"stateful": {"enabled": False}},
        # Most generated codes name nothing (a 404 is an answer too); these make about half the calls name
        # what is stored, so successful answers are held to the document as well.
        "dictionaries": {"entities": {"values": [ENTITY, OTHER_ENTITY]},
                         "categories": {"values": ["penalty", "tax", "registration", "water"]},
                         "institutions": {"values": [BANK_A, BANK_B]},
                         "programmes": {"values": programmes}},
        "operations": [
            {"include-path-regex": "^/api/v1/(access|credit)/entities/|^/api/v1/entities/",
             "parameters": {"path.code": {"dictionary": "entities", "probability": 0.5},
                            "path.category": {"dictionary": "categories", "probability": 0.5}}},
            {"include-path-regex": "^/api/v1/institutions/\\{code\\}",
             "parameters": {"path.code": {"dictionary": "institutions", "probability": 0.5}}},
            {"include-path-regex": "^/api/v1/policy/(programmes|ledger)/\\{number\\}",
             "parameters": {"path.number": {"dictionary": "programmes", "probability": 0.5}}},
        ],
    })
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    run = Run([], {}, set(), set())
    failures: set[str] = set()
    answers = run.answers
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            if event.status == Status.SKIP:
                run.skipped.add(f"{event.phase}: {event.skip_reason}")
            else:
                run.tested.add(event.recorder.label)
            for interaction in event.recorder.interactions.values():
                status = f"{interaction.response.status_code // 100}xx" if interaction.response else "none"
                answers[status] = answers.get(status, 0) + 1
            if event.status in (Status.FAILURE, Status.ERROR):
                for checks in event.recorder.checks.values():
                    for check in checks:
                        if check.failure_info is not None:
                            f = check.failure_info.failure
                            failures.add(f"{event.recorder.label}: {check.name}: {f.title}: {f.message[:300]}")
        elif isinstance(event, events.NonFatalError):
            failures.add(f"{event.label}: error: {event.info.title}: {event.value!r}"[:500])
        elif isinstance(event, events.FatalError):
            raise event.exception
    run.failures = sorted(failures)
    return run


# The operator and the bank reach nearly every operation; the policy officer is the one role that writes
# the policy programmes (create, revise, start, close, contribute) and reviews their claims.
@pytest.mark.parametrize("role", ["operator", "bank", "policy"])
def test_the_api_keeps_its_contract(world: dict[str, Any], role: str) -> None:
    c = TestClient(world["app"])
    documented = {f"{method.upper()} {path}" for path, item in c.get("/openapi.json").json()["paths"].items()
                  for method in item}
    c.close()
    run = run_contract(world["app"], world["auth"][role], world["programmes"])
    print(f"\n{role}: {len(run.tested)} operations, calls answered {dict(sorted(run.answers.items()))}")
    assert run.failures == [], "\n".join(run.failures)
    assert run.tested == documented  # every operation ran
    assert run.skipped <= {"examples: No examples in schema"}  # the only scenarios not run, and why
    assert run.answers.get("2xx", 0) > 100  # the run reached stored data, not only refusals

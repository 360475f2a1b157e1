"""/metrics, /livez and /readyz through the application: the Prometheus text format parsed back with the
library's own parser, requests counted under their route template (never the raw path with a credit code in
it), who may scrape (loopback, or a bearer token), every domain's gauge with a known value after rows are
inserted, liveness without a database, readiness on an un-migrated and on a migrated database."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from xinyidai.access import gauges as access_gauges
from xinyidai.access.models import Authorization, VerificationRequest
from xinyidai.app import create_app
from xinyidai.audit import gauges as audit_gauges
from xinyidai.config import load_settings
from xinyidai.kit import audit, clock
from xinyidai.kit import metrics as kit_metrics
from xinyidai.kit.audit import AuditCheckpoint
from xinyidai.kit.db import Database
from xinyidai.network import gauges as network_gauges
from xinyidai.network.models import OutboxEnvelope, Peer, RefusedEnvelope
from xinyidai.records import gauges as records_gauges
from xinyidai.records.models import Delivery
from xinyidai.web import metrics

TOKEN = "metrics-token-4f1c9e"  # noqa: S105 - a test token
CODE = "91230100MA1B2C3D4E"
LOOPBACK = ("127.0.0.1", 50000)
REMOTE = ("10.1.2.3", 5000)
GAUGE_MODULES = (records_gauges, network_gauges, access_gauges, audit_gauges)


def _app(db: Database, var_dir: Path, token: str | None = TOKEN) -> FastAPI:
    app = create_app(load_settings(env={}, var_dir=var_dir, database_url=db.url), db)
    metrics.install(app, token=token)
    return app


@pytest.fixture
def node_app(db: Database, tmp_path: Path) -> FastAPI:
    return _app(db, tmp_path / "var")


@pytest.fixture
def local(node_app: FastAPI) -> Iterator[TestClient]:
    with_client = TestClient(node_app, client=LOOPBACK)
    yield with_client
    with_client.close()


def _scrape(c: TestClient, **headers: str) -> dict[str, Any]:
    r = c.get("/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {f.name: f for f in text_string_to_metric_families(r.text)}


def _samples(families: dict[str, Any], family: str, sample: str | None = None) -> dict[tuple, float]:
    """{label values in name order: value} of one family's samples named `sample` (default: the family)."""
    name = sample or family
    return {tuple(sorted(s.labels.items())): s.value for s in families[family].samples if s.name == name}


def test_the_domains_register_their_gauges() -> None:
    assert {"records", "network", "access", "audit"} <= set(kit_metrics.COLLECTORS)
    assert all(m.__name__.endswith(".gauges") for m in GAUGE_MODULES)


def test_a_request_is_counted_under_its_route_template_not_its_path(local: TestClient) -> None:
    assert local.get(f"/api/v1/access/entities/{CODE}/profile").status_code == 401
    local.get("/no/such/page/" + CODE)
    r = local.get("/metrics")
    assert CODE not in r.text  # neither the code nor the probed path becomes a label
    fams = {f.name: f for f in text_string_to_metric_families(r.text)}
    requests = _samples(fams, "xinyidai_http_requests", "xinyidai_http_requests_total")
    key = (("method", "GET"), ("route", "/api/v1/access/entities/{code}/profile"), ("status", "401"))
    assert requests[key] == 1
    assert requests[(("method", "GET"), ("route", "<unmatched>"), ("status", "404"))] == 1
    latency = _samples(fams, "xinyidai_http_request_duration_seconds", "xinyidai_http_request_duration_seconds_count")
    assert latency[(("method", "GET"), ("route", "/api/v1/access/entities/{code}/profile"))] == 1
    buckets = [s for s in fams["xinyidai_http_request_duration_seconds"].samples
               if s.name.endswith("_bucket") and s.labels["route"] == "/api/v1/access/entities/{code}/profile"]
    assert buckets and buckets[-1].labels["le"] == "+Inf" and buckets[-1].value == 1


def test_a_mounted_app_is_counted_under_its_mount(local: TestClient) -> None:
    local.get("/static/favicon.svg")
    fams = _scrape(local)
    routes = {k[1][1] for k in _samples(fams, "xinyidai_http_requests", "xinyidai_http_requests_total")}
    assert "/static/{path}" in routes


def test_only_loopback_or_the_token_may_scrape(node_app: FastAPI) -> None:
    remote = TestClient(node_app, client=REMOTE)
    r = remote.get("/metrics")
    assert r.status_code == 403
    assert r.json() == {"error": "METRICS_FORBIDDEN", "message": "指标接口仅限本机或持有指标令牌的监控系统访问",
                        "detail": None}
    assert remote.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert remote.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 403
    assert "xinyidai_db_pool_checked_out" in _scrape(remote, Authorization=f"Bearer {TOKEN}")
    assert TestClient(node_app, client=("::1", 5000)).get("/metrics").status_code == 200
    assert TestClient(node_app, client=("::ffff:127.0.0.1", 5000)).get("/metrics").status_code == 200
    assert TestClient(node_app).get("/metrics").status_code == 403  # "testclient" is no address at all


def test_without_a_token_configured_only_loopback_gets_in(db: Database, tmp_path: Path) -> None:
    app = _app(db, tmp_path / "var", token="")
    remote = TestClient(app, client=REMOTE)
    assert remote.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 403
    assert TestClient(app, client=LOOPBACK).get("/metrics").status_code == 200


def test_the_token_comes_from_the_settings(db: Database, tmp_path: Path) -> None:
    settings = load_settings(env={"XINYIDAI_METRICS_TOKEN": TOKEN}, var_dir=tmp_path / "var", database_url=db.url)
    assert TOKEN not in repr(settings)
    app = create_app(settings, db)
    metrics.install(app)
    remote = TestClient(app, client=REMOTE)
    assert remote.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def _rows(db: Database) -> None:
    now = clock.now()
    with db.session() as s:
        for i, (status, new, rejected) in enumerate((("done", 10, 1), ("done", 5, 0), ("rejected", 0, 7),
                                                     ("processing", 0, 0))):
            s.add(Delivery(provider="税务局", category="tax", filename=f"f{i}.csv", file_digest=f"{i:064d}",
                           format="csv", submitted_by="op", status=status, threshold=0.2, received_at=now,
                           rows_new=new, rows_changed=2, rows_unchanged=3, rows_rejected=rejected))
        s.add(Peer(code="CN", name="全国节点", role="national", relation="parent", suite="sm", public_key={},
                   key_id="k", status="connected", applied_at=now, last_contact_at=now - timedelta(seconds=90)))
        s.add(Peer(code="CN-230100", name="哈尔滨", role="municipal", relation="child", suite="sm", public_key={},
                   key_id="k2", status="connected", applied_at=now))
        for i, (recipient, status, age) in enumerate((("CN", "pending", 300), ("CN", "pending", 60),
                                                      ("CN", "acked", 900), ("CN-230100", "pending", 30))):
            s.add(OutboxEnvelope(id=f"env{i}", recipient=recipient, kind="records", wire=b"x", digest="d",
                                 status=status, created_at=now - timedelta(seconds=age), next_attempt_at=now))
        for sender in ("CN", "CN", "CN-999999", None):
            s.add(RefusedEnvelope(claimed_sender=sender, code="BAD_SIGNATURE", message="签名无效", via="push", at=now))
        auths = []
        for i, (purpose, status, uses) in enumerate((("loan", "active", 3), ("loan", "revoked", 1),
                                                     ("guarantee", "active", 2))):
            a = Authorization(number=f"SQ{i:010d}", entity_code=CODE, institution_code="91230100BANK00000X",
                              purpose=purpose, mode="summary", valid_from=now, valid_until=now + timedelta(days=30),
                              uses=uses, status=status, text="授权书", text_digest="0" * 64, confirmed_by="ent",
                              confirmed_at=now)
            s.add(a)
            auths.append(a)
        s.flush()
        s.add(VerificationRequest(institution_code="91230100BANK00000X", request_id="r1", entity_code=CODE,
                                  authorization_id=auths[0].id, requested_by="teller", claims=[], results=[],
                                  receipt={}, created_at=now))
        for action, extra in (("access.profile", {}), ("access.profile", {}), ("access.detail", {}),
                              ("access.refused", {"code": "NO_AUTHORIZATION"}),
                              ("access.refused", {"code": "NO_AUTHORIZATION"}),
                              ("access.refused", {"code": "AUTHORIZATION_EXPIRED"}),
                              ("user.login", {})):
            audit.record(s, "teller", action, f"entity:{CODE}", entity_code=CODE, **extra)
        s.add(AuditCheckpoint(seq=1, prev_event_id=0, last_event_id=5, head_digest="0" * 64, events=5,
                              signed_at=now - timedelta(minutes=10), suite="sm", key_id="k", public_key={},
                              signature="sig"))


def test_each_domain_gauge_reads_its_rows(db: Database, local: TestClient) -> None:
    before = _scrape(local)
    chain_before = _samples(before, "xinyidai_audit_chain_events")[()]
    _rows(db)
    fams = _scrape(local)

    assert _samples(fams, "xinyidai_deliveries") == {
        (("status", "done"),): 2, (("status", "rejected"),): 1, (("status", "processing"),): 1}
    assert _samples(fams, "xinyidai_delivery_rows", "xinyidai_delivery_rows_total") == {
        (("outcome", "new"),): 15, (("outcome", "changed"),): 8, (("outcome", "unchanged"),): 12,
        (("outcome", "rejected"),): 8}

    assert _samples(fams, "xinyidai_relay_backlog") == {(("peer", "CN"),): 2, (("peer", "CN-230100"),): 1}
    assert _samples(fams, "xinyidai_relay_oldest_pending_age_seconds") == {
        (("peer", "CN"),): 300, (("peer", "CN-230100"),): 30}
    assert _samples(fams, "xinyidai_peer_last_contact_age_seconds") == {
        (("peer", "CN"), ("relation", "parent"), ("status", "connected")): 90}
    # A claimed sender that is no peer is "other", like one that claimed nothing.
    assert _samples(fams, "xinyidai_relay_refused_envelopes", "xinyidai_relay_refused_envelopes_total") == {
        (("peer", "CN"),): 2, (("peer", "other"),): 2}

    assert _samples(fams, "xinyidai_authorizations") == {(("status", "active"),): 2, (("status", "revoked"),): 1}
    assert _samples(fams, "xinyidai_authorization_uses", "xinyidai_authorization_uses_total") == {
        (("purpose", "guarantee"),): 2, (("purpose", "loan"),): 4}
    assert _samples(fams, "xinyidai_verification_requests", "xinyidai_verification_requests_total") == {(): 1}
    assert _samples(fams, "xinyidai_accesses", "xinyidai_accesses_total") == {
        (("action", "profile"),): 2, (("action", "detail"),): 1}
    assert _samples(fams, "xinyidai_access_refusals", "xinyidai_access_refusals_total") == {
        (("reason", "NO_AUTHORIZATION"),): 2, (("reason", "AUTHORIZATION_EXPIRED"),): 1}

    assert _samples(fams, "xinyidai_audit_chain_events")[()] == chain_before + 7
    assert _samples(fams, "xinyidai_audit_checkpoint_seq") == {(): 1}
    assert _samples(fams, "xinyidai_audit_last_checkpoint_age_seconds") == {(): 600}
    assert _samples(fams, "xinyidai_audit_checkpointed_events") == {(): 5}

    assert _samples(fams, "xinyidai_db_pool_checked_out")[()] >= 0
    assert _samples(fams, "xinyidai_db_pool_size")[()] >= 1
    errors = _samples(fams, "xinyidai_scrape_errors", "xinyidai_scrape_errors_total")
    assert errors and set(errors.values()) == {0}


def test_a_failing_reader_is_counted_and_the_others_still_answer(local: TestClient,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(s: Any) -> Iterator[Any]:
        raise RuntimeError("boom")
        yield  # pragma: no cover

    monkeypatch.setitem(kit_metrics.COLLECTORS, "zz_broken", broken)
    fams = _scrape(local)
    assert _samples(fams, "xinyidai_scrape_errors", "xinyidai_scrape_errors_total")[(("reader", "zz_broken"),)] == 1
    assert "xinyidai_deliveries" in fams and "xinyidai_audit_chain_events" in fams


def test_livez_answers_without_a_database(tmp_path: Path) -> None:
    gone = Database("postgresql://nobody:secret@127.0.0.1:1/none")  # nothing listens on port 1
    try:
        app = _app(gone, tmp_path / "var")
        c = TestClient(app, client=LOOPBACK)
        assert c.get("/livez").json() == {"status": "ok"}
        r = c.get("/readyz")
        assert r.status_code == 503
        body = r.json()
        assert body["error"] == "NOT_READY" and "数据库无法连接" in body["message"]
        codes = {ch["check"]: ch["code"] for ch in body["detail"]["checks"] if not ch["ok"]}
        assert codes["database"] == "DATABASE_UNREACHABLE"
        assert "secret" not in r.text
    finally:
        gone.dispose()


def test_readyz_is_503_on_an_unmigrated_database(tmp_path: Path) -> None:
    empty = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        r = TestClient(_app(empty, tmp_path / "var")).get("/readyz")
        assert r.status_code == 503
        body = r.json()
        assert body["error"] == "NOT_READY" and "尚未初始化" in body["message"]
        checks = {ch["check"]: ch for ch in body["detail"]["checks"]}
        assert checks["database"]["ok"] and checks["keys"]["ok"]
        assert checks["migrations"]["code"] == "MIGRATIONS_MISSING"
    finally:
        empty.dispose()


def test_readyz_is_200_on_a_migrated_database(node_app: FastAPI) -> None:
    r = TestClient(node_app).get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ready"
    assert [ch["check"] for ch in r.json()["checks"]] == ["database", "migrations", "keys"]
    assert TestClient(node_app).get("/healthz").json() == {"status": "ok"}  # the old probe is unchanged


def test_readyz_is_503_when_the_node_key_cannot_be_loaded(db: Database, tmp_path: Path) -> None:
    keys = tmp_path / "var" / "keys"
    keys.mkdir(parents=True)
    (keys / "node.key").write_text("not a key file\n")
    r = TestClient(_app(db, tmp_path / "var")).get("/readyz")
    assert r.status_code == 503
    checks = {ch["check"]: ch for ch in r.json()["detail"]["checks"]}
    assert not checks["keys"]["ok"] and checks["keys"]["code"] and checks["migrations"]["ok"]
    assert str(keys) not in r.text


def test_the_middleware_adds_little(local: TestClient, node_app: FastAPI) -> None:
    """Per request the middleware costs a few microseconds: measured directly, far below a request's time."""
    m = node_app.state.metrics
    n = 20000
    started = time.perf_counter()
    for _ in range(n):
        m.observe("/api/v1/access/entities/{code}/profile", "GET", 200, 0.003)
    per_observe = (time.perf_counter() - started) / n
    assert per_observe < 50e-6, per_observe


def test_install_keeps_the_routes_where_the_application_put_them(db: Database, tmp_path: Path) -> None:
    app = create_app(load_settings(env={}, var_dir=tmp_path / "var", database_url=db.url), db)
    app.include_router(metrics.router)  # as ROUTERS would, beside the health check
    metrics.install(app, token=TOKEN)
    assert len(app.router.routes) == len(create_app(load_settings(env={}, var_dir=tmp_path / "var2",
                                                                  database_url=db.url), db).router.routes) + 1
    assert TestClient(app, client=LOOPBACK).get("/livez").status_code == 200


DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "ops" / "grafana-dashboard.json"


def test_the_dashboard_shows_only_metrics_the_node_exports(db: Database, local: TestClient) -> None:
    import json
    import re

    doc = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert {"datasource", "instance"} <= {v["name"] for v in doc["templating"]["list"]}
    exprs = [t["expr"] for p in doc["panels"] for t in p.get("targets", ())]
    used = {re.sub(r"_(total|bucket|count|sum)$", "", m) for e in exprs for m in re.findall(r"xinyidai_[a-z0-9_]+", e)}
    _rows(db)
    local.get("/livez")
    exported = set(_scrape(local))
    assert used <= exported, used - exported
    assert {"xinyidai_http_request_duration_seconds", "xinyidai_deliveries", "xinyidai_relay_backlog",
            "xinyidai_access_refusals", "xinyidai_audit_last_checkpoint_age_seconds",
            "xinyidai_db_pool_checked_out"} <= used

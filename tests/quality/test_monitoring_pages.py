"""The monitoring pages: the run button and progress, findings with filters and a finding's sample, scores,
and the rule set page refusing a bad file with every error listed."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date

from fastapi.testclient import TestClient

from tests.quality.test_checks import NOW
from tests.web.conftest import app, csrf_of, login  # noqa: F401 - fixtures
from xinyidai.kit.db import Database
from xinyidai.quality.models import Finding, QualityRun, RuleSet
from xinyidai.records.canonical import canonical_json, fingerprint
from xinyidai.records.models import CreditRecord


def _wait(db: Database, run_id: int) -> QualityRun:
    for _ in range(200):
        with db.session() as s:
            run = s.get(QualityRun, run_id)
            assert run is not None
            if run.status != "running":
                return run
        time.sleep(0.05)
    raise AssertionError("run did not finish")


def test_run_findings_scores(db: Database, login: Callable[[str], TestClient]) -> None:  # noqa: F811
    _seed_dates(db)
    op = login("operator")
    page = op.get("/quality")
    assert page.status_code == 200 and "尚未运行过质量检查" in page.text and "运行全部规则" in page.text
    r = op.post("/quality/run", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert r.status_code == 303
    run_id = int(r.headers["location"].split("run=")[1].split("&")[0])
    run = _wait(db, run_id)
    assert run.status == "done", run.message
    progress = op.get(f"/quality/runs/{run_id}/progress").text
    assert "已完成" in progress and "hx-get" not in progress  # polling stops once done
    listing = op.get(f"/quality?run={run_id}&dimension=completeness&sort=affected")
    assert "continuity.tax" in listing.text
    with db.session() as s:
        f = s.query(Finding).filter(Finding.rule_id == "continuity.tax").one()
    detail = op.get(f"/quality/findings/{f.id}")
    assert "E1" in detail.text and "缺 2 个月" in detail.text and "开具整改工单" in detail.text
    reg = login("regulator")
    assert "开具整改工单" not in reg.get(f"/quality/findings/{f.id}").text
    assert "运行全部规则" not in reg.get("/quality").text
    assert reg.post("/quality/run", data={"csrf_token": csrf_of(reg.get("/quality").text)},
                    follow_redirects=False).status_code == 403
    scores = op.get("/quality/scores")
    assert "税务局" in scores.text and "quality-trend" in scores.text


def _seed_dates(db: Database) -> None:
    with db.session() as s:
        for e, months in (("E1", ("2026-01", "2026-04")), ("E2", ("2026-01", "2026-02"))):
            for m in months:
                body = canonical_json({"period": m, "tax_paid": 1})
                d = date(int(m[:4]), int(m[5:]), 1)
                s.add(CreditRecord(entity_code=e, category="tax", record_key=m, version=1, status="current",
                                   content=body, fingerprint=fingerprint(body), period_start=d, period_end=d,
                                   provider="税务局", received_at=NOW))


def test_rules_page(db: Database, login: Callable[[str], TestClient]) -> None:  # noqa: F811
    op = login("operator")
    page = op.get("/quality/rules")
    assert page.status_code == 200 and "第 1 版" in page.text
    assert "timeliness.tax" in op.get("/quality/rules/default.yaml").text
    bad = ("version: 1\nname: 坏\nrules:\n  - {id: a, name: 甲, dimension: beauty, kind: fill_rate, severity: high,"
           " category: tax, item: nothing, params: {expected: 3}}\n")
    r = op.post("/quality/rules", data={"text": bad, "csrf_token": csrf_of(page.text)})
    assert r.status_code == 422
    assert "未知的质量维度" in r.text and "没有字段" in r.text and "超出范围" in r.text
    good = ("version: 2\nname: 好\nrules:\n  - {id: a, name: 甲, dimension: completeness, kind: fill_rate, "
            "severity: high, category: tax, item: period, params: {expected: 1}}\n")
    r = op.post("/quality/rules", data={"text": good, "note": "试", "csrf_token": csrf_of(page.text)},
                follow_redirects=False)
    assert r.status_code == 303
    with db.session() as s:
        assert s.query(RuleSet).count() == 2
    assert "fill_rate" in op.get("/quality/rules/2.yaml").text

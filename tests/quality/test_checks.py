"""Each default rule kind over a hand-built database with known findings, and a clean control provider."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from xinyidai.catalog.schema import Catalog
from xinyidai.kit.db import Database
from xinyidai.quality import checks, runs
from xinyidai.quality.models import Department, Finding, ProviderScore, QualityRun, Source
from xinyidai.records.canonical import canonical_json, fingerprint
from xinyidai.records.models import CreditRecord, Delivery

NOW = datetime(2026, 11, 15, 2, 0, tzinfo=UTC)


def rec(entity: str, cat: str, key: str, content: dict, provider: str, *, period: date | None = None,
        version: int = 1, status: str = "current") -> CreditRecord:
    body = canonical_json(content)
    return CreditRecord(entity_code=entity, category=cat, record_key=key, version=version, status=status,
                        content=body, fingerprint=fingerprint(body), period_start=period, period_end=period,
                        provider=provider, received_at=NOW - timedelta(days=3))


def delivery(provider: str, cat: str, days_ago: int, total: int = 100, rejected: int = 0,
             status: str = "accepted") -> Delivery:
    return Delivery(provider=provider, category=cat, filename="f.csv", file_digest="0" * 64, format="csv",
                    submitted_by="t", status=status, threshold=0.5, rows_total=total, rows_rejected=rejected,
                    rows_new=total - rejected, received_at=NOW - timedelta(days=days_ago))


def months(start: date, n: int, skip: set[int] = frozenset()) -> list[date]:  # type: ignore[assignment]
    out = []
    y, m = start.year, start.month
    for i in range(n):
        if i not in skip:
            out.append(date(y, m, 1))
        m += 1
        if m > 12:
            y, m = y + 1, 1
    return out


def tax(entity: str, d: date, provider: str, **extra: object) -> CreditRecord:
    content = {"period": d.strftime("%Y-%m"), "tax_paid": 100, **extra}
    return rec(entity, "tax", d.strftime("%Y-%m"), content, provider, period=d)


@pytest.fixture
def findings(db: Database, catalog: Catalog) -> dict[tuple[str, str], Finding]:
    with db.session() as s:
        # continuity: BAD has one entity missing 2 months (of 12), GOOD has none
        for d in months(date(2025, 11, 1), 12, skip={3, 7}):
            s.add(tax("E1", d, "税务BAD"))
        for d in months(date(2025, 11, 1), 12):
            s.add(tax("E2", d, "税务BAD"))
            s.add(tax("E3", d, "税务GOOD"))
        # timeliness: BAD's last tax delivery 50 days ago (monthly 31 + grace 3 → 16 days late), GOOD 5 days ago
        s.add(delivery("税务BAD", "tax", 50))
        s.add(delivery("税务GOOD", "tax", 5))
        # drift: BAD jumps from 1 % to 40 % rejected; GOOD stays at 1 %
        for i in range(6):
            s.add(delivery("处罚BAD", "penalty", 60 - i, rejected=1))
            s.add(delivery("处罚GOOD", "penalty", 60 - i, rejected=1))
        s.add(delivery("处罚BAD", "penalty", 1, rejected=40, status="partial"))
        s.add(delivery("处罚GOOD", "penalty", 1, rejected=1))
        # after deregistration: E4 注销 on 2026-03-31; a penalty dated 2026-05-01 (BAD) and one before (GOOD)
        s.add(rec("E4", "registration", "E4", {"status": "注销", "closed_on": "2026-03-31"}, "市场监管",
                  period=date(2010, 1, 1)))
        s.add(rec("E4", "penalty", "P1", {"decision_no": "P1", "decided_on": "2026-05-01"}, "处罚BAD",
                  period=date(2026, 5, 1)))
        s.add(rec("E4", "penalty", "P2", {"decision_no": "P2", "decided_on": "2026-01-01"}, "处罚GOOD",
                  period=date(2026, 1, 1)))
        # headcount: E5 10 insured vs 100 depositors (factor 3 exceeded); E6 10 vs 12
        for e, si, hf in (("E5", 10, 100), ("E6", 10, 12)):
            d = date(2026, 9, 1)
            s.add(rec(e, "social_insurance", "2026-09", {"period": "2026-09", "insured_count": si}, "人社",
                      period=d))
            s.add(rec(e, "housing_fund", "2026-09", {"period": "2026-09", "depositor_count": hf}, "公积金",
                      period=d))
        # key conflict: license L1 from two providers with different contents; L2 corrected by its own provider
        s.add(rec("E7", "license", "L1", {"license_no": "L1", "license_name": "甲"}, "许可A", version=1,
                  status="superseded"))
        s.add(rec("E7", "license", "L1", {"license_no": "L1", "license_name": "乙"}, "许可B", version=2))
        s.add(rec("E8", "license", "L2", {"license_no": "L2", "license_name": "甲"}, "许可A", version=1,
                  status="superseded"))
        s.add(rec("E8", "license", "L2", {"license_no": "L2", "license_name": "丙"}, "许可A", version=2))
        # a source failing for 30 hours (BAD) and one fine (GOOD)
        s.add(Department(code="D1", name="数据局BAD", created_at=NOW))
        s.add(Department(code="D2", name="数据局GOOD", created_at=NOW))
        s.flush()
        for code, state in (("D1", "failing"), ("D2", "ok")):
            s.add(Source(name=f"src-{code}", kind="database", department=code, category="tax", url="sqlite://",
                         target="t", mapping="{}", watermark_column="w", state=state, created_by="t",
                         created_at=NOW - timedelta(hours=30), last_error_code="SOURCE_DOWN"))
    run_id = runs.run_rules(db, catalog, "tester", as_of=date(2026, 11, 15))
    with db.session() as s:
        run = s.get(QualityRun, run_id)
        assert run is not None and run.status == "done", run and run.message
        assert run.done == run.total > 100
        rows = s.query(Finding).filter(Finding.run_id == run_id).all()
        assert run.findings == len(rows)
        return {(f.rule_id, f.provider): f for f in rows}


def test_timeliness(findings: dict) -> None:
    f = findings[("timeliness.tax", "税务BAD")]
    assert f.measure == 16 and f.affected == 1
    assert ("timeliness.tax", "税务GOOD") not in findings


def test_continuity(findings: dict) -> None:
    f = findings[("continuity.tax", "税务BAD")]
    assert (f.affected, f.population, f.measure) == (1, 2, 2)
    sample = json.loads(f.sample)
    assert sample[0]["entity_code"] == "E1" and "缺 2 个月" in sample[0]["detail"]
    assert ("continuity.tax", "税务GOOD") not in findings


def test_fill_rate(findings: dict) -> None:
    # GOOD's 12 tax records carry period and tax_paid only: every other (optional, expected 0.6) item is short
    # by round(0.6 × 12) = 7 records; the two it carries pass. BAD's 22 records miss the same items.
    f = findings[("fill.tax.vat_paid", "税务GOOD")]
    assert (f.affected, f.population, f.measure) == (7, 12, 0.0)
    assert len(json.loads(f.sample)) == 12 and json.loads(f.sample)[0]["detail"].startswith("缺少")
    assert findings[("fill.tax.vat_paid", "税务BAD")].population == 22
    assert ("fill.tax.period", "税务GOOD") not in findings and ("fill.tax.tax_paid", "税务GOOD") not in findings
    # a required item (expected 1.0): every record without it is affected
    assert ("fill.penalty.decision_no", "处罚BAD") not in findings
    f = findings[("fill.penalty.penalty_type", "处罚BAD")]  # required, absent from the hand-built penalties
    assert (f.affected, f.population) == (1, 1)


def test_after_deregistration(findings: dict) -> None:
    f = findings[("consistency.after_deregistration", "处罚BAD")]
    assert (f.affected, f.category) == (1, "penalty")
    assert json.loads(f.sample)[0]["record_key"] == "P1"
    assert ("consistency.after_deregistration", "处罚GOOD") not in findings


def test_headcount(findings: dict) -> None:
    f = findings[("consistency.headcount", "人社")]
    assert (f.affected, f.population) == (1, 2)
    assert json.loads(f.sample)[0]["entity_code"] == "E5"


def test_key_conflict(findings: dict) -> None:
    f = findings[("consistency.key_conflict", "许可B")]
    assert f.affected == 1 and json.loads(f.sample)[0]["record_key"] == "L1"
    assert ("consistency.key_conflict", "许可A") not in findings


def test_drift(findings: dict) -> None:
    f = findings[("drift.penalty", "处罚BAD")]
    assert f.affected == 40 and f.measure == 0.4
    assert ("drift.penalty", "处罚GOOD") not in findings


def test_source_failing(findings: dict) -> None:
    f = findings[("access.source_failing", "数据局BAD")]
    assert f.affected == 1 and json.loads(f.sample)[0]["record_key"] == "src-D1"
    assert ("access.source_failing", "数据局GOOD") not in findings


def test_scores(findings: dict, db: Database) -> None:
    with db.session() as s:
        scores = {(p.provider, p.dimension): p for p in s.query(ProviderScore).all()}
    assert scores[("税务GOOD", "timeliness")].score == 100 and scores[("税务GOOD", "timeliness")].grade == "A"
    assert scores[("税务BAD", "timeliness")].score == 0
    assert scores[("数据局BAD", "accessibility")].grade == "D"
    assert ("处罚GOOD", "overall") in scores


def test_fill_rate_samples_span_passes(db: Database, catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fill-rate samples come from one shared query read in bounded passes: a small provider whose records
    come last still gets all of its (fewer than SAMPLE) missing records, the big one exactly SAMPLE."""
    monkeypatch.setattr(checks, "SAMPLE_READ", 1)  # a pass stops after SAMPLE rows per open finding
    with db.session() as s:  # B's records: one before A's 60, two after (the first pass stops amid A's,
        # the second reads B0 again and must not count it twice)
        s.add(tax("B0", date(2026, 1, 1), "税务B"))  # before A's in rowid and in entity order
        s.flush()
        for i in range(60):
            s.add(tax(f"M{i:03d}", date(2026, 1, 1), "税务A"))
        s.flush()
        for e in ("Z1", "Z2"):
            s.add(tax(e, date(2026, 1, 1), "税务B"))
    run_id = runs.run_rules(db, catalog, "tester", rule_ids=["fill.tax.vat_paid"], as_of=date(2026, 11, 15))
    with db.session() as s:
        got = {f.provider: json.loads(f.sample) for f in s.query(Finding).filter(Finding.run_id == run_id)}
    a = [x["entity_code"] for x in got["税务A"]]
    assert len(a) == len(set(a)) == checks.SAMPLE and set(a) < {f"M{i:03d}" for i in range(60)}
    assert sorted(x["entity_code"] for x in got["税务B"]) == ["B0", "Z1", "Z2"]
    assert all(x["detail"].startswith("缺少") for x in got["税务B"])

"""The synthetic province: valid codes, catalogue-valid records, determinism, real defective deliveries."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text

from xinyidai.accounts import users as accounts
from xinyidai.catalog.schema import Catalog, load_catalog
from xinyidai.demo import DEMO_PASSWORD, DemoSummary, build_demo
from xinyidai.demo.defects import text as render
from xinyidai.demo.distributions import BRANDS, GIVEN_NAMES, PERSON_NAMES_COUNT, SURNAMES
from xinyidai.demo.generator import EMITTED_ITEMS, NameBook, periods_before
from xinyidai.entities.codes import entity_kind_of, is_valid_id_number, is_valid_uscc
from xinyidai.entities.industries import is_valid_industry
from xinyidai.entities.models import ENTITY_KINDS, MarketEntity
from xinyidai.entities.regions import HEILONGJIANG_PREFECTURES, is_valid_region, prefecture_of
from xinyidai.kit import clock
from xinyidai.kit.db import Database
from xinyidai.models import metadata
from xinyidai.records.canonical import canonical_json, fingerprint, record_key
from xinyidai.records.models import CreditRecord, Delivery, DeliveryIssue
from xinyidai.records.validation import RowValidator

# The shared conftest fixes the clock per test (autouse); the module-wide province is built before that
# fixture runs, so it sets its own day, earlier than the tests' one.
FROZEN = datetime(2025, 6, 15, 4, 0, tzinfo=UTC)  # 2025-06-15 12:00 in Beijing
AS_OF = date(2025, 6, 15)
N = 300
SEED = 7


def _database(path: Path) -> Database:
    db = Database(f"sqlite:///{path}")
    metadata.create_all(db.engine)
    return db


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, DemoSummary, Path]]:
    root = tmp_path_factory.mktemp("demo")
    db = _database(root / "demo.db")
    files = root / "deliveries"
    clock.set_clock(lambda: FROZEN)
    try:
        summary = build_demo(db, load_catalog(), entities=N, seed=SEED, defects_dir=files)
    finally:
        clock.set_clock(None)
    yield db, summary, files
    db.dispose()


# ---------------------------------------------------------------------------------------------- entities


def test_entities_have_valid_codes_regions_and_people(demo) -> None:
    db, summary, _ = demo
    with db.session() as s:
        rows = s.execute(select(MarketEntity)).scalars().all()
    assert summary.entities == len(rows) == N
    assert len({e.name for e in rows}) == N, "entity names must be unique"
    for e in rows:
        assert is_valid_uscc(e.code), e.code
        assert is_valid_region(e.region_code) and prefecture_of(e.region_code) in HEILONGJIANG_PREFECTURES
        assert e.code[2:8] == e.region_code
        assert e.kind in ENTITY_KINDS and entity_kind_of(e.code) == e.kind
        assert e.industry_code and is_valid_industry(e.industry_code)
        assert e.legal_rep and is_valid_id_number(e.legal_rep_id)
        assert date(1995, 1, 1) <= e.registered_on < date(AS_OF.year, 1, 1)
        assert e.registered_capital is not None and e.registered_capital > 0
        assert e.status in ("存续", "在业", "注销", "吊销")
    kinds = Counter(e.kind for e in rows)
    assert 0.2 < kinds["企业"] / N < 0.55 and 0.45 < kinds["个体工商户"] / N < 0.75
    statuses = Counter(e.status for e in rows)
    assert statuses["注销"] + statuses["吊销"] < 0.2 * N
    assert len({e.region_code[:4] for e in rows}) >= 8  # spread over the province
    assert Counter(e.region_code[:4] for e in rows).most_common(1)[0][0] == "2301"  # Harbin is the largest


def test_registration_record_mirrors_the_entity(demo) -> None:
    db, _, _ = demo
    with db.session() as s:
        entities = {e.code: e for e in s.execute(select(MarketEntity)).scalars()}
        regs = s.execute(select(CreditRecord).where(CreditRecord.category == "registration")).scalars().all()
    assert len(regs) == len(entities)
    for r in regs:
        c = json.loads(r.content)
        e = entities[r.entity_code]
        assert r.record_key == ""
        assert (c["region"], c["industry"], c["status"], c["legal_representative"], c["legal_rep_id_no"]) == (
            e.region_code, e.industry_code, e.status, e.legal_rep, e.legal_rep_id)
        assert c["established_on"] == e.registered_on.isoformat() and c["registered_capital"] == e.registered_capital
        assert c["entity_type"] == e.kind or (c["entity_type"] == "农民专业合作社" and e.kind == "企业")
        assert ("closed_on" in c) == (e.status in ("注销", "吊销"))


# ---------------------------------------------------------------------------------------------- records


def test_all_seventeen_categories_have_records(demo, catalog: Catalog) -> None:
    db, summary, _ = demo
    with db.session() as s:
        counts = dict(s.execute(select(CreditRecord.category, text("count(*)"))
                               .where(CreditRecord.status == "current").group_by(CreditRecord.category)).all())
    # The 17 departments' categories; the enterprise's own (企业自报信息) are not generated.
    departments = [c.code for c in catalog.categories if c.group != "企业自报信息"]
    assert set(departments) == set(EMITTED_ITEMS)
    assert len(departments) == 17
    for code in departments:
        assert counts.get(code, 0) > 0, code
        assert summary.records[code] > 0
    # monthly categories dominate; one registration per entity
    assert summary.records["registration"] == N
    assert summary.records["tax"] > summary.records["penalty"]


def test_every_record_is_what_the_validator_would_store(demo, catalog: Catalog) -> None:
    """Render each record back to a delivery row, validate it, and get the very same content and keys."""
    db, _, _ = demo
    validators: dict[str, tuple[RowValidator, list]] = {}
    with db.session() as s:
        records = s.execute(select(CreditRecord).order_by(CreditRecord.id)).scalars().all()
    assert records
    for r in records:
        if r.category not in validators:
            cat = catalog.category(r.category)
            headers = ["统一社会信用代码", *[i.name for i in cat.items]]
            validators[r.category] = (RowValidator(cat, headers), list(cat.items))
        validator, items = validators[r.category]
        content = json.loads(r.content)
        assert canonical_json(content) == r.content
        assert fingerprint(r.content) == r.fingerprint
        assert set(content) <= {i.code for i in items}
        values = [r.entity_code, *[render(content.get(i.code)) or None for i in items]]
        valid, issues = validator.validate(2, values)
        assert valid is not None, (r.category, content, [(i.field, i.code, i.message) for i in issues])
        assert canonical_json(valid.content) == r.content, (r.category, valid.content, content)
        assert record_key(validator.category.key, valid.content) == r.record_key
        assert (_iso(valid.period_start), _iso(valid.period_end)) == (_iso(r.period_start), _iso(r.period_end))
        for item in items:  # enums only take allowed values, types are those the validator produces
            v = content.get(item.code)
            if v is None:
                continue
            expected = {"integer": int, "decimal": float, "boolean": bool}.get(item.type, str)
            assert type(v) is expected, (r.category, item.code, v)
            if item.type == "decimal":
                assert round(v, 2) == v


def _iso(d: object) -> str | None:
    """A period bound as ISO text, whether a date or already text."""
    return None if d is None else str(d)[:10]


def test_monthly_records_cover_the_months_before_as_of(demo) -> None:
    db, summary, _ = demo
    labels = [p.label for p in periods_before(AS_OF, 24)]
    assert labels[0] == "2023-06" and labels[-1] == "2025-05"
    with db.session() as s:
        keys = set(s.execute(select(CreditRecord.record_key).where(CreditRecord.category == "tax")).scalars())
        latest = s.execute(select(text("max(period_end)")).select_from(CreditRecord.__table__)).scalar_one()
    assert keys <= set(labels) | {"2025-05"}
    assert date.fromisoformat(str(latest)[:10]) <= AS_OF
    assert summary.as_of == AS_OF and summary.months == 24


def test_initial_deliveries_are_accepted_with_their_counts(demo) -> None:
    db, summary, _ = demo
    with db.session() as s:
        initial = s.execute(select(Delivery).where(Delivery.format == "demo").order_by(Delivery.id)).scalars().all()
        per = dict(s.execute(select(CreditRecord.delivery_id, text("count(*)")).group_by(CreditRecord.delivery_id)).all())
    assert len(initial) == 17
    for d in initial:
        assert d.status == "accepted" and d.source == "demo" and d.submitted_by == "demo"
        assert d.rows_total == d.rows_new == summary.records[d.category] == per[d.id]
        assert len(d.file_digest) == 64


# ---------------------------------------------------------------------------------------------- deliveries


def _delivery(db: Database, filename_part: str) -> tuple[Delivery, list[DeliveryIssue]]:
    with db.session() as s:
        d = s.execute(select(Delivery).where(Delivery.filename.contains(filename_part))).scalar_one()
        issues = s.execute(select(DeliveryIssue).where(DeliveryIssue.delivery_id == d.id)).scalars().all()
    return d, issues


def test_gbk_tax_delivery_is_partially_accepted(demo) -> None:
    db, _, files = demo
    d, issues = _delivery(db, "纳税申报信息")
    assert d.status == "partial" and d.category == "tax" and d.encoding == "gb18030"
    assert 0 < d.rows_rejected <= 0.1 * d.rows_total and d.rows_new == d.rows_total - d.rows_rejected
    assert {"INVALID_USCC", "FUTURE_DATE", "NOT_ALLOWED", "OUT_OF_RANGE", "REQUIRED"} <= {i.code for i in issues}
    raw = (files / d.filename).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert raw.decode("gbk").startswith("统一社会信用代码")


def test_bom_electricity_delivery_reports_unknown_column_and_entities(demo) -> None:
    db, _, files = demo
    d, issues = _delivery(db, "供电公司")
    assert d.status == "partial" and d.encoding == "utf-8-sig"
    codes = Counter((i.severity, i.code) for i in issues)
    assert codes[("warning", "UNKNOWN_HEADER")] == 1 and codes[("error", "ENTITY_UNKNOWN")] >= 1
    assert (files / d.filename).read_bytes().startswith(b"\xef\xbb\xbf")


def test_xlsx_penalties_reject_the_formula_row_only(demo) -> None:
    db, _, _ = demo
    d, issues = _delivery(db, ".xlsx")
    assert d.status == "partial" and d.format == "xlsx" and d.rows_rejected == 1
    assert {(i.severity, i.code) for i in issues} == {("warning", "EXTRA_SHEETS"), ("error", "FORMULA")}


def test_broken_social_insurance_file_is_rejected_whole(demo) -> None:
    db, _, _ = demo
    d, issues = _delivery(db, "社会保险缴费")
    assert d.status == "rejected" and d.error_code == "THRESHOLD_EXCEEDED"
    assert d.rows_rejected / d.rows_total > d.threshold
    assert {"BAD_NUMBER", "BAD_MONTH", "NOT_ALLOWED", "INVALID_USCC"} <= {i.code for i in issues}
    with db.session() as s:
        assert not s.execute(select(CreditRecord.id).where(CreditRecord.delivery_id == d.id)).first()


def test_correction_creates_new_versions(demo) -> None:
    db, _, _ = demo
    d, issues = _delivery(db, "更正")
    assert d.status == "accepted" and not issues
    assert d.rows_changed > 0 and d.rows_unchanged > 0 and d.rows_new == 0
    with db.session() as s:
        new = s.execute(select(CreditRecord).where(CreditRecord.delivery_id == d.id)).scalars().all()
        assert len(new) == d.rows_changed
        for r in new:
            assert r.version == 2 and r.status == "current"
            old = s.execute(select(CreditRecord).where(
                CreditRecord.category == "tax", CreditRecord.entity_code == r.entity_code,
                CreditRecord.record_key == r.record_key, CreditRecord.version == 1)).scalar_one()
            assert old.status == "superseded" and old.fingerprint != r.fingerprint


def test_summary_lists_every_delivery(demo) -> None:
    db, summary, _ = demo
    with db.session() as s:
        statuses = dict(s.execute(select(Delivery.id, Delivery.status)).all())
    assert {d.id: d.status for d in summary.deliveries} == statuses
    assert Counter(d.status for d in summary.deliveries) == {"accepted": 18, "partial": 3, "rejected": 1}


# ---------------------------------------------------------------------------------------------- accounts


def test_demo_accounts_can_sign_in(demo) -> None:
    db, summary, _ = demo
    assert [a.role for a in summary.accounts] == [
        "operator", "bank", "enterprise", "regulator", "security", "security", "policy", "policy", "bank"]
    with db.session() as s:
        for a in summary.accounts:
            assert a.password == DEMO_PASSWORD
            _, _, user = accounts.authenticate(s, a.username, DEMO_PASSWORD, ttl_minutes=30)
            assert user.role == a.role and user.org_code == a.org_code
    enterprise = next(a for a in summary.accounts if a.role == "enterprise")
    assert enterprise.org_code == summary.enterprise_code
    with db.session() as s:
        e = s.get(MarketEntity, enterprise.org_code)
        cats = s.execute(select(text("count(distinct category)")).select_from(CreditRecord.__table__)
                         .where(CreditRecord.entity_code == e.code)).scalar_one()
    assert e.kind == "企业" and e.status in ("存续", "在业") and cats >= 12


# ---------------------------------------------------------------------------------------------- determinism


def _dump(db: Database) -> str:
    h = hashlib.sha256()
    with db.engine.connect() as conn:
        for table, order in (("entities", "code"), ("credit_records", "id"), ("deliveries", "id"),
                             ("delivery_issues", "id")):
            for row in conn.execute(text(f"SELECT * FROM {table} ORDER BY {order}")):  # noqa: S608 - fixed names
                h.update(repr(tuple(row)).encode())
    return h.hexdigest()


def _files(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_same_seed_same_province_other_seed_other_province(tmp_path: Path, catalog: Catalog) -> None:
    dumps, files = [], []
    for i, seed in enumerate((11, 11, 12)):
        db = _database(tmp_path / f"d{i}.db")
        build_demo(db, catalog, entities=120, seed=seed, months=6, defects_dir=tmp_path / f"f{i}")
        dumps.append(_dump(db))
        files.append(_files(tmp_path / f"f{i}"))
        db.dispose()
    assert dumps[0] == dumps[1] and files[0] == files[1]
    assert dumps[0] != dumps[2] and files[0] != files[2]


def test_writer_process_writes_the_same_province(tmp_path: Path, catalog: Catalog) -> None:
    """Large builds insert from a second process and index afterwards; small chunks make it commit often."""
    dumps = []
    expected = {ix.name for ix in CreditRecord.__table__.indexes}
    for i, parallel in enumerate((False, True)):
        db = _database(tmp_path / f"p{i}.db")
        summary = build_demo(db, catalog, entities=90, seed=5, months=4, defects_dir=tmp_path / f"f{i}",
                             parallel=parallel, chunk_size=40)
        assert ("writer_records" in summary.timings) is parallel
        assert expected <= {ix["name"] for ix in inspect(db.engine).get_indexes("credit_records")}
        dumps.append(_dump(db))
        db.dispose()
    assert dumps[0] == dumps[1]


def test_as_of_in_the_past_dates_everything_before_it(tmp_path: Path, catalog: Catalog) -> None:
    db = _database(tmp_path / "past.db")
    summary = build_demo(db, catalog, entities=60, seed=3, months=3, as_of=date(2024, 2, 10),
                         defects_dir=tmp_path / "f")
    assert summary.as_of == date(2024, 2, 10)
    with db.session() as s:
        periods = {json.loads(c)["period"] for c in s.execute(
            select(CreditRecord.content).where(CreditRecord.category == "electricity")).scalars()}
        latest = s.execute(select(text("max(period_end)")).select_from(CreditRecord.__table__)).scalar_one()
    assert periods and periods <= {"2023-11", "2023-12", "2024-01"}
    assert date.fromisoformat(str(latest)[:10]) <= date(2024, 2, 10)
    db.dispose()


def test_refuses_future_as_of_and_bad_sizes(tmp_path: Path, catalog: Catalog) -> None:
    db = _database(tmp_path / "x.db")
    with pytest.raises(ValueError, match="future"):
        build_demo(db, catalog, entities=10, as_of=clock.today() + timedelta(days=1))
    with pytest.raises(ValueError):
        build_demo(db, catalog, entities=0)
    with pytest.raises(ValueError):
        build_demo(db, catalog, entities=10, months=0)
    db.dispose()


# ---------------------------------------------------------------------------------------------- names


def test_name_book_never_repeats_a_name() -> None:
    book = NameBook()
    brands = [book.brand("哈尔滨", "商贸") for _ in range(3 * len(BRANDS) + 5)]
    assert len(set(brands)) == len(brands)
    assert all(b[:2] in BRANDS or b[:3] in BRANDS for b in brands)
    people = [book.person("哈尔滨市道里区", "超市") for _ in range(PERSON_NAMES_COUNT + 3)]
    assert len({p for p, tier in people if tier == 0}) == PERSON_NAMES_COUNT
    assert [tier for _, tier in people[-3:]] == [1, 1, 1]
    assert len(set(SURNAMES)) == len(SURNAMES) and len(set(GIVEN_NAMES)) == len(GIVEN_NAMES)

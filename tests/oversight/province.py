"""A hand-built province with known answers for the oversight measures: Harbin (230100) and Qiqihar (230200) have
data in November 2026, the other eleven cities none. The expected values are written beside the rows that make
them, in EXPECTED."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from xinyidai.accounts.models import RealNameRegistration
from xinyidai.entities.codes import make_uscc
from xinyidai.entities.models import MarketEntity
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.lists.models import WhiteList, WhiteListEntry
from xinyidai.market.models import Application, Loan, Product, ProductVersion
from xinyidai.network.models import InboxEnvelope, Peer, Reconciliation, RefusedEnvelope
from xinyidai.records.models import CreditRecord

HARBIN, QIQIHAR = "230100", "230200"
AS_OF = datetime(2026, 11, 15, 2, 0, tzinfo=UTC)  # the tests' fixed clock
NOV = datetime(2026, 11, 5, 2, 0, tzinfo=UTC)


def h(n: int) -> str:
    return make_uscc("230102", n)  # 道里区, Harbin


def q(n: int) -> str:
    return make_uscc("230202", n)  # 龙沙区, Qiqihar


# indicator code → city → expected value (None: missing)
EXPECTED: dict[str, dict[str, float | None]] = {
    "S1": {HARBIN: 3, QIQIHAR: 1},
    "S2": {HARBIN: 20.0, QIQIHAR: 20.0},
    "S3": {HARBIN: 20.0, QIQIHAR: None},
    "C1": {HARBIN: 1, QIQIHAR: 0},
    "C2": {HARBIN: 2.0, QIQIHAR: None},
    "C3": {HARBIN: 75.0, QIQIHAR: None},
    "R1": {HARBIN: 4.0, QIQIHAR: 0.0},
    "R2": {HARBIN: 1, QIQIHAR: 0},
    "F1": {HARBIN: 2, QIQIHAR: 1},
    "F2": {HARBIN: 400.0, QIQIHAR: 200.0},
    "F3": {HARBIN: 150.0, QIQIHAR: 200.0},
    "F4": {HARBIN: 25.0, QIQIHAR: 100.0},
    "F5": {HARBIN: 1, QIQIHAR: 1},
    "F6": {HARBIN: 50.0, QIQIHAR: 100.0},
    "F7": {HARBIN: 2.0, QIQIHAR: 1.0},
    "F8": {HARBIN: 50.0, QIQIHAR: None},
}


def _record(code: str, category: str, key: str, at: datetime) -> dict[str, Any]:
    return {"entity_code": code, "category": category, "record_key": key, "version": 1, "status": "current",
            "content": "{}", "fingerprint": "0" * 64, "provider": "测试单位", "received_at": at}


def _loan(no: str, code: str, city: str, fen: int, *, credit: bool, first: bool, disbursed: int,
          on: date) -> dict[str, Any]:
    return {"loan_no": no, "origin_node": "CN-230000", "revision": 1, "institution_code": BANK, "bank_code": BANK,
            "loan_ref": no, "entity_code": code, "city_code": city, "product_number": "P1", "product_kind": "纯信用",
            "sector_mask": 0, "guarantee_type": "信用" if credit else "保证", "is_credit": int(credit),
            "first_declared": int(first), "first_on_platform": int(first), "first_loan": int(first),
            "granted_fen": fen, "credit_fen": fen if credit else 0, "first_fen": fen if first else 0,
            "disbursed_fen": disbursed, "granted_on": on, "granted_month": on.year * 100 + on.month,
            "rate_bp": 400, "term_months": 12, "policy_tags": [], "status": "ACTIVE", "created_at": AS_OF,
            "updated_at": AS_OF, "dirty": 0}


BANK = make_uscc("230100", 990_001, "9", "1")
BRANCH_Q = make_uscc("230200", 990_002, "9", "1")


def build(s: Session) -> None:
    # The register: 500 entities in Harbin, 250 in Qiqihar.
    s.execute(insert(MarketEntity), [{"code": h(i), "name": f"哈尔滨测试企业{i}", "region_code": "230102",
                                      "updated_at": AS_OF} for i in range(500)]
              + [{"code": q(i), "name": f"齐齐哈尔测试企业{i}", "region_code": "230202", "updated_at": AS_OF}
                 for i in range(250)])
    # Records: Harbin 10 in November over 3 categories (+2 in October, outside), Qiqihar 5 in one category.
    recs = [_record(h(i), ("tax", "license", "penalty")[i % 3], f"k{i}", NOV + timedelta(hours=i)) for i in range(10)]
    recs += [_record(h(100 + i), "tax", f"old{i}", datetime(2026, 10, 10, tzinfo=UTC)) for i in range(2)]
    recs += [_record(q(i), "tax", f"k{i}", NOV) for i in range(5)]
    s.execute(insert(CreditRecord), recs)
    # Institutions: the bank in Harbin with a product published in November; a branch in Qiqihar whose
    # product is published only in December.
    s.add_all([FinancialInstitution(code=BANK, name="测试银行", kind="bank", region_code="230100", status="active",
                                    created_at=AS_OF, created_by="t"),
               FinancialInstitution(code=BRANCH_Q, name="测试银行齐齐哈尔分行", kind="bank", parent_code=BANK,
                                    region_code="230200", status="active", created_at=AS_OF, created_by="t")])
    s.flush()
    for n, (inst, published) in enumerate([(BANK, NOV), (BRANCH_Q, datetime(2026, 12, 2, tzinfo=UTC))]):
        p = Product(number=f"P{n}", institution_code=inst, origin_node="CN-230000", status="PUBLISHED",
                    created_by="t", created_at=AS_OF, updated_at=AS_OF)
        s.add(p)
        s.flush()
        v = ProductVersion(product_id=p.id, version=1, state="PUBLISHED", last_action="publish", name="测试贷",
                           kind="纯信用", amount_min_fen=100, amount_max_fen=10**9, term_min_months=1,
                           term_max_months=36, rate_min_bp=300, rate_max_bp=600, regions=["230000"], industries=[],
                           eligibility={}, auth_categories=[], auth_mode="query", auth_days=30, digest="0" * 64,
                           created_by="t", created_at=AS_OF, published_at=published)
        s.add(v)
        s.flush()
        p.live_version_id = v.id
    # Loans in November: Harbin 100万 credit first + 300万 neither (50万 disbursed, 100万 of the first);
    # Qiqihar 200万 credit first, all disbursed. One Harbin loan in October, outside.
    s.execute(insert(Loan), [
        _loan("L1", h(0), HARBIN, 100_000_000, credit=True, first=True, disbursed=100_000_000, on=date(2026, 11, 10)),
        _loan("L2", h(1), HARBIN, 300_000_000, credit=False, first=False, disbursed=50_000_000, on=date(2026, 11, 12)),
        _loan("L3", q(0), QIQIHAR, 200_000_000, credit=True, first=True, disbursed=200_000_000, on=date(2026, 11, 3)),
        _loan("L0", h(2), HARBIN, 900_000_000, credit=True, first=True, disbursed=0, on=date(2026, 10, 3))])
    # Applications: Harbin two (one answered after 48 h), Qiqihar one answered after 24 h.
    pid, vid = s.execute(Product.__table__.select().limit(1)).first()[0], 1

    def app(no: str, code: str, city: str, responded: datetime | None) -> dict[str, Any]:
        return {"number": no, "entity_code": code, "institution_code": BANK, "bank_code": BANK, "city_code": city,
                "product_id": pid, "product_version_id": vid, "state": "SUBMITTED", "last_action": "submit",
                "state_since": NOV, "amount_fen": 100, "term_months": 12, "purpose": "经营", "authorization_number": "A",
                "submitted_at": NOV, "first_response_at": responded, "created_at": NOV, "updated_at": NOV}

    s.execute(insert(Application), [app("A1", h(0), HARBIN, NOV + timedelta(hours=48)), app("A2", h(1), HARBIN, None),
                                    app("A3", q(0), QIQIHAR, NOV + timedelta(hours=24))])
    # Real-name registrations: Harbin two entities (one with two administrators), one more after the period.
    def reg(code: str, user: str, done: datetime) -> RealNameRegistration:
        return RealNameRegistration(entity_code=code, person_name="张三", id_digest="0" * 64, phone="13800000000",
                                    username=user, password_hash="x", code_hash="x", code_expires_at=done,
                                    status="completed", created_at=done, completed_at=done)

    s.add_all([reg(h(0), "u1", NOV), reg(h(0), "u2", NOV), reg(h(1), "u3", NOV),
               reg(h(2), "u4", datetime(2026, 12, 3, tzinfo=UTC))])
    # Harbin's city platform: connected, last heard from 2 hours before the run; 3 of 4 reconciliations agree.
    s.add(Peer(code="CN-230100", name="哈尔滨市融资信用服务平台", role="municipal", relation="child", suite="sm",
               public_key={}, key_id="k", region_prefix="2301", status="active", applied_at=AS_OF,
               last_contact_at=AS_OF - timedelta(hours=2)))
    s.flush()
    s.add_all([Reconciliation(peer="CN-230100", category=c, day=date(2026, 11, d), local_count=1, local_digest="x",
                              remote_count=1, remote_digest="x", status=st, difference={}, at=AS_OF)
               for c, d, st in (("tax", 1, "match"), ("tax", 2, "match"), ("license", 1, "match"),
                                ("penalty", 1, "mismatch"))])
    # Harbin's node sent 8 envelopes taken in November (and one in October) and 2 refused: 20 %.
    s.add_all([InboxEnvelope(id=f"E{i}", sender="CN-230100", kind="records", nonce=f"n{i}", digest="x",
                             received_at=NOV if i < 8 else datetime(2026, 10, 9, tzinfo=UTC), via="push", items=1,
                             result={}, receipt={}) for i in range(9)])
    s.add_all([RefusedEnvelope(claimed_id=f"R{i}", claimed_sender="CN-230100", code="SIGNATURE_INVALID",
                               message="签名无效", via="push", at=NOV) for i in range(2)])
    # A white list of 2026-11-01 with two Harbin entities: h(0) got a loan on 11-10, h(3) none.
    wl = WhiteList(number="WL1", kind="whitelist", name="测试白名单", as_of=date(2026, 11, 1), origin_node="CN-230000",
                   entries=2, digest="0" * 64, status="published", created_at=AS_OF, created_by="t")
    s.add(wl)
    s.flush()
    s.add_all([WhiteListEntry(list_id=wl.id, entity_code=h(0), entity_name="a"),
               WhiteListEntry(list_id=wl.id, entity_code=h(3), entity_name="b")])
    s.flush()

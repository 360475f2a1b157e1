"""Products and loans travel up the node network (city → province → national) as their own envelope kinds,
`products` and `loans`, on the existing envelopes: signed, sealed, acknowledged and retried by the relay.
So a provincial node counts its cities' financing and the national node counts everyone's.

- What travels: a product version once it is public (published, suspended, withdrawn, superseded; drafts and
  versions under review stay home), and every revision of a loan. Default data never travels: no days past
  due, risk class, repayment report or default case leaves the node where the loan was made.
- No double counting: a loan's number names the node where it was made and is never re-keyed at a hop, so
  the same loan arriving twice (a city reporting to its province and, during 先立后破, straight to the
  national platform) is one row; an older revision never overwrites a newer one. A bank loan reported under
  two numbers (the same institution and bank loan number) is kept once and the second is refused by name.
- What is marked `dirty` (by the service that changed it, or by the applier here for a child's rows) is
  queued for the parent and the legacy link by `collect`, which clears the mark only if the row is still
  what it sent (a change made meanwhile travels in the next round). The relay worker runs it in every
  round, with the records (registered in `network.runtime.COLLECTORS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit import audit, clock
from xinyidai.market import flows, products
from xinyidai.market.models import (
    GUARANTEE_TYPES,
    LOAN_STATUSES,
    PRODUCT_KINDS,
    Loan,
    Product,
    ProductVersion,
)
from xinyidai.network import exchange, relay, runtime
from xinyidai.network.exchange import ExchangeRefused
from xinyidai.network.models import Peer

PRODUCTS, LOANS = "products", "loans"
PER_ENVELOPE = {PRODUCTS: 1000, LOANS: 5000}
_TERMS = ("name", "summary", "kind", "sector_mask", "amount_min_fen", "amount_max_fen", "term_min_months",
          "term_max_months", "rate_min_bp", "rate_max_bp", "regions", "industries", "eligibility", "auth_categories",
          "auth_mode", "auth_days")
_LOAN = ("loan_no", "origin_node", "revision", "institution_code", "bank_code", "loan_ref", "entity_code",
         "city_code", "industry_code", "product_number", "product_kind", "sector_mask", "guarantee_type",
         "first_declared", "granted_fen", "disbursed_fen", "granted_on", "first_disbursed_on", "matures_on",
         "rate_bp", "term_months", "guarantor_code", "policy_tags", "status")


def _iso(v: date | datetime | None) -> str | None:
    return v.isoformat() if v is not None else None


def product_doc(v: ProductVersion, product: Product) -> dict[str, Any]:
    return {"number": product.number, "origin_node": product.origin_node, "institution_code": product.institution_code,
            "version": v.version, "state": v.state, "digest": v.digest, "published_at": _iso(v.published_at),
            **{k: getattr(v, k) for k in _TERMS}}


def loan_doc(loan: Loan) -> dict[str, Any]:
    return {k: (_iso(getattr(loan, k)) if isinstance(getattr(loan, k), date) else getattr(loan, k)) for k in _LOAN}


def upstreams(s: Session) -> list[Peer]:
    """Where this node's financing goes: its parent, and a legacy direct link during 先立后破."""
    return list(s.execute(select(Peer).where(Peer.relation.in_(("parent", "legacy")), Peer.status == "active"))
                .scalars())


def collect(s: Session, ctx: relay.NodeContext) -> dict[str, int]:
    """Queue what is marked for the upstreams, a batch per kind; a national node (none) just clears marks."""
    ups = upstreams(s)
    out = {PRODUCTS: 0, LOANS: 0}
    rows = s.execute(select(ProductVersion, Product).join(Product, Product.id == ProductVersion.product_id)
                     .where(ProductVersion.dirty == 1).order_by(ProductVersion.id)
                     .limit(PER_ENVELOPE[PRODUCTS])).all()
    if rows:
        docs = [product_doc(v, p) for v, p in rows]
        for up in ups:
            relay.queue(s, ctx, up, PRODUCTS, {"products": docs}, len(docs))
        for v, _ in rows:
            s.execute(update(ProductVersion).where(ProductVersion.id == v.id, ProductVersion.state == v.state)
                      .values(dirty=0).execution_options(synchronize_session=False))
        out[PRODUCTS] = len(docs) if ups else 0
    loans = list(s.execute(select(Loan).where(Loan.dirty == 1).order_by(Loan.id).limit(PER_ENVELOPE[LOANS])).scalars())
    if loans:
        docs = [loan_doc(x) for x in loans]
        for up in ups:
            relay.queue(s, ctx, up, LOANS, {"loans": docs}, len(docs))
        for x in loans:
            s.execute(update(Loan).where(Loan.id == x.id, Loan.revision == x.revision).values(dirty=0)
                      .execution_options(synchronize_session=False))
        out[LOANS] = len(docs) if ups else 0
    return out


# ── applying what a child sent ──────────────────────────────────────────────────────────────────────────

def _refuse(message: str, code: str = "PAYLOAD_INVALID", detail: Any = None) -> ExchangeRefused:
    return ExchangeRefused(message, code=code, detail=detail)


def _child(s: Session, sender: str) -> Peer:
    peer = s.get(Peer, sender) if sender else None
    if peer is None or peer.relation not in ("child", "legacy"):
        raise _refuse("只接受下级节点（或旧直连节点）报送的产品与贷款", code="NOT_A_CHILD")
    return peer


def _items(payload: Any, key: str) -> list[Mapping[str, Any]]:
    items = payload.get(key) if isinstance(payload, Mapping) else None
    if not isinstance(items, list) or not all(isinstance(x, Mapping) for x in items):
        raise _refuse(f"报文载荷应为 {{\"{key}\": [ … ]}}")
    return items


def _int(doc: Mapping[str, Any], key: str, lo: int = 0) -> int:
    v = doc.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or v < lo:
        raise _refuse(f"字段 {key} 应为不小于 {lo} 的整数", detail={"field": key})
    return v


def _date(doc: Mapping[str, Any], key: str, required: bool = True) -> date | None:
    v = doc.get(key)
    if v is None and not required:
        return None
    try:
        return date.fromisoformat(str(v))
    except ValueError:
        raise _refuse(f"字段 {key} 应为日期 YYYY-MM-DD", detail={"field": key}) from None


def apply_products(s: Session, ctx: relay.NodeContext, sender: str, payload: Any) -> dict[str, Any]:
    """Store the product versions a child sent (the whole payload checked before anything is written)."""
    _child(s, sender)
    items = _items(payload, "products")
    for doc in items:
        if doc.get("state") not in products.TRAVELLING or doc.get("kind") not in PRODUCT_KINDS:
            raise _refuse(f"产品 {doc.get('number')} 的状态或类别无效", detail={"number": doc.get("number")})
        for key in ("version", "amount_min_fen", "amount_max_fen", "term_min_months", "term_max_months",
                    "rate_min_bp", "rate_max_bp", "sector_mask", "auth_days"):
            _int(doc, key)
    stored = updated = unchanged = 0
    now = clock.now()
    for doc in items:
        product = s.execute(select(Product).where(Product.number == doc["number"])).scalar_one_or_none()
        if product is None:
            product = Product(number=str(doc["number"])[:40], institution_code=str(doc["institution_code"])[:18],
                              origin_node=str(doc["origin_node"])[:20], status=doc["state"], created_by=f"node:{sender}",
                              created_at=now, updated_at=now)
            s.add(product)
            s.flush()
        v = s.execute(select(ProductVersion).where(ProductVersion.product_id == product.id,
                                                   ProductVersion.version == doc["version"])).scalar_one_or_none()
        if v is not None and v.digest != doc["digest"]:
            raise _refuse(f"产品 {doc['number']} 第 {doc['version']} 版的内容与已收到的不一致", code="PRODUCT_CONFLICT")
        if v is None:
            v = ProductVersion(product_id=product.id, version=doc["version"], state=doc["state"], last_action="relay",
                               digest=doc["digest"], created_by=f"node:{sender}", created_at=now,
                               published_at=datetime.fromisoformat(doc["published_at"]) if doc.get("published_at") else None,
                               dirty=1, **{k: doc[k] for k in _TERMS})
            s.add(v)
            s.flush()
            stored += 1
        elif v.state != doc["state"]:
            v.state, v.last_action, v.dirty = doc["state"], "relay", 1
            updated += 1
        else:
            unchanged += 1
            continue
        if doc["state"] in (flows.PUBLISHED, flows.SUSPENDED):
            product.live_version_id = v.id
        product.status, product.updated_at = doc["state"], now
    if stored or updated:
        audit.record(s, f"node:{sender}", "market.products.received", f"peer:{sender}", stored=stored, updated=updated)
    return {"stored": stored, "updated": updated, "unchanged": unchanged}


def _check_loan(doc: Mapping[str, Any]) -> None:
    for key in ("loan_no", "origin_node", "institution_code", "bank_code", "loan_ref", "entity_code", "city_code",
                "product_number", "product_kind", "guarantee_type", "status"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            raise _refuse(f"贷款缺少字段 {key}", detail={"field": key, "loan_no": doc.get("loan_no")})
    if doc["guarantee_type"] not in GUARANTEE_TYPES or doc["status"] not in LOAN_STATUSES:
        raise _refuse(f"贷款 {doc['loan_no']} 的担保方式或状态无效")
    _int(doc, "revision", 1)
    granted = _int(doc, "granted_fen", 1)
    if _int(doc, "disbursed_fen") > granted:
        raise _refuse(f"贷款 {doc['loan_no']} 的放款额超过授信额", code="DISBURSE_ABOVE_GRANT")
    _date(doc, "granted_on")


def apply_loans(s: Session, ctx: relay.NodeContext, sender: str, payload: Any) -> dict[str, Any]:
    """Store the loans a child sent, by their network-wide number (see the module docstring)."""
    _child(s, sender)
    items = _items(payload, "loans")
    for doc in items:
        _check_loan(doc)
    stored = updated = unchanged = 0
    conflicts: list[str] = []
    now = clock.now()
    for doc in items:
        loan = s.execute(select(Loan).where(Loan.loan_no == doc["loan_no"])).scalar_one_or_none()
        if loan is not None and loan.revision >= doc["revision"]:
            unchanged += 1
            continue
        if loan is None:
            other = s.execute(select(Loan.loan_no).where(Loan.institution_code == doc["institution_code"],
                                                         Loan.loan_ref == doc["loan_ref"])).scalar()
            if other is not None:  # one bank loan reported through two platforms: counted once
                conflicts.append(doc["loan_no"])
                audit.record(s, f"node:{sender}", "market.loan.conflict", f"loan:{doc['loan_no']}",
                             institution_code=doc["institution_code"], loan_ref=doc["loan_ref"], kept=other)
                continue
            loan = Loan(created_at=now, dpd=0, application_id=None, first_on_platform=1)
            s.add(loan)
            stored += 1
        else:
            updated += 1
        granted_on = _date(doc, "granted_on")
        for key in ("loan_no", "origin_node", "revision", "institution_code", "bank_code", "loan_ref", "entity_code",
                    "city_code", "industry_code", "product_number", "product_kind", "sector_mask", "guarantee_type",
                    "first_declared", "granted_fen", "disbursed_fen", "rate_bp", "term_months", "guarantor_code",
                    "status"):
            setattr(loan, key, doc.get(key))
        loan.policy_tags = list(doc.get("policy_tags") or [])
        loan.granted_on, loan.granted_month = granted_on, granted_on.year * 100 + granted_on.month  # type: ignore[union-attr]
        loan.first_disbursed_on = _date(doc, "first_disbursed_on", required=False)
        loan.matures_on = _date(doc, "matures_on", required=False)
        loan.is_credit = int(loan.guarantee_type == "信用")
        loan.first_loan = int(bool(loan.first_declared))
        loan.credit_fen, loan.first_fen = loan.granted_fen * loan.is_credit, loan.granted_fen * loan.first_loan
        loan.updated_at, loan.dirty = now, 1
        s.flush()
        earlier = s.execute(select(Loan.id).where(Loan.entity_code == loan.entity_code, Loan.id != loan.id,
                                                  Loan.granted_on <= loan.granted_on).limit(1)).first()
        loan.first_on_platform = int(earlier is None)
    if stored or updated:
        audit.record(s, f"node:{sender}", "market.loans.received", f"peer:{sender}", stored=stored, updated=updated,
                     conflicts=len(conflicts))
    return {"stored": stored, "updated": updated, "unchanged": unchanged, "conflicts": conflicts}


def institution_names(s: Session, codes: set[str]) -> dict[str, str]:
    return dict(s.execute(select(FinancialInstitution.code, FinancialInstitution.name)
                          .where(FinancialInstitution.code.in_(codes))).all()) if codes else {}


def collect_count(s: Session, ctx: relay.NodeContext) -> int:
    """The relay round's collector: products and loans queued (see `collect`)."""
    return sum(collect(s, ctx).values())


exchange.APPLIERS[PRODUCTS] = apply_products
exchange.APPLIERS[LOANS] = apply_loans
runtime.COLLECTORS["market_queued"] = collect_count

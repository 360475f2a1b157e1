"""Financing needs (融资需求): an enterprise publishes what it needs — amount, term, purpose, acceptable kinds
of security, until when — banks answer with quotes (报价) under one of their published products, and the
enterprise picks one, which starts an application already accepted by that bank (`applications.pick_quote`).
Banks see the need and the enterprise's public tier only; nothing authorized is shown until it grants."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from xinyidai.catalog.schema import Catalog
from xinyidai.entities.models import MarketEntity
from xinyidai.kit import audit, clock
from xinyidai.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from xinyidai.kit.pagination import Page, PageRequest, paginate
from xinyidai.kit.principal import STAFF, Principal
from xinyidai.market import applications, flows, products
from xinyidai.market.flows import ActorKind
from xinyidai.market.models import PRODUCT_KINDS, Application, Demand, Product, ProductVersion, Quote
from xinyidai.market.money import bp, fen, wan

MAX_DAYS = 30
MAX_OPEN = 3
SORTABLE = {"created_at": Demand.created_at, "amount": Demand.amount_fen, "expires_at": Demand.expires_at}


def _end_of(d: date) -> datetime:
    return datetime.combine(d + timedelta(days=1), time(0), tzinfo=clock.CHINA_TZ)


def publish(s: Session, p: Principal, *, amount: Any, term_months: Any, purpose: str, kinds: list[str],
            expires_on: Any, node_code: str) -> Demand:
    if p.role != "enterprise" or not p.org_code or s.get(MarketEntity, p.org_code) is None:
        raise Forbidden("只有已登记的企业用户可以发布融资需求", code="ROLE_FORBIDDEN")
    amount_fen = fen(amount, "需求金额")
    try:
        term = int(term_months)
        until = date.fromisoformat(str(expires_on))
    except (TypeError, ValueError):
        raise InvalidInput("期限须为整数（月），有效期须为 YYYY-MM-DD", code="DEMAND_INVALID") from None
    if not 1 <= term <= 360:
        raise InvalidInput("融资期限须在 1–360 个月之间", code="DEMAND_INVALID")
    today = clock.today()
    if not today < until <= today + timedelta(days=MAX_DAYS):
        raise InvalidInput(f"融资需求有效期须在 1–{MAX_DAYS} 天之间", code="DEMAND_INVALID")
    purpose = (purpose or "").strip()
    if not 2 <= len(purpose) <= 200:
        raise InvalidInput("请说明融资用途（2–200 字）", code="DEMAND_INVALID")
    unknown = [k for k in kinds if k not in PRODUCT_KINDS]
    if unknown or not kinds:
        raise InvalidInput(f"可接受的担保方式须从 {'、'.join(PRODUCT_KINDS)} 中选择", code="UNKNOWN_COLLATERAL")
    open_now = s.execute(select(func.count()).select_from(Demand).where(
        Demand.entity_code == p.org_code, Demand.state == flows.OPEN, Demand.expires_at > clock.now())).scalar_one()
    if open_now >= MAX_OPEN:
        raise Conflict(f"贵企业已有 {open_now} 项征集中的融资需求，请先选定或关闭后再发布", code="DEMAND_LIMIT")
    now = clock.now()
    d = Demand(number=products.number_of("XQ", node_code), entity_code=p.org_code, state=flows.OPEN,
               last_action="publish", amount_fen=amount_fen, term_months=term, purpose=purpose, kinds=sorted(set(kinds)),
               expires_at=_end_of(until), created_by=p.username, created_at=now)
    s.add(d)
    s.flush()
    audit.record(s, p.username, "market.demand.published", f"demand:{d.number}", entity_code=p.org_code,
                 amount_fen=amount_fen)
    return d


def visible(p: Principal) -> Select:
    """Needs `p` may see: its own (enterprise); open, unexpired needs (bank); all (staff)."""
    stmt = select(Demand)
    if p.role == "enterprise":
        return stmt.where(Demand.entity_code == (p.org_code or "-"))
    if p.role == "bank":
        return stmt.where(Demand.state == flows.OPEN, Demand.expires_at > clock.now())
    return stmt if p.role in STAFF else stmt.where(False)


def search(s: Session, p: Principal, req: PageRequest, *, state: str | None = None) -> Page:
    stmt = visible(p)
    if state:
        stmt = stmt.where(Demand.state == state)
    return paginate(s, stmt, req, SORTABLE, "created_at")


def get(s: Session, p: Principal, number: str) -> Demand:
    d = s.execute(visible(p).where(Demand.number == number)).scalar_one_or_none()
    if d is None:
        raise NotFound(f"未找到融资需求 {number}", code="DEMAND_NOT_FOUND")
    return d


def quotes(s: Session, p: Principal, d: Demand) -> list[Quote]:
    """Quotes on a need: all of them for its enterprise and staff, its own for a bank."""
    stmt = select(Quote).where(Quote.demand_id == d.id).order_by(Quote.created_at)
    if p.role == "bank":
        stmt = stmt.where(Quote.institution_code == p.org_code)
    return list(s.execute(stmt).scalars())


def quote(s: Session, p: Principal, number: str, *, product_number: str, amount: Any, rate: Any, term_months: Any,
          valid_until: Any, note: str = "", node_code: str, request_id: str | None = None) -> Quote:
    """A bank quotes on an open need under one of its published products (one live quote per bank)."""
    if p.role != "bank" or not p.org_code:
        raise Forbidden("只有金融机构用户可以报价", code="ROLE_FORBIDDEN")
    if request_id:
        done = s.execute(select(Quote).where(Quote.institution_code == p.org_code,
                                             Quote.request_id == request_id)).scalar_one_or_none()
        if done is not None:
            if not _same_quote(s, done, number, product_number, amount, rate, term_months, valid_until, note):
                raise Conflict(f"请求编号 {request_id} 已用于内容不同的另一报价", code="REQUEST_ID_REUSED")
            return done
    d = get(s, p, number)
    flows.DEMAND.check(d.state, "quote", ActorKind.BANK, last_action=d.last_action)
    v = products.published_version(s, product_number)
    product = s.get(Product, v.product_id)
    if product.institution_code != p.org_code:
        raise Forbidden("只能以本机构已发布的产品报价", code="QUOTE_PRODUCT_MISMATCH")
    amount_fen = fen(amount, "报价金额")
    try:
        term = int(term_months)
        until = date.fromisoformat(str(valid_until))
    except (TypeError, ValueError):
        raise InvalidInput("期限须为整数（月），报价有效期须为 YYYY-MM-DD", code="QUOTE_INVALID") from None
    if not (v.amount_min_fen <= amount_fen <= v.amount_max_fen and v.term_min_months <= term <= v.term_max_months):
        raise InvalidInput(f"报价须在所选产品“{v.name}”的额度 {wan(v.amount_min_fen)}–{wan(v.amount_max_fen)}、"
                           f"期限 {v.term_min_months}–{v.term_max_months} 个月内", code="QUOTE_PRODUCT_MISMATCH")
    rate_bp = bp(rate, "报价年利率")
    if not v.rate_min_bp <= rate_bp <= v.rate_max_bp:
        raise InvalidInput(f"报价利率须在产品利率 {v.rate_min_bp / 100:.2f}%–{v.rate_max_bp / 100:.2f}% 内",
                           code="QUOTE_PRODUCT_MISMATCH")
    if until < clock.today():
        raise InvalidInput("报价有效期不能早于今天", code="QUOTE_INVALID")
    if v.kind not in d.kinds:
        raise InvalidInput(f"企业可接受的担保方式为 {'、'.join(d.kinds)}，产品为“{v.kind}”", code="QUOTE_PRODUCT_MISMATCH")
    s.execute(update(Quote).where(Quote.demand_id == d.id, Quote.institution_code == p.org_code,
                                  Quote.state == "MADE").values(state="WITHDRAWN")
              .execution_options(synchronize_session=False))
    q = Quote(number=products.number_of("BJ", node_code), demand_id=d.id, institution_code=p.org_code,
              product_version_id=v.id, amount_fen=amount_fen, rate_bp=rate_bp, term_months=term,
              valid_until=_end_of(until), note=(note or "").strip()[:2000], state="MADE", request_id=request_id,
              created_by=p.username, created_at=clock.now())
    s.add(q)
    s.flush()
    audit.record(s, p.username, "market.demand.quoted", f"demand:{d.number}", entity_code=d.entity_code,
                 institution_code=p.org_code, quote=q.number, amount_fen=amount_fen)
    return q


def _same_quote(s: Session, q: Quote, number: str, product_number: str, amount: Any, rate: Any, term_months: Any,
                valid_until: Any, note: str) -> bool:
    """Whether a repeated request asks for the quote it already made (same need, product and terms)."""
    v = s.get(ProductVersion, q.product_version_id)
    try:
        asked = (number, product_number, fen(amount, "报价金额"), bp(rate, "报价年利率"), int(term_months),
                 _end_of(date.fromisoformat(str(valid_until))), (note or "").strip()[:2000])
    except (InvalidInput, TypeError, ValueError):
        return False
    made = (s.get(Demand, q.demand_id).number, s.get(Product, v.product_id).number, q.amount_fen, q.rate_bp,
            q.term_months, q.valid_until, q.note)
    return asked == made


def pick_preview(s: Session, catalog: Catalog, p: Principal, number: str, quote_number: str) -> dict[str, Any]:
    """The authorization the enterprise confirms when it picks a quote (the quoting product's 贷前审查)."""
    from xinyidai.access import authorizations

    d = get(s, p, number)
    q = _live_quote(s, d, quote_number)
    v = s.get(ProductVersion, q.product_version_id)
    text, digest = authorizations.preview(s, catalog, p, applications.pre_loan_request(v, q.institution_code))
    return {"grant_text": text, "grant_digest": digest, "quote": q.number}


def _live_quote(s: Session, d: Demand, quote_number: str) -> Quote:
    q = s.execute(select(Quote).where(Quote.demand_id == d.id, Quote.number == quote_number)).scalar_one_or_none()
    if q is None:
        raise NotFound(f"该融资需求没有报价 {quote_number}", code="QUOTE_NOT_FOUND")
    if q.state != "MADE" or q.valid_until < clock.now():
        raise Conflict("该报价已失效，请选择其他报价", code="QUOTE_EXPIRED")
    return q


def pick(s: Session, catalog: Catalog, p: Principal, number: str, quote_number: str, grant_digest: str,
         node_code: str) -> Application:
    """The enterprise picks a quote: the need is matched, the other quotes not picked, and an application
    starts, accepted, under the authorization it confirms — all in one transaction."""
    d = get(s, p, number)
    flows.DEMAND.check(d.state, "pick", products.actor_kind(p), last_action=d.last_action)
    if d.expires_at < clock.now():
        raise Conflict("该融资需求已过期", code="DEMAND_EXPIRED")
    q = _live_quote(s, d, quote_number)
    app = applications.pick_quote(s, catalog, p, d, q, grant_digest, node_code)
    d.state, d.last_action, d.picked_quote_id, d.ended_at = flows.MATCHED, "pick", q.id, clock.now()
    q.state = "PICKED"
    s.execute(update(Quote).where(Quote.demand_id == d.id, Quote.id != q.id, Quote.state == "MADE")
              .values(state="NOT_PICKED").execution_options(synchronize_session=False))
    audit.record(s, p.username, "market.demand.picked", f"demand:{d.number}", entity_code=d.entity_code,
                 institution_code=q.institution_code, quote=q.number, application=app.number)
    return app


def close(s: Session, p: Principal, number: str) -> Demand:
    d = get(s, p, number)
    d.state = flows.DEMAND.check(d.state, "close", products.actor_kind(p), last_action=d.last_action)
    d.last_action, d.ended_at = "close", clock.now()
    audit.record(s, p.username, "market.demand.closed", f"demand:{d.number}", entity_code=d.entity_code)
    return d


def expire_due(s: Session, now: datetime | None = None) -> int:
    now = now or clock.now()
    rows = list(s.execute(select(Demand).where(Demand.state == flows.OPEN, Demand.expires_at <= now)).scalars())
    for d in rows:
        d.state = flows.DEMAND.check(d.state, "expire", ActorKind.SYSTEM)
        d.last_action, d.ended_at = "expire", now
    return len(rows)


def demand_dict(d: Demand, entity_name: str = "", quotes_count: int | None = None) -> dict[str, Any]:
    return {"number": d.number, "entity_code": d.entity_code, "entity_name": entity_name, "state": d.state,
            "state_label": flows.DEMAND.label(d.state), "amount": d.amount_fen / 100, "term_months": d.term_months,
            "purpose": d.purpose, "kinds": list(d.kinds), "expires_at": d.expires_at.isoformat(),
            "quotes": quotes_count}


def quote_dict(q: Quote, institution_name: str = "", product_name: str = "") -> dict[str, Any]:
    return {"number": q.number, "institution_code": q.institution_code, "institution_name": institution_name,
            "product_name": product_name, "amount": q.amount_fen / 100, "rate": q.rate_bp / 100,
            "term_months": q.term_months, "valid_until": q.valid_until.isoformat(), "note": q.note, "state": q.state}

"""Applications for loans: an enterprise applies to a product (confirming the 贷前审查 authorization the
product needs in the same step) or picks a bank's quote on its financing need; the bank accepts or declines,
may ask for more authorization, makes an offer (预授信), grants (授信) on accepted terms and disburses (放款);
the enterprise may withdraw before the grant. Every move, from a page, the API or a feedback file, goes
through `decide`, which:

1. finds the application through the actor's visibility (another bank's application is not found: its
   existence is not told);
2. answers a repeated request id with the stored result, and refuses the same id with another body;
3. asks the flow table (`flows.APPLICATION`) whether this actor may take this action now;
4. makes the move's own checks, then moves the state with a conditional UPDATE (a concurrent move of the
   same application loses with CONCURRENT_UPDATE), records the timeline event and the audit entry, and
   starts the service-level clock of the new state (`rules.yaml`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from xinyidai.access import authorizations
from xinyidai.access.authorizations import GrantRequest
from xinyidai.accounts.models import RealNameRegistration
from xinyidai.catalog.schema import Catalog
from xinyidai.entities.models import MarketEntity
from xinyidai.entities.regions import prefecture_of
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit import audit, clock
from xinyidai.kit.digest import sm3_hex
from xinyidai.kit.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from xinyidai.kit.notify import Notifier
from xinyidai.kit.pagination import Page, PageRequest, paginate
from xinyidai.kit.principal import STAFF, Principal
from xinyidai.market import flows, loans, products, rules
from xinyidai.market.flows import ActorKind
from xinyidai.market.models import GUARANTEE_TYPES, Application, ApplicationEvent, Demand, Loan, Quote
from xinyidai.market.money import bp, fen, wan

MAX_TERM = 360
SORTABLE = {"submitted_at": Application.submitted_at, "due_at": Application.due_at, "state": Application.state,
            "amount": Application.amount_fen, "number": Application.number}
# Categories a 贷后管理 authorization covers besides the product's own: those a post-loan alert reads.
POST_LOAN_CATEGORIES = ("registration", "penalty", "judicial", "dishonesty", "tax", "social_insurance")


@dataclass(frozen=True)
class Actor:
    """Who moves an application: a person (page or API), a bank's feedback file, or the platform itself."""

    username: str
    kind: ActorKind
    org: str | None  # the institution's code for a bank, the entity's for an enterprise
    source: str  # page / api / file / system
    principal: Principal | None = None

    @classmethod
    def of(cls, p: Principal, source: str) -> Actor:
        return cls(p.username, products.actor_kind(p), p.org_code, source, p)


SYSTEM = Actor("system", ActorKind.SYSTEM, None, "system")


def _head_office(s: Session, code: str) -> str:
    """An institution's head office (parent followed to the root): the 'bank' the figures count by."""
    seen = set()
    while code not in seen:
        seen.add(code)
        parent = s.execute(select(FinancialInstitution.parent_code)
                           .where(FinancialInstitution.code == code)).scalar()
        if not parent:
            return code
        code = parent
    return code


def visible(p: Principal) -> Select:
    """Applications `p` may see (authorization in the query): a bank its institution's, an enterprise its
    own, staff all."""
    stmt = select(Application)
    if p.role == "bank":
        return stmt.where(Application.institution_code == (p.org_code or "-"))
    if p.role == "enterprise":
        return stmt.where(Application.entity_code == (p.org_code or "-"))
    if p.role in STAFF:
        return stmt
    return stmt.where(False)


def get(s: Session, p: Principal, number: str) -> Application:
    app = s.execute(visible(p).where(Application.number == (number or "").strip())).scalar_one_or_none()
    if app is None:
        raise NotFound(f"未找到申请 {number}（或该申请不属于本机构/本企业）", code="APPLICATION_NOT_FOUND")
    return app


def search(s: Session, p: Principal, req: PageRequest, *, state: str | None = None, breached: bool = False) -> Page:
    stmt = visible(p)
    if state:
        stmt = stmt.where(Application.state == state)
    if breached:
        stmt = stmt.where(Application.breached_at.is_not(None), Application.state.in_(flows.PRE_GRANT))
    return paginate(s, stmt, req, SORTABLE, "submitted_at")


def timeline(s: Session, app: Application) -> list[ApplicationEvent]:
    return list(s.execute(select(ApplicationEvent).where(ApplicationEvent.application_id == app.id)
                          .order_by(ApplicationEvent.seq)).scalars())


# ── applying ────────────────────────────────────────────────────────────────────────────────────────────

def _entity_of(s: Session, p: Principal) -> MarketEntity:
    if p.role != "enterprise" or not p.org_code:
        raise Forbidden("只有企业用户可以申请融资", code="ROLE_FORBIDDEN")
    entity = s.get(MarketEntity, p.org_code)
    if entity is None:
        raise NotFound("本企业尚未在市场主体名录中登记", code="ENTITY_NOT_FOUND")
    return entity


def pre_loan_request(v: Any, institution_code: str) -> GrantRequest:
    """The 贷前审查 authorization a product needs, as the enterprise will confirm it."""
    return GrantRequest(institution_code=institution_code, purpose="贷前审查", mode=v.auth_mode,
                        categories=list(v.auth_categories),
                        valid_until=clock.today() + timedelta(days=v.auth_days))


def _terms(amount: Any, term_months: Any, purpose: str) -> tuple[int, int, str]:
    amount_fen = fen(amount, "申请金额")
    try:
        term = int(term_months)
    except (TypeError, ValueError):
        raise InvalidInput(f"申请期限“{term_months}”不是整数（月）", code="TERM_OUT_OF_RANGE") from None
    if not 1 <= term <= MAX_TERM:
        raise InvalidInput(f"申请期限须在 1–{MAX_TERM} 个月之间", code="TERM_OUT_OF_RANGE")
    purpose = (purpose or "").strip()
    if not 2 <= len(purpose) <= 200:
        raise InvalidInput("请说明融资用途（2–200 字）", code="BAD_PURPOSE")
    return amount_fen, term, purpose


def preview(s: Session, catalog: Catalog, p: Principal, product_number: str, amount: Any, term_months: Any,
            purpose: str) -> dict[str, Any]:
    """What the enterprise reads before applying: the fit, and the authorization text it will confirm."""
    entity = _entity_of(s, p)
    v = products.published_version(s, product_number)
    product = s.get(products.Product, v.product_id)
    amount_fen, term, purpose = _terms(amount, term_months, purpose)
    checks = products.fit(s, v, entity, amount_fen=amount_fen, term_months=term)
    text, digest = authorizations.preview(s, catalog, p, pre_loan_request(v, product.institution_code))
    return {"fit": [vars(c) for c in checks], "ok": all(c.ok for c in checks), "grant_text": text,
            "grant_digest": digest, "product": product_number, "amount_fen": amount_fen, "term_months": term,
            "purpose": purpose}


def _in_progress(s: Session, entity_code: str, product_id: int) -> Application | None:
    return s.execute(select(Application).where(Application.entity_code == entity_code,
                                               Application.product_id == product_id,
                                               Application.state.in_(flows.PRE_GRANT))).scalars().first()


def _number(node_code: str) -> str:
    return products.number_of("RZ", node_code)


def _start(s: Session, *, entity: MarketEntity, v: Any, product: Any, state: str, action: str, actor: Actor,
           amount_fen: int, term: int, purpose: str, auth_number: str, node_code: str,
           demand_id: int | None = None, quote_id: int | None = None, payload: dict[str, Any] | None = None,
           request_id: str | None = None) -> Application:
    now = clock.now()
    due, expire = rules.load().clock_for(state, now)
    app = Application(number=_number(node_code), entity_code=entity.code, institution_code=product.institution_code,
                      bank_code=_head_office(s, product.institution_code), city_code=prefecture_of(entity.region_code),
                      product_id=product.id, product_version_id=v.id, demand_id=demand_id, quote_id=quote_id,
                      state=state, last_action=action, state_since=now, amount_fen=amount_fen, term_months=term,
                      purpose=purpose, authorization_number=auth_number, submitted_at=now, due_at=due,
                      expire_at=expire, breaches=0, created_at=now, updated_at=now)
    if state == flows.ACCEPTED:  # a picked quote: the bank answered when it quoted
        app.first_response_at = now
    s.add(app)
    s.flush()
    _event(s, app, 1, action, flows.START, state, actor, now, now, payload or {"authorization": auth_number},
           request_id, None)
    audit.record(s, actor.username, f"market.application.{action}", f"application:{app.number}",
                 entity_code=entity.code, institution_code=app.institution_code, product=product.number,
                 amount_fen=amount_fen, authorizations=[auth_number])
    return app


def submit(s: Session, catalog: Catalog, p: Principal, *, product_number: str, amount: Any, term_months: Any,
           purpose: str, grant_digest: str, node_code: str, source: str = "page",
           request_id: str | None = None) -> Application:
    """Apply to a product: checks the fit, confirms the drafted authorization and creates the application
    in one transaction, so a bank never holds an application it may not examine."""
    entity = _entity_of(s, p)
    if request_id:  # the same form sent twice (a double-click): the application the first one made
        done = s.execute(select(ApplicationEvent.application_id).where(
            ApplicationEvent.actor_org == entity.code, ApplicationEvent.request_id == request_id)).scalar()
        if done is not None:
            return s.get(Application, done)
    v = products.published_version(s, product_number)
    product = s.get(products.Product, v.product_id)
    amount_fen, term, purpose = _terms(amount, term_months, purpose)
    products.require_fit(s, v, entity, amount_fen, term)
    existing = _in_progress(s, entity.code, product.id)
    if existing is not None:
        raise Conflict(f"贵企业已有该产品的在办申请 {existing.number}，请勿重复申请", code="APPLICATION_EXISTS",
                       detail={"application": existing.number})
    grant = authorizations.grant(s, catalog, p, pre_loan_request(v, product.institution_code), grant_digest)
    return _start(s, entity=entity, v=v, product=product, state=flows.SUBMITTED, action="submit",
                  actor=Actor.of(p, source), amount_fen=amount_fen, term=term, purpose=purpose,
                  auth_number=grant.number, node_code=node_code, request_id=request_id)


def pick_quote(s: Session, catalog: Catalog, p: Principal, demand: Demand, quote: Quote, grant_digest: str,
               node_code: str) -> Application:
    """The enterprise picks a quote on its need: the application starts accepted (the bank quoted)."""
    entity = _entity_of(s, p)
    v = s.get(products.ProductVersion, quote.product_version_id)
    product = s.get(products.Product, v.product_id)
    grant = authorizations.grant(s, catalog, p, pre_loan_request(v, product.institution_code), grant_digest)
    return _start(s, entity=entity, v=v, product=product, state=flows.ACCEPTED, action="pick_quote",
                  actor=Actor.of(p, "page"), amount_fen=quote.amount_fen, term=quote.term_months,
                  purpose=demand.purpose, auth_number=grant.number, node_code=node_code, demand_id=demand.id,
                  quote_id=quote.id, payload={"authorization": grant.number, "quote": quote.number,
                                              "demand": demand.number})


# ── deciding ────────────────────────────────────────────────────────────────────────────────────────────

def _event(s: Session, app: Application, seq: int, action: str, old: str, new: str, actor: Actor,
           acted_at: datetime, at: datetime, payload: dict[str, Any], request_id: str | None,
           request_digest: str | None) -> ApplicationEvent:
    e = ApplicationEvent(application_id=app.id, seq=seq, action=action, from_state=old, to_state=new,
                         actor_kind=actor.kind.value, actor=actor.username[:64], actor_org=actor.org,
                         request_id=request_id, request_digest=request_digest, acted_at=acted_at, at=at,
                         payload=payload, source=actor.source)
    s.add(e)
    return e


def request_digest(action: str, body: dict[str, Any]) -> str:
    return sm3_hex(orjson.dumps({"action": action, "body": body}, option=orjson.OPT_SORT_KEYS,
                                default=str))


def replayed(s: Session, actor: Actor, request_id: str | None, digest: str, app: Application) -> bool:
    """Whether `request_id` already moved `app` with this body (a repeat: answer, do nothing again); the same
    id used for another body or another application is REQUEST_ID_REUSED."""
    if not request_id:
        return False
    e = s.execute(select(ApplicationEvent).where(ApplicationEvent.actor_org == actor.org,
                                                 ApplicationEvent.request_id == request_id)).scalar_one_or_none()
    if e is None:
        return False
    if e.request_digest != digest or e.application_id != app.id:
        raise Conflict(f"请求编号 {request_id} 已用于内容不同的另一请求", code="REQUEST_ID_REUSED",
                       detail={"request_id": request_id})
    return True


def _acted_at(body: dict[str, Any], app: Application, last: ApplicationEvent | None, now: datetime) -> datetime:
    raw = body.get("acted_at")
    if raw in (None, ""):
        return now
    try:
        when = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw))
    except ValueError:
        raise InvalidInput(f"办理时间“{raw}”格式应为 YYYY-MM-DD 或 YYYY-MM-DDTHH:MM", code="DATE_FORMAT") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=clock.CHINA_TZ)
    if when > now + timedelta(minutes=5):
        raise InvalidInput(f"办理时间 {when.astimezone(clock.CHINA_TZ):%Y-%m-%d %H:%M} 晚于当前时间", code="DATE_IN_FUTURE")
    if last is not None and when < last.acted_at and _day_only(raw) \
            and when.astimezone(clock.CHINA_TZ).date() == last.acted_at.astimezone(clock.CHINA_TZ).date():
        when = last.acted_at  # a day without a time: some time that day, not before the step it follows
    if last is not None and when < last.acted_at:
        raise InvalidInput(f"办理时间 {when.astimezone(clock.CHINA_TZ):%Y-%m-%d %H:%M} 早于上一步"
                           f"“{flows.APPLICATION.move(last.action).label}”的时间 "
                           f"{last.acted_at.astimezone(clock.CHINA_TZ):%Y-%m-%d %H:%M}", code="DATE_OUT_OF_ORDER")
    return when


def _day_only(raw: Any) -> bool:
    if isinstance(raw, datetime):
        return False
    return isinstance(raw, date) or len(str(raw).strip()) == 10


def decide(s: Session, catalog: Catalog, actor: Actor, number: str, action: str, body: dict[str, Any] | None = None,
           *, request_id: str | None = None, node_code: str = "", notifier: Notifier | None = None) -> Application:
    """Move an application (see the module docstring). `body` carries what the action needs: a reason code
    and note, the offer or grant terms, a drawdown, the digest of an authorization text."""
    body = dict(body or {})
    digest = request_digest(action, body)
    if actor.principal is not None:
        app = get(s, actor.principal, number)
    else:
        app = s.execute(select(Application).where(Application.number == number)).scalar_one_or_none()
        if app is None:
            raise NotFound(f"未找到申请 {number}", code="APPLICATION_NOT_FOUND")
    if replayed(s, actor, request_id, digest, app):
        return app
    old = app.state
    new = flows.APPLICATION.check(old, action, actor.kind, last_action=app.last_action)
    last = s.execute(select(ApplicationEvent).where(ApplicationEvent.application_id == app.id)
                     .order_by(ApplicationEvent.seq.desc()).limit(1)).scalar_one_or_none()
    now = clock.now()
    acted_at = _acted_at(body, app, last, now)
    payload = _effects(s, catalog, actor, app, action, body, acted_at, node_code)
    moved = s.execute(update(Application).where(Application.id == app.id, Application.state == old)
                      .values(state=new, last_action=action, updated_at=now,
                              **({"state_since": now} if new != old else {}))
                      .execution_options(synchronize_session=False))
    if moved.rowcount != 1:
        raise Conflict("该申请刚被他人办理，请刷新后重试", code="CONCURRENT_UPDATE")
    s.refresh(app)
    if new != old:
        app.due_at, app.expire_at = rules.load().clock_for(new, now)
        app.breached_at = None
    _event(s, app, (last.seq if last else 0) + 1, action, old, new, actor, acted_at, now, payload, request_id,
           digest if request_id else None)
    audit.record(s, actor.username, f"market.application.{action}", f"application:{app.number}",
                 entity_code=app.entity_code, institution_code=app.institution_code, state=new,
                 **{k: v for k, v in payload.items() if k in ("reason_code", "amount_fen", "loan_no", "authorization")})
    if notifier is not None:
        _notify(s, notifier, app, action)
    return app


def _reason(app: Application, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    code, label = rules.load().reason(kind, body.get("reason_code"), body.get("note"))
    note = (body.get("note") or "").strip()[:2000] or None
    app.reason_code, app.reason_note = code, note
    return {"reason_code": code, "reason": label, "note": note}


def _effects(s: Session, catalog: Catalog, actor: Actor, app: Application, action: str, body: dict[str, Any],
             acted_at: datetime, node_code: str) -> dict[str, Any]:
    """The move's own checks and what it changes besides the state; returns the timeline payload."""
    note = (body.get("note") or "").strip()[:2000] or None
    if action in ("accept", "decline") and app.first_response_at is None:
        app.first_response_at = acted_at
    if action == "decline":
        app.decided_at = acted_at
        return _reason(app, "decline", body)
    if action == "reject":
        app.decided_at = acted_at
        return _reason(app, "reject", body)
    if action == "cancel":
        return _reason(app, "cancel", body)
    if action == "withdraw":
        return _reason(app, "withdraw", body) if body.get("reason_code") else {"note": note}
    if action == "request_auth":
        return {"categories": _categories(catalog, body.get("categories")), "mode": _mode(body.get("mode")),
                "note": note}
    if action == "confirm_auth":
        return {"authorization": _confirm_more(s, catalog, actor, app, body)}
    if action == "offer":
        return _offer(s, app, body)
    if action == "accept_offer":
        if app.offer_valid_until is not None and app.offer_valid_until < clock.now():
            raise Conflict(f"预授信已于 {app.offer_valid_until.astimezone(clock.CHINA_TZ):%Y-%m-%d} 过期，请联系银行重新预授信",
                           code="OFFER_EXPIRED")
        return {"offer_amount_fen": app.offer_amount_fen, "offer_rate_bp": app.offer_rate_bp}
    if action == "grant":
        return _grant(s, app, body, acted_at, node_code)
    if action == "disburse":
        loan = _loan_of(s, app)
        amount = fen(body.get("amount"), "放款金额")
        loans.disburse(s, loan, amount, acted_at.astimezone(clock.CHINA_TZ).date())
        return {"amount_fen": amount, "loan_no": loan.loan_no, "disbursed_fen": loan.disbursed_fen}
    if action == "close":
        loan = _loan_of(s, app)
        loans.close(s, loan)
        return {"loan_no": loan.loan_no, "note": note}
    return {"note": note} if note else {}


def _categories(catalog: Catalog, raw: Any) -> list[str]:
    codes = [str(c) for c in (raw or []) if str(c).strip()]
    if not codes:
        raise InvalidInput("请选择需要企业补充授权的信息类别", code="NO_CATEGORY")
    for c in codes:
        try:
            catalog.category(c)
        except KeyError:
            raise InvalidInput(f"信息类别 {c} 不在信息清单中", code="UNKNOWN_CATEGORY") from None
    return sorted(set(codes), key=catalog.position)


def _mode(raw: Any) -> str:
    mode = str(raw or "汇总查询")
    if mode not in ("汇总查询", "原始明细"):
        raise InvalidInput("补充授权的方式须为 汇总查询 或 原始明细", code="BAD_MODE")
    return mode


def more_authorization_request(s: Session, app: Application) -> GrantRequest | None:
    """The authorization the bank asked for (its latest request_auth), as the enterprise will confirm it."""
    e = s.execute(select(ApplicationEvent).where(ApplicationEvent.application_id == app.id,
                                                 ApplicationEvent.action == "request_auth")
                  .order_by(ApplicationEvent.seq.desc()).limit(1)).scalar_one_or_none()
    if e is None:
        return None
    return GrantRequest(institution_code=app.institution_code, purpose="贷前审查", mode=e.payload["mode"],
                        categories=list(e.payload["categories"]), valid_until=clock.today() + timedelta(days=90))


def _confirm_more(s: Session, catalog: Catalog, actor: Actor, app: Application, body: dict[str, Any]) -> str:
    req = more_authorization_request(s, app)
    if req is None or actor.principal is None:
        raise Conflict("银行尚未要求补充授权", code="OUT_OF_ORDER")
    return authorizations.grant(s, catalog, actor.principal, req, str(body.get("grant_digest") or "")).number


def _offer(s: Session, app: Application, body: dict[str, Any]) -> dict[str, Any]:
    v = s.get(products.ProductVersion, app.product_version_id)
    amount = fen(body.get("amount"), "预授信额度")
    rate = bp(body.get("rate"), "预授信年利率")
    try:
        term = int(body.get("term_months") or app.term_months)
    except (TypeError, ValueError):
        raise InvalidInput("预授信期限须为整数（月）", code="OFFER_TERMS_INVALID") from None
    if amount > v.amount_max_fen or not 1 <= term <= MAX_TERM:
        raise InvalidInput(f"预授信额度须在产品额度 {wan(v.amount_max_fen)} 以内，期限须在 1–{MAX_TERM} 个月之间",
                           code="OFFER_TERMS_INVALID")
    valid_until = None
    if body.get("valid_until"):
        try:
            d = date.fromisoformat(str(body["valid_until"]))
        except ValueError:
            raise InvalidInput("预授信有效期格式应为 YYYY-MM-DD", code="OFFER_TERMS_INVALID") from None
        if d < clock.today():
            raise InvalidInput("预授信有效期不能早于今天", code="OFFER_TERMS_INVALID")
        valid_until = datetime.combine(d + timedelta(days=1), datetime.min.time(), tzinfo=clock.CHINA_TZ)
    app.offer_amount_fen, app.offer_rate_bp, app.offer_term_months = amount, rate, term
    app.offer_valid_until = valid_until
    return {"amount_fen": amount, "rate_bp": rate, "term_months": term,
            "valid_until": valid_until.isoformat() if valid_until else None,
            "note": (body.get("note") or "").strip()[:2000] or None}


def _grant(s: Session, app: Application, body: dict[str, Any], acted_at: datetime, node_code: str) -> dict[str, Any]:
    amount = fen(body.get("amount"), "授信金额")
    if app.offer_amount_fen is not None and amount > app.offer_amount_fen:
        raise InvalidInput(f"授信金额 {wan(amount)} 高于企业接受的预授信额度 {wan(app.offer_amount_fen)}",
                           code="GRANT_ABOVE_OFFER")
    guarantee = str(body.get("guarantee_type") or "")
    if guarantee not in GUARANTEE_TYPES:
        raise InvalidInput(f"担保方式须为 {'、'.join(GUARANTEE_TYPES)} 之一", code="BAD_GUARANTEE_TYPE")
    loan_ref = str(body.get("loan_ref") or "").strip()
    if not 1 <= len(loan_ref) <= 64:
        raise InvalidInput("请填写银行的贷款编号（1–64 个字符）", code="LOAN_REF_REQUIRED")
    rate = bp(body.get("rate"), "授信年利率") if body.get("rate") not in (None, "") else app.offer_rate_bp
    try:
        term = int(body.get("term_months") or app.offer_term_months or app.term_months)
    except (TypeError, ValueError):
        raise InvalidInput(f"授信期限“{body.get('term_months')}”须为整数（月）", code="GRANT_TERMS_INVALID") from None
    if not 1 <= term <= MAX_TERM:
        raise InvalidInput(f"授信期限须在 1–{MAX_TERM} 个月之间", code="GRANT_TERMS_INVALID")
    first = body.get("first_loan")
    if first not in (True, False, "是", "否", "1", "0", 1, 0):
        raise InvalidInput("请声明是否为该企业的首笔贷款（首贷）", code="FIRST_LOAN_REQUIRED")
    matures = None
    if body.get("matures_on"):
        try:
            matures = date.fromisoformat(str(body["matures_on"]))
        except ValueError:
            raise InvalidInput("到期日格式应为 YYYY-MM-DD", code="DATE_FORMAT") from None
    granted_on = acted_at.astimezone(clock.CHINA_TZ).date()
    if matures is not None and matures <= granted_on:
        raise InvalidInput("到期日须晚于授信日", code="DATE_OUT_OF_ORDER")
    product = s.get(products.Product, app.product_id)
    v = s.get(products.ProductVersion, app.product_version_id)
    entity = s.get(MarketEntity, app.entity_code)
    loan = loans.create(s, app=app, product=product, version=v, entity=entity, node_code=node_code,
                        loan_ref=loan_ref, granted_fen=amount, guarantee_type=guarantee,
                        first_declared=first in (True, "是", "1", 1), granted_on=granted_on, rate_bp=rate or 0,
                        term_months=term, matures_on=matures,
                        policy_tags=[str(t)[:20] for t in body.get("policy_tags") or []][:10])
    app.loan_id, app.decided_at = loan.id, acted_at
    return {"amount_fen": amount, "loan_no": loan.loan_no, "loan_ref": loan_ref, "guarantee_type": guarantee,
            "first_loan": bool(loan.first_declared), "first_on_platform": bool(loan.first_on_platform),
            "rate_bp": loan.rate_bp, "term_months": term}


def _loan_of(s: Session, app: Application) -> Loan:
    loan = s.get(Loan, app.loan_id) if app.loan_id else None
    if loan is None:
        raise Conflict("该申请尚未授信，没有贷款", code="OUT_OF_ORDER")
    return loan


# ── the post-loan authorization ─────────────────────────────────────────────────────────────────────────

def post_loan_request(s: Session, catalog: Catalog, app: Application, loan: Loan) -> GrantRequest:
    """The 贷后管理 authorization offered to the enterprise after 授信: the product's categories and those a
    post-loan alert reads, until maturity plus 30 days (at most the longest an authorization may run)."""
    v = s.get(products.ProductVersion, app.product_version_id)
    cats = sorted({*v.auth_categories, *(c for c in POST_LOAN_CATEGORIES if c in catalog.codes)},
                  key=catalog.position)
    end = (loan.matures_on or clock.today() + timedelta(days=30 * loan.term_months)) + timedelta(days=30)
    end = min(end, clock.today() + timedelta(days=authorizations.MAX_DAYS))
    return GrantRequest(institution_code=app.institution_code, purpose="贷后管理", mode="汇总查询", categories=cats,
                        valid_until=end)


def confirm_post_loan(s: Session, catalog: Catalog, p: Principal, number: str, grant_digest: str) -> str:
    """The enterprise confirms the 贷后管理 authorization; the bank is then subscribed to its alerts."""
    from xinyidai.market import alerts

    app = get(s, p, number)
    if app.state not in (flows.GRANTED, flows.DISBURSED):
        raise Conflict("授信后才能授予贷后管理授权", code="OUT_OF_ORDER")
    loan = _loan_of(s, app)
    grant = authorizations.grant(s, catalog, p, post_loan_request(s, catalog, app, loan), grant_digest)
    last = s.execute(select(func.max(ApplicationEvent.seq)).where(ApplicationEvent.application_id == app.id)).scalar()
    now = clock.now()
    _event(s, app, (last or 0) + 1, "post_loan_auth", app.state, app.state, Actor.of(p, "page"), now, now,
           {"authorization": grant.number}, None, None)
    alerts.subscribe(s, app.institution_code, app.entity_code, p.username)
    return grant.number


# ── the service-level clock ─────────────────────────────────────────────────────────────────────────────

def sla_scan(s: Session, catalog: Catalog, now: datetime | None = None) -> dict[str, int]:
    """Flag breaches (counted against the bank, never ending an application) and expire what ran out."""
    now = now or clock.now()
    due = list(s.execute(select(Application).where(Application.state.in_(flows.PRE_GRANT),
                                                   Application.due_at < now, Application.breached_at.is_(None))
                         ).scalars())
    for app in due:
        app.breached_at, app.breaches = now, app.breaches + 1
        audit.record(s, "scheduler", "market.application.sla_breached", f"application:{app.number}",
                     institution_code=app.institution_code, state=app.state,
                     due_at=app.due_at.isoformat() if app.due_at else None)
    expired = 0
    for number in s.execute(select(Application.number).where(Application.state.in_(flows.PRE_GRANT),
                                                               Application.expire_at < now)).scalars().all():
        try:
            decide(s, catalog, SYSTEM, number, "expire")
            expired += 1
        except DomainError:  # moved meanwhile by a person: the next round sees its new state
            continue
    return {"breached": len(due), "expired": expired}


def _notify(s: Session, notifier: Notifier, app: Application, action: str) -> None:
    """A text to the enterprise's verified administrator at the steps it must know of at once."""
    texts = {"offer": "银行已向贵企业发出预授信，请登录平台确认", "grant": "贵企业的融资申请已获授信",
             "decline": "银行不予受理贵企业的融资申请", "reject": "贵企业的融资申请审批未通过",
             "request_auth": "银行请求贵企业补充授权，请登录平台办理"}
    if action not in texts:
        return
    phone = s.execute(select(RealNameRegistration.phone).where(
        RealNameRegistration.entity_code == app.entity_code, RealNameRegistration.status == "completed")
        .order_by(RealNameRegistration.id.desc()).limit(1)).scalar()
    if phone:
        notifier.send(phone, f"【信易贷】{texts[action]}（申请编号 {app.number}）。", kind=f"market.{action}")


def application_dict(app: Application, *, product_name: str = "", institution_name: str = "",
                     entity_name: str = "") -> dict[str, Any]:
    return {"number": app.number, "state": app.state, "state_label": flows.APPLICATION.label(app.state),
            "entity_code": app.entity_code, "entity_name": entity_name, "institution_code": app.institution_code,
            "institution_name": institution_name, "product_name": product_name,
            "amount": app.amount_fen / 100, "term_months": app.term_months, "purpose": app.purpose,
            "authorization": app.authorization_number,
            "offer": None if app.offer_amount_fen is None else {
                "amount": app.offer_amount_fen / 100, "rate": (app.offer_rate_bp or 0) / 100,
                "term_months": app.offer_term_months,
                "valid_until": app.offer_valid_until.isoformat() if app.offer_valid_until else None},
            "submitted_at": app.submitted_at.isoformat(),
            "due_at": app.due_at.isoformat() if app.due_at else None,
            "breached": app.breached_at is not None, "reason_code": app.reason_code, "reason_note": app.reason_note,
            "next": [{"action": m.action, "label": m.label, "by": sorted(m.actors)}
                     for m in flows.APPLICATION.moves_from(app.state)]}


def event_dict(e: ApplicationEvent) -> dict[str, Any]:
    return {"seq": e.seq, "action": e.action, "label": _label(e.action), "from": e.from_state, "to": e.to_state,
            "actor_kind": e.actor_kind, "actor": e.actor, "acted_at": e.acted_at.isoformat(),
            "recorded_at": e.at.isoformat(), "payload": e.payload, "source": e.source, "request_id": e.request_id}


def _label(action: str) -> str:
    try:
        return flows.APPLICATION.move(action).label
    except DomainError:
        return {"post_loan_auth": "授予贷后管理授权"}.get(action, action)

"""Electronic authorizations (电子授权书): an enterprise grants one institution access for a purpose, to some
categories (or items), in a mode, for a window and optionally a number of uses.

The enterprise is shown a text; what it confirms is that exact text: the page sends back the digest of the
text it showed, the service rebuilds the text from the same inputs and refuses a mismatch, and the row keeps
the text and its SM3 digest. Revocation takes effect on the next request, because every query joins on the
authorization's live state (see sharing.py) rather than on anything cached.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from xinyidai.access.models import AUTH_STATUSES, MODES, PURPOSES, Authorization, AuthorizationScope
from xinyidai.catalog.schema import Catalog
from xinyidai.entities.models import MarketEntity
from xinyidai.institutions import processors
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit import audit, clock
from xinyidai.kit.digest import sm3_hex
from xinyidai.kit.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from xinyidai.kit.pagination import Page, PageRequest, paginate
from xinyidai.kit.principal import Principal

MAX_DAYS = 366


class AuthorizationError(DomainError):
    status = 403


class NoAuthorization(AuthorizationError):
    code = "NO_AUTHORIZATION"
    message = "该企业未向本机构授权，或授权不适用于本次查询目的"


class AuthorizationExpired(AuthorizationError):
    code = "AUTHORIZATION_EXPIRED"
    message = "授权已过期，请联系企业重新授权"


class AuthorizationRevoked(AuthorizationError):
    code = "AUTHORIZATION_REVOKED"
    message = "企业已撤销该授权"


class AuthorizationExhausted(AuthorizationError):
    code = "AUTHORIZATION_EXHAUSTED"
    message = "授权的使用次数已用尽"


class OutOfScope(AuthorizationError):
    code = "OUT_OF_SCOPE"
    message = "所请求的信息类别不在授权范围内"


class ModeNotAllowed(AuthorizationError):
    code = "MODE_NOT_ALLOWED"
    message = "授权的方式不允许本次请求（例如汇总查询授权不能查看原始明细）"


@dataclass
class GrantRequest:
    institution_code: str
    purpose: str
    mode: str
    categories: list[str]
    valid_until: date
    max_uses: int | None = None
    items: dict[str, list[str]] = field(default_factory=dict)  # category → items it is limited to


def effective_status(a: Authorization, now: datetime | None = None) -> str:
    """The status a person should see: stored revocation first, then the window, then the count."""
    now = now or clock.now()
    if a.status == "revoked":
        return "revoked"
    if a.status == "exhausted" or (a.max_uses is not None and a.uses >= a.max_uses):
        return "exhausted"
    if a.status == "expired" or a.valid_until <= now:
        return "expired"
    if a.valid_from > now:
        return "pending"
    return "active"


def status_label(a: Authorization) -> str:
    st = effective_status(a)
    return "未生效" if st == "pending" else AUTH_STATUSES[st]


def live_condition(now: datetime) -> list:
    """SQL conditions under which an authorization may serve a request right now."""
    return [Authorization.status == "active", Authorization.valid_from <= now, Authorization.valid_until > now,
            or_(Authorization.max_uses.is_(None), Authorization.uses < Authorization.max_uses)]


def _end_of_day(d: date) -> datetime:
    return datetime.combine(d + timedelta(days=1), time(0), tzinfo=clock.CHINA_TZ)


def _check_request(s: Session, catalog: Catalog, entity_code: str, req: GrantRequest
                   ) -> tuple[MarketEntity, FinancialInstitution]:
    entity = s.get(MarketEntity, entity_code)
    if entity is None:
        raise NotFound("本企业尚未在市场主体名录中登记", code="ENTITY_NOT_FOUND")
    inst = s.get(FinancialInstitution, (req.institution_code or "").strip().upper())
    if inst is None or inst.status != "active":
        raise InvalidInput("所选金融机构不存在或已暂停接入", code="INSTITUTION_UNAVAILABLE")
    if req.purpose not in PURPOSES:
        raise InvalidInput(f"授权用途须为 {'、'.join(PURPOSES)} 之一", code="BAD_PURPOSE")
    if req.mode not in MODES:
        raise InvalidInput(f"授权方式须为 {'、'.join(MODES)} 之一", code="BAD_MODE")
    if req.purpose == "核验" and req.mode != "核验比对":
        raise InvalidInput("“核验”用途须与“核验比对”方式配合使用", code="BAD_MODE")
    if req.mode == "核验比对" and req.purpose != "核验":
        raise InvalidInput(f"“核验比对”方式只能用于“核验”用途，{req.purpose}请选择汇总查询或原始明细", code="BAD_MODE")
    if not req.categories:
        raise InvalidInput("请至少选择一类信息", code="NO_CATEGORY")
    for code in req.categories:
        try:
            cat = catalog.category(code)
        except KeyError:
            raise InvalidInput(f"信息类别 {code} 不在信息清单中", code="UNKNOWN_CATEGORY") from None
        if cat.sensitivity == "仅核验" and req.mode != "核验比对":
            raise InvalidInput(f"“{cat.name}”仅可用于核验比对，不能授权查询", code="VERIFY_ONLY_CATEGORY")
        for item in req.items.get(code, []):
            try:
                cat.item(item)
            except KeyError:
                raise InvalidInput(f"“{cat.name}”没有字段 {item}", code="UNKNOWN_ITEM") from None
    today = clock.now().astimezone(clock.CHINA_TZ).date()
    if not today <= req.valid_until <= today + timedelta(days=MAX_DAYS):
        raise InvalidInput(f"有效期须在今天到 {MAX_DAYS} 天之内", code="BAD_VALIDITY")
    if req.max_uses is not None and not 1 <= req.max_uses <= 100_000:
        raise InvalidInput("使用次数上限须为 1 到 100000 之间的整数", code="BAD_MAX_USES")
    return entity, inst


def authorization_text(catalog: Catalog, entity: MarketEntity, inst: FinancialInstitution, req: GrantRequest,
                       today: date, named: Sequence[str] = ()) -> str:
    """The words the enterprise confirms. Everything that decides what the institution may see is in it, and
    who else handles it for the institution: `named`, its live data processors (notice point 九)."""
    lines = []
    for code in sorted(set(req.categories), key=catalog.codes.index):
        cat = catalog.category(code)
        limited = req.items.get(code)
        names = "、".join(cat.item(i).name for i in limited) if limited else "全部字段"
        lines.append(f"  {cat.name}（{cat.sensitivity}）：{names}")
    uses = f"最多使用 {req.max_uses} 次" if req.max_uses else "有效期内不限次数"
    return "\n".join([
        "信用信息查询授权书",
        f"授权人：{entity.name}（统一社会信用代码 {entity.code}）",
        f"被授权机构：{inst.name}（统一社会信用代码 {inst.code}）",
        f"授权用途：{req.purpose}（仅限融资用途，不得用于其他目的，不得向第三方提供）",
        f"授权方式：{req.mode}",
        "授权信息范围：",
        *lines,
        *(["被授权机构委托以下数据处理受托方处理其获得的信息（仅限所列目的，受托方不得另作他用）：",
           *(f"  {n}" for n in named)] if named else []),
        f"有效期：{today.isoformat()} 至 {req.valid_until.isoformat()}，{uses}",
        "本企业知悉：被授权机构每次查询都将记录并可在“谁查看了我的数据”中查看；本企业可随时撤销本授权，"
        "撤销立即生效，被授权机构此后的任何请求均不再依据本授权办理。",
    ])


def preview(s: Session, catalog: Catalog, p: Principal, req: GrantRequest) -> tuple[str, str]:
    """The text to show and its digest (which the confirmation must send back)."""
    entity_code = _own_entity(p)
    entity, inst = _check_request(s, catalog, entity_code, req)
    names = {c.code: c.name for c in catalog.categories}
    named = [processors.describe(x, names) for x in processors.live(s, inst.code)]
    text = authorization_text(catalog, entity, inst, req, clock.now().astimezone(clock.CHINA_TZ).date(), named)
    return text, sm3_hex(text.encode("utf-8"))


def _own_entity(p: Principal) -> str:
    if p.role != "enterprise" or not p.org_code:
        raise Forbidden("只有企业用户可以管理本企业的授权", code="ROLE_FORBIDDEN")
    return p.org_code


def grant(s: Session, catalog: Catalog, p: Principal, req: GrantRequest, shown_digest: str) -> Authorization:
    text, digest = preview(s, catalog, p, req)
    if shown_digest != digest:
        raise Conflict("授权书内容已变化（例如跨过了日期），请重新预览并确认", code="AUTHORIZATION_TEXT_CHANGED")
    now = clock.now()
    a = Authorization(
        number=f"SQ{now.astimezone(clock.CHINA_TZ):%Y%m%d}{secrets.token_hex(5).upper()}",
        entity_code=p.org_code, institution_code=req.institution_code.strip().upper(), purpose=req.purpose,
        mode=req.mode, valid_from=now, valid_until=_end_of_day(req.valid_until), max_uses=req.max_uses, uses=0,
        status="active", origin="enterprise", text=text, text_digest=digest, confirmed_by=p.username,
        confirmed_at=now)
    a.scopes = [AuthorizationScope(category=c, items=req.items.get(c) or None) for c in sorted(set(req.categories))]
    s.add(a)
    s.flush()
    audit.record(s, p.username, "authorization.granted", f"authorization:{a.number}", entity_code=a.entity_code,
                 institution_code=a.institution_code, purpose=a.purpose, mode=a.mode,
                 categories=sorted(set(req.categories)), valid_until=req.valid_until.isoformat(),
                 max_uses=req.max_uses, text_digest=digest)
    return a


def revoke(s: Session, p: Principal, number: str, reason: str = "") -> Authorization:
    a = get_own(s, p, number)
    if a.status == "revoked":
        raise Conflict("该授权已撤销", code="ALREADY_REVOKED")
    now = clock.now()
    a.status = "revoked"
    a.revoked_at = now
    a.revoked_by = p.username
    a.revoke_reason = (reason or "").strip()[:500] or None
    audit.record(s, p.username, "authorization.revoked", f"authorization:{a.number}", entity_code=a.entity_code,
                 institution_code=a.institution_code, reason=a.revoke_reason)
    return a


def _visible(p: Principal) -> list:
    """Which authorizations a principal may see: its own enterprise's, or those granted to its institution."""
    if p.role == "enterprise" and p.org_code:
        return [Authorization.entity_code == p.org_code]
    if p.role == "bank" and p.org_code:
        return [Authorization.institution_code == p.org_code]
    if p.role in ("operator", "security", "regulator"):
        return []
    return [Authorization.id.is_(None)]  # nobody else sees any


def get_own(s: Session, p: Principal, number: str) -> Authorization:
    a = s.execute(select(Authorization).where(Authorization.number == number.strip(), *_visible(p))
                  ).scalar_one_or_none()
    if a is None:
        raise NotFound("未找到该授权", code="AUTHORIZATION_NOT_FOUND")
    if p.role == "enterprise" and a.entity_code != p.org_code:
        raise NotFound("未找到该授权", code="AUTHORIZATION_NOT_FOUND")
    return a


def list_visible(s: Session, p: Principal, req: PageRequest, *, status: str | None = None,
                 entity_code: str | None = None) -> Page:
    stmt: Select = select(Authorization).where(*_visible(p))
    if entity_code:
        stmt = stmt.where(Authorization.entity_code == entity_code.strip().upper())
    now = clock.now()
    if status == "active":
        stmt = stmt.where(*live_condition(now))
    elif status == "revoked":
        stmt = stmt.where(Authorization.status == "revoked")
    elif status == "expired":
        stmt = stmt.where(Authorization.status != "revoked", Authorization.valid_until <= now)
    elif status == "exhausted":
        stmt = stmt.where(Authorization.status != "revoked", Authorization.max_uses.is_not(None),
                          Authorization.uses >= Authorization.max_uses)
    sorts = {"confirmed_at": Authorization.confirmed_at, "valid_until": Authorization.valid_until,
             "uses": Authorization.uses, "entity_code": Authorization.entity_code}
    return paginate(s, stmt, req, sorts, "confirmed_at")


def diagnose(s: Session, institution_code: str, entity_code: str, purpose: str, category: str | None,
             need_mode: tuple[str, ...], number: str | None = None) -> AuthorizationError:
    """Why no live authorization served a request: the error an institution can act on. Only called on the
    refusal path, and only about the institution's own authorizations."""
    now = clock.now()
    stmt = select(Authorization).where(Authorization.institution_code == institution_code,
                                       Authorization.entity_code == entity_code)
    if number:
        stmt = stmt.where(Authorization.number == number)
    else:
        stmt = stmt.where(Authorization.purpose == purpose)
    rows = list(s.execute(stmt.order_by(Authorization.confirmed_at.desc()).limit(50)).scalars())
    if not rows:
        return NoAuthorization()
    for a in rows:
        st = effective_status(a, now)
        if st != "active":
            continue
        cats = {sc.category for sc in a.scopes}
        if category and category not in cats:
            continue
        if a.mode not in need_mode:
            return ModeNotAllowed()
        return OutOfScope()  # live, in scope and mode, yet not served: the item list or purpose excludes it
    if any(effective_status(a, now) == "active" for a in rows):
        return OutOfScope()
    latest = rows[0]
    return {"revoked": AuthorizationRevoked, "exhausted": AuthorizationExhausted,
            "expired": AuthorizationExpired}.get(effective_status(latest, now), NoAuthorization)()


def authorization_dict(a: Authorization, catalog: Catalog | None = None) -> dict:
    return {
        "number": a.number, "entity_code": a.entity_code, "institution_code": a.institution_code,
        "purpose": a.purpose, "mode": a.mode, "status": effective_status(a), "status_label": status_label(a),
        "valid_from": a.valid_from.isoformat(), "valid_until": a.valid_until.isoformat(),
        "max_uses": a.max_uses, "uses": a.uses,
        "scope": [{"category": sc.category, "items": sc.items} for sc in a.scopes],
        "text": a.text, "text_digest": a.text_digest, "confirmed_by": a.confirmed_by,
        "confirmed_at": a.confirmed_at.isoformat(),
        "revoked_at": a.revoked_at.isoformat() if a.revoked_at else None,
        "last_used_at": a.last_used_at.isoformat() if a.last_used_at else None,
    }

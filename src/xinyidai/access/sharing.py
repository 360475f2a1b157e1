"""What an institution can see of an entity: the public tier, authorized summaries, original detail.

Authorization lives in the query. Each function takes the acting institution and runs statements that
can return only what that institution may see right now:
  1. a SELECT of the live authorizations that fit the request (the institution's own, for this entity and
     purpose, in a mode that allows the request, inside its window, with uses left, the institution
     active) and their scopes, from which the request's plan is made;
  2. an UPDATE … RETURNING that spends one use of each authorization the answer is served under — only
     those: a public category costs the enterprise nothing, and an authorization whose categories the
     answer does not need is not touched — re-checking every condition, so two concurrent requests cannot
     both take the last use, and one revoked meanwhile is not spent (the plan is then remade from what was);
  3. a SELECT of current records whose category is public (and the institution active) or covered by a
     scope of one of the spent authorizations, still revoked/expired-checked in the same statement.
There is no "check, then fetch": a revocation committed before the request is seen by the statements that
spend and read.

Every response is shaped by the policy (policy.py) for the tier each category is served under, names the
authorizations and purpose it was served under, and leaves an access entry in the audit chain in the same
transaction. A refusal is logged too (by the caller, which commits it before returning the error).
"""

from __future__ import annotations

import csv
import hmac
import io
import secrets
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from sqlalchemy import String, and_, bindparam, exists, or_, select, update
from sqlalchemy.orm import Session

from xinyidai.access.authorizations import diagnose
from xinyidai.access.models import Authorization, AuthorizationScope
from xinyidai.access.policy import DROP, Policy
from xinyidai.catalog import publication
from xinyidai.catalog.schema import Catalog, Category
from xinyidai.entities.models import MarketEntity
from xinyidai.institutions import processors
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit import audit, clock
from xinyidai.kit.digest import sm3_hex
from xinyidai.kit.errors import Forbidden, InvalidInput, NotFound
from xinyidai.kit.prepared import Prepared, PreparedRow
from xinyidai.kit.principal import Principal
from xinyidai.kit.spreadsheet import csv_cell
from xinyidai.records import marks as record_marks
from xinyidai.records.models import CreditRecord

QUERY_MODES = ("汇总查询", "原始明细")
DETAIL_MODES = ("原始明细",)
MAX_DETAIL_ROWS = 2000
PUBLIC_BASIS = "公开信息"  # what an access served under no authorization read, as its log entry says


@dataclass(frozen=True)
class Actor:
    """The institution a request acts for, and who in it."""

    institution_code: str
    username: str
    request_id: str | None = None


def actor_of(p: Principal, request_id: str | None = None) -> Actor:
    if p.role != "bank" or not p.org_code:
        raise Forbidden("只有金融机构用户可以查询企业信用信息", code="ROLE_FORBIDDEN")
    rid = (request_id or "").strip()[:64] or None
    return Actor(p.org_code, p.username, rid)


def normalised_code(code: str) -> str:
    code = (code or "").strip().upper()
    if len(code) != 18 or not code.isalnum():
        raise InvalidInput("统一社会信用代码应为 18 位字母或数字", code="INVALID_USCC")
    return code


def _institution_active(code: str) -> Any:
    return exists().where(FinancialInstitution.code == code, FinancialInstitution.status == "active")


def _seen_before(s: Session, actor: Actor, entity: str, action: str) -> bool:
    """A request id already served for this entity: answer again without spending another use."""
    if not actor.request_id:
        return False
    return s.execute(select(audit.AuditEvent.id).where(
        audit.AuditEvent.institution_code == actor.institution_code,
        audit.AuditEvent.request_id == actor.request_id, audit.AuditEvent.entity_code == entity,
        audit.AuditEvent.action == action).limit(1)).first() is not None


# The statements of the request path are built once with bound parameters: constructing SQLAlchemy
# expressions per request cost more than running them. They return plain columns and run as `Prepared`
# statements: the ORM's execution layer doubled each statement's cost, and Core's added a tenth to a request.
_B = bindparam
_LIVE = [Authorization.institution_code == _B("inst"), Authorization.entity_code == _B("entity"),
         Authorization.mode.in_(_B("modes", expanding=True)), Authorization.status == "active",
         Authorization.valid_from <= _B("p_now"), Authorization.valid_until > _B("p_now"),
         exists().where(FinancialInstitution.code == _B("inst"), FinancialInstitution.status == "active"),
         or_(Authorization.number == _B("p_number"),
             and_(_B("p_number", type_=String).is_(None), Authorization.purpose == _B("p_purpose")))]
_USES_LEFT = or_(Authorization.max_uses.is_(None), Authorization.uses < Authorization.max_uses)
_AUTH_COLUMNS = (Authorization.id, Authorization.number, Authorization.mode)
# The live authorizations with their scopes in one statement (every authorization has at least one scope).
_WITH_SCOPES = select(*_AUTH_COLUMNS, AuthorizationScope.category, AuthorizationScope.items).join(
    AuthorizationScope, AuthorizationScope.authorization_id == Authorization.id)
_PEEK = Prepared(_WITH_SCOPES.where(*_LIVE))
_USABLE = Prepared(_WITH_SCOPES.where(*_LIVE, _USES_LEFT))
_TAKE = Prepared(update(Authorization)
                 .where(Authorization.id.in_(_B("ids", expanding=True)), *_LIVE, _USES_LEFT)
                 .values(uses=Authorization.uses + 1, last_used_at=_B("p_now"))
                 .returning(*_AUTH_COLUMNS))
_COVERED = exists().where(
    AuthorizationScope.category == CreditRecord.category, AuthorizationScope.authorization_id == Authorization.id,
    Authorization.id.in_(_B("auth_ids", expanding=True)), Authorization.institution_code == _B("inst"),
    Authorization.entity_code == CreditRecord.entity_code, Authorization.status == "active",
    Authorization.valid_from <= _B("now"), Authorization.valid_until > _B("now"))
# Plain rows, not ORM objects: a profile reads dozens of records and only reads them, and building an
# identity-mapped object per row cost more than the statement itself.
_READABLE = (select(*CreditRecord.__table__.c).where(
    CreditRecord.entity_code == _B("entity"), CreditRecord.status == "current",
    CreditRecord.category.in_(_B("categories", expanding=True)),
    exists().where(FinancialInstitution.code == _B("inst"), FinancialInstitution.status == "active"),
    or_(CreditRecord.category.in_(_B("public", expanding=True)), _COVERED))
    .order_by(CreditRecord.category, CreditRecord.period_end.desc().nulls_last(), CreditRecord.id))
# What summaries and verification read of a record: a third of the columns, and none that needs converting
# on the way out (provenance times), made the statement about a quarter cheaper.
_READABLE_FACTS = Prepared(_READABLE.with_only_columns(
    CreditRecord.id, CreditRecord.category, CreditRecord.record_key, CreditRecord.period_start,
    CreditRecord.period_end, CreditRecord.content))
_READABLE_ALL = Prepared(_READABLE)

Auth = tuple[int, str, str]  # an authorization as the request path reads it: (id, number, mode)
Scopes = dict[str, list[tuple[str, str, list[str] | None]]]  # category → [(number, mode, item list)]


@dataclass
class Basis:
    """What a request is served under: the live authorizations that fit it, those it spent (or, for a
    retried request, would have spent) and what the spent ones cover."""

    live: list[Auth]
    auths: list[Auth]
    scopes: Scopes


def spend_serving(s: Session, actor: Actor, entity: str, purpose: str, modes: tuple[str, ...],
                  number: str | None, consume: bool, serving: Callable[[Scopes], set[str]]) -> Basis:
    """The institution's live authorizations for this entity and purpose (or the named one) in an allowed
    mode; `serving` picks, from their scopes, the numbers the answer would be served under, and one use of
    each of those — and of no other — is spent, atomically, unless this is a retried request (which spent
    its use already, so even the last use still answers it)."""
    params = {"inst": actor.institution_code, "entity": entity, "modes": list(modes), "p_now": clock.now(),
              "p_number": number, "p_purpose": purpose}
    by_id: dict[int, Auth] = {}
    scopes: Scopes = defaultdict(list)
    for aid, num, mode, category, items in (_USABLE if consume else _PEEK).all(s, params):
        by_id[aid] = (aid, num, mode)
        scopes[category].append((num, mode, items))
    live = list(by_id.values())
    chosen = serving(scopes)
    auths = [a for a in live if a[1] in chosen]
    if consume and auths:
        # Every condition is checked again as the use is spent: one revoked or used up since it was read is
        # not spent, and the answer is served under those that were (a plan made from their scopes names
        # exactly them: dropping an authorization never makes another one serve).
        auths = [tuple(r) for r in _TAKE.all(s, {**params, "ids": [a[0] for a in auths]})]
    return Basis(live, auths, _only(scopes, {a[1] for a in auths}))


def _only(scopes: Scopes, numbers: set[str]) -> Scopes:
    kept = {c: [g for g in grants if g[0] in numbers] for c, grants in scopes.items()}
    return {c: grants for c, grants in kept.items() if grants}


def readable_records(s: Session, actor: Actor, entity: str, public: list[str], auth_ids: list[int],
                      categories: list[str], *, facts_only: bool = False) -> list[PreparedRow]:
    """Current records of `entity` that are public or covered by a scope of one of `auth_ids` — which must
    still belong to this institution and entity, be unrevoked and inside their window. `facts_only`: just
    id, category, record_key, period_start, period_end and content (what summaries and verification read)."""
    params = {"entity": entity, "inst": actor.institution_code, "now": clock.now(),
              "auth_ids": auth_ids or [-1], "public": public or ["-"],
              "categories": categories or ["-"]}
    return (_READABLE_FACTS if facts_only else _READABLE_ALL).all(s, params)


@dataclass
class Served:
    """How one category is served: its tier, the authorization(s) behind it, the items allowed."""

    tier: str
    authorizations: list[str]
    items: set[str] | None  # None = every item


def _named(plan: dict[str, Served]) -> set[str]:
    return {n for sv in plan.values() for n in sv.authorizations}


def _plan(catalog: Catalog, public: list[str], scopes: Scopes, want_detail: bool) -> dict[str, Served]:
    plan: dict[str, Served] = {}
    for code in public:
        plan[code] = Served("公开", [], None)
    for code, grants in scopes.items():
        try:
            cat = catalog.category(code)
        except KeyError:
            continue
        if cat.sensitivity == "仅核验":
            continue
        detail = [g for g in grants if g[1] == "原始明细"]
        chosen = detail if detail else ([] if want_detail else grants)
        if not chosen:
            continue
        if not detail and code in plan:  # a public category: the public tier already shows more than a summary
            continue
        tier = "原始明细" if detail else "汇总查询"
        items: set[str] | None = set()
        for _, _, limited in chosen:
            if limited is None:
                items = None
                break
            items.update(limited)
        plan[code] = Served(tier, sorted({g[0] for g in chosen}), items)
    return plan


def _public_categories(catalog: Catalog) -> list[str]:
    return [c.code for c in catalog.categories if c.sensitivity == "公开"]


_ENTITY = Prepared(select(*MarketEntity.__table__.c).where(MarketEntity.code == _B("code")))


def entity_row(s: Session, code: str) -> PreparedRow:
    """The register's row for `code` (plain columns: every access reads it, and only reads it)."""
    e = _ENTITY.first(s, {"code": code})
    if e is None:
        raise NotFound("未找到该市场主体", code="ENTITY_NOT_FOUND")
    return e


def _entity_card(policy: Policy, catalog: Catalog, e: PreparedRow) -> dict[str, Any]:
    """The register's basic facts, shaped by the public tier (the legal representative's ID never leaves)."""
    reg = catalog.category("registration")
    card: dict[str, Any] = {"code": e.code, "name": e.name, "kind": e.kind, "region_code": e.region_code,
                            "industry_code": e.industry_code, "status": e.status,
                            "registered_on": e.registered_on.isoformat() if e.registered_on else None}
    for field_name, item_code, value in (("legal_rep", "legal_representative", e.legal_rep),
                                         ("address", "address", e.address),
                                         ("registered_capital_wan", "registered_capital", e.registered_capital)):
        try:
            shaped = policy.shape("公开", reg, reg.item(item_code), value)
        except KeyError:
            shaped = DROP
        if shaped is not DROP:
            card[field_name] = shaped
    return card


def _content(r: PreparedRow) -> dict[str, Any]:
    return orjson.loads(r.content)


def published_only(catalog: Catalog, records: list[PreparedRow], day: date) -> list[PreparedRow]:
    """Drop the records whose publication window (公示期, catalog.publication) is over on `day` — ended or
    repaired: no institution is served them, at any tier, and nothing says how many there were. Only
    categories with a window are read."""
    windowed = {c.code: c for c in catalog.categories if c.publication is not None}
    if not windowed or not any(r.category in windowed for r in records):
        return records
    return [r for r in records if r.category not in windowed
            or publication.public_on(windowed[r.category], _content(r), day)]


def mark_dicts(ms: list[record_marks.Mark]) -> list[dict[str, str]]:
    """A record's live marks as an answer carries them (the JSON API's `marks`)."""
    return [{"kind": m.kind, "label": m.label, "ref": m.ref, "note": m.footnote} for m in ms]


def _num(v: Any) -> Decimal | None:
    try:
        return Decimal(str(v))
    except (InvalidOperation, ValueError):
        return None


def _summarise(policy: Policy, cat: Category, served: Served, records: list[PreparedRow],
               today: date) -> dict[str, Any]:
    """A category in summary form: counts, the span of periods, the latest record and 12-month totals,
    every value shaped for the tier (amounts banded under 汇总查询)."""
    tier = served.tier
    year_ago = today - timedelta(days=365)
    recent = [r for r in records if (r.period_end or r.period_start or date.min) >= year_ago]
    periods = [p for r in records for p in (r.period_start, r.period_end) if p]
    latest = records[0] if records else None
    amounts = [i for i in cat.items if i.type == "decimal" and i.unit in ("元", "万元", "万美元")
               and (served.items is None or i.code in served.items)]
    contents = [_content(r) for r in recent] if amounts else []
    totals: dict[str, Any] = {}
    for item in amounts:
        values = [v for v in (_num(c.get(item.code)) for c in contents) if v is not None]
        if values:
            shaped = policy.shape(tier, cat, item, sum(values, Decimal(0)))
            if shaped is not DROP:
                totals[item.code] = str(shaped) if isinstance(shaped, Decimal) else shaped
    return {
        "name": cat.name, "tier": served.tier, "sensitivity": cat.sensitivity,
        "authorizations": served.authorizations, "records": len(records), "records_12m": len(recent),
        "first_period": min(periods).isoformat() if periods else None,
        "last_period": max(periods).isoformat() if periods else None,
        "latest": policy.shape_fields(tier, cat, _content(latest), served.items) if latest else None,
        "totals_12m": totals,
    }


def basis_of(authorizations: list[str]) -> dict[str, str]:
    """An access served under no authorization read the public tier only, and its entry says so."""
    return {} if authorizations else {"basis": PUBLIC_BASIS}


def log_access(s: Session, actor: Actor, action: str, entity: str, purpose: str, plan: dict[str, Served],
               extra: dict[str, Any] | None = None) -> audit.Entry:
    auths = sorted(_named(plan))
    return audit.record(
        s, actor.username, action, f"entity:{entity}", entity_code=entity, institution_code=actor.institution_code,
        request_id=actor.request_id, purpose=purpose, authorizations=auths,
        categories={c: sv.tier for c, sv in sorted(plan.items())}, **basis_of(auths), **(extra or {}))


@dataclass
class Access:
    """What one summary-mode access is served under: the authorizations it spent, the categories and tiers
    they allow (with the public ones), and the records the readable statement returned for them."""

    entity: PreparedRow  # the market_entities row
    auths: list[Auth]
    plan: dict[str, Served]
    records: list[PreparedRow]  # credit_records rows (id, category, period_start, period_end, content), read-only

    def by_category(self) -> dict[str, list[PreparedRow]]:
        out: dict[str, list[PreparedRow]] = defaultdict(list)
        for r in self.records:
            out[r.category].append(r)
        return out


def summary_access(s: Session, catalog: Catalog, actor: Actor, entity_code: str, *, purpose: str,
                   number: str | None, action: str) -> Access:
    """The first half of every summary-mode access (a profile, an authorized report): the entity checked,
    one use of each live authorization spent (not again for a retried request id), and the readable
    records read with the authorization inside the query. The caller shapes them and logs `action`."""
    entity = normalised_code(entity_code)
    e = entity_row(s, entity)
    public = _public_categories(catalog)
    consume = not _seen_before(s, actor, entity, action)
    basis = spend_serving(s, actor, entity, purpose, QUERY_MODES, number, consume,
                          lambda scopes: _named(_plan(catalog, public, scopes, want_detail=False)))
    if number and not basis.live:
        raise diagnose(s, actor.institution_code, entity, purpose, None, QUERY_MODES, number)
    plan = _plan(catalog, public, basis.scopes, want_detail=False)
    records = readable_records(s, actor, entity, public, [a[0] for a in basis.auths], list(plan), facts_only=True)
    if not records and not s.execute(select(_institution_active(actor.institution_code))).scalar():
        raise Forbidden("本机构已被暂停或撤销接入", code="INSTITUTION_SUSPENDED")
    return Access(e, basis.auths, plan, published_only(catalog, records, clock.today()))


def profile(s: Session, catalog: Catalog, policy: Policy, actor: Actor, entity_code: str, *,
            purpose: str = "贷前审查", number: str | None = None) -> dict[str, Any]:
    """The entity's profile: the public tier plus every category a live authorization of this institution
    covers for `purpose`, in summary form."""
    a = summary_access(s, catalog, actor, entity_code, purpose=purpose, number=number, action="access.profile")
    by_cat = a.by_category()
    today = clock.now().astimezone(clock.CHINA_TZ).date()
    categories = {code: _summarise(policy, catalog.category(code), sv, by_cat.get(code, []), today)
                  for code, sv in a.plan.items()}
    # Marks (异议处理中 / 存在异议) on the records a summary rests on, one query for the whole profile.
    live = record_marks.live_for(s, a.entity.code)
    for code, summary in categories.items():
        summary["marks"] = [m for r in by_cat.get(code, []) for m in mark_dicts(live.get((code, r.record_key), []))]
    ev = log_access(s, actor, "access.profile", a.entity.code, purpose, a.plan)
    return {
        "entity": _entity_card(policy, catalog, a.entity), "purpose": purpose,
        "served_under": [{"authorization": n, "mode": m} for _, n, m in a.auths],
        "categories": categories, "access_id": ev.id, "request_id": actor.request_id,
        "notice": "本结果仅限融资用途使用，不得向第三方提供；本次查询已记录并对企业可见。",
    }


def detail(s: Session, catalog: Catalog, policy: Policy, actor: Actor, entity_code: str, category: str, *,
           purpose: str = "贷前审查", number: str | None = None) -> dict[str, Any]:
    """Original detail records of one category: public ones to any active institution; others only under a
    live authorization in 原始明细 mode whose scope covers the category."""
    entity = normalised_code(entity_code)
    entity_row(s, entity)
    try:
        cat = catalog.category(category)
    except KeyError:
        raise InvalidInput(f"信息类别 {category} 不在信息清单中", code="UNKNOWN_CATEGORY") from None
    public = [cat.code] if cat.sensitivity == "公开" else []

    def plan_of(scopes: Scopes) -> dict[str, Served]:
        return _plan(catalog, public, {k: v for k, v in scopes.items() if k == cat.code}, want_detail=True)

    consume = not _seen_before(s, actor, entity, "access.detail")
    basis = spend_serving(s, actor, entity, purpose, DETAIL_MODES, number, consume,
                          lambda scopes: _named(plan_of(scopes)))
    plan = plan_of(basis.scopes)
    if cat.code not in plan:
        raise diagnose(s, actor.institution_code, entity, purpose, cat.code, DETAIL_MODES, number)
    served = plan[cat.code]
    records = readable_records(s, actor, entity, public, [a[0] for a in basis.auths], [cat.code])
    records = published_only(catalog, records, clock.today())[:MAX_DETAIL_ROWS]
    live = record_marks.live_for(s, entity, [cat.code]) if records else {}
    rows = []
    for r in records:
        fields = policy.shape_fields(served.tier, cat, _content(r), served.items)
        # The stored key is made of item values (an account number, say): rebuild it from the shaped ones.
        key = "|".join(str(fields.get(k, "*")) for k in cat.key) if cat.key else ""
        rows.append({"record_key": key, "version": r.version,
                     "period_start": r.period_start.isoformat() if r.period_start else None,
                     "period_end": r.period_end.isoformat() if r.period_end else None,
                     "provider": r.provider, "received_at": r.received_at.isoformat(), "fields": fields,
                     "marks": mark_dicts(live.get((cat.code, r.record_key), []))})
    ev = log_access(s, actor, "access.detail", entity, purpose, plan, {"rows": len(rows)})
    return {"entity_code": entity, "category": cat.code, "category_name": cat.name, "tier": served.tier,
            "purpose": purpose, "served_under": served.authorizations, "rows": rows, "access_id": ev.id,
            "request_id": actor.request_id,
            "notice": "本结果仅限融资用途使用，不得向第三方提供；本次查询已记录并对企业可见。"}


def export_csv(s: Session, catalog: Catalog, policy: Policy, actor: Actor, entity_code: str, category: str, *,
               purpose: str, secret: str, number: str | None = None) -> tuple[str, str]:
    """The detail of one category as CSV carrying a traceable mark: an export id in the heading and, per
    row, a code derived from the node's secret, the export id and the row, so a leaked copy names its
    source without revealing anything itself. Returns (export id, CSV text)."""
    data = detail(s, catalog, policy, actor, entity_code, category, purpose=purpose, number=number)
    cat = catalog.category(category)
    export_id = f"EX{clock.now().astimezone(clock.CHINA_TZ):%Y%m%d}{secrets.token_hex(4).upper()}"
    buf = io.StringIO()
    w = csv.writer(buf)
    # The institution's live data processors (notice point 九): whoever may handle this copy is named on it.
    handlers = processors.live(s, actor.institution_code)
    names = {c.code: c.name for c in catalog.categories}
    w.writerow([f"# 导出编号 {export_id}；机构 {actor.institution_code}；用户 {actor.username}；"
                f"授权 {'、'.join(data['served_under']) or '公开信息'}；用途 {purpose}；"
                f"时间 {clock.now().astimezone(clock.CHINA_TZ):%Y-%m-%d %H:%M:%S}；"
                f"数据处理受托方 {'、'.join(processors.describe(x, names) for x in handlers) or '无'}；"
                f"仅限融资用途，不得外传"])
    items = [i for i in cat.items if any(i.code in r["fields"] for r in data["rows"])]
    w.writerow(["统一社会信用代码", "所属期起", "所属期止", *[i.name for i in items], "追溯码"])
    for n, r in enumerate(data["rows"], 1):
        mark = hmac.new(secret.encode(), f"{export_id}|{n}".encode(), "sha256").hexdigest()[:12]
        w.writerow([data["entity_code"], r["period_start"] or "", r["period_end"] or "",
                    *[csv_cell(r["fields"].get(i.code)) for i in items], mark])
    text = buf.getvalue()
    # Named like every other access (purpose, authorizations, category → tier): the enterprise must see under
    # what an export was made, not only that one was.
    audit.record(s, actor.username, "access.export", f"entity:{data['entity_code']}",
                 entity_code=data["entity_code"], institution_code=actor.institution_code,
                 request_id=actor.request_id, purpose=purpose, authorizations=data["served_under"],
                 categories={cat.code: data["tier"]}, **basis_of(data["served_under"]), export_id=export_id,
                 category=category, rows=len(data["rows"]), digest=sm3_hex(text.encode("utf-8")),
                 processors=[x.credit_code for x in handlers])
    return export_id, text


def log_refusal(s: Session, actor: Actor, entity_code: str, kind: str, err: Exception, purpose: str = "") -> None:
    """Record a refused access (the caller commits it, then returns the error)."""
    code = getattr(err, "code", type(err).__name__)
    audit.record(s, actor.username, "access.refused", f"entity:{(entity_code or '').strip().upper()[:18]}",
                 entity_code=(entity_code or "").strip().upper()[:18] or None,
                 institution_code=actor.institution_code, request_id=actor.request_id, kind=kind, code=code,
                 purpose=purpose)


def entity_has_live_authorization(s: Session, institution_code: str, entity_code: str) -> bool:
    now = clock.now()
    return s.execute(select(Authorization.id).where(
        and_(Authorization.institution_code == institution_code, Authorization.entity_code == entity_code,
             Authorization.status == "active", Authorization.valid_from <= now,
             Authorization.valid_until > now)).limit(1)).first() is not None


def authorized_entities(s: Session, institution_code: str) -> list[tuple[MarketEntity, list[Authorization]]]:
    """Entities with a live authorization for this institution (the bank portal's list)."""
    now = clock.now()
    rows = s.execute(select(Authorization, MarketEntity).join(MarketEntity, MarketEntity.code == Authorization.entity_code)
                     .where(Authorization.institution_code == institution_code, Authorization.status == "active",
                            Authorization.valid_until > now).order_by(Authorization.confirmed_at.desc())).all()
    grouped: dict[str, tuple[MarketEntity, list[Authorization]]] = {}
    for a, e in rows:
        if a.max_uses is not None and a.uses >= a.max_uses:
            continue
        grouped.setdefault(e.code, (e, []))[1].append(a)
    return list(grouped.values())

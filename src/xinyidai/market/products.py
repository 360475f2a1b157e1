"""Loan products: a bank drafts one, the platform's operator reviews and publishes it (or returns it with a
reason), the bank may suspend or withdraw it; every change of terms is a new version, and publishing a new
version supersedes the old one. An enterprise browses the published ones, each with why it fits or not.

Who may see what is part of every query: an enterprise or a regulator sees published versions; a bank sees
every version of its own institution's products and the published ones of others; an operator sees all but
other institutions' drafts."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import Select, String, cast, false, func, or_, select
from sqlalchemy.orm import Session

from xinyidai.access.models import MODES
from xinyidai.catalog.schema import Catalog
from xinyidai.credit import evaluation
from xinyidai.credit.indicators import GRADE_ORDER
from xinyidai.entities.industries import SECTIONS, is_valid_industry, section_of
from xinyidai.entities.models import MarketEntity
from xinyidai.entities.regions import is_valid_region, region_name
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit import audit, clock
from xinyidai.kit.digest import sm3_hex
from xinyidai.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from xinyidai.kit.pagination import Page, PageRequest, paginate
from xinyidai.kit.principal import STAFF, Principal
from xinyidai.market import flows
from xinyidai.market.flows import ActorKind
from xinyidai.market.models import PRODUCT_KINDS, SECTORS, Product, ProductVersion
from xinyidai.market.money import bp, fen, wan

MAX_AUTH_DAYS = 90
# The states of a version the parent node is told of; drafts and versions under review stay here.
TRAVELLING = (flows.PUBLISHED, flows.SUSPENDED, flows.WITHDRAWN, flows.SUPERSEDED)  # a 贷前审查 authorization drafted by an application lasts at most this long
ELIGIBILITY_KEYS = {"min_grade", "min_years", "no_serious_dishonesty"}
SORTABLE = {"name": ProductVersion.name, "kind": ProductVersion.kind, "published_at": ProductVersion.published_at,
            "amount_max": ProductVersion.amount_max_fen, "rate_min": ProductVersion.rate_min_bp}


def actor_kind(p: Principal) -> ActorKind:
    """The kind of actor a principal is in the market's flows (regulators and security officers only read)."""
    kinds = {"bank": ActorKind.BANK, "enterprise": ActorKind.ENTERPRISE, "operator": ActorKind.OPERATOR}
    if p.role not in kinds:
        raise Forbidden(f"当前角色（{p.role_label}）不能办理融资业务", code="ROLE_FORBIDDEN")
    return kinds[p.role]


def number_of(prefix: str, node_code: str) -> str:
    """A public number that stays unique across the network (it names the node where it was made)."""
    return f"{prefix}-{node_code}-{clock.now().astimezone(clock.CHINA_TZ):%Y%m%d}-{secrets.token_hex(5).upper()}"


# ── terms ───────────────────────────────────────────────────────────────────────────────────────────────

@dataclass(frozen=True)
class Terms:
    name: str
    summary: str
    kind: str
    sector_mask: int
    amount_min_fen: int
    amount_max_fen: int
    term_min_months: int
    term_max_months: int
    rate_min_bp: int
    rate_max_bp: int
    regions: list[str]
    industries: list[str]
    eligibility: dict[str, Any]
    auth_categories: list[str]
    auth_mode: str
    auth_days: int

    def digest(self) -> str:
        return sm3_hex(orjson.dumps(vars(self), option=orjson.OPT_SORT_KEYS))


def _int(raw: Any, field: str) -> int:
    try:
        v = int(str(raw).strip())
    except (TypeError, ValueError):
        raise InvalidInput(f"{field}“{raw}”不是整数", code="PRODUCT_RANGE_INVALID") from None
    return v


def _rate(raw: Any, field: str) -> int:
    try:
        return bp(raw, field)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, code="PRODUCT_RANGE_INVALID") from None


def _range(lo: int, hi: int, what: str, shown: tuple[str, str]) -> None:
    if lo > hi:
        raise InvalidInput(f"{what}下限 {shown[0]} 高于上限 {shown[1]}，请交换或修正", code="PRODUCT_RANGE_INVERTED",
                           detail={"field": what})


def _regions(raw: Any) -> list[str]:
    codes = sorted({str(c).strip() for c in (raw or []) if str(c).strip()})
    if not codes:
        raise InvalidInput("请至少选择一个服务区域（行政区划代码）", code="UNKNOWN_REGION")
    for c in codes:
        name = region_name(c) if is_valid_region(c) else None
        if name is None or name.endswith("下辖区县"):  # a division this node's code list does not know
            raise InvalidInput(f"服务区域 {c} 不是有效的行政区划代码（GB/T 2260）", code="UNKNOWN_REGION",
                               detail={"region": c})
    for c in codes:
        for other in codes:
            if other != c and c.startswith(_prefix(other)):
                raise InvalidInput(f"服务区域 {c}（{region_name(c) or c}）已包含在 {other}（{region_name(other) or other}）中，"
                                   "请删去其一", code="REGION_OVERLAP", detail={"regions": [c, other]})
    return codes


def _prefix(region: str) -> str:
    """The significant prefix a division code covers: 230000 → 23, 230100 → 2301, 230103 → 230103."""
    if region.endswith("0000"):
        return region[:2]
    if region.endswith("00"):
        return region[:4]
    return region


def _serves_region(region_code: str) -> Any:
    """SQL for "the version's regions cover `region_code`": they list it, its prefecture or its province. The
    JSON list is matched as text (a quoted code), which reads the same on SQLite and PostgreSQL."""
    code = region_code.strip()
    if not (len(code) == 6 and code.isdigit()):
        return false()
    covering = {code, code[:4] + "00", code[:2] + "0000"}
    return or_(*(cast(ProductVersion.regions, String).contains(f'"{c}"') for c in sorted(covering)))


def covers(regions: list[str], region_code: str | None) -> bool:
    return bool(region_code) and any(region_code.startswith(_prefix(r)) for r in regions)  # type: ignore[union-attr]


def _industries(raw: Any) -> list[str]:
    codes = sorted({str(c).strip().upper() for c in (raw or []) if str(c).strip()})
    for c in codes:
        if not (c in SECTIONS or (len(c) == 2 and c.isdigit() and is_valid_industry(c))):
            raise InvalidInput(f"行业 {c} 不是 GB/T 4754-2017 的门类或大类代码", code="UNKNOWN_INDUSTRY",
                               detail={"industry": c})
    return codes


def serves_industry(industries: list[str], industry_code: str | None) -> bool:
    if not industries:
        return True
    if not industry_code:
        return False
    code = industry_code.strip().upper().lstrip("ABCDEFGHIJKLMNOPQRST")
    try:
        section = section_of(industry_code)
    except InvalidInput:
        return False
    return any(i == section or (i.isdigit() and code.startswith(i)) for i in industries)


def _eligibility(raw: Any) -> dict[str, Any]:
    raw = dict(raw or {})
    unknown = set(raw) - ELIGIBILITY_KEYS
    if unknown:
        raise InvalidInput(f"未知的准入条件：{'、'.join(sorted(unknown))}（可用：最低评价等级 min_grade、经营年限 min_years、"
                           "无严重失信 no_serious_dishonesty）", code="BAD_ELIGIBILITY")
    out: dict[str, Any] = {}
    if raw.get("min_grade"):
        if raw["min_grade"] not in GRADE_ORDER:
            raise InvalidInput(f"最低评价等级须为 {'、'.join(GRADE_ORDER)} 之一", code="BAD_GRADE")
        out["min_grade"] = raw["min_grade"]
    if raw.get("min_years") not in (None, "", 0, "0"):
        years = _int(raw["min_years"], "经营年限")
        if not 0 < years <= 50:
            raise InvalidInput("经营年限要求须在 1–50 年之间", code="BAD_ELIGIBILITY")
        out["min_years"] = years
    if raw.get("no_serious_dishonesty"):
        out["no_serious_dishonesty"] = True
    return out


def parse_terms(catalog: Catalog, raw: dict[str, Any]) -> Terms:
    """Check a product's terms as a bank submits them (amounts in 元, rates in %), naming what is wrong."""
    name = str(raw.get("name") or "").strip()
    if not 2 <= len(name) <= 100:
        raise InvalidInput("产品名称应为 2–100 个字", code="BAD_NAME")
    kind = str(raw.get("kind") or "")
    if kind not in PRODUCT_KINDS:
        raise InvalidInput(f"担保方式（产品类别）须为 {'、'.join(PRODUCT_KINDS)} 之一", code="UNKNOWN_COLLATERAL")
    mask = 0
    for sector in raw.get("sectors") or []:
        if sector not in SECTORS:
            raise InvalidInput(f"领域标签“{sector}”不在清单中（{'、'.join(SECTORS)}）", code="UNKNOWN_SECTOR")
        mask |= SECTORS[sector]
    amin, amax = fen(raw.get("amount_min"), "额度下限"), fen(raw.get("amount_max"), "额度上限")
    _range(amin, amax, "额度", (wan(amin), wan(amax)))
    tmin, tmax = _int(raw.get("term_min_months"), "期限下限"), _int(raw.get("term_max_months"), "期限上限")
    if not (1 <= tmin <= 360 and 1 <= tmax <= 360):
        raise InvalidInput("期限须在 1–360 个月之间", code="PRODUCT_RANGE_INVALID")
    _range(tmin, tmax, "期限", (f"{tmin} 个月", f"{tmax} 个月"))
    rmin, rmax = _rate(raw.get("rate_min"), "年利率下限"), _rate(raw.get("rate_max"), "年利率上限")
    _range(rmin, rmax, "年利率", (f"{rmin / 100:.2f}%", f"{rmax / 100:.2f}%"))
    categories = sorted({str(c) for c in raw.get("auth_categories") or []}, key=lambda c: catalog.position(c))
    if not categories:
        raise InvalidInput("请选择审查时需企业授权的信息类别", code="NO_CATEGORY")
    for c in categories:
        try:
            catalog.category(c)
        except KeyError:
            raise InvalidInput(f"信息类别 {c} 不在信息清单中", code="UNKNOWN_CATEGORY") from None
    mode = str(raw.get("auth_mode") or "汇总查询")
    if mode not in MODES or mode == "核验比对":
        raise InvalidInput("贷前审查授权的方式须为 汇总查询 或 原始明细", code="BAD_MODE")
    days = _int(raw.get("auth_days") or MAX_AUTH_DAYS, "授权有效天数")
    if not 1 <= days <= MAX_AUTH_DAYS:
        raise InvalidInput(f"贷前审查授权有效天数须在 1–{MAX_AUTH_DAYS} 天之间", code="BAD_VALIDITY")
    return Terms(name, str(raw.get("summary") or "").strip()[:2000], kind, mask, amin, amax, tmin, tmax, rmin, rmax,
                 _regions(raw.get("regions")), _industries(raw.get("industries")), _eligibility(raw.get("eligibility")),
                 categories, mode, days)


def terms_of(v: ProductVersion) -> dict[str, Any]:
    """A version's terms in the form `parse_terms` takes (元 and %), to prefill an edit."""
    return {"name": v.name, "summary": v.summary, "kind": v.kind,
            "sectors": [k for k, bit in SECTORS.items() if v.sector_mask & bit],
            "amount_min": v.amount_min_fen / 100, "amount_max": v.amount_max_fen / 100,
            "term_min_months": v.term_min_months, "term_max_months": v.term_max_months,
            "rate_min": v.rate_min_bp / 100, "rate_max": v.rate_max_bp / 100, "regions": list(v.regions),
            "industries": list(v.industries), "eligibility": dict(v.eligibility),
            "auth_categories": list(v.auth_categories), "auth_mode": v.auth_mode, "auth_days": v.auth_days}


# ── writing ─────────────────────────────────────────────────────────────────────────────────────────────

def _institution_of(s: Session, p: Principal) -> FinancialInstitution:
    if p.role != "bank" or not p.org_code:
        raise Forbidden("只有金融机构用户可以管理本机构的产品", code="ROLE_FORBIDDEN")
    inst = s.get(FinancialInstitution, p.org_code)
    if inst is None or inst.status != "active":
        raise Forbidden("本机构尚未接入或已暂停接入，不能发布产品", code="INSTITUTION_UNAVAILABLE")
    return inst


def _new_version(product: Product, version: int, terms: Terms, actor: str, now: datetime) -> ProductVersion:
    return ProductVersion(product_id=product.id, version=version, state=flows.DRAFT, last_action="create",
                          created_by=actor, created_at=now, digest=terms.digest(), **vars(terms))


def create(s: Session, catalog: Catalog, p: Principal, raw: dict[str, Any], node_code: str) -> ProductVersion:
    """A bank's new product: version 1, a draft."""
    inst = _institution_of(s, p)
    terms = parse_terms(catalog, raw)
    now = clock.now()
    product = Product(number=number_of("CP", node_code), institution_code=inst.code, origin_node=node_code,
                      status=flows.DRAFT, created_by=p.username, created_at=now, updated_at=now)
    s.add(product)
    s.flush()
    v = _new_version(product, 1, terms, p.username, now)
    s.add(v)
    s.flush()
    audit.record(s, p.username, "market.product.created", f"product:{product.number}", version=1, name=terms.name,
                 institution_code=inst.code)
    return v


def _own_product(s: Session, p: Principal, number: str) -> Product:
    product = s.execute(select(Product).where(Product.number == number)).scalar_one_or_none()
    visible = product is not None and (p.role == "operator" or (p.role == "bank" and product.institution_code == p.org_code))
    if not visible:
        raise NotFound(f"未找到产品 {number}（或该产品不属于本机构）", code="PRODUCT_NOT_FOUND")
    return product  # type: ignore[return-value]


def _version(s: Session, product: Product, version: int) -> ProductVersion:
    v = s.execute(select(ProductVersion).where(ProductVersion.product_id == product.id,
                                               ProductVersion.version == version)).scalar_one_or_none()
    if v is None:
        raise NotFound(f"产品 {product.number} 没有第 {version} 版", code="PRODUCT_VERSION_NOT_FOUND")
    return v


def edit(s: Session, catalog: Catalog, p: Principal, number: str, version: int, raw: dict[str, Any]) -> ProductVersion:
    """Change a draft's terms (a version under review or published is fixed: make a new version)."""
    product = _own_product(s, p, number)
    _institution_of(s, p)
    v = _version(s, product, version)
    if v.state != flows.DRAFT:
        raise Conflict(f"第 {version} 版为“{flows.PRODUCT.label(v.state)}”，不能直接修改；请新建版本",
                       code="PRODUCT_EDIT_LOCKED")
    terms = parse_terms(catalog, raw)
    for k, val in vars(terms).items():
        setattr(v, k, val)
    v.digest = terms.digest()
    product.updated_at = clock.now()
    audit.record(s, p.username, "market.product.edited", f"product:{number}", version=version)
    return v


def new_version(s: Session, catalog: Catalog, p: Principal, number: str, raw: dict[str, Any]) -> ProductVersion:
    """A new draft version of a product whose earlier version is published or suspended."""
    product = _own_product(s, p, number)
    _institution_of(s, p)
    versions = list(s.execute(select(ProductVersion).where(ProductVersion.product_id == product.id)
                              .order_by(ProductVersion.version)).scalars())
    pending = [v for v in versions if v.state in (flows.DRAFT, flows.REVIEW)]
    if pending:
        raise Conflict(f"第 {pending[0].version} 版尚在“{flows.PRODUCT.label(pending[0].state)}”，请先完成或下架它",
                       code="PRODUCT_VERSION_PENDING")
    if product.status == flows.WITHDRAWN:
        raise Conflict("产品已下架，不能再新建版本", code="PRODUCT_WITHDRAWN")
    terms = parse_terms(catalog, raw)
    now = clock.now()
    v = _new_version(product, versions[-1].version + 1, terms, p.username, now)
    s.add(v)
    product.updated_at = now
    s.flush()
    audit.record(s, p.username, "market.product.version", f"product:{number}", version=v.version)
    return v


def act(s: Session, p: Principal, number: str, version: int, action: str, note: str = "") -> ProductVersion:
    """Move one version (submit, return, publish, suspend, resume, withdraw), as the flow allows."""
    product = _own_product(s, p, number)
    kind = actor_kind(p)
    if kind is ActorKind.BANK:
        _institution_of(s, p)
    v = _version(s, product, version)
    new_state = flows.PRODUCT.check(v.state, action, kind, last_action=v.last_action)
    note = (note or "").strip()[:2000]
    now = clock.now()
    if action == "return" and not note:
        raise InvalidInput("退回修改须说明原因", code="REASON_REQUIRED")
    if action == "resume" and v.suspended_by == "operator" and kind is not ActorKind.OPERATOR:
        raise Forbidden("该产品由平台暂停，须由平台运营方恢复", code="RESUME_NOT_ALLOWED")
    if action == "publish":
        for old in s.execute(select(ProductVersion).where(
                ProductVersion.product_id == product.id, ProductVersion.id != v.id,
                ProductVersion.state.in_((flows.PUBLISHED, flows.SUSPENDED)))).scalars():
            old.state = flows.PRODUCT.check(old.state, "supersede", ActorKind.SYSTEM)
            old.last_action, old.ended_at, old.dirty = "supersede", now, 1
        v.published_at = now
        product.live_version_id = v.id
    if action == "submit":
        v.submitted_at = now
    if action in ("return", "publish"):
        v.reviewed_by, v.reviewed_at, v.review_note = p.username, now, note or None
    if action == "suspend":
        v.suspended_by = kind.value
    if action == "withdraw":
        v.ended_at = now
    v.state, v.last_action = new_state, action
    v.dirty = int(new_state in TRAVELLING)
    if v.id == product.live_version_id or action == "publish" or product.live_version_id is None:
        product.status = new_state
    product.updated_at = now
    audit.record(s, p.username, f"market.product.{action}", f"product:{number}", version=version, note=note or None,
                 state=new_state)
    return v


# ── reading ─────────────────────────────────────────────────────────────────────────────────────────────

def readable(p: Principal) -> Select:
    """Versions `p` may see, joined with their product and institution (authorization in the query)."""
    stmt = (select(ProductVersion, Product, FinancialInstitution.name.label("institution_name"))
            .join(Product, Product.id == ProductVersion.product_id)
            .join(FinancialInstitution, FinancialInstitution.code == Product.institution_code))
    if p.role == "bank":
        return stmt.where(or_(Product.institution_code == p.org_code, ProductVersion.state == flows.PUBLISHED))
    if p.role == "operator":
        return stmt.where(ProductVersion.state != flows.DRAFT)
    if p.role in STAFF or p.role == "enterprise":
        return stmt.where(ProductVersion.state == flows.PUBLISHED)
    return stmt.where(False)


def search(s: Session, p: Principal, req: PageRequest, *, kind: str | None = None, sector: str | None = None,
           region: str | None = None, amount: int | None = None, state: str | None = None, own: bool = False,
           q: str = "") -> Page:
    stmt = readable(p)
    if kind:
        stmt = stmt.where(ProductVersion.kind == kind)
    if sector in SECTORS:
        stmt = stmt.where(ProductVersion.sector_mask.op("&")(SECTORS[sector]) != 0)
    if amount is not None:
        stmt = stmt.where(ProductVersion.amount_min_fen <= amount, ProductVersion.amount_max_fen >= amount)
    if state:
        stmt = stmt.where(ProductVersion.state == state)
    if own and p.role == "bank":
        stmt = stmt.where(Product.institution_code == p.org_code)
    if q.strip():
        stmt = stmt.where(ProductVersion.name.contains(q.strip()[:50], autoescape=True))
    if region:
        stmt = stmt.where(_serves_region(region))
    return paginate(s, stmt, req, SORTABLE, "published_at")


def get(s: Session, p: Principal, number: str) -> tuple[Product, list[ProductVersion], str]:
    """A product and the versions `p` may see of it, newest first; NotFound when it sees none."""
    rows = s.execute(readable(p).where(Product.number == number).order_by(ProductVersion.version.desc())).all()
    if not rows:
        raise NotFound(f"未找到产品 {number}", code="PRODUCT_NOT_FOUND")
    return rows[0][1], [r[0] for r in rows], rows[0][2]


def published_version(s: Session, number: str) -> ProductVersion:
    """The version applications go to now; PRODUCT_UNAVAILABLE when the product takes none."""
    row = s.execute(select(ProductVersion, Product).join(Product, Product.id == ProductVersion.product_id)
                    .where(Product.number == number, ProductVersion.id == Product.live_version_id)).first()
    if row is None:
        raise NotFound(f"未找到产品 {number}", code="PRODUCT_NOT_FOUND")
    v, product = row
    if v.state != flows.PUBLISHED:
        raise Conflict(f"产品“{v.name}”当前为“{flows.PRODUCT.label(v.state)}”，暂不受理新申请",
                       code="PRODUCT_UNAVAILABLE")
    return v


def review_queue(s: Session) -> int:
    return s.execute(select(func.count()).select_from(ProductVersion).where(
        ProductVersion.state == flows.REVIEW)).scalar_one()


# ── fit ─────────────────────────────────────────────────────────────────────────────────────────────────

@dataclass(frozen=True)
class Check:
    rule: str
    ok: bool
    text: str


def _years(registered_on: date | None, today: date) -> float | None:
    if registered_on is None:
        return None
    return (today - registered_on).days / 365.25


def standing(s: Session, entity: MarketEntity) -> dict[str, Any]:
    """The entity's public evaluation the eligibility rules read: the latest batch result, or one computed
    now when no batch has covered it yet (so a new enterprise is judged, not refused for want of a run)."""
    return evaluation.result_for(s, entity.code) or evaluation.evaluate_one(s, entity.code, clock.today())


def fit(s: Session, v: ProductVersion, entity: MarketEntity, *, amount_fen: int | None = None,
        term_months: int | None = None, judged: dict[str, Any] | None = None) -> list[Check]:
    """Why a product fits an enterprise or does not, rule by rule, in the words a person reads. `judged`:
    the entity's `standing`, when the caller fits several products to one entity."""
    checks = [Check("region", covers(v.regions, entity.region_code),
                    f"注册地 {region_name(entity.region_code) or entity.region_code}"
                    + ("在" if covers(v.regions, entity.region_code) else "不在")
                    + f"服务区域（{'、'.join(region_name(r) or r for r in v.regions)}）内")]
    if v.industries:
        ok = serves_industry(v.industries, entity.industry_code)
        checks.append(Check("industry", ok, f"所属行业 {entity.industry_code or '未登记'}"
                            + ("属于" if ok else "不属于") + "产品支持的行业"))
    rules = v.eligibility
    today = clock.today()
    if "min_grade" in rules or "no_serious_dishonesty" in rules:
        result = judged if judged is not None else standing(s, entity)
        grade = result.get("grade")
        if "min_grade" in rules:
            need = rules["min_grade"]
            ok = grade in GRADE_ORDER and GRADE_ORDER.index(grade) <= GRADE_ORDER.index(need)
            checks.append(Check("min_grade", ok, f"公共信用综合评价 {grade or '暂无'}，"
                                + ("达到" if ok else "未达到") + f"要求的 {need} 级"))
        if rules.get("no_serious_dishonesty"):
            feats = result.get("features") or {}
            listed = (feats.get("dishonest_listed") or 0) > 0 or (feats.get("enforcement_open") or 0) > 0
            checks.append(Check("no_serious_dishonesty", not listed,
                                "存在严重失信或未结执行记录" if listed else "无严重失信、无未结执行记录"))
    if "min_years" in rules:
        years = _years(entity.registered_on, today)
        ok = years is not None and years >= rules["min_years"]
        shown = "成立日期未知" if years is None else f"成立 {years:.1f} 年"
        checks.append(Check("min_years", ok, f"{shown}，要求不少于 {rules['min_years']} 年"))
    if amount_fen is not None:
        ok = v.amount_min_fen <= amount_fen <= v.amount_max_fen
        checks.append(Check("amount", ok, f"申请金额 {wan(amount_fen)}"
                            + ("在" if ok else "不在") + f"额度 {wan(v.amount_min_fen)}–{wan(v.amount_max_fen)} 内"))
    if term_months is not None:
        ok = v.term_min_months <= term_months <= v.term_max_months
        checks.append(Check("term", ok, f"申请期限 {term_months} 个月"
                            + ("在" if ok else "不在") + f"期限 {v.term_min_months}–{v.term_max_months} 个月内"))
    return checks


FIT_CODES = {"region": "OUT_OF_REGION", "industry": "INDUSTRY_NOT_SERVED", "amount": "AMOUNT_OUT_OF_RANGE",
             "term": "TERM_OUT_OF_RANGE"}


def require_fit(s: Session, v: ProductVersion, entity: MarketEntity, amount_fen: int, term_months: int) -> None:
    """Refuse an application the product does not admit, with every failed rule named."""
    failed = [c for c in fit(s, v, entity, amount_fen=amount_fen, term_months=term_months) if not c.ok]
    if not failed:
        return
    code = FIT_CODES.get(failed[0].rule, "NOT_ELIGIBLE") if len(failed) == 1 else "NOT_ELIGIBLE"
    raise InvalidInput("不符合申请条件：" + "；".join(c.text for c in failed), code=code,
                       detail=[{"rule": c.rule, "text": c.text} for c in failed])


def version_dict(v: ProductVersion, product: Product, institution_name: str = "") -> dict[str, Any]:
    return {"number": product.number, "version": v.version, "state": v.state,
            "state_label": flows.PRODUCT.label(v.state), "institution_code": product.institution_code,
            "institution_name": institution_name, "name": v.name, "summary": v.summary, "kind": v.kind,
            "sectors": [k for k, bit in SECTORS.items() if v.sector_mask & bit],
            "amount_min": v.amount_min_fen / 100, "amount_max": v.amount_max_fen / 100,
            "term_min_months": v.term_min_months, "term_max_months": v.term_max_months,
            "rate_min": v.rate_min_bp / 100, "rate_max": v.rate_max_bp / 100, "regions": list(v.regions),
            "industries": list(v.industries), "eligibility": dict(v.eligibility),
            "authorization": {"purpose": "贷前审查", "categories": list(v.auth_categories), "mode": v.auth_mode,
                              "days": v.auth_days},
            "published_at": v.published_at.isoformat() if v.published_at else None,
            "review_note": v.review_note}

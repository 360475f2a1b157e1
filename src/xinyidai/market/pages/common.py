"""Shared bits of the market pages: reading a posted form, amounts typed in 万元, rendering with the money
helpers, and rows as the three portals show them — an application with its service-level badge and its
timeline in words, a product version with its terms, a loan with its first-loan cross-check, a default case.

Pages call the services (`products`, `applications`, `loans`, `cases`, `demands`, `alerts`); nothing here
decides anything, it only describes."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from xinyidai.access.log import entity_names, institution_names
from xinyidai.accounts.people import names_of
from xinyidai.catalog.schema import Catalog
from xinyidai.credit.indicators import GRADE_ORDER
from xinyidai.entities.industries import SECTIONS, industry_name
from xinyidai.entities.regions import HEILONGJIANG, HEILONGJIANG_PREFECTURES, region_name
from xinyidai.kit import clock
from xinyidai.kit.errors import DomainError, InvalidInput
from xinyidai.market import applications, flows, loans, rules
from xinyidai.market.flows import ACTOR_LABELS, ActorKind
from xinyidai.market.models import (
    LOAN_STATUSES,
    PRODUCT_KINDS,
    SECTORS,
    Application,
    ApplicationEvent,
    CaseEvent,
    DefaultCase,
    Loan,
    Product,
    ProductVersion,
)
from xinyidai.market.money import MAX_FEN, percent, wan
from xinyidai.web.templating import no_store, render

STAFF_ROLES = ("operator", "regulator")  # the regulator reads; only the operator acts
SOURCES = {"page": "页面", "api": "接口", "file": "反馈文件", "system": "系统"}
# Prefectures of the demo province, for the city filters (the city office's case list).
CITIES = {code: name for code, (name, _) in HEILONGJIANG_PREFECTURES.items()}
REGION_CHOICES = {HEILONGJIANG: region_name(HEILONGJIANG) or "黑龙江省", **CITIES}
FEN_PER_WAN = Decimal(1_000_000)
SOON = timedelta(days=1)  # a deadline closer than this is flagged "即将超时"


# ── reading a form ──────────────────────────────────────────────────────────────────────────────────────

@dataclass(frozen=True)
class Fields:
    """A posted form, read as text: one value stripped ("" when absent) or every value of a repeated name."""

    form: FormData

    def get(self, name: str) -> str:
        v = self.form.get(name)
        return v.strip() if isinstance(v, str) else ""

    def all(self, name: str) -> list[str]:
        return [v.strip() for v in self.form.getlist(name) if isinstance(v, str) and v.strip()]

    def pick(self, *names: str) -> dict[str, str]:
        return {n: self.get(n) for n in names}


async def fields(request: Request) -> Fields:
    """The form as a dependency (Starlette caches it: the CSRF check has already read it)."""
    return Fields(await request.form())


def new_request_id() -> str:
    """A request id per rendered form: a double-click posts the same id twice and the service answers the
    second with the first's result instead of moving the application again."""
    return uuid.uuid4().hex


def wan_fen(raw: str, field: str, *, allow_zero: bool = False) -> int:
    """An amount typed in 万元 ("12.5", "1,200") → 分, refusing what a person would not mean as one."""
    text = (raw or "").strip().replace(",", "").replace("，", "")
    if not text:
        raise InvalidInput(f"请填写{field}（万元）", code="AMOUNT_FORMAT")
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise InvalidInput(f"{field}“{raw}”不是有效的金额（单位万元）", code="AMOUNT_FORMAT") from None
    if not d.is_finite() or d.as_tuple().exponent < -6:  # type: ignore[operator]
        raise InvalidInput(f"{field}“{raw}”不是有效的金额（单位万元，最多精确到分）", code="AMOUNT_FORMAT")
    f = int(d * FEN_PER_WAN)
    if f < 0 or (f == 0 and not allow_zero):
        raise InvalidInput(f"{field}须大于 0" if not allow_zero else f"{field}不能为负数", code="NEGATIVE_AMOUNT")
    if f > MAX_FEN:
        raise InvalidInput(f"{field}“{raw}”超出允许范围", code="AMOUNT_FORMAT")
    return f


def yuan_text(f: int) -> str:
    """分 → 元 as the services take amounts ("400000.00")."""
    return f"{Decimal(f) / 100:.2f}"


def wan_value(f: int | None) -> str:
    """分 → the number a 万元 input shows ("300", "12.5")."""
    if f is None:
        return ""
    d = (Decimal(f) / FEN_PER_WAN).normalize()
    return format(d, "f")


def wan_range(lo: int, hi: int) -> str:
    """A range of 分 as a card shows it: "10–300 万元", "1,000–5,000 万元"."""
    num = lambda f: f"{(Decimal(f) / FEN_PER_WAN).normalize():,f}"  # noqa: E731
    return f"{num(lo)}–{num(hi)} 万元"


def step_label(step: str) -> str:
    """A reminder's step as a person reads it: d7 → 逾期第 7 天; a manual one (m…) → 信用办催告."""
    if step.startswith("d") and step[1:].isdigit():
        return f"逾期第 {step[1:]} 天"
    return "信用办催告"


def day(v: datetime | date | None) -> str:
    """A moment's Beijing date, or a date, as YYYY-MM-DD."""
    if v is None:
        return ""
    return v.astimezone(clock.CHINA_TZ).date().isoformat() if isinstance(v, datetime) else v.isoformat()


def last_day(v: datetime | None) -> str:
    """Deadlines are stored as the midnight after their last day: the day a person reads."""
    return "" if v is None else day(v - timedelta(seconds=1))


# ── rendering ───────────────────────────────────────────────────────────────────────────────────────────

# A message that speaks of what a program sent is right for the API, not for a person at a page; on pages
# these codes read as what the person should do (the code, and what was logged, stay as they were).
PAGE_MESSAGES = {"REQUEST_ID_REUSED": "该页面上的表单已经提交过，请刷新页面，按申请的最新状态办理"}


def page(request: Request, template: str, *, error: DomainError | None = None, **ctx: Any) -> Response:
    """A market page: a refusal re-renders with its Chinese message and its HTTP status; never cached."""
    if error is not None and error.code in PAGE_MESSAGES:
        error.message = PAGE_MESSAGES[error.code]
    return no_store(render(request, template, status_code=error.status if error else 200, error=error, wan=wan,
                           percent=percent, day=day, last_day=last_day, wan_value=wan_value, step_label=step_label,
                           **ctx))


def query(**kw: str) -> str:
    """A list page's filters as a query string, leaving out empty ones (an empty flag would not parse)."""
    return urlencode({k: v for k, v in kw.items() if v})


def see_other(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


def is_repeat(exc: DomainError) -> bool:
    """The move is already what the thing shows (a second click, another tab): a page says done, not no."""
    return isinstance(exc, flows.AlreadyDone)


def reasons(kind: str) -> dict[str, str]:
    return rules.load().reasons[kind]


def state_counts(s: Session, stmt: Select) -> dict[str, int]:
    """How many of what `stmt` selects are in each state (the tabs over a queue)."""
    sub = stmt.order_by(None).subquery()
    return {state: int(n) for state, n in s.execute(select(sub.c.state, func.count()).group_by(sub.c.state)).all()}


def category_names(catalog: Catalog, codes: Iterable[str]) -> list[str]:
    out = []
    for code in sorted(codes, key=catalog.position):
        try:
            out.append(catalog.category(code).name)
        except KeyError:
            out.append(code)
    return out


def grantable_categories(catalog: Catalog) -> list[Any]:
    """Categories an authorization may cover for a query (a 仅核验 one only ever serves verification)."""
    return [c for c in catalog.categories if c.sensitivity != "仅核验"]


# ── products ────────────────────────────────────────────────────────────────────────────────────────────

def sectors_of(mask: int) -> list[str]:
    return [k for k, bit in SECTORS.items() if mask & bit]


def regions_text(codes: Iterable[str]) -> str:
    return "、".join(region_name(c) or c for c in codes)


def industries_text(codes: Iterable[str]) -> str:
    codes = list(codes)
    if not codes:
        return "不限"
    return "、".join(f"{SECTIONS.get(c) or industry_name(c) or c}（{c}）" for c in codes)


def eligibility_text(rules_: dict[str, Any]) -> list[str]:
    out = []
    if rules_.get("min_grade"):
        out.append(f"公共信用综合评价不低于 {rules_['min_grade']} 级")
    if rules_.get("min_years"):
        out.append(f"成立满 {rules_['min_years']} 年")
    if rules_.get("no_serious_dishonesty"):
        out.append("无严重失信、无未结执行记录")
    return out or ["无特别要求"]


def version_view(v: ProductVersion, product: Product, institution_name: str, catalog: Catalog) -> dict[str, Any]:
    """One version's terms as every portal shows them."""
    view = {"v": v, "number": product.number, "product": product, "institution_name": institution_name,
            "institution_code": product.institution_code, "state_label": flows.PRODUCT.label(v.state),
            "sectors": sectors_of(v.sector_mask), "regions": regions_text(v.regions),
            "industries": industries_text(v.industries), "eligibility": eligibility_text(v.eligibility),
            "auth_categories": category_names(catalog, v.auth_categories),
            "amount": f"{wan(v.amount_min_fen)} – {wan(v.amount_max_fen)}",
            "term": f"{v.term_min_months}–{v.term_max_months} 个月",
            "rate": f"{percent(v.rate_min_bp)} – {percent(v.rate_max_bp)}",
            "amount_short": wan_range(v.amount_min_fen, v.amount_max_fen),
            "rate_short": f"{percent(v.rate_min_bp)}–{percent(v.rate_max_bp)}"}
    # The terms as (label, text) rows: one table on every portal, and the review's side-by-side comparison.
    view["pairs"] = [("产品名称", v.name), ("金融机构", institution_name), ("产品类别（担保方式）", v.kind),
                     ("支持领域", "、".join(view["sectors"]) or "不限"), ("额度", view["amount"]), ("期限", view["term"]),
                     ("年利率", view["rate"]), ("服务区域", view["regions"]), ("支持行业", view["industries"]),
                     ("准入条件", "；".join(view["eligibility"])),
                     ("贷前审查授权", f"{'、'.join(view['auth_categories'])}（{v.auth_mode}，{v.auth_days} 天）"),
                     ("产品说明", v.summary or "—")]
    return view


def version_views(s: Session, versions: list[ProductVersion], catalog: Catalog) -> list[dict[str, Any]]:
    """Views of a page of versions, their products and institutions read in two queries."""
    ids = {v.product_id for v in versions}
    prods = {p.id: p for p in s.execute(select(Product).where(Product.id.in_(ids))).scalars()} if ids else {}
    names = institution_names(s, {p.institution_code for p in prods.values()})
    return [version_view(v, prods[v.product_id], names.get(prods[v.product_id].institution_code, ""), catalog)
            for v in versions]


@dataclass
class ProductForm:
    """The product form as typed (amounts in 万元, rates in %), so a refused form comes back as it was."""

    name: str = ""
    summary: str = ""
    kind: str = "纯信用"
    sectors: list[str] | None = None
    amount_min: str = ""
    amount_max: str = ""
    term_min_months: str = "6"
    term_max_months: str = "36"
    rate_min: str = ""
    rate_max: str = ""
    regions: list[str] | None = None
    other_regions: str = ""
    industries: list[str] | None = None
    other_industries: str = ""
    min_grade: str = ""
    min_years: str = ""
    no_serious_dishonesty: bool = False
    auth_categories: list[str] | None = None
    auth_mode: str = "汇总查询"
    auth_days: str = "90"

    @classmethod
    def posted(cls, f: Fields) -> ProductForm:
        return cls(f.get("name"), f.get("summary"), f.get("kind"), f.all("sectors"), f.get("amount_min"),
                   f.get("amount_max"), f.get("term_min_months"), f.get("term_max_months"), f.get("rate_min"),
                   f.get("rate_max"), f.all("regions"), f.get("other_regions"), f.all("industries"),
                   f.get("other_industries"), f.get("min_grade"), f.get("min_years"),
                   f.get("no_serious_dishonesty") == "yes", f.all("auth_categories"), f.get("auth_mode"),
                   f.get("auth_days"))

    @classmethod
    def of(cls, v: ProductVersion) -> ProductForm:
        regions = [r for r in v.regions if r in REGION_CHOICES]
        industries = [i for i in v.industries if i in SECTIONS]
        return cls(v.name, v.summary, v.kind, sectors_of(v.sector_mask), wan_value(v.amount_min_fen),
                   wan_value(v.amount_max_fen), str(v.term_min_months), str(v.term_max_months),
                   f"{Decimal(v.rate_min_bp) / 100:.2f}", f"{Decimal(v.rate_max_bp) / 100:.2f}", regions,
                   " ".join(r for r in v.regions if r not in regions), industries,
                   " ".join(i for i in v.industries if i not in industries), v.eligibility.get("min_grade", ""),
                   str(v.eligibility.get("min_years", "")), bool(v.eligibility.get("no_serious_dishonesty")),
                   list(v.auth_categories), v.auth_mode, str(v.auth_days))

    def terms(self) -> dict[str, Any]:
        """What `products.parse_terms` takes (元, %): the service checks every rule."""
        split = lambda t: [x for x in t.replace("，", " ").replace(",", " ").replace("、", " ").split() if x]  # noqa: E731
        eligibility: dict[str, Any] = {}
        if self.min_grade:
            eligibility["min_grade"] = self.min_grade
        if self.min_years:
            eligibility["min_years"] = self.min_years
        if self.no_serious_dishonesty:
            eligibility["no_serious_dishonesty"] = True
        return {"name": self.name, "summary": self.summary, "kind": self.kind, "sectors": self.sectors or [],
                "amount_min": yuan_text(wan_fen(self.amount_min, "额度下限")),
                "amount_max": yuan_text(wan_fen(self.amount_max, "额度上限")),
                "term_min_months": self.term_min_months, "term_max_months": self.term_max_months,
                "rate_min": self.rate_min, "rate_max": self.rate_max,
                "regions": [*(self.regions or []), *split(self.other_regions)],
                "industries": [*(self.industries or []), *split(self.other_industries)],
                "eligibility": eligibility, "auth_categories": self.auth_categories or [],
                "auth_mode": self.auth_mode, "auth_days": self.auth_days}


def product_form_choices(catalog: Catalog) -> dict[str, Any]:
    return {"kinds": PRODUCT_KINDS, "sector_names": list(SECTORS), "region_choices": REGION_CHOICES,
            "sections": SECTIONS, "grades": GRADE_ORDER, "categories": grantable_categories(catalog),
            "auth_modes": ("汇总查询", "原始明细")}


# ── applications ────────────────────────────────────────────────────────────────────────────────────────

def sla_of(app: Application, now: datetime) -> dict[str, str] | None:
    """Whose turn it is and how urgent: kind is enterprise (the bank waits), breached, soon or ok."""
    rule = rules.load().sla.get(app.state)
    if rule is None:
        return None
    if rule.party == "enterprise":
        # An offer the bank limited lapses before the state's own expiry: the earlier date is the one to meet.
        ends = [x for x in (app.expire_at, app.offer_valid_until if app.state == flows.OFFERED else None) if x]
        return {"kind": "enterprise", "until": last_day(min(ends)) if ends else ""}
    if app.due_at is None:
        return None
    if app.breached_at is not None or app.due_at <= now:
        return {"kind": "breached", "until": last_day(app.due_at)}
    return {"kind": "soon" if app.due_at - now <= SOON else "ok", "until": last_day(app.due_at)}


def application_rows(s: Session, apps: list[Application]) -> list[dict[str, Any]]:
    """A page of applications with their product, bank and enterprise named (three queries, not 3n)."""
    if not apps:
        return []
    versions = {v.id: v for v in s.execute(select(ProductVersion).where(
        ProductVersion.id.in_({a.product_version_id for a in apps}))).scalars()}
    insts = institution_names(s, {a.institution_code for a in apps})
    ents = entity_names(s, {a.entity_code for a in apps})
    now = clock.now()
    return [{"app": a, "state_label": flows.APPLICATION.label(a.state), "product": versions[a.product_version_id].name,
             "kind": versions[a.product_version_id].kind, "institution": insts.get(a.institution_code, a.institution_code),
             "entity": ents.get(a.entity_code, a.entity_code), "sla": sla_of(a, now),
             "city": CITIES.get(a.city_code, a.city_code)} for a in apps]


def application_view(s: Session, app: Application) -> dict[str, Any]:
    row = application_rows(s, [app])[0]
    v = s.get(ProductVersion, app.product_version_id)
    product = s.get(Product, app.product_id)
    reason = None
    if app.reason_code:
        for kind in rules.REASON_KINDS:
            if app.reason_code in reasons(kind):
                reason = f"{app.reason_code} {reasons(kind)[app.reason_code]}"
    return {**row, "version": v, "product_number": product.number if product else "", "reason": reason,
            "offer_until": last_day(app.offer_valid_until), "final": flows.APPLICATION.is_final(app.state)}


def moves_for(app: Application, kind: ActorKind) -> list[str]:
    return [m.action for m in flows.APPLICATION.moves_from(app.state, kind)]


def _offer_until(raw: Any) -> str:
    if not raw:
        return ""
    try:
        return last_day(datetime.fromisoformat(str(raw)))
    except ValueError:
        return str(raw)


def event_details(action: str, pl: dict[str, Any], catalog: Catalog) -> list[str]:
    """What a timeline step carried, in words (the amounts, the reason, the authorization)."""
    out = []
    if pl.get("reason_code"):
        out.append(f"原因：{pl['reason_code']} {pl.get('reason') or ''}".strip())
    if action == "offer" and pl.get("amount_fen"):
        until = _offer_until(pl.get("valid_until"))
        out.append(f"预授信额度 {wan(pl['amount_fen'])}，年利率 {percent(pl.get('rate_bp'))}，期限 {pl.get('term_months')} 个月"
                   + (f"，有效期至 {until}" if until else ""))
    if action == "accept_offer" and pl.get("offer_amount_fen"):
        out.append(f"接受预授信额度 {wan(pl['offer_amount_fen'])}，年利率 {percent(pl.get('offer_rate_bp'))}")
    if action == "grant" and pl.get("amount_fen"):
        out.append(f"授信 {wan(pl['amount_fen'])}，担保方式 {pl.get('guarantee_type')}，年利率 {percent(pl.get('rate_bp'))}，"
                   f"期限 {pl.get('term_months')} 个月；银行贷款编号 {pl.get('loan_ref')}；"
                   f"首贷声明：{'是' if pl.get('first_loan') else '否'}")
    if action == "disburse" and pl.get("amount_fen"):
        out.append(f"放款 {wan(pl['amount_fen'])}，累计已放款 {wan(pl.get('disbursed_fen'))}")
    if action == "request_auth" and pl.get("categories"):
        out.append(f"需补充授权：{'、'.join(category_names(catalog, pl['categories']))}（{pl.get('mode')}）")
    if pl.get("authorization"):
        out.append(f"授权书 {pl['authorization']}")
    if pl.get("quote"):
        out.append(f"选定报价 {pl['quote']}")
    if pl.get("note"):
        out.append(f"说明：{pl['note']}")
    return out


def application_timeline(s: Session, events: list[ApplicationEvent], catalog: Catalog) -> list[dict[str, Any]]:
    people = names_of(s, {e.actor for e in events})
    rows = []
    for e in events:
        d = applications.event_dict(e)
        late = e.at - e.acted_at > timedelta(minutes=1)  # a feedback file tells when the bank acted
        rows.append({"label": d["label"], "at": e.acted_at, "recorded": e.at if late else None,
                     "by": ACTOR_LABELS.get(ActorKind(e.actor_kind), e.actor_kind), "who": people.get(e.actor, e.actor),
                     "state": flows.APPLICATION.label(e.to_state), "source": SOURCES.get(e.source, e.source),
                     "details": event_details(e.action, e.payload or {}, catalog)})
    return rows


# ── loans and cases ─────────────────────────────────────────────────────────────────────────────────────

def loan_view(s: Session, loan: Loan, *, institution: str | None = None) -> dict[str, Any]:
    """A loan with its first-loan cross-check. `institution`: the bank looking, which is told of another
    bank's earlier loan only that it exists and when (not whose or how much); staff see everything."""
    earlier = loans.earlier_loans(s, loan)
    names = institution_names(s, {x.institution_code for x in earlier})
    shown = [{"loan_no": x.loan_no, "granted_on": x.granted_on,
              "own": institution is None or x.institution_code == institution,
              "institution": names.get(x.institution_code, x.institution_code), "granted": wan(x.granted_fen)}
             for x in earlier]
    return {"loan": loan, "status_label": LOAN_STATUSES.get(loan.status, loan.status),
            "contradicted": bool(loan.first_declared) and not loan.first_on_platform, "earlier": shown,
            "reports": loans.reports(s, loan)}


def case_rows(s: Session, items: list[DefaultCase]) -> list[dict[str, Any]]:
    if not items:
        return []
    insts = institution_names(s, {c.institution_code for c in items})
    ents = entity_names(s, {c.entity_code for c in items})
    return [{"case": c, "state_label": flows.DEFAULT_CASE.label(c.state), "open": c.state in flows.CASE_OPEN,
             "institution": insts.get(c.institution_code, c.institution_code),
             "entity": ents.get(c.entity_code, c.entity_code), "city": CITIES.get(c.city_code, c.city_code)}
            for c in items]


def case_timeline(s: Session, events: list[CaseEvent]) -> list[dict[str, Any]]:
    people = names_of(s, {e.actor for e in events})
    rows = []
    for e in events:
        pl = e.payload or {}
        details = []
        if pl.get("dpd") is not None:
            details.append(f"逾期 {pl['dpd']} 天" + (f"（统计日期 {pl['as_of']}）" if pl.get("as_of") else ""))
        if pl.get("overdue_fen"):
            details.append(f"逾期金额 {wan(pl['overdue_fen'])}")
        interview = pl.get("interview") or {}
        if interview:
            details.append(f"约谈：{str(interview.get('held_on') or '').replace('T', ' ')}，地点 {interview.get('place') or '—'}，"
                           f"参加人 {interview.get('attendees')}；约定：{interview.get('agreed') or '—'}")
        if pl.get("note"):
            details.append(f"说明：{pl['note']}")
        rows.append({"label": flows.DEFAULT_CASE.move(e.action).label, "at": e.at,
                     "by": ACTOR_LABELS.get(ActorKind(e.actor_kind), e.actor_kind), "who": people.get(e.actor, e.actor),
                     "state": flows.DEFAULT_CASE.label(e.to_state), "details": details})
    return rows

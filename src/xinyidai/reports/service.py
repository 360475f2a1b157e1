"""Credit reports (信用报告): assembled from an entity's records and its evaluation, signed by the node, and
checkable by anyone who holds one.

Two versions: the public version (公开版) carries only public categories, shaped by the public tier; the
authorized version (授权版) is made for one institution under its live authorizations, with each category
shaped by the tier the authorization grants (authorized sharing's own rules: one use is spent, the access
is logged and the enterprise sees it). The signed content is exactly the document both renderers draw.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xinyidai.access import sharing
from xinyidai.access.policy import Policy
from xinyidai.catalog import publication
from xinyidai.catalog.schema import Catalog
from xinyidai.config import Settings
from xinyidai.credit import evaluation
from xinyidai.credit.features import UTILITY_CATEGORIES
from xinyidai.entities.industries import industry_name
from xinyidai.entities.models import MarketEntity
from xinyidai.entities.regions import region_name
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit import audit, clock
from xinyidai.kit.audit import Signer
from xinyidai.kit.db import write_lock
from xinyidai.kit.digest import sm3_hex
from xinyidai.kit.errors import InvalidInput, NotFound
from xinyidai.kit.node_key import verify_signature
from xinyidai.kit.principal import STAFF, Principal
from xinyidai.records import marks as record_marks
from xinyidai.records.canonical import record_key
from xinyidai.records.models import CreditRecord
from xinyidai.reports.document import ReportDocument, Section, Table, Trend
from xinyidai.reports.models import CreditReport

VERSIONS = ("public", "authorized")
TREND_MONTHS = 24
USE_NOTES = [
    "本报告依据报告生成时平台归集的公共信用信息和经企业授权的融资相关信息编制，数据截至封面所示日期。",
    "公共信用综合评价结果依据封面所示指标体系版本计算，仅反映数据截至日的信用状况，不构成对企业的担保或授信承诺。",
    "授权版仅供报告使用机构在授权用途内使用，不得向第三方提供；公开版仅含依法公开的信息。",
    "本报告经平台节点数字签名（SM2/SM3），可凭封面验证码在平台核验页面核验真伪；任何改动都会使核验失败。",
    "报告自生成之日起30日内有效；企业对报告所列记录有异议的，可登录平台，在“我的异议”中对具体记录提出"
    "（/my/objections），处理期间该记录标注“异议处理中”。",
]
VALID_DAYS = 30
# Categories section 五 (经营指标) reports on, whatever tier they are authorized at; shown in catalogue order.
OPERATING = ("tax", "social_insurance", "housing_fund", "import_export", *UTILITY_CATEGORIES)


class ReportInvalid(InvalidInput):
    code = "REPORT_INVALID"
    message = "报告参数不正确"


def _records(s: Session, catalog: Catalog, code: str, categories: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The entity's current records of `categories` for the public version: a record whose publication
    window (公示期) is over today — ended or repaired — is not in it."""
    today = clock.today()
    rows = s.execute(select(CreditRecord.category, CreditRecord.content).where(
        CreditRecord.entity_code == code, CreditRecord.status == "current",
        CreditRecord.category.in_(categories or ["-"]))
        .order_by(CreditRecord.category, CreditRecord.period_end.desc().nulls_last(), CreditRecord.id))
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for cat, content in rows:
        c = orjson.loads(content)
        if publication.public_on(catalog.category(cat), c, today):
            out[cat].append(c)
    return out


def _cell(v: Any) -> str:
    if v is None or v == "":
        return "—"
    if isinstance(v, bool):
        return "是" if v else "否"
    if isinstance(v, float):
        return f"{v:,.2f}"
    return str(v)


def _table(catalog: Catalog, policy: Policy, category: str, tier: str, rows: list[dict[str, Any]],
           items: list[str], allowed: set[str] | None = None, limit: int = 50) -> Table:
    cat = catalog.category(category)
    shaped = [policy.shape_fields(tier, cat, r, allowed) for r in rows[:limit]]
    cols = [i for i in items if any(i in r for r in shaped)] or items
    caption = f"{cat.name}（共 {len(rows)} 条" + (f"，列出最近 {limit} 条）" if len(rows) > limit else "）")
    return Table(columns=[_header(cat, i, [r.get(i) for r in shaped]) for i in cols],
                 rows=[[_cell(r.get(i)) for i in cols] for r in shaped], caption=caption, empty_text=f"无{cat.name}记录")


def _is_number(v: Any) -> bool:
    """A number, or a number as text (never an amount range such as 1万～5万元)."""
    if isinstance(v, bool) or v is None:
        return False
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def _header(cat: Any, item: str, values: list[Any]) -> str:
    """The item's name with its catalogue unit (罚款金额（万元）), unless the tier showed the amounts as
    ranges, which carry their own unit (1万～5万元)."""
    it = cat.item(item)
    shown = [v for v in values if v not in (None, "")]
    return f"{it.name}（{it.unit}）" if it.unit and shown and all(_is_number(v) for v in shown) else it.name


def _with_unit(cat: Any, item: str, v: Any) -> str:
    unit = cat.item(item).unit
    return f"{_cell(v)} {unit}" if unit and _is_number(v) else _cell(v)


def _monthly(rows: list[dict[str, Any]], field: str, months: list[str]) -> list[float | None]:
    by: dict[str, float] = {}
    for r in rows:
        p = str(r.get("period", ""))[:7]
        v = r.get(field)
        if p in months and isinstance(v, int | float) and not isinstance(v, bool):
            by[p] = by.get(p, 0.0) + float(v)
    return [round(by[m], 2) if m in by else None for m in months]


def _punctuality(rows: list[dict[str, Any]], months: list[str], amounts: bool) -> str:
    """A utility's payment record over `months` (the last 12), from the rows as the tier shows them: how many
    months were billed and paid on time (status 正常, nothing in arrears), and — only where the tier shows
    amounts — how much was paid."""
    ok: dict[str, bool] = {}
    paid = 0.0
    for r in rows:
        m = str(r.get("period", ""))[:7]
        if m not in months:
            continue
        arrears = r.get("arrears")
        good = r.get("status") in (None, "", "正常") and not (_is_number(arrears) and float(arrears) > 0)
        ok[m] = ok.get(m, True) and good
        if amounts and _is_number(r.get("amount_paid")):
            paid += float(r["amount_paid"])
    if not ok:
        return f"近{len(months)}个月无缴费记录"
    on_time = sum(ok.values())
    text = (f"近{len(months)}个月有缴费记录 {len(ok)} 个月，其中按时缴费 {on_time} 个月、欠费 {len(ok) - on_time} 个月"
            f"（按时缴费比例 {on_time / len(ok):.0%}）")
    return text + (f"，实缴金额合计 {paid:,.2f} 元" if amounts else "")


def _months(as_of: date, n: int) -> list[str]:
    return clock.months_before(as_of, n)[::-1]


def assemble(s: Session, catalog: Catalog, policy: Policy, code: str, *, issuer: str,
             plan: dict[str, sharing.Served], records: dict[str, list[dict[str, Any]]],
             recipient: str | None = None) -> ReportDocument:
    """The document for `code`, showing each category in `plan` at its tier from `records` (contents by
    category, newest first); the public version's plan is the public categories at the public tier."""
    e = s.get(MarketEntity, code)
    if e is None:
        raise NotFound("未找到该市场主体", code="ENTITY_NOT_FOUND")
    today = clock.today()
    result = evaluation.evaluate_one(s, code, today)
    tier = {c: sv.tier for c, sv in plan.items()}
    allowed = {c: sv.items for c, sv in plan.items()}
    version = "authorized" if recipient else "public"
    live = record_marks.live_for(s, code)

    def table(sec: Section, cat: str, items: list[str], limit: int = 50) -> Table | None:
        if cat not in plan:
            return None
        rows = records.get(cat, [])
        t = _table(catalog, policy, cat, tier[cat], rows, items, allowed[cat], limit)
        if live:
            _footnote(sec, catalog.category(cat), t, rows[:limit], live)
        return t

    sections: list[Section] = []
    summary = Section("summary", "一、信用概况")
    if result["status"] == "ok":
        summary.paragraphs.append(f"依据{result['indicator_name']}（版本 {result['indicator_version']}），"
                                  f"截至 {today:%Y年%m月%d日}，该主体公共信用综合评价为 {result['grade']} 级"
                                  f"（{result['grade_label']}），得分 {result['score']:g}。")
    else:
        summary.paragraphs.append(result["message"])
    if result["missing_categories"]:
        names = [("水电气" if c == "utilities" else _cat_name(catalog, c)) for c in result["missing_categories"]]
        summary.paragraphs.append(f"该主体所在地区尚未归集以下类别，相关指标未计分：{'、'.join(names)}。")
    counts = s.execute(select(CreditRecord.category, func.count()).where(
        CreditRecord.entity_code == code, CreditRecord.status == "current").group_by(CreditRecord.category)).all()
    # A category with a publication window counts only the records still published (none hidden is told).
    windowed = {x.code for x in catalog.categories if x.publication is not None}
    counts = [(c, len(records.get(c, [])) if c in plan and c in windowed else n) for c, n in counts]
    summary.tables.append(Table(["信息类别", "记录条数", "本报告中的呈现"],
                                [[_cat_name(catalog, c), f"{n:,}", _tier_label(tier.get(c))]
                                 for c, n in sorted(counts, key=lambda x: (catalog.position(x[0]), x[0]))],
                                caption="平台归集的信息概况"))
    sections.append(summary)

    reg = Section("registration", "二、登记注册信息")
    card = [("主体名称", e.name), ("统一社会信用代码", e.code), ("市场主体类型", e.kind),
            ("所属地区", region_name(e.region_code) or e.region_code),
            ("所属行业", (industry_name(e.industry_code) or e.industry_code) if e.industry_code else "—"),
            ("登记状态", e.status), ("成立日期", e.registered_on.isoformat() if e.registered_on else "—")]
    r0 = records.get("registration", [{}])[0] if "registration" in plan else {}
    shaped = policy.shape_fields(tier.get("registration", "公开"), catalog.category("registration"), r0) if r0 else {}
    for item in ("legal_representative", "registered_capital", "company_type", "address", "registration_authority",
                 "business_scope"):
        if item in shaped:
            card.append((catalog.category("registration").item(item).name,
                         _with_unit(catalog.category("registration"), item, shaped[item])))
    reg.tables.append(Table(["项目", "内容"], [[k, _cell(v)] for k, v in card]))
    sections.append(reg)

    public = Section("public", "三、公共信用信息")
    for cat, items in (("license", ["license_name", "license_no", "authority", "decided_on", "valid_to"]),
                       ("policy_support", ["project_name", "support_type", "amount", "approved_on", "authority"])):
        t = table(public, cat, items)
        if t:
            public.tables.append(t)
    sections.append(public)

    judicial = Section("judicial", "四、司法风险")
    for cat, items in (("judicial", ["case_no", "case_type", "party_role", "cause", "subject_amount",
                                     "enforcement_status", "filed_on", "court"]),
                       ("dishonesty", ["list_type", "decision_no", "listed_on", "authority", "removed_on"])):
        t = table(judicial, cat, items)
        if t:
            judicial.tables.append(t)
    sections.append(judicial)

    operating = Section("operating", "五、经营指标")
    months = _months(today, TREND_MONTHS)
    def detailed(cat: str) -> bool:
        return cat in plan and tier[cat] == "原始明细" and bool(records.get(cat))

    if detailed("tax"):
        operating.trends.append(Trend(f"近{TREND_MONTHS}个月纳税", months, {
            "实缴税额": _monthly(records["tax"], "tax_paid", months),
            "申报销售收入": _monthly(records["tax"], "declared_sales", months)}, "元"))
    if detailed("social_insurance"):
        operating.trends.append(Trend(f"近{TREND_MONTHS}个月社保参保人数", months, {
            "参保人数": _monthly(records["social_insurance"], "insured_count", months)}, "人"))
    if detailed("housing_fund"):
        operating.trends.append(Trend(f"近{TREND_MONTHS}个月公积金缴存人数", months, {
            "缴存人数": _monthly(records["housing_fund"], "depositor_count", months)}, "人"))
    if detailed("import_export"):
        operating.trends.append(Trend(f"近{TREND_MONTHS}个月进出口", months, {
            "进口额": _monthly(records["import_export"], "import_amount", months),
            "出口额": _monthly(records["import_export"], "export_amount", months)}, "万美元"))
    utilities = {_cat_name(catalog, c): _monthly(records[c], "amount_paid", months)
                 for c in UTILITY_CATEGORIES if detailed(c)}
    if utilities:
        operating.trends.append(Trend(f"近{TREND_MONTHS}个月水电气实缴金额", months, utilities, "元"))
    for cat in sorted(OPERATING, key=catalog.position):
        if cat not in plan or tier[cat] not in ("汇总查询", "原始明细"):
            continue
        rows = records.get(cat, [])
        text = f"{_cat_name(catalog, cat)}：已获授权{'原始明细' if tier[cat] == '原始明细' else '汇总查询'}，共 {len(rows):,} 条记录"
        if cat in UTILITY_CATEGORIES and rows:
            c = catalog.category(cat)
            text += "；" + _punctuality([policy.shape_fields(tier[cat], c, r, allowed[cat]) for r in rows],
                                       months[-12:], detailed(cat))
        if tier[cat] == "汇总查询":
            text += "；金额按区间显示，明细未列出"
        operating.paragraphs.append(text + "。")
    if not operating.trends and not operating.paragraphs:
        operating.paragraphs.append("纳税、社保、水电气等经营信息属于需企业授权的信息，本报告"
                                    + ("使用机构未获相应授权。" if recipient else "（公开版）不含此类信息。"))
    sections.append(operating)

    ip = Section("ip_rnd", "六、知识产权与科技研发")
    for cat, items in (("intellectual_property", ["ip_type", "ip_name", "application_no", "granted_on", "legal_status"]),
                       ("rnd", ["recognition_type", "certificate_no", "recognized_on", "valid_to", "rnd_expense"])):
        t = table(ip, cat, items)
        if t:
            ip.tables.append(t)
    if not ip.tables:
        ip.paragraphs.append("知识产权与科技研发信息需企业授权，本报告未包含。")
    sections.append(ip)

    honors = Section("honors", "七、荣誉表彰")
    t = table(honors, "honor", ["honor_name", "level", "authority", "awarded_on", "valid_to"])
    if t:
        honors.tables.append(t)
    sections.append(honors)

    negative = Section("negative", "八、负面信息")
    t = table(negative, "penalty", ["decision_no", "penalty_type", "reason", "fine_amount", "decided_on", "authority",
                          "credit_repaired"])
    if t:
        negative.tables.append(t)
    bad = [x for x in result["explained"] if x["points"] < 0]
    negative.paragraphs.append("评价中扣分的事项：" + ("；".join(
        f"{x['name']}（{x['points']:g}分{'；' + x['marked'] if x.get('marked') else ''}）" for x in bad)
        if bad else "无。"))
    sections.append(negative)
    sections.append(Section("notes", "九、报告使用说明", paragraphs=USE_NOTES))

    return ReportDocument(
        report_no="", version=version, subject_name=e.name, subject_code=e.code, generated_at=clock.now(),
        snapshot_date=today, issuer=issuer, grade=result["grade"], score=result["score"],
        grade_note=(f"{result['indicator_name']} · 版本 {result['indicator_version']}" if result["status"] == "ok"
                    else "数据不足，不予评价"),
        reasons=result["reasons"][:8], sections=sections, recipient=recipient)


def _footnote(sec: Section, cat: Any, t: Table, rows: list[dict[str, Any]],
              live: dict[tuple[str, str], list[record_marks.Mark]]) -> None:
    """A marked record's row carries 〔注n〕 in its first cell, and the note's text ends the section."""
    for i, content in enumerate(rows):
        ms = live.get((cat.code, record_key(cat.key, content)), [])
        if not ms or i >= len(t.rows) or not t.rows[i]:
            continue
        n = len(sec.notes) + 1
        t.rows[i][0] = f"{t.rows[i][0]}〔注{n}〕"
        sec.notes.append(f"注{n}：{cat.name}（{'、'.join(m.label for m in ms)}）" + "".join(m.footnote for m in ms))


def _cat_name(catalog: Catalog, code: str) -> str:
    try:
        return catalog.category(code).name
    except KeyError:
        return code


def _tier_label(tier: str | None) -> str:
    return {"公开": "公开信息", "汇总查询": "授权·汇总", "原始明细": "授权·明细"}.get(tier or "", "未包含")


# ── numbering, signing, verifying ───────────────────────────────────────────────────────────────────────

def _number(s: Session, node_code: str) -> str:
    day = clock.today()
    prefix = f"XYD-{node_code.replace('-', '')}-{day:%Y%m%d}-"
    n = s.execute(select(func.count()).select_from(CreditReport)
                  .where(CreditReport.report_no.like(prefix + "%"))).scalar_one()
    return f"{prefix}{n + 1:06d}"


def content_bytes(content: dict[str, Any]) -> bytes:
    return orjson.dumps(content, option=orjson.OPT_SORT_KEYS)


def _verification_code() -> str:
    alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud and typed by people
    raw = "".join(secrets.choice(alphabet) for _ in range(16))
    return "-".join(raw[i:i + 4] for i in range(0, 16, 4))


def issue(s: Session, doc: ReportDocument, signer: Signer, node_code: str, actor: str, verify_base: str
          ) -> CreditReport:
    """Number, sign and store the document; the verification code and URL are filled in."""
    doc.report_no = _number(s, node_code)
    content = doc.to_dict()
    digest = sm3_hex(content_bytes(content))
    signature = signer.sign(digest.encode("ascii")).hex()
    code = _verification_code()
    doc.verification_code, doc.verify_url = code, f"{verify_base.rstrip('/')}/reports/verify"
    rep = CreditReport(report_no=doc.report_no, entity_code=doc.subject_code, version=doc.version,
                       recipient=None,
                       snapshot_date=doc.snapshot_date, generated_at=doc.generated_at, generated_by=actor,
                       content={**content, "verify_url": doc.verify_url}, digest=digest, suite=signer.suite,
                       key_id=signer.key_id, signature=signature, verification_code=code)
    s.add(rep)
    s.flush()
    return rep


def document_of(rep: CreditReport) -> ReportDocument:
    """The stored report as a document again (for the page and the PDF)."""
    from datetime import datetime

    c = dict(rep.content)
    sections = [Section(x["key"], x["title"], x.get("paragraphs", []),
                        [Table(**t) for t in x.get("tables", [])], [Trend(**t) for t in x.get("trends", [])],
                        x.get("notes", []))
                for x in c["sections"]]
    return ReportDocument(
        report_no=c["report_no"], version=c["version"], subject_name=c["subject_name"],
        subject_code=c["subject_code"], generated_at=datetime.fromisoformat(c["generated_at"]),
        snapshot_date=date.fromisoformat(c["snapshot_date"]), issuer=c["issuer"], grade=c["grade"],
        score=c["score"], grade_note=c["grade_note"], reasons=c["reasons"], sections=sections,
        recipient=c.get("recipient"), verification_code=rep.verification_code, verify_url=c.get("verify_url", ""))


def verify(s: Session, signer: Signer, code: str, report_no: str | None = None,
           pdf_bytes: bytes | None = None, *, published: Mapping[str, Mapping[str, str]] | None = None
           ) -> dict[str, Any]:
    """Check a report by its verification code: it exists, its content still matches the signed digest,
    the signature is this node's — by its current key, or by any key it `published` (kit.node_key: a report
    signed before a key rotation stays verifiable); optionally that a PDF is byte-for-byte the one issued."""
    norm = (code or "").strip().upper().replace(" ", "")
    if len(norm.replace("-", "")) != 16:
        raise ReportInvalid("验证码应为 16 位字母数字（如 ABCD-EFGH-JKLM-NPQR）", code="VERIFY_CODE_INVALID")
    if "-" not in norm:
        norm = "-".join(norm[i:i + 4] for i in range(0, 16, 4))
    rep = s.execute(select(CreditReport).where(CreditReport.verification_code == norm)).scalar_one_or_none()
    if rep is None or (report_no and rep.report_no != report_no.strip()):
        return {"valid": False, "code": "REPORT_NOT_FOUND", "message": "未找到与该验证码（及报告编号）对应的报告，报告可能是伪造的"}
    stored = dict(rep.content)
    stored.pop("verify_url", None)
    digest_ok = sm3_hex(content_bytes(stored)) == rep.digest
    key = signer.public_key if rep.key_id == signer.key_id else (published or {}).get(rep.key_id)
    sig_ok = key is not None and key.get("suite") == rep.suite and verify_signature(
        rep.suite, key, rep.digest.encode("ascii"), bytes.fromhex(rep.signature))
    out: dict[str, Any] = {
        "valid": digest_ok and sig_ok, "report_no": rep.report_no, "subject_name": stored["subject_name"],
        "subject_code": stored["subject_code"], "version": rep.version, "generated_at": rep.generated_at,
        "snapshot_date": rep.snapshot_date.isoformat(), "grade": stored.get("grade"), "digest": rep.digest,
        "key_id": rep.key_id, "suite": rep.suite, "recipient": stored.get("recipient"),
        "code": "VALID" if digest_ok and sig_ok else ("CONTENT_ALTERED" if not digest_ok else "SIGNATURE_INVALID"),
        "message": "报告真实有效，内容与平台签发时一致" if digest_ok and sig_ok
        else ("报告内容与签发时不一致，可能已被篡改" if not digest_ok else "签名核验失败，报告不是本平台签发的")}
    expires = rep.generated_at + timedelta(days=VALID_DAYS)
    out["valid_until"] = expires.astimezone(clock.CHINA_TZ).date().isoformat()
    if out["valid"] and clock.now() > expires:  # genuine, but no longer to be relied on
        out["code"] = "EXPIRED"
        out["message"] = f"报告真实，内容与签发时一致，但已超过 {VALID_DAYS} 日有效期（有效期至 {out['valid_until']}），请重新获取报告"
    if pdf_bytes is not None:
        pdf_ok = rep.pdf_digest is not None and sm3_hex(pdf_bytes) == rep.pdf_digest
        out["pdf_match"] = pdf_ok
        if not pdf_ok:
            out["valid"] = False
            out["code"] = "PDF_ALTERED"
            out["message"] = "上传的 PDF 文件与平台签发的文件不一致（文件被修改或不是该报告）"
    return out


# ── the two versions, as services ───────────────────────────────────────────────────────────────────────

def public_plan(catalog: Catalog) -> dict[str, sharing.Served]:
    return {c.code: sharing.Served("公开", [], None) for c in catalog.categories if c.sensitivity == "公开"}


def public_report(s: Session, catalog: Catalog, policy: Policy, signer: Signer, code: str, *, issuer: str,
                  node_code: str, actor: str, verify_base: str) -> CreditReport:
    plan = public_plan(catalog)
    doc = assemble(s, catalog, policy, code, issuer=issuer, plan=plan, records=_records(s, catalog, code, list(plan)))
    rep = issue(s, doc, signer, node_code, actor, verify_base)
    audit.record(s, actor, "credit.report.public", f"entity:{code}", entity_code=code, report_no=rep.report_no)
    return rep


def authorized_report(s: Session, catalog: Catalog, policy: Policy, signer: Signer, actor: sharing.Actor,
                      code: str, *, issuer: str, node_code: str, verify_base: str, purpose: str = "贷前审查",
                      number: str | None = None) -> CreditReport:
    """The authorized version for the acting institution: the same checks, use and log as a profile query."""
    a = sharing.summary_access(s, catalog, actor, code, purpose=purpose, number=number, action="access.report")
    if not a.auths:  # a report is more than the public tier: it needs an authorization to be made at all
        from xinyidai.access.authorizations import diagnose

        raise diagnose(s, actor.institution_code, a.entity.code, purpose, None, sharing.QUERY_MODES, number)
    # The report shows exactly what the readable statement returned, the authorization inside the query.
    by_cat = {c: [orjson.loads(r.content) for r in rows] for c, rows in a.by_category().items()}
    public = public_plan(catalog)
    plan = {c: sv for c, sv in a.plan.items() if c in by_cat or c in public}
    inst = _institution_name(s, actor.institution_code)
    doc = assemble(s, catalog, policy, a.entity.code, issuer=issuer, plan=plan, records=by_cat, recipient=inst)
    rep = issue(s, doc, signer, node_code, actor.username, verify_base)
    rep.recipient = actor.institution_code
    sharing.log_access(s, actor, "access.report", a.entity.code, purpose, plan, {"report_no": rep.report_no})
    return rep


def _institution_name(s: Session, code: str) -> str:
    inst = s.get(FinancialInstitution, code)
    return f"{inst.name}（{code}）" if inst else code


def issuer_of(settings: Settings, base_url: str) -> tuple[str, str, str]:
    """The node's name and code, and the address its reports send people to for verification (its public
    address, or the one the request came to)."""
    return settings.node_name, settings.node_code, settings.public_url or base_url


def get_report(s: Session, report_no: str) -> CreditReport:
    rep = s.get(CreditReport, report_no)
    if rep is None:
        raise NotFound("未找到该报告", code="REPORT_NOT_FOUND")
    return rep


def visible_report(s: Session, p: Principal, report_no: str) -> CreditReport:
    """Deny by default: staff see public versions; an enterprise sees every report about itself (so it
    knows what a bank was given); a bank sees the authorized versions made for it."""
    rep = get_report(s, report_no)
    ok = ((p.role in STAFF and rep.version == "public")
          or (p.role == "enterprise" and p.org_code == rep.entity_code)
          or (p.role == "bank" and rep.recipient is not None and rep.recipient == p.org_code)
          or (p.role == "bank" and rep.version == "public" and rep.generated_by == p.username))
    if not ok:
        raise NotFound("未找到该报告", code="REPORT_NOT_FOUND")  # not "forbidden": its existence is not told
    return rep


def pdf_of(s: Session, p: Principal, rep: CreditReport) -> bytes:
    """The report's PDF, rendered once on first request (so its digest stays checkable) and committed."""
    if rep.pdf is None:
        from xinyidai.reports.pdf import render_pdf  # reportlab loads only when a PDF is wanted

        with write_lock(s):
            store_pdf(rep, render_pdf(document_of(rep)))
            audit.record(s, p.username, "credit.report.pdf", f"report:{rep.report_no}", entity_code=rep.entity_code,
                         pdf_digest=rep.pdf_digest)
            s.commit()
    return rep.pdf  # type: ignore[return-value]


def store_pdf(rep: CreditReport, pdf: bytes) -> None:
    rep.pdf, rep.pdf_digest = pdf, sm3_hex(pdf)


def list_for_entity(s: Session, code: str, limit: int = 50) -> list[CreditReport]:
    return list(s.execute(select(CreditReport).where(CreditReport.entity_code == code)
                          .order_by(CreditReport.generated_at.desc()).limit(limit)).scalars())


__all__ = ["VALID_DAYS", "VERSIONS", "assemble", "authorized_report", "document_of", "get_report", "issue",
           "public_report", "verify"]

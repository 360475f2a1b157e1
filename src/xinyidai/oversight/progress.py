"""Progress reports (issue 17, 进展报告): monthly and on demand a node assembles what it has achieved — the
market's figures for the period and its progress against the province's target, the ranking of cities from
the run of that period, and the 督办 items (open, overdue, the overdue ones listed) — as data (a JSON
document) and as a PDF signed by the node. One person prepares it, a second approves and signs it, then it
is sent up the network as an envelope of its own kind, `progress_report`. The parent keeps every child's
reports (`origin_node` set, `external_id` = sender + number, state `received`), shows each child's latest
and compares them side by side.

What is signed: `digest` = SM3 of the canonical JSON of {"data": data, "pdf_digest": SM3 of the PDF}, signed
with the node's key (its suite). The parent checks the PDF against its digest, the digest against the data
and the signature against the key it holds for the child, before it writes anything.

Payload  {"report": {"number", "kind", "period_start", "period_end", "run_number", "node_name", "data": {…},
          "pdf": base64, "pdf_digest", "signature": {"suite", "key_id", "digest", "value", "signed_at"},
          "prepared_by", "prepared_at", "approved_by", "approved_at"}}                      child → parent
"""

from __future__ import annotations

import base64
import binascii
import io
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any
from xml.sax.saxutils import escape

import orjson
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, TableStyle
from reportlab.platypus import Table as RLTable
from sqlalchemy import func, select
from sqlalchemy.orm import Session, undefer

from xinyidai.kit import audit, clock
from xinyidai.kit.crypto.suite import get_suite
from xinyidai.kit.digest import sm3_hex
from xinyidai.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from xinyidai.kit.node_key import verify_signature
from xinyidai.market import figures
from xinyidai.market.figures import Period, month_label
from xinyidai.network import exchange, relay
from xinyidai.network.exchange import ExchangeRefused
from xinyidai.network.models import Peer
from xinyidai.oversight import runs
from xinyidai.oversight.models import REPORT_KINDS, REPORT_STATES, ProgressReport, Task
from xinyidai.quality import tickets
from xinyidai.reports.pdf import CJKFont, get_font
from xinyidai.reports.render import beijing_time

KIND = "progress_report"
PREFIX = "JZ"
MAX_PDF_BYTES = 4 * 1024 * 1024
MAX_DATA_BYTES = 512 * 1024
OVERDUE_LISTED = 200


class SelfApproval(Forbidden):
    code = "SELF_APPROVAL"
    message = "不能审核本人编制的进展报告，须由另一人审核"


def _refuse(message: str, code: str = "PAYLOAD_INVALID") -> ExchangeRefused:
    return ExchangeRefused(message, code=code)


def content_bytes(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def signed_digest(data: Mapping[str, Any], pdf_digest: str) -> str:
    """What the node signs: the data and the PDF's digest, together."""
    return sm3_hex(content_bytes({"data": data, "pdf_digest": pdf_digest}))


# ── assembling ──────────────────────────────────────────────────────────────────────────────────────────

def _share(v: float | None) -> float | None:
    return None if v is None else round(v, 6)


def _figures_doc(s: Session, period: Period) -> tuple[dict[str, Any], dict[str, Any]]:
    f = figures.compute(s.connection(), period)
    t, p = f.totals, f.progress
    totals = {"loans": t.loans, "granted_fen": t.granted_fen, "disbursed_fen": t.disbursed_fen,
              "credit_loans": t.credit_loans, "credit_fen": t.credit_fen, "first_loans": t.first_loans,
              "first_fen": t.first_fen, "credit_share_amount": _share(t.credit_share_amount),
              "credit_share_count": _share(t.credit_share_count), "first_share_amount": _share(t.first_share_amount),
              "first_share_count": _share(t.first_share_count),
              "by_city": [{"code": ln.key, "name": ln.label, "loans": ln.m.loans, "granted_fen": ln.m.granted_fen}
                          for ln in f.by_city]}
    progress = {"target_fen": p.target_fen, "target_by": p.target_by.isoformat(), "through": p.through,
                "cumulative_fen": p.cumulative_fen, "by_deadline_fen": p.by_deadline_fen,
                "share": _share(p.share), "deadline_share": _share(p.deadline_share)}
    return totals, progress


def _ranking_doc(s: Session, run: Any) -> dict[str, Any]:
    rk = runs.ranking(s, run)
    return {"run_number": run.number, "system_version": run.system_version,
            "period": runs.period_text(run.period_start, run.period_end),
            "cities": [{"code": c.city_code, "name": c.name, "total": c.total, "rank": c.rank, "missing": c.missing}
                       for c in rk.cities]}


def _tasks_doc(s: Session) -> dict[str, Any]:
    today = clock.today()
    open_n = s.execute(select(func.count()).select_from(Task).where(Task.state != "done")).scalar_one()
    late = list(s.execute(select(Task).where(Task.state != "done", Task.deadline < today)
                          .order_by(Task.deadline, Task.number)).scalars())
    return {"as_of": today.isoformat(), "open": int(open_n), "overdue": len(late),
            "overdue_items": [{"number": t.number, "title": t.title, "owner": t.owner, "city_code": t.city_code,
                               "deadline": t.deadline.isoformat(), "state": t.state,
                               "days_late": (today - t.deadline).days} for t in late[:OVERDUE_LISTED]]}


def _tickets_doc(s: Session, period: Period) -> dict[str, Any]:
    """The node's own data-quality tickets — live and overdue today, closed within the period — so a city
    node's figures reach the province in its report."""
    assert period.start is not None and period.end is not None
    start = datetime(period.start // 100, period.start % 100, 1, tzinfo=clock.CHINA_TZ)
    end_m = period.end + 89 if period.end % 100 == 12 else period.end + 1
    end = datetime(end_m // 100, end_m % 100, 1, tzinfo=clock.CHINA_TZ)
    today = clock.today()
    return {"as_of": today.isoformat(), **tickets.figures(s, start, end, today)}


def _number(s: Session, node_code: str, period: Period) -> str:
    prefix = f"{PREFIX}-{node_code.replace('-', '')}-{period.end}-"
    n = s.execute(select(func.count()).select_from(ProgressReport)
                  .where(ProgressReport.number.like(prefix + "%"))).scalar_one()
    return f"{prefix}{n + 1}"


def prepare(s: Session, ctx: relay.NodeContext, node_name: str, actor: str, period: Period,
            kind: str = "monthly") -> ProgressReport:
    """A draft report of this node for the period: the stored run of the period (or a new one — a period
    with no data is refused by the runs with OVERSIGHT_NO_DATA), the figures, the 督办 items; the data kept and
    the PDF rendered for the approver to read."""
    if kind not in REPORT_KINDS:
        raise InvalidInput(f"报告类型应为 {'、'.join(REPORT_KINDS.values())} 之一", code="REPORT_KIND_INVALID")
    if period.start is None or period.end is None:
        raise InvalidInput("请选择报告期间（起止月份，格式 YYYY-MM）", code="OVERSIGHT_PERIOD_REQUIRED")
    run = runs.run(s, period, actor)
    totals, progress = _figures_doc(s, period)
    number = _number(s, ctx.code, period)
    now = clock.now()
    data = {"number": number, "node_code": ctx.code, "node_name": node_name, "kind": kind,
            "period": {"start": period.start, "end": period.end,
                       "text": runs.period_text(period.start, period.end)},
            "prepared_by": actor, "prepared_at": now.isoformat(), "figures": totals, "progress": progress,
            "ranking": _ranking_doc(s, run), "tasks": _tasks_doc(s), "quality_tickets": _tickets_doc(s, period),
            "approval": None}
    pdf = render_pdf(data)
    rep = ProgressReport(number=number, node_name=node_name, kind=kind, period_start=period.start,
                         period_end=period.end, run_number=run.number, state="draft", data=data, pdf=pdf,
                         pdf_digest=sm3_hex(pdf), prepared_by=actor, prepared_at=now)
    s.add(rep)
    s.flush()
    audit.record(s, actor, "oversight.report.prepared", f"oversight-report:{number}", kind=kind,
                 period=data["period"]["text"], run=run.number)
    return rep


def own(s: Session, number: str) -> ProgressReport:
    rep = s.execute(select(ProgressReport).options(undefer(ProgressReport.pdf))
                    .where(ProgressReport.number == number)).scalar_one_or_none()
    if rep is None:
        raise NotFound(f"没有编号为 {number} 的进展报告", code="REPORT_UNKNOWN")
    return rep


def _own_draft(s: Session, number: str, state: str) -> ProgressReport:
    rep = own(s, number)
    if rep.origin_node is not None:
        raise Conflict(f"{number} 是下级节点报送的报告，本节点不能审核或上报", code="REPORT_RECEIVED")
    if rep.state != state:
        raise Conflict(f"报告 {number} 的状态为“{REPORT_STATES.get(rep.state, rep.state)}”，不能执行此操作",
                       code="REPORT_STATE")
    return rep


def approve(s: Session, ctx: relay.NodeContext, actor: str, number: str) -> ProgressReport:
    """A second person approves: the approval goes into the data, the PDF is rendered again with it, and the
    node signs the data and the PDF's digest."""
    rep = _own_draft(s, number, "draft")
    if actor == rep.prepared_by:
        raise SelfApproval("不能审核本人编制的进展报告，须由另一名监管或运营人员审核")
    now = clock.now()
    data = {**rep.data, "approval": {"by": actor, "at": now.isoformat()}}
    pdf = render_pdf(data)
    pdf_digest = sm3_hex(pdf)
    digest = signed_digest(data, pdf_digest)
    value = get_suite(ctx.identity.suite).sign(ctx.identity, digest.encode("ascii")).hex()
    rep.data, rep.pdf, rep.pdf_digest = data, pdf, pdf_digest
    rep.signature = {"suite": ctx.identity.suite, "key_id": ctx.identity.key_id, "digest": digest, "value": value,
                     "signed_at": now.isoformat()}
    rep.state, rep.approved_by, rep.approved_at = "approved", actor, now
    audit.record(s, actor, "oversight.report.approved", f"oversight-report:{number}", digest=digest)
    return rep


def payload_of(rep: ProgressReport) -> dict[str, Any]:
    assert rep.pdf is not None and rep.signature is not None and rep.approved_at is not None
    return {"report": {"number": rep.number, "kind": rep.kind, "period_start": rep.period_start,
                       "period_end": rep.period_end, "run_number": rep.run_number, "node_name": rep.node_name,
                       "data": rep.data, "pdf": base64.b64encode(rep.pdf).decode("ascii"),
                       "pdf_digest": rep.pdf_digest, "signature": rep.signature, "prepared_by": rep.prepared_by,
                       "prepared_at": rep.prepared_at.isoformat(), "approved_by": rep.approved_by,
                       "approved_at": rep.approved_at.isoformat()}}


def send(s: Session, ctx: relay.NodeContext, actor: str, number: str) -> ProgressReport:
    """Queue an approved report to the parent (the relay worker delivers it); state sent."""
    rep = _own_draft(s, number, "approved")
    up = relay.parent(s)
    if up is None or up.status not in ("active", "rectifying"):
        raise Conflict("本节点没有已接入的上级节点，无法上报", code="NO_PARENT")
    relay.queue(s, ctx, up, KIND, payload_of(rep), 1, source_ref=rep.number)
    rep.state, rep.sent_at = "sent", clock.now()
    audit.record(s, actor, "oversight.report.sent", f"oversight-report:{number}", to=up.code)
    return rep


# ── on the parent ───────────────────────────────────────────────────────────────────────────────────────

def _str(doc: Mapping[str, Any], key: str, limit: int) -> str:
    v = doc.get(key)
    if not isinstance(v, str) or not v.strip() or len(v) > limit:
        raise _refuse(f"进展报告报文的字段 {key} 缺失或不正确")
    return v


def _month(doc: Mapping[str, Any], key: str) -> int:
    v = doc.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or not 200001 <= v <= 210012 or not 1 <= v % 100 <= 12:
        raise _refuse(f"进展报告报文的月份 {key} 不正确")
    return v


def _moment(doc: Mapping[str, Any], key: str) -> datetime:
    raw = _str(doc, key, 40)
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise _refuse(f"进展报告报文的时间 {key} 不正确") from None
    if at.tzinfo is None:
        raise _refuse(f"进展报告报文的时间 {key} 缺少时区")
    return at


def _parse(doc: Any, peer: Peer) -> dict[str, Any]:
    """The report of a payload, every field and the signature checked, before anything is written."""
    if not isinstance(doc, Mapping):
        raise _refuse("进展报告报文缺少 report")
    out: dict[str, Any] = {"number": _str(doc, "number", 40), "node_name": _str(doc, "node_name", 200),
                           "prepared_by": _str(doc, "prepared_by", 64), "approved_by": _str(doc, "approved_by", 64),
                           "prepared_at": _moment(doc, "prepared_at"), "approved_at": _moment(doc, "approved_at"),
                           "period_start": _month(doc, "period_start"), "period_end": _month(doc, "period_end")}
    if out["period_start"] > out["period_end"]:
        raise _refuse("进展报告报文的起止月份颠倒")
    if doc.get("kind") not in REPORT_KINDS:
        raise _refuse("进展报告报文的字段 kind 不正确")
    out["kind"] = doc["kind"]
    run_number = doc.get("run_number")
    if run_number is not None and (not isinstance(run_number, str) or len(run_number) > 40):
        raise _refuse("进展报告报文的字段 run_number 不正确")
    out["run_number"] = run_number
    if out["prepared_by"] == out["approved_by"]:
        raise _refuse("进展报告须由编制人以外的人审核", code="SELF_APPROVAL")
    data = doc.get("data")
    if not isinstance(data, Mapping) or len(content_bytes(data)) > MAX_DATA_BYTES:
        raise _refuse("进展报告报文的 data 不正确")
    period = data.get("period")
    if data.get("number") != out["number"] or data.get("node_code") != peer.code or data.get("kind") != out["kind"] \
            or not isinstance(period, Mapping) or period.get("start") != out["period_start"] \
            or period.get("end") != out["period_end"]:
        raise _refuse("进展报告的数据与报文不一致（编号、节点、类型或期间）")
    for key in ("figures", "progress", "ranking", "tasks", "approval"):
        if not isinstance(data.get(key), Mapping):
            raise _refuse(f"进展报告的数据缺少 {key}")
    if data["approval"].get("by") != out["approved_by"]:
        raise _refuse("进展报告的审核人与报文不一致")
    out["data"] = dict(data)
    raw = doc.get("pdf")
    if not isinstance(raw, str) or len(raw) > MAX_PDF_BYTES * 4 // 3 + 4:
        raise _refuse("进展报告报文的 pdf 缺失或过大")
    try:
        pdf = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise _refuse("进展报告报文的 pdf 不是有效的 Base64") from None
    if not pdf.startswith(b"%PDF-"):
        raise _refuse("进展报告报文的 pdf 不是 PDF 文件")
    pdf_digest = sm3_hex(pdf)
    if doc.get("pdf_digest") != pdf_digest:
        raise _refuse("进展报告的 PDF 与其摘要不符", code="REPORT_DIGEST_MISMATCH")
    sig = doc.get("signature")
    if not isinstance(sig, Mapping) or not all(isinstance(sig.get(k), str) for k in ("suite", "key_id", "digest",
                                                                                     "value")):
        raise _refuse("进展报告报文缺少签名")
    digest = signed_digest(data, pdf_digest)
    if sig["digest"] != digest:
        raise _refuse("进展报告的内容与签名摘要不符", code="REPORT_DIGEST_MISMATCH")
    try:
        value = bytes.fromhex(sig["value"])
    except ValueError:
        raise _refuse("进展报告的签名格式不正确", code="REPORT_SIGNATURE_INVALID") from None
    key = peer_signing_key(peer, sig["key_id"], at=clock.now())
    if sig["suite"] != peer.suite or key is None \
            or not verify_signature(peer.suite, key, digest.encode("ascii"), value):
        raise _refuse("进展报告的签名核验失败：不是该下级节点的密钥签署的", code="REPORT_SIGNATURE_INVALID")
    out["pdf"], out["pdf_digest"] = pdf, pdf_digest
    out["signature"] = {k: sig[k] for k in ("suite", "key_id", "digest", "value")} | (
        {"signed_at": sig["signed_at"]} if isinstance(sig.get("signed_at"), str) else {})
    return out


def apply_progress_report(s: Session, ctx: relay.NodeContext, sender: str, payload: Any) -> dict[str, Any]:
    """Store a child's report once. A report from a node that is not a child of this one is refused; so is a
    malformed or forged one, before any write. The same report twice changes nothing; a different report
    under a number already held is refused (a sent report is final)."""
    peer = s.get(Peer, sender) if sender else None
    if peer is None or peer.relation != "child":
        raise _refuse("只接受下级节点报送的进展报告", code="NOT_A_CHILD")
    doc = _parse(payload.get("report") if isinstance(payload, Mapping) else None, peer)
    external_id = f"{sender}-{doc['number']}"
    if len(external_id) > 60:
        raise _refuse("进展报告编号过长")
    held = s.execute(select(ProgressReport).where(ProgressReport.external_id == external_id)).scalar_one_or_none()
    if held is not None:
        if held.signature and held.signature.get("digest") == doc["signature"]["digest"]:
            return {"stored": 0, "duplicates": 1}
        raise _refuse(f"本节点已有 {external_id}，内容不同；已报送的报告不能更改", code="REPORT_CONFLICT")
    rep = ProgressReport(number=external_id, origin_node=sender, external_id=external_id, node_name=doc["node_name"],
                         kind=doc["kind"], period_start=doc["period_start"], period_end=doc["period_end"],
                         run_number=doc["run_number"], state="received", data=doc["data"], pdf=doc["pdf"],
                         pdf_digest=doc["pdf_digest"], signature=doc["signature"], prepared_by=doc["prepared_by"],
                         prepared_at=doc["prepared_at"], approved_by=doc["approved_by"],
                         approved_at=doc["approved_at"], received_at=clock.now())
    s.add(rep)
    s.flush()
    audit.record(s, f"node:{sender}", "oversight.report.received", f"oversight-report:{external_id}",
                 kind=doc["kind"], period=runs.period_text(doc["period_start"], doc["period_end"]),
                 digest=doc["signature"]["digest"])
    return {"stored": 1}


exchange.APPLIERS[KIND] = apply_progress_report


# ── reading ─────────────────────────────────────────────────────────────────────────────────────────────

def get(s: Session, number: str) -> ProgressReport:
    return own(s, number)


def listing(s: Session, *, received: bool = False, origin: str | None = None, limit: int = 100
            ) -> list[ProgressReport]:
    """Own reports (newest first), or with `received` the children's (optionally one child's)."""
    stmt = select(ProgressReport)
    stmt = stmt.where(ProgressReport.origin_node.is_not(None) if received else ProgressReport.origin_node.is_(None))
    if origin:
        stmt = stmt.where(ProgressReport.origin_node == origin)
    return list(s.execute(stmt.order_by(ProgressReport.period_end.desc(), ProgressReport.id.desc())
                          .limit(limit)).scalars())


def latest_by_node(s: Session) -> list[ProgressReport]:
    """Each child's latest report (the latest period; of equal periods the last received), by node code."""
    out: dict[str, ProgressReport] = {}
    for r in s.execute(select(ProgressReport).where(ProgressReport.origin_node.is_not(None))
                       .order_by(ProgressReport.origin_node, ProgressReport.period_end.desc(),
                                 ProgressReport.received_at.desc(), ProgressReport.id.desc())).scalars():
        out.setdefault(r.origin_node or "", r)
    return [out[k] for k in sorted(out)]


def summary(rep: ProgressReport) -> dict[str, Any]:
    """The figures the comparison shows, from a report's data (None where the data does not say)."""
    d = rep.data or {}
    fig, prog, tasks = d.get("figures") or {}, d.get("progress") or {}, d.get("tasks") or {}
    return {"number": rep.number, "origin_node": rep.origin_node, "node_name": rep.node_name,
            "kind": REPORT_KINDS.get(rep.kind, rep.kind), "period": runs.period_text(rep.period_start, rep.period_end),
            "granted_fen": fig.get("granted_fen"), "loans": fig.get("loans"),
            "credit_share": fig.get("credit_share_amount"), "first_share": fig.get("first_share_amount"),
            "progress_share": prog.get("share"), "cumulative_fen": prog.get("cumulative_fen"),
            "target_fen": prog.get("target_fen"), "open_tasks": tasks.get("open"),
            "overdue_tasks": tasks.get("overdue"), "open_tickets": (d.get("quality_tickets") or {}).get("open"),
            "overdue_tickets": (d.get("quality_tickets") or {}).get("overdue"), "received_at": rep.received_at}


def compare(s: Session, numbers: Sequence[str]) -> list[dict[str, Any]]:
    """Reports side by side (their summaries, in the order asked); an unknown number is refused."""
    held = {r.number: r for r in s.execute(select(ProgressReport).where(ProgressReport.number.in_(list(numbers))))
            .scalars()}
    missing = [n for n in numbers if n not in held]
    if missing:
        raise NotFound(f"没有编号为 {'、'.join(missing)} 的进展报告", code="REPORT_UNKNOWN")
    return [summary(held[n]) for n in numbers]


def peer_signing_key(peer: Peer, key_id: str, *, at: datetime | None = None) -> Mapping[str, str] | None:
    """The peer's key named `key_id`: its current one, or the one before a rotation (network.keys) — when `at`
    is given, only while that key's overlap lasts (a report arriving now); without it, for a report already
    held, which was checked when it came."""
    if key_id == peer.key_id:
        return peer.public_key
    if key_id == peer.retiring_key_id and peer.retiring_public_key is not None \
            and (at is None or (peer.retiring_until is not None and at < peer.retiring_until)):
        return peer.retiring_public_key
    return None


def verify(rep: ProgressReport, public_key: Mapping[str, str] | None = None) -> bool:
    """Whether a held report's PDF, data and signature still agree (with the signer's key when given)."""
    if rep.signature is None or rep.pdf is None:
        return False
    pdf_digest = sm3_hex(rep.pdf)
    digest = signed_digest(rep.data, pdf_digest)
    if pdf_digest != rep.pdf_digest or digest != rep.signature.get("digest"):
        return False
    if public_key is None:
        return True
    try:
        value = bytes.fromhex(rep.signature["value"])
    except (ValueError, KeyError, TypeError):
        return False
    return verify_signature(rep.signature.get("suite", ""), public_key, digest.encode("ascii"), value)


# ── the PDF ─────────────────────────────────────────────────────────────────────────────────────────────

INK = colors.HexColor("#1f2933")
RED = colors.HexColor("#b4232a")
LINE = colors.HexColor("#cbd2d9")
HEAD_BG = colors.HexColor("#eef1f4")
_render_lock = threading.Lock()


def wan_text(fen: Any) -> str:
    return "无" if not isinstance(fen, int) else f"{fen / 1_000_000:,.2f}"


def pct_text(v: Any) -> str:
    return "无" if not isinstance(v, int | float) else f"{v * 100:.1f}%"


def _markup(text: Any, font: CJKFont) -> str:
    out, cur, buf = [], None, []
    for ch in "" if text is None else str(text):
        face = font.name if ord(ch) in font.coverage else font.latin
        if face != cur and buf:
            out.append((cur, "".join(buf)))
            buf = []
        cur = face
        buf.append(ch)
    if buf:
        out.append((cur, "".join(buf)))
    return "".join(escape(t) if face == font.name else f'<font face="{font.latin}">{escape(t)}</font>'
                   for face, t in out)


def _grid(rows: list[list[str]], f: CJKFont, style: ParagraphStyle, widths: list[float] | None = None) -> RLTable:
    m = partial(_markup, font=f)
    t = RLTable([[Paragraph(m(c), style) for c in r] for r in rows], colWidths=widths, repeatRows=1)
    t.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, -1), f.latin), ("GRID", (0, 0), (-1, -1), 0.4, LINE),
                           ("BACKGROUND", (0, 0), (-1, 0), HEAD_BG), ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return t


def _when(iso: str) -> str:
    return f"{beijing_time(datetime.fromisoformat(iso))}（北京时间）"


def render_pdf(data: Mapping[str, Any]) -> bytes:
    """The report as an A4 PDF, from its data alone (the same data renders the same bytes)."""
    f = get_font()
    m = partial(_markup, font=f)
    base = ParagraphStyle("base", fontName=f.name, fontSize=10, leading=16, textColor=INK, wordWrap="CJK")
    title = ParagraphStyle("title", parent=base, fontSize=20, leading=30, textColor=RED, alignment=1)
    h1 = ParagraphStyle("h1", parent=base, fontSize=13, leading=20, textColor=RED, spaceBefore=10, spaceAfter=4)
    cell = ParagraphStyle("cell", parent=base, fontSize=8.5, leading=12)
    fig, prog, rk, tasks = data["figures"], data["progress"], data["ranking"], data["tasks"]
    approval = data.get("approval") or {}
    period = data["period"]["text"]
    story: list[Any] = [Paragraph(m(data["node_name"]), ParagraphStyle("n", parent=base, alignment=1)),
                        Paragraph(m(f"信易贷工作进展报告（{REPORT_KINDS.get(data['kind'], data['kind'])}）"), title),
                        Spacer(1, 4 * mm)]
    facts = [["项目", "内容"], ["报告编号", data["number"]], ["报告期间", period],
             ["编制", f"{data['prepared_by']} · {_when(data['prepared_at'])}"],
             ["审核", f"{approval['by']} · {_when(approval['at'])}" if approval else "待审核"]]
    story += [_grid(facts, f, cell, [40 * mm, 130 * mm])]
    story += [Paragraph(m("一、融资总量"), h1), _grid([
        ["授信笔数", "授信额（万元）", "放款额（万元）", "信用贷款占比", "首贷占比", "首贷户数"],
        [f"{fig['loans']:,}", wan_text(fig["granted_fen"]), wan_text(fig["disbursed_fen"]),
         pct_text(fig["credit_share_amount"]), pct_text(fig["first_share_amount"]), f"{fig['first_loans']:,}"]],
        f, cell)]
    story += [Paragraph(m("二、目标进度"), h1), Paragraph(m(
        f"截至 {month_label(data['period']['end'])} 累计授信 {wan_text(prog['cumulative_fen'])} 万元，"
        f"目标 {wan_text(prog['target_fen'])} 万元（{prog['target_by']} 前），完成 {pct_text(prog['share'])}。"), base)]
    rows = [["名次", "地区", "得分", "缺项"]] + [[str(c["rank"]), c["name"], f"{c['total']:.2f}", str(c["missing"])]
                                          for c in rk["cities"]]
    story += [Paragraph(m(f"三、各市排名（考核计算 {rk['run_number']}）"), h1), _grid(rows, f, cell)]
    story += [Paragraph(m("四、督办事项"), h1),
              Paragraph(m(f"办理中 {tasks['open']} 项，其中逾期 {tasks['overdue']} 项（截至 {tasks['as_of']}）。"), base)]
    if tasks["overdue_items"]:
        story.append(_grid([["编号", "事项", "责任单位", "期限", "逾期天数"]] + [
            [t["number"], t["title"], t["owner"], t["deadline"], str(t["days_late"])] for t in tasks["overdue_items"]],
            f, cell))
    qt = data.get("quality_tickets")  # absent from reports prepared before the quality domain
    if isinstance(qt, Mapping):
        story += [Paragraph(m("五、数据质量整改工单"), h1), Paragraph(m(
            f"未关闭 {qt.get('open', 0)} 张，其中逾期 {qt.get('overdue', 0)} 张（截至 {qt.get('as_of', '')}）；"
            f"本期关闭 {qt.get('closed', 0)} 张。"), base)]
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=18 * mm,
                            bottomMargin=18 * mm, title=f"{data['node_name']} 进展报告 {period}",
                            author=data["node_name"], subject=data["number"], creator="xinyidai", lang="zh-CN",
                            invariant=1, initialFontName=f.latin)  # not Helvetica: nothing unembedded
    with _render_lock:
        doc.build(story)
    return buf.getvalue()

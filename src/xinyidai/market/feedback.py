"""Banks' feedback files: banks without an integration send the same feedback as the API in a CSV (UTF-8,
GBK or GB18030) or XLSX file — the moves of their applications (`decisions`) or the repayment status of their
loans (`status`). Files are read by the data core's readers (`records.readers`: encoding detection, formula
guard, the row numbers a spreadsheet shows) and loaded by its rules:

* **all or nothing**: the rows are first tried in file order, each in its own savepoint, inside one that is
  then undone, with no SMS sent; every bad row is reported (row, column, value, code, Chinese message,
  kept as `FeedbackIssue`s) and if there is any, nothing is stored but the file's report. Otherwise the rows
  are applied for real, in order, in the same transaction;
* a file identical to one already accepted (same digest, kind and institution) is recorded as a duplicate
  and changes nothing;
* a row already applied is **unchanged**, not an error, so banks may send cumulative exports: a decision row
  is keyed by its 请求编号, by default a digest of its content, and a status row by its loan and date.

Every move goes through the same services as the pages and the API (`applications.decide`,
`loans.report_status`), so a file can do nothing the API could not.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xinyidai.catalog.schema import Catalog
from xinyidai.kit import audit, clock
from xinyidai.kit.digest import sm3_hex
from xinyidai.kit.errors import DomainError, Forbidden, InvalidInput, NotFound
from xinyidai.kit.notify import Notifier
from xinyidai.kit.pagination import Page, PageRequest, paginate
from xinyidai.kit.principal import Principal
from xinyidai.market import applications, cases, loans
from xinyidai.market.applications import Actor
from xinyidai.market.idempotency import REQUEST_ID
from xinyidai.market.models import FeedbackFile, FeedbackIssue
from xinyidai.market.money import fen
from xinyidai.records.loading import file_digest
from xinyidai.records.readers import FileRejected, open_delivery

KINDS = {"decisions": "办理结果", "status": "还款状态"}
STATUS_LABELS = {"accepted": "已导入", "rejected": "未导入", "duplicate": "重复文件，未作变更"}
EXTENSIONS = (".csv", ".txt", ".xlsx", ".xlsm", ".xls")
MAX_ROWS = 20_000
MAX_ISSUES = 1000
SORTABLE = {"received_at": FeedbackFile.received_at, "id": FeedbackFile.id}


@dataclass(frozen=True)
class Column:
    key: str
    label: str  # the header of the example files
    aliases: tuple[str, ...] = ()
    required: bool = False  # the column must be present (its values may still be empty where allowed)
    example: tuple[str, ...] = ()


# 操作 as banks write it → the application flow's action.
ACTIONS = {"受理": "accept", "不予受理": "decline", "要求补充授权": "request_auth", "预授信": "offer", "授信": "grant",
           "放款": "disburse", "结清": "close", "审批不通过": "reject"}
ACTION_LABELS = {v: k for k, v in ACTIONS.items()}

DECISION_COLUMNS = (
    Column("application_no", "申请编号", ("application_no", "申请号"), True,
           ("RZ-CN-230000-20261101-0A1B2C3D4E",) * 3),
    Column("action", "操作", ("action",), True, ("受理", "预授信", "放款")),
    Column("reason_code", "原因代码", ("reason_code",), False, ("", "", "")),
    Column("note", "说明", ("note", "备注"), False, ("", "额度以审批为准", "")),
    Column("amount", "金额（元）", ("amount", "金额"), False, ("", "3000000.00", "1000000.00")),
    Column("rate", "年利率（%）", ("rate", "年利率"), False, ("", "3.85", "")),
    Column("term_months", "期限（月）", ("term_months", "期限"), False, ("", "12", "")),
    Column("guarantee_type", "担保方式", ("guarantee_type",), False, ("", "", "")),
    Column("first_loan", "是否首贷", ("first_loan", "首贷"), False, ("", "", "")),
    Column("loan_ref", "贷款编号", ("loan_ref",), False, ("", "", "")),
    Column("matures_on", "到期日", ("matures_on",), False, ("", "", "")),
    Column("acted_at", "办理时间", ("acted_at",), True, ("2026-11-02 09:30", "2026-11-05", "2026-11-10")),
    Column("categories", "补充授权类别", ("categories",), False, ("", "", "")),
    Column("request_id", "请求编号", ("request_id",), False, ("", "", "")),
)
STATUS_COLUMNS = (
    Column("loan", "贷款编号", ("loan_ref", "loan_no", "平台贷款编号"), True, ("HRB2026-000123",)),
    Column("as_of", "统计日期", ("as_of",), True, ("2026-11-10",)),
    Column("outstanding", "贷款余额", ("outstanding", "贷款余额（元）"), True, ("2800000.00",)),
    Column("dpd", "逾期天数", ("dpd",), True, ("0",)),
    Column("overdue_principal", "逾期本金", ("overdue_principal", "逾期本金（元）"), True, ("0",)),
    Column("overdue_interest", "逾期利息", ("overdue_interest", "逾期利息（元）"), True, ("0",)),
    Column("interest_paid", "本期已付利息", ("interest_paid", "本期已付利息（元）"), False, ("8983.33",)),
    Column("risk_class", "五级分类", ("risk_class",), False, ("正常",)),
)
COLUMNS = {"decisions": DECISION_COLUMNS, "status": STATUS_COLUMNS}

# What each move needs besides 申请编号, 操作 and 办理时间 (the service names finer problems itself).
NEEDS = {"decline": ("reason_code",), "reject": ("reason_code",), "request_auth": ("categories",),
         "offer": ("amount", "rate"), "grant": ("amount", "guarantee_type", "first_loan", "loan_ref"),
         "disburse": ("amount",)}
# The column a service refusal is about, by its code (the flow's refusals are about 操作).
FIELD_OF = {
    "decisions": {"CONCURRENT_UPDATE": "application_no", "REQUEST_ID_REUSED": "request_id",
                  "AMOUNT_FORMAT": "amount", "NEGATIVE_AMOUNT": "amount", "DISBURSE_ABOVE_GRANT": "amount",
                  "GRANT_ABOVE_OFFER": "amount", "OFFER_TERMS_INVALID": "amount", "RATE_FORMAT": "rate",
                  "RATE_OUT_OF_RANGE": "rate", "DATE_OUT_OF_ORDER": "acted_at", "DATE_IN_FUTURE": "acted_at",
                  "DATE_FORMAT": "acted_at", "LOAN_REF_TAKEN": "loan_ref", "LOAN_REF_REQUIRED": "loan_ref",
                  "REASON_REQUIRED": "reason_code", "UNKNOWN_REASON": "reason_code", "REASON_NOTE_REQUIRED": "note",
                  "BAD_GUARANTEE_TYPE": "guarantee_type", "FIRST_LOAN_REQUIRED": "first_loan",
                  "NO_CATEGORY": "categories", "UNKNOWN_CATEGORY": "categories"},
    "status": {"UNKNOWN_LOAN": "loan", "DATE_IN_FUTURE": "as_of", "DATE_OUT_OF_ORDER": "as_of",
               "NEGATIVE_AMOUNT": "dpd", "OVERDUE_INCONSISTENT": "dpd", "BALANCE_ABOVE_DISBURSED": "outstanding",
               "BAD_RISK_CLASS": "risk_class"},
}
_TRUE, _FALSE = {"是", "y", "yes", "true", "1", "首贷"}, {"否", "n", "no", "false", "0", "非首贷"}
_WHEN = re.compile(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T]+(\d{1,2})[:：](\d{2})(?:[:：](\d{2}))?)?")


class FeedbackRejected(InvalidInput):
    """The file as a whole cannot be loaded (its columns, its size); `field` names the column(s)."""

    code = "FEEDBACK_INVALID"
    message = "反馈文件未导入"

    def __init__(self, message: str, *, code: str, field: str | None = None, row_no: int | None = None) -> None:
        super().__init__(message, code=code)
        self.field, self.row_no = field, row_no


@dataclass(frozen=True)
class Problem:
    row_no: int | None
    field: str | None  # the column's label
    value: str | None
    code: str
    message: str


@dataclass
class _Row:
    row_no: int
    values: dict[str, str | None]
    problem: Problem | None = None


class _RowRefused(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems[0].message)
        self.problems = problems


@dataclass
class _Run:
    """One file being tried (`dry`) or applied."""

    s: Session
    catalog: Catalog
    actor: Actor
    file: FeedbackFile
    node_code: str
    notifier: Notifier | None
    columns: dict[str, Column]
    dry: bool
    applied: int = 0
    unchanged: int = 0
    seen: dict[str, int] = field(default_factory=dict)  # a key that may occur once in a file → its row
    failed: dict[str, int] = field(default_factory=dict)  # an application → its first bad row

    def problem(self, row: _Row, key: str, code: str, message: str) -> Problem:
        return Problem(row.row_no, self.columns[key].label, row.values.get(key), code, message)


# ── reading ─────────────────────────────────────────────────────────────────────────────────────────────

def _norm(header: str) -> str:
    """全角 brackets and spaces do not matter: 金额（元） = 金额(元) = 金额 (元)."""
    return unicodedata.normalize("NFKC", header).replace(" ", "").lower()


def _column_map(headers: list[str], columns: tuple[Column, ...]) -> tuple[dict[str, int], list[str]]:
    """{column key: position} and the headers not known (ignored, with a warning)."""
    names = {_norm(n): c for c in columns for n in (c.label, c.key, *c.aliases)}
    found: dict[str, int] = {}
    unknown: list[str] = []
    for i, h in enumerate(headers):
        c = names.get(_norm(h))
        if c is None:
            unknown.append(h)
        elif c.key in found:
            raise FeedbackRejected(f"表头中“{headers[found[c.key]]}”和“{h}”都表示“{c.label}”，请只保留一列",
                                   code="FEEDBACK_COLUMNS_DUPLICATE", field=c.label, row_no=1)
        else:
            found[c.key] = i
    missing = [c.label for c in columns if c.required and c.key not in found]
    if missing:
        raise FeedbackRejected(f"缺少列：{'、'.join(missing)}。表头应包含：{'、'.join(c.label for c in columns)}"
                               "（可下载示例文件对照）", code="FEEDBACK_COLUMNS_MISSING", field="、".join(missing), row_no=1)
    return found, unknown


def _read(path: Path, filename: str, columns: tuple[Column, ...]) -> tuple[list[_Row], list[str]]:
    """The file's rows as {column key: value} and the warnings; FileRejected/FeedbackRejected when the
    file as a whole cannot be read."""
    with open_delivery(path, filename) as reader:
        found, unknown = _column_map(reader.headers, columns)
        warnings = [w.message for w in reader.warnings]
        if unknown:
            warnings.append(f"已忽略不认识的列：{'、'.join(unknown)}")
        rows: list[_Row] = []
        for r in reader.rows():
            if len(rows) >= MAX_ROWS:
                raise FeedbackRejected(f"文件超过 {MAX_ROWS:,} 行，请拆分后分批上传", code="FEEDBACK_TOO_MANY_ROWS")
            values = {k: (r.values[i] if i < len(r.values) else None) for k, i in found.items()}
            problem = None
            if r.problem:
                problem = Problem(r.row_no, r.problem_field, None, r.problem_code or "ROW_INVALID", r.problem)
            rows.append(_Row(r.row_no, values, problem))
    if not rows:
        raise FeedbackRejected("文件只有表头，没有数据行", code="FILE_EMPTY")
    return rows, warnings


def _when(text: str) -> str:
    """'2026/11/5 9:30' → '2026-11-05T09:30:00'; a date alone stays a date ('2026-11-05')."""
    m = _WHEN.fullmatch(text.strip())
    if not m:
        raise ValueError(text)
    y, mo, d, h, mi, sec = m.groups()
    day = date(int(y), int(mo), int(d))
    if not 2000 <= day.year <= 2099:
        raise ValueError(text)
    if h is None:
        return day.isoformat()
    if not (int(h) < 24 and int(mi) < 60 and int(sec or 0) < 60):
        raise ValueError(text)
    return f"{day.isoformat()}T{int(h):02d}:{mi}:{int(sec or 0):02d}"


# ── decisions ───────────────────────────────────────────────────────────────────────────────────────────

def _decision_body(run: _Run, row: _Row) -> tuple[str, str, dict[str, Any], str]:
    """(application number, action, the body `decide` takes, request id), or _RowRefused naming every
    problem the row has on its own."""
    v = row.values
    problems: list[Problem] = []
    number = v.get("application_no")
    if not number:
        problems.append(run.problem(row, "application_no", "VALUE_REQUIRED", "请填写申请编号"))
    action = ACTIONS.get((v.get("action") or "").strip(), (v.get("action") or "").strip().lower())
    if action not in ACTION_LABELS:
        problems.append(run.problem(row, "action", "UNKNOWN_ACTION_NAME",
                                    f"操作“{v.get('action') or ''}”不在清单中；可填：{'、'.join(ACTIONS)}"))
    body: dict[str, Any] = {}
    for key, name in (("acted_at", "办理时间"), ("matures_on", "到期日")):
        if v.get(key):
            try:
                body[key] = _when(v[key])  # type: ignore[arg-type]
            except ValueError:
                problems.append(run.problem(row, key, "DATE_FORMAT",
                                            f"{name}“{v[key]}”格式应为 YYYY-MM-DD 或 YYYY-MM-DD HH:MM"))
    if not v.get("acted_at"):
        problems.append(run.problem(row, "acted_at", "VALUE_REQUIRED", "请填写办理时间"))
    elif "acted_at" in body and body["acted_at"][:10] > clock.today().isoformat():
        problems.append(run.problem(row, "acted_at", "DATE_IN_FUTURE", f"办理时间 {v['acted_at']} 晚于今天"))
    if "matures_on" in body and "acted_at" in body and body["matures_on"] <= body["acted_at"][:10]:
        problems.append(run.problem(row, "matures_on", "DATE_OUT_OF_ORDER",
                                    f"到期日 {body['matures_on']} 须晚于办理（授信）日期 {body['acted_at'][:10]}"))
    for key in NEEDS.get(action, ()):
        if not v.get(key):
            problems.append(run.problem(row, key, "VALUE_REQUIRED",
                                        f"“{ACTION_LABELS[action]}”须填写{run.columns[key].label}"))
    for key in ("reason_code", "note", "amount", "rate", "term_months", "guarantee_type", "loan_ref"):
        if v.get(key):
            body[key] = v[key]
    if v.get("first_loan"):
        flag = v["first_loan"].strip().lower()  # type: ignore[union-attr]
        body["first_loan"] = "是" if flag in _TRUE else "否" if flag in _FALSE else v["first_loan"]
    if v.get("categories"):
        body["categories"] = _categories(run, row, problems)
    rid = (v.get("request_id") or "").strip()
    if rid and not REQUEST_ID.fullmatch(rid):
        problems.append(run.problem(row, "request_id", "REQUEST_ID_INVALID",
                                    "请求编号须为 1–64 个字母、数字或 . _ : -（以字母或数字开头）"))
    if problems:
        raise _RowRefused(problems)
    assert number is not None
    # A row's default id is its content: the same row in a later cumulative export is the same move.
    rid = rid or sm3_hex(orjson.dumps([number, action, body], option=orjson.OPT_SORT_KEYS))
    return number, action, body, rid


def _categories(run: _Run, row: _Row, problems: list[Problem]) -> list[str]:
    """补充授权类别 by code or by name, separated by 、 , ; or spaces."""
    out = []
    for part in re.split(r"[、,，;；\s]+", row.values["categories"] or ""):
        if part:
            try:
                out.append(run.catalog.category(part).code)
            except KeyError:
                problems.append(run.problem(row, "categories", "UNKNOWN_CATEGORY", f"信息类别“{part}”不在信息清单中"))
    return out


def _decision(run: _Run, row: _Row) -> bool:
    """Apply one decision row; True when it changed something, False when it was already applied."""
    number, action, body, rid = _decision_body(run, row)
    if rid in run.seen:
        raise _RowRefused([run.problem(row, "request_id", "DUPLICATE_ROW",
                                       f"与第 {run.seen[rid]} 行是同一操作（内容或请求编号相同）；如确为两笔放款，"
                                       "请填写不同的办理时间或请求编号")])
    run.seen[rid] = row.row_no
    if action == "grant":
        ref = f"loan_ref:{body['loan_ref']}"
        if ref in run.seen:
            raise _RowRefused([run.problem(row, "loan_ref", "LOAN_REPORTED_TWICE",
                                           f"贷款编号 {body['loan_ref']} 已在第 {run.seen[ref]} 行授信，同一笔贷款不能报送两次")])
        run.seen[ref] = row.row_no
    if number in run.failed:
        raise _RowRefused([run.problem(row, "application_no", "PRECEDING_ROW_REJECTED",
                                       f"同一申请的第 {run.failed[number]} 行未通过校验，本行依赖其结果，未校验；"
                                       "请先修正该行")])
    s, actor = run.s, run.actor
    try:
        app = applications.get(s, actor.principal, number)  # type: ignore[arg-type]
    except NotFound:
        raise _RowRefused([run.problem(row, "application_no", "UNKNOWN_APPLICATION",
                                       f"申请编号 {number} 不存在或不属于本机构")]) from None
    if applications.replayed(s, actor, rid, applications.request_digest(action, body), app):
        return False
    applications.decide(s, run.catalog, actor, number, action, body, request_id=rid, node_code=run.node_code,
                        notifier=None if run.dry else run.notifier)
    return True


# ── repayment status ────────────────────────────────────────────────────────────────────────────────────

def _status(run: _Run, row: _Row) -> bool:
    """Apply one status row; True when it changed something, False when that report is already stored."""
    v = row.values
    problems: list[Problem] = []
    if not v.get("loan"):
        problems.append(run.problem(row, "loan", "VALUE_REQUIRED", "请填写贷款编号（本行贷款编号或平台贷款编号）"))
    as_of = None
    if not v.get("as_of"):
        problems.append(run.problem(row, "as_of", "VALUE_REQUIRED", "请填写统计日期"))
    else:
        try:
            as_of = date.fromisoformat(_when(v["as_of"])[:10])  # type: ignore[arg-type]
        except ValueError:
            problems.append(run.problem(row, "as_of", "DATE_FORMAT", f"统计日期“{v['as_of']}”格式应为 YYYY-MM-DD"))
    amounts: dict[str, int] = {}
    for key in ("outstanding", "overdue_principal", "overdue_interest", "interest_paid"):
        label = run.columns[key].label
        if not v.get(key):
            if key == "outstanding":
                problems.append(run.problem(row, key, "VALUE_REQUIRED", "请填写贷款余额（已结清填 0）"))
            amounts[key] = 0
            continue
        try:
            amounts[key] = fen(v[key], label, allow_zero=True)
        except DomainError as exc:
            problems.append(run.problem(row, key, exc.code, exc.message))
    dpd = 0
    try:
        dpd = int((v.get("dpd") or "").strip())
    except ValueError:
        problems.append(run.problem(row, "dpd", "DPD_FORMAT", f"逾期天数“{v.get('dpd') or ''}”须为整数（未逾期填 0）"))
    if problems:
        raise _RowRefused(problems)
    assert as_of is not None
    try:
        loan = loans.get(run.s, run.actor.principal, v["loan"])  # type: ignore[arg-type]
    except NotFound:
        raise _RowRefused([run.problem(row, "loan", "UNKNOWN_LOAN",
                                       f"贷款编号 {v['loan']} 不存在或不属于本机构")]) from None
    key = f"{loan.id}@{as_of}"  # by the loan, whichever of its two numbers the row names
    if key in run.seen:
        raise _RowRefused([run.problem(row, "loan", "LOAN_REPORTED_TWICE",
                                       f"贷款 {v['loan']} 在 {as_of} 的还款状态已在第 {run.seen[key]} 行报告，不能报告两次")])
    run.seen[key] = row.row_no
    _rep, changed = loans.report_status(
        run.s, loan, as_of=as_of, outstanding_fen=amounts["outstanding"],
        overdue_principal_fen=amounts["overdue_principal"], overdue_interest_fen=amounts["overdue_interest"],
        interest_paid_fen=amounts["interest_paid"], dpd=dpd, risk_class=v.get("risk_class") or None, source="file",
        reported_by=run.actor.username, feedback_file_id=run.file.id)
    return changed


# ── loading ─────────────────────────────────────────────────────────────────────────────────────────────

def _try(run: _Run, rows: list[_Row]) -> list[Problem]:
    """Every row in order, each in a savepoint, all undone at the end: the problems of the file."""
    step = _decision if run.file.kind == "decisions" else _status
    problems: list[Problem] = []
    outer = run.s.begin_nested()
    try:
        with cases.quiet(run.s):
            for row in rows:
                found: list[Problem] = []
                if row.problem is not None:
                    found = [row.problem]
                else:
                    try:
                        with run.s.begin_nested():
                            changed = step(run, row)
                        run.applied, run.unchanged = run.applied + changed, run.unchanged + (not changed)
                    except _RowRefused as refused:
                        found = refused.problems
                    except DomainError as exc:
                        # A refusal the table does not place is the flow's: the move cannot be made now.
                        key = FIELD_OF[run.file.kind].get(exc.code, "action" if run.file.kind == "decisions" else "loan")
                        found = [run.problem(row, key, exc.code, exc.message)]
                if found:
                    problems.extend(found)
                    # A decision's later rows depend on it (授信 then 放款); status rows stand alone.
                    if run.file.kind == "decisions" and row.values.get("application_no"):
                        run.failed.setdefault(row.values["application_no"], row.row_no)  # type: ignore[index]
    finally:
        outer.rollback()
    return problems


def _apply(run: _Run, rows: list[_Row]) -> None:
    """The tried rows for real (they passed: any error now is unexpected and undoes the whole request)."""
    step = _decision if run.file.kind == "decisions" else _status
    run.applied = run.unchanged = 0
    run.seen.clear()
    for row in rows:
        try:
            changed = step(run, row)
        except _RowRefused as refused:  # pragma: no cover - the same rows passed a moment ago
            raise InvalidInput(refused.problems[0].message, code=refused.problems[0].code) from None
        run.applied, run.unchanged = run.applied + changed, run.unchanged + (not changed)


def _institution(p: Principal) -> str:
    if p.role != "bank" or not p.org_code:
        raise Forbidden("只有金融机构用户可以上传反馈文件", code="ROLE_FORBIDDEN")
    return p.org_code


def _reject(s: Session, f: FeedbackFile, code: str, message: str, problems: list[Problem], actor: str) -> FeedbackFile:
    f.status, f.error_code, f.rows_applied, f.rows_unchanged = "rejected", code, 0, 0
    f.rows_rejected = len({p.row_no for p in problems if p.row_no is not None})
    shown = problems[:MAX_ISSUES]
    f.message = message + (f"（问题清单列出前 {MAX_ISSUES} 条，共 {len(problems)} 条）" if len(problems) > MAX_ISSUES else "")
    s.add_all(FeedbackIssue(file_id=f.id, row_no=p.row_no, field=(p.field or "")[:40] or None,
                            value=None if p.value is None else p.value[:500], code=p.code[:40], message=p.message)
              for p in shown)
    audit.record(s, actor, "market.feedback.rejected", f"feedback:{f.id}", institution_code=f.institution_code,
                 kind=f.kind, filename=f.filename, digest=f.file_digest, code=code, issues=len(problems))
    return f


def load(s: Session, catalog: Catalog, p: Principal, *, path: Path, filename: str, kind: str, node_code: str,
         notifier: Notifier | None = None) -> FeedbackFile:
    """Load a bank's feedback file (see the module docstring) and return it with its report. The caller
    commits: a rejected file is kept with its issues, an accepted one with everything it did."""
    institution = _institution(p)
    if kind not in KINDS:
        raise InvalidInput(f"反馈文件类型须为 {'、'.join(f'{k}（{v}）' for k, v in KINDS.items())}", code="FEEDBACK_KIND")
    digest, size = file_digest(path)
    f = FeedbackFile(institution_code=institution, kind=kind, filename=filename[:255], file_digest=digest,
                     size_bytes=size, status="rejected", rows_total=0, rows_applied=0, rows_unchanged=0,
                     rows_rejected=0, submitted_by=p.username[:64], received_at=clock.now())
    twin = s.execute(select(FeedbackFile).where(
        FeedbackFile.institution_code == institution, FeedbackFile.kind == kind, FeedbackFile.file_digest == digest,
        FeedbackFile.status == "accepted").order_by(FeedbackFile.id).limit(1)).scalar_one_or_none()
    s.add(f)
    s.flush()  # this INSERT opens SQLite's transaction before the savepoints below (see kit.db.savepoint)
    if twin is not None:
        f.status, f.rows_total = "duplicate", twin.rows_total
        f.message = (f"与 {twin.received_at.astimezone(clock.CHINA_TZ):%Y-%m-%d %H:%M} 已导入的文件 #{twin.id}"
                     f"（{twin.filename}）内容相同，未作任何变更")
        audit.record(s, p.username, "market.feedback.duplicate", f"feedback:{f.id}", institution_code=institution,
                     kind=kind, filename=f.filename, digest=digest, duplicate_of=twin.id)
        return f
    ext = Path(filename).suffix.lower()
    try:
        if ext and ext not in EXTENSIONS:
            raise FeedbackRejected(f"不支持的文件类型 {ext}：请上传 CSV 或 Excel 工作簿（.xlsx）", code="UNSUPPORTED_FORMAT")
        rows, warnings = _read(path, filename, COLUMNS[kind])
    except (FileRejected, FeedbackRejected) as exc:
        where = getattr(exc, "field", None)
        return _reject(s, f, exc.code, exc.message,
                       [Problem(exc.row_no, where, None, exc.code, exc.message)], p.username)
    f.rows_total = len(rows)
    run = _Run(s, catalog, Actor.of(p, "file"), f, node_code, notifier, {c.key: c for c in COLUMNS[kind]}, dry=True)
    problems = _try(run, rows)
    if problems:
        bad = len({q.row_no for q in problems})
        return _reject(s, f, "FEEDBACK_INVALID", f"文件有 {bad} 行错误，整个文件未导入；请按问题清单修正后重新上传",
                       problems, p.username)
    run.dry = False
    _apply(run, rows)
    f.status, f.rows_applied, f.rows_unchanged = "accepted", run.applied, run.unchanged
    f.message = "；".join([f"已导入：办理/更新 {run.applied} 行，未变更 {run.unchanged} 行", *warnings])
    audit.record(s, p.username, "market.feedback.accepted", f"feedback:{f.id}", institution_code=institution,
                 kind=kind, filename=f.filename, digest=digest, applied=run.applied, unchanged=run.unchanged)
    return f


# ── reading the reports ─────────────────────────────────────────────────────────────────────────────────

def search(s: Session, p: Principal, req: PageRequest, *, kind: str | None = None) -> Page:
    stmt = select(FeedbackFile).where(FeedbackFile.institution_code == _institution(p))
    if kind:
        stmt = stmt.where(FeedbackFile.kind == kind)
    return paginate(s, stmt, req, SORTABLE, "received_at")


def get(s: Session, p: Principal, file_id: int) -> FeedbackFile:
    f = s.execute(select(FeedbackFile).where(FeedbackFile.id == file_id,
                                             FeedbackFile.institution_code == _institution(p))).scalar_one_or_none()
    if f is None:
        raise NotFound(f"未找到反馈文件 #{file_id}（或不属于本机构）", code="FEEDBACK_NOT_FOUND")
    return f


def issues(s: Session, f: FeedbackFile, req: PageRequest | None = None) -> Page:
    stmt = select(FeedbackIssue).where(FeedbackIssue.file_id == f.id)
    return paginate(s, stmt, req or PageRequest(1, MAX_ISSUES), {"row_no": FeedbackIssue.row_no}, "row_no")


def issue_count(s: Session, f: FeedbackFile) -> int:
    return s.execute(select(func.count()).select_from(FeedbackIssue).where(FeedbackIssue.file_id == f.id)).scalar_one()


def file_dict(f: FeedbackFile, issue_rows: list[FeedbackIssue] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": f.id, "kind": f.kind, "kind_label": KINDS.get(f.kind, f.kind), "filename": f.filename,
        "file_digest": f.file_digest, "size_bytes": f.size_bytes, "status": f.status,
        "status_label": STATUS_LABELS.get(f.status, f.status), "rows_total": f.rows_total,
        "rows_applied": f.rows_applied, "rows_unchanged": f.rows_unchanged, "rows_rejected": f.rows_rejected,
        "error_code": f.error_code, "message": f.message, "submitted_by": f.submitted_by,
        "received_at": f.received_at.isoformat()}
    if issue_rows is not None:
        out["issues"] = [issue_dict(i) for i in issue_rows]
    return out


def issue_dict(i: FeedbackIssue) -> dict[str, Any]:
    return {"row_no": i.row_no, "field": i.field, "value": i.value, "code": i.code, "message": i.message}


def issues_csv(s: Session, f: FeedbackFile) -> Iterator[str]:
    """The row report as CSV (UTF-8 with BOM: Excel opens it as is)."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["行号", "列", "内容", "问题代码", "说明"])
    for i in issues(s, f).items:
        w.writerow(["" if i.row_no is None else i.row_no, i.field or "", _safe(i.value or ""), i.code, i.message])
    yield "\ufeff" + out.getvalue()


def _safe(text: str) -> str:
    """A cell a spreadsheet would run as a formula is written as text."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


# ── example files ───────────────────────────────────────────────────────────────────────────────────────

def example_rows(kind: str) -> tuple[list[str], list[list[str]]]:
    columns = COLUMNS[kind]
    n = len(columns[0].example)
    return [c.label for c in columns], [[c.example[i] if i < len(c.example) else "" for c in columns]
                                        for i in range(n)]


def example_csv(kind: str) -> bytes:
    headers, rows = example_rows(kind)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(headers)
    w.writerows(rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def example_xlsx(kind: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    headers, rows = example_rows(kind)
    wb = Workbook()
    ws = wb.active
    ws.title = KINDS[kind]
    ws.append(headers)
    for r in rows:
        ws.append(r)
    for i, h in enumerate(headers, 1):
        ws.column_dimensions[get_column_letter(i)].width = max(12, len(h) * 2 + 4)
        ws.cell(row=1, column=i).number_format = "@"
    for col in range(1, len(headers) + 1):  # numbers and dates as text: the bank's codes keep their zeros
        for row in range(2, len(rows) + 2):
            ws.cell(row=row, column=col).number_format = "@"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()

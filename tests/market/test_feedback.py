"""Banks' feedback files on a real database: decisions and repayment status in CSV (UTF-8, GBK) and XLSX, all or
nothing with every bad row reported by row, column, value and code, duplicates and cumulative re-exports that
change nothing, and files that cannot be read at all."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from tests.market.conftest import (
    BANK,
    ENTERPRISE,
    ENTERPRISE_B,
    ENTITY,
    NODE,
    OTHER_BANK,
    Market,
    publish,
    terms,
)
from xinyidai.accounts.models import RealNameRegistration
from xinyidai.kit import clock
from xinyidai.kit.audit import AuditEvent
from xinyidai.kit.errors import DomainError
from xinyidai.kit.notify import FileNotifier
from xinyidai.kit.principal import Principal
from xinyidai.market import applications, cases, feedback, flows
from xinyidai.market.applications import Actor
from xinyidai.market.models import (
    Application,
    ApplicationEvent,
    DefaultCase,
    FeedbackFile,
    Loan,
    StatusReport,
)

DECISIONS = [c.label for c in feedback.DECISION_COLUMNS]
STATUS = [c.label for c in feedback.STATUS_COLUMNS]
KEYS = {c.key: c.label for c in (*feedback.DECISION_COLUMNS, *feedback.STATUS_COLUMNS)}


def beijing(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 11, day, hour - 8, tzinfo=UTC)


@dataclass
class World:
    m: Market
    granted: str  # 授信 400,000 on 11-12 as loan HRB-1, nothing disbursed yet
    submitted: str  # submitted on 11-10, waiting for the bank
    offer_accepted: str  # the enterprise accepted an offer of 300,000: ready for 授信
    other_bank: str  # an application to another bank


def _apply(s, m: Market, who: Principal, product: str):  # noqa: ANN001, ANN202
    pv = applications.preview(s, m.catalog, who, product, "500000", 12, "采购原材料")
    return applications.submit(s, m.catalog, who, product_number=product, amount="500000", term_months=12,
                               purpose="采购原材料", grant_digest=pv["grant_digest"], node_code=NODE).number


@pytest.fixture
def world(market: Market, fixed_clock: datetime) -> World:
    clock.set_clock(lambda: beijing(10))
    with market.db.session() as s:
        second = publish(s, market.catalog, terms(name="第二个产品"))
        theirs = publish(s, market.catalog, terms(name="哈行快贷"), bank=OTHER_BANK)
        granted, submitted = _apply(s, market, ENTERPRISE, market.product), _apply(s, market, ENTERPRISE_B, market.product)
        ready, other = _apply(s, market, ENTERPRISE, second), _apply(s, market, ENTERPRISE, theirs)
    clock.set_clock(lambda: beijing(12))
    with market.db.session() as s:
        bank, ent = Actor.of(BANK, "api"), Actor.of(ENTERPRISE, "page")
        for number, amount in ((granted, "400000"), (ready, "300000")):
            applications.decide(s, market.catalog, bank, number, "accept")
            applications.decide(s, market.catalog, bank, number, "offer", {"amount": amount, "rate": "4.2"})
            applications.decide(s, market.catalog, ent, number, "accept_offer")
        applications.decide(s, market.catalog, bank, granted, "grant",
                            {"amount": "400000", "guarantee_type": "信用", "loan_ref": "HRB-1", "first_loan": True},
                            node_code=NODE)
    clock.set_clock(lambda: fixed_clock)
    return World(market, granted, submitted, ready, other)


def row(header: list[str], **values: str) -> list[str]:
    labelled = {KEYS[k]: v for k, v in values.items()}
    return [labelled.get(h, "") for h in header]


def write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8-sig") -> Path:
    buf = io.StringIO()
    csv.writer(buf).writerows([header, *rows])
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def write_xlsx(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.append(header)
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


def load(w: World, path: Path, kind: str, who: Principal = BANK) -> FeedbackFile:
    with w.m.db.session() as s:
        return feedback.load(s, w.m.catalog, who, path=path, filename=path.name, kind=kind, node_code=NODE)


def report(w: World, f: FeedbackFile) -> list[tuple[int | None, str | None, str]]:
    with w.m.db.session() as s:
        return [(i.row_no, i.field, i.code) for i in feedback.issues(s, f).items]


def state(w: World, number: str) -> str:
    with w.m.db.session() as s:
        return s.execute(select(Application.state).where(Application.number == number)).scalar_one()


def loan(w: World) -> Loan:
    with w.m.db.session() as s:
        return s.execute(select(Loan).where(Loan.loan_ref == "HRB-1")).scalar_one()


# ── decisions ───────────────────────────────────────────────────────────────────────────────────────────

def test_a_decisions_file_moves_applications_and_a_cumulative_export_is_unchanged(world: World, tmp_path) -> None:  # noqa: ANN001
    first = [row(DECISIONS, application_no=world.submitted, action="受理", acted_at="2026-11-13 09:00"),
             row(DECISIONS, application_no=world.submitted, action="预授信", amount="450,000.00", rate="3.85",
                 term_months="12", acted_at="2026/11/13 15:30", note="额度以审批为准")]
    f = load(world, write_csv(tmp_path / "2026-11 办理结果.csv", DECISIONS, first), "decisions")
    assert (f.status, f.rows_total, f.rows_applied, f.rows_unchanged, f.error_code) == ("accepted", 2, 2, 0, None)
    assert state(world, world.submitted) == flows.OFFERED
    with world.m.db.session() as s:
        events = s.execute(select(ApplicationEvent).join(Application).where(Application.number == world.submitted)
                           .order_by(ApplicationEvent.seq)).scalars().all()
        assert [(e.action, e.source, e.acted_at) for e in events[1:]] == [
            ("accept", "file", beijing(13, 9)), ("offer", "file", beijing(13, 15) + timedelta(minutes=30))]
        assert events[2].payload["amount_fen"] == 45_000_000
        applications.decide(s, world.m.catalog, Actor.of(ENTERPRISE_B, "page"), world.submitted, "accept_offer")

    # The next export repeats the month so far and adds 授信 and 放款: the repeated rows change nothing.
    cumulative = [*first,
                  row(DECISIONS, application_no=world.submitted, action="授信", amount="450000", guarantee_type="保证",
                      first_loan="否", loan_ref="HRB-2", matures_on="2027-11-14", acted_at="2026-11-15"),
                  row(DECISIONS, application_no=world.submitted, action="放款", amount="200000", acted_at="2026-11-15")]
    f2 = load(world, write_csv(tmp_path / "2026-11 累计.csv", DECISIONS, cumulative), "decisions")
    assert (f2.status, f2.rows_applied, f2.rows_unchanged) == ("accepted", 2, 2), f2.message
    assert state(world, world.submitted) == flows.DISBURSED
    with world.m.db.session() as s:
        granted = s.execute(select(Loan).where(Loan.loan_ref == "HRB-2")).scalar_one()
        assert (granted.granted_fen, granted.disbursed_fen, granted.is_credit, granted.first_declared) == (
            45_000_000, 20_000_000, 0, 0)
        assert s.execute(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "market.feedback.accepted")).scalar_one() == 2

    # The same file again: recorded as a duplicate, nothing else happens.
    f3 = load(world, write_csv(tmp_path / "again.csv", DECISIONS, cumulative), "decisions")
    assert f3.status == "duplicate" and f"#{f2.id}" in (f3.message or "")
    assert loan_count(world) == 2 and disbursed(world, "HRB-2") == 20_000_000


def loan_count(w: World) -> int:
    with w.m.db.session() as s:
        return s.execute(select(func.count()).select_from(Loan)).scalar_one()


def disbursed(w: World, ref: str) -> int:
    with w.m.db.session() as s:
        return s.execute(select(Loan.disbursed_fen).where(Loan.loan_ref == ref)).scalar_one()


def test_a_gbk_file_with_other_headers_and_an_xlsx_file_are_read(world: World, tmp_path) -> None:  # noqa: ANN001
    # GBK, as Excel saves "CSV" on a Chinese Windows; half-width brackets, English aliases, columns reordered.
    header = ["办理时间", "action", "申请编号", "原因代码", "说明", "请求编号"]
    gbk = write_csv(tmp_path / "gbk.csv", header,
                    [["2026-11-14", "不予受理", world.submitted, "D02", "不在本行服务区域", "hrb-20261114-01"]],
                    encoding="gbk")
    f = load(world, gbk, "decisions")
    assert f.status == "accepted", report(world, f)
    with world.m.db.session() as s:
        app = s.execute(select(Application).where(Application.number == world.submitted)).scalar_one()
        assert (app.state, app.reason_code, app.reason_note) == (flows.DECLINED, "D02", "不在本行服务区域")
        assert applications.timeline(s, app)[-1].request_id == "hrb-20261114-01"

    grant: list[object] = row(DECISIONS, application_no=world.offer_accepted, action="授信", guarantee_type="信用",
                              first_loan="是", loan_ref="HRB-3")
    grant[DECISIONS.index("金额（元）")] = 300000  # number cells, as a spreadsheet keeps them
    grant[DECISIONS.index("办理时间")] = datetime(2026, 11, 14, 16, 45)
    f = load(world, write_xlsx(tmp_path / "授信.xlsx", DECISIONS, [grant]), "decisions")
    assert f.status == "accepted", report(world, f)
    assert state(world, world.offer_accepted) == flows.GRANTED


BAD_DECISIONS = [
    ("unknown application", dict(application_no="RZ-CN-230000-20261101-0000000000", action="受理"),
     "申请编号", "UNKNOWN_APPLICATION"),
    ("another bank's application", dict(application_no="{other_bank}", action="受理"), "申请编号", "UNKNOWN_APPLICATION"),
    ("negative amount", dict(application_no="{granted}", action="放款", amount="-5000"), "金额（元）", "NEGATIVE_AMOUNT"),
    ("malformed amount", dict(application_no="{granted}", action="放款", amount="12,3x"), "金额（元）", "AMOUNT_FORMAT"),
    ("disbursed above approved", dict(application_no="{granted}", action="放款", amount="300000.01"),
     "金额（元）", "DISBURSE_ABOVE_GRANT"),
    ("date before the previous step", dict(application_no="{granted}", action="放款", amount="100",
                                           acted_at="2026-11-11"), "办理时间", "DATE_OUT_OF_ORDER"),
    ("date in the future", dict(application_no="{submitted}", action="受理", acted_at="2026-11-20"),
     "办理时间", "DATE_IN_FUTURE"),
    ("malformed date", dict(application_no="{submitted}", action="受理", acted_at="14/11/2026"), "办理时间", "DATE_FORMAT"),
    ("maturity before the grant", dict(application_no="{offer_accepted}", action="授信", amount="300000",
                                       guarantee_type="信用", first_loan="是", loan_ref="HRB-9",
                                       matures_on="2026-11-01"), "到期日", "DATE_OUT_OF_ORDER"),
    ("loan number already used", dict(application_no="{offer_accepted}", action="授信", amount="300000",
                                      guarantee_type="信用", first_loan="是", loan_ref="HRB-1"), "贷款编号", "LOAN_REF_TAKEN"),
    ("grant above the offer", dict(application_no="{offer_accepted}", action="授信", amount="300001",
                                   guarantee_type="信用", first_loan="是", loan_ref="HRB-9"), "金额（元）", "GRANT_ABOVE_OFFER"),
    ("out of order", dict(application_no="{submitted}", action="放款", amount="1000"), "操作", "OUT_OF_ORDER"),
    ("unknown action", dict(application_no="{submitted}", action="批准"), "操作", "UNKNOWN_ACTION_NAME"),
    ("no reason", dict(application_no="{submitted}", action="不予受理"), "原因代码", "VALUE_REQUIRED"),
    ("unknown reason", dict(application_no="{submitted}", action="不予受理", reason_code="D42"), "原因代码", "UNKNOWN_REASON"),
    ("bad request id", dict(application_no="{submitted}", action="受理", request_id="两个 字"), "请求编号",
     "REQUEST_ID_INVALID"),
]


@pytest.mark.parametrize(("case", "values", "field", "code"), BAD_DECISIONS, ids=[c[0] for c in BAD_DECISIONS])
def test_a_bad_decision_row_rejects_the_whole_file(world: World, tmp_path, case, values, field, code) -> None:  # noqa: ANN001
    """Row 2 is good (放款 100,000 on HRB-1); row 3 is bad: nothing of the file is stored, row 3 is reported."""
    values = {k: v.format(**vars(world)) if isinstance(v, str) else v for k, v in values.items()}
    values.setdefault("acted_at", "2026-11-14")
    rows = [row(DECISIONS, application_no=world.granted, action="放款", amount="100000", acted_at="2026-11-13"),
            row(DECISIONS, **values)]
    f = load(world, write_csv(tmp_path / "bad.csv", DECISIONS, rows), "decisions")
    assert (f.status, f.error_code, f.rows_total, f.rows_rejected, f.rows_applied) == (
        "rejected", "FEEDBACK_INVALID", 2, 1, 0)
    assert report(world, f) == [(3, field, code)]
    assert disbursed(world, "HRB-1") == 0 and state(world, world.submitted) == flows.SUBMITTED
    assert state(world, world.offer_accepted) == flows.OFFER_ACCEPTED and loan_count(world) == 1
    with world.m.db.session() as s:
        issue = feedback.issues(s, f).items[0]
        assert issue.message and (issue.value is not None or code == "VALUE_REQUIRED")
        assert s.execute(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "market.application.disburse")).scalar_one() == 0
        assert s.execute(select(AuditEvent.action).order_by(AuditEvent.id.desc()).limit(1)).scalar_one() \
            == "market.feedback.rejected"


def test_every_bad_row_is_listed_and_rows_after_a_bad_one_wait_for_it(world: World, tmp_path) -> None:  # noqa: ANN001
    rows = [row(DECISIONS, application_no=world.submitted, action="受理", acted_at="2026-11-20"),  # future
            row(DECISIONS, application_no=world.submitted, action="预授信", amount="1", rate="4", acted_at="2026-11-14"),
            row(DECISIONS, application_no=world.offer_accepted, action="授信", amount="300000", guarantee_type="信用",
                first_loan="是", loan_ref="NEW-1", acted_at="2026-11-14"),
            row(DECISIONS, application_no=world.granted, action="放款", amount="1000", acted_at="2026-11-14"),
            row(DECISIONS, application_no=world.granted, action="放款", amount="1000", acted_at="2026-11-14"),
            row(DECISIONS, application_no=world.submitted, action="授信", amount="1", guarantee_type="信用",
                first_loan="否", loan_ref="NEW-1", acted_at="2026-11-14"),
            row(DECISIONS, action="受理", amount="-1")]
    f = load(world, write_csv(tmp_path / "many.csv", DECISIONS, rows), "decisions")
    assert report(world, f) == [
        (2, "办理时间", "DATE_IN_FUTURE"),
        (3, "申请编号", "PRECEDING_ROW_REJECTED"),
        (6, "请求编号", "DUPLICATE_ROW"),
        (7, "贷款编号", "LOAN_REPORTED_TWICE"),
        (8, "申请编号", "VALUE_REQUIRED"),
        (8, "办理时间", "VALUE_REQUIRED"),
    ]
    assert f.rows_rejected == 5 and loan_count(world) == 1 and disbursed(world, "HRB-1") == 0


# ── repayment status ────────────────────────────────────────────────────────────────────────────────────

@pytest.fixture
def disbursed_world(world: World) -> World:
    """HRB-1 disbursed in full on 11-13."""
    clock.set_clock(lambda: beijing(13))
    with world.m.db.session() as s:
        applications.decide(s, world.m.catalog, Actor.of(BANK, "api"), world.granted, "disburse", {"amount": "400000"})
    clock.set_clock(lambda: beijing(15))
    with world.m.db.session() as s:
        s.add(RealNameRegistration(entity_code=ENTITY, person_name="王建国", id_digest="0" * 64, phone="13800000001",
                                   username="ent", password_hash="x", code_hash="x", code_expires_at=clock.now(),
                                   status="completed", created_at=clock.now(), completed_at=clock.now()))
    return world


def test_a_status_file_in_xlsx_reports_repayment_and_opens_a_case(disbursed_world: World, tmp_path) -> None:  # noqa: ANN001
    w = disbursed_world
    with w.m.db.session() as s:
        loan_no = s.execute(select(Loan.loan_no)).scalar_one()
    notices = FileNotifier(tmp_path / "notifications.log")
    cases.NOTIFIER["node"] = notices
    try:
        rows = [["HRB-1", "2026-11-14", 400000, 0, 0, 0, 0, "正常"],
                [loan_no, "2026-11-15", "395000.00", 3, "5000", "150.5", "", "关注"]]  # the platform's number
        f = load(w, write_xlsx(tmp_path / "还款状态.xlsx", STATUS, rows), "status")
    finally:
        cases.NOTIFIER.clear()
    assert (f.status, f.rows_applied, f.rows_unchanged) == ("accepted", 2, 0), report(w, f)
    assert (loan(w).dpd, loan(w).outstanding_fen, loan(w).risk_class) == (3, 39_500_000, "关注")
    with w.m.db.session() as s:
        case = s.execute(select(DefaultCase)).scalar_one()
        assert case.state == flows.REMINDED and case.overdue_fen == 515_050
        assert s.execute(select(func.count()).select_from(StatusReport).where(
            StatusReport.feedback_file_id == f.id)).scalar_one() == 2
    assert [m["kind"] for m in notices.messages()] == ["market.default"]  # the enterprise was told once

    # A cumulative export: both months again (unchanged) and a cure.
    rows.append(["HRB-1", "2026-11-15", "395000", "0", "0", "0", "", "正常"])
    f2 = load(w, write_csv(tmp_path / "累计.csv", STATUS, [[str(c) for c in r] for r in rows]), "status")
    assert f2.status == "rejected" and report(w, f2) == [(4, "贷款编号", "LOAN_REPORTED_TWICE")]
    rows.pop(1)  # the bank corrects its export: 11-15 is the cure, a correction of that day's report
    f3 = load(w, write_csv(tmp_path / "累计2.csv", STATUS, [[str(c) for c in r] for r in rows]), "status")
    assert (f3.status, f3.rows_applied, f3.rows_unchanged) == ("accepted", 1, 1), report(w, f3)
    with w.m.db.session() as s:
        assert s.execute(select(DefaultCase.state)).scalar_one() == flows.CURED


BAD_STATUS = [
    ("unknown loan", ["HRB-404", "2026-11-14", "1", "0", "0", "0", "", ""], "贷款编号", "UNKNOWN_LOAN"),
    ("negative balance", ["HRB-1", "2026-11-14", "-1", "0", "0", "0", "", ""], "贷款余额", "NEGATIVE_AMOUNT"),
    ("malformed amount", ["HRB-1", "2026-11-14", "1", "0", "五百", "0", "", ""], "逾期本金", "AMOUNT_FORMAT"),
    ("balance above disbursed", ["HRB-1", "2026-11-15", "400000.01", "0", "0", "0", "", ""], "贷款余额",
     "BALANCE_ABOVE_DISBURSED"),
    ("date in the future", ["HRB-1", "2026-11-16", "1", "0", "0", "0", "", ""], "统计日期", "DATE_IN_FUTURE"),
    ("date before the disbursement", ["HRB-1", "2026-11-12", "1", "0", "0", "0", "", ""], "统计日期",
     "DATE_OUT_OF_ORDER"),
    ("dates out of order", ["HRB-1", "2026-11-13", "1", "0", "0", "0", "", ""], "统计日期", "DATE_OUT_OF_ORDER"),
    ("reported twice", ["HRB-1", "2026-11-14", "1", "0", "0", "0", "", ""], "贷款编号", "LOAN_REPORTED_TWICE"),
    ("overdue without amounts", ["HRB-1", "2026-11-15", "1", "5", "0", "0", "", ""], "逾期天数", "OVERDUE_INCONSISTENT"),
    ("days not a number", ["HRB-1", "2026-11-15", "1", "三", "0", "0", "", ""], "逾期天数", "DPD_FORMAT"),
    ("unknown risk class", ["HRB-1", "2026-11-15", "1", "0", "0", "0", "", "优"], "五级分类", "BAD_RISK_CLASS"),
]


@pytest.mark.parametrize(("case", "bad", "field", "code"), BAD_STATUS, ids=[c[0] for c in BAD_STATUS])
def test_a_bad_status_row_rejects_the_whole_file(disbursed_world: World, tmp_path, case, bad, field, code) -> None:  # noqa: ANN001
    """Row 2 (11-14, overdue: it would open a case and text the enterprise) is good; row 3 is bad."""
    w = disbursed_world
    notices = FileNotifier(tmp_path / "notifications.log")
    cases.NOTIFIER["node"] = notices
    try:
        good = ["HRB-1", "2026-11-14", "400000", "2", "100", "0", "0", "正常"]
        f = load(w, write_csv(tmp_path / "bad.csv", STATUS, [good, bad]), "status")
    finally:
        cases.NOTIFIER.clear()
    assert (f.status, f.error_code) == ("rejected", "FEEDBACK_INVALID")
    assert report(w, f) == [(3, field, code)]
    with w.m.db.session() as s:
        assert s.execute(select(func.count()).select_from(StatusReport)).scalar_one() == 0
        assert s.execute(select(func.count()).select_from(DefaultCase)).scalar_one() == 0
    assert loan(w).dpd == 0 and loan(w).last_report_on is None
    assert notices.messages() == []  # tried rows send no SMS


# ── files that cannot be loaded at all ──────────────────────────────────────────────────────────────────

def test_missing_columns_are_named(world: World, tmp_path) -> None:  # noqa: ANN001
    f = load(world, write_csv(tmp_path / "x.csv", ["申请编号", "金额（元）"], [[world.submitted, "1"]]), "decisions")
    assert (f.status, f.error_code) == ("rejected", "FEEDBACK_COLUMNS_MISSING")
    assert "操作" in (f.message or "") and "办理时间" in (f.message or "")
    assert report(world, f) == [(1, "操作、办理时间", "FEEDBACK_COLUMNS_MISSING")]
    f = load(world, write_csv(tmp_path / "y.csv", ["贷款编号", "统计日期"], [["HRB-1", "2026-11-14"]]), "status")
    assert f.error_code == "FEEDBACK_COLUMNS_MISSING"


@pytest.mark.parametrize(("name", "content", "code"), [
    ("broken.xlsx", b"PK\x03\x04 not really a workbook", "XLSX_INVALID"),
    ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "UNSUPPORTED_FORMAT"),
    ("binary.csv", b"\x00\x01\x02\x03" * 50, "UNSUPPORTED_FORMAT"),
    ("empty.csv", b"", "FILE_EMPTY"),
    ("header-only.csv", "申请编号,操作,办理时间\n".encode(), "FILE_EMPTY"),
    ("mixed.csv", "申请编号,操作,办理时间,说明\n".encode() + "RZ-1,受理,2026-11-14,资料齐全企业经营状况良好同意受理\n".encode() * 40
     + "RZ-2,不予受理,2026-11-14,不在服务区域\n".encode("gbk"), "FILE_ENCODING"),
    ("notes.pdf", b"%PDF-1.4", "UNSUPPORTED_FORMAT"),
])
def test_unreadable_files_are_rejected_with_a_reason(world: World, tmp_path, name, content, code) -> None:  # noqa: ANN001
    path = tmp_path / name
    path.write_bytes(content)
    f = load(world, path, "decisions")
    assert (f.status, f.error_code) == ("rejected", code), f.message
    assert [i[2] for i in report(world, f)] == [code] and f.message


def test_only_banks_load_files_and_only_known_kinds(world: World, tmp_path) -> None:  # noqa: ANN001
    path = write_csv(tmp_path / "x.csv", DECISIONS, [])
    with pytest.raises(DomainError) as info:
        load(world, path, "decisions", who=ENTERPRISE)
    assert info.value.code == "ROLE_FORBIDDEN"
    with pytest.raises(DomainError) as info:
        load(world, path, "loans")
    assert info.value.code == "FEEDBACK_KIND"


def test_example_files_have_the_columns_the_loader_reads(world: World, tmp_path) -> None:  # noqa: ANN001
    for kind in feedback.KINDS:
        for suffix, data in (("csv", feedback.example_csv(kind)), ("xlsx", feedback.example_xlsx(kind))):
            path = tmp_path / f"example-{kind}.{suffix}"
            path.write_bytes(data)
            f = load(world, path, kind)
            # The examples name applications and loans of no bank: read, then refused row by row.
            assert f.error_code == "FEEDBACK_INVALID", (kind, suffix, f.message)
            assert {code for _r, _f, code in report(world, f)} <= {"UNKNOWN_APPLICATION", "UNKNOWN_LOAN",
                                                                   "PRECEDING_ROW_REJECTED"}

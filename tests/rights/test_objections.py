"""Objections as a service: the clock, raising (own records only, evidence checked before anything is stored,
one open objection per record), refusal, each outcome's effect on marks and records, the network route with
a real feedback note closed, reminders and escalation as the clock moves, who sees what, and the audit."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from xinyidai.accounts.users import create_user
from xinyidai.catalog.schema import Catalog
from xinyidai.entities.codes import make_uscc
from xinyidai.kit import clock
from xinyidai.kit.audit import AuditEvent
from xinyidai.kit.crypto.suite import get_suite
from xinyidai.kit.db import Database
from xinyidai.kit.errors import DomainError
from xinyidai.kit.notify import FileNotifier
from xinyidai.kit.pagination import PageRequest
from xinyidai.kit.principal import Principal
from xinyidai.network import exchange
from xinyidai.network.models import FeedbackNote, OutboxEnvelope, Peer
from xinyidai.network.relay import NodeContext
from xinyidai.quality import departments
from xinyidai.records import marks
from xinyidai.records.canonical import canonical_json, fingerprint
from xinyidai.records.models import CreditRecord, RecordMark
from xinyidai.rights import objections
from xinyidai.rights.models import CaseStep, Evidence, Objection

ENT = make_uscc("230100", 7101)
OTHER = make_uscc("230200", 7102)
PROVIDER = "哈尔滨市市场监督管理局"
OPERATOR = Principal(41, "op", "运营人员", "operator", None)
REGULATOR = Principal(42, "reg", "监管人员", "regulator", None)
AMR = Principal(43, "amr1", "市监局经办", "department", "harbin-amr")
TAX = Principal(44, "tax1", "税务局经办", "department", "tax-bureau")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32 + b"IEND\xaeB`\x82"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def penalty(s, entity: str, no: str, *, provider: str = PROVIDER, origin: str | None = None,  # noqa: ANN001
            via: str | None = None) -> int:
    content = {"decision_no": no, "penalty_type": "罚款", "reason": "未按规定公示年报", "basis": "《企业信息公示暂行条例》",
               "fine_amount": "0.5", "decided_on": "2026-06-01", "authority": provider}
    cj = canonical_json(content)
    r = CreditRecord(entity_code=entity, category="penalty", record_key=no, version=1, status="current", content=cj,
                     fingerprint=fingerprint(cj), provider=provider, received_at=clock.now(), origin_node=origin,
                     via_node=via)
    s.add(r)
    s.flush()
    return r.id


def admin(s, username: str = "ent-admin", entity: str = ENT, *, is_admin: bool = True) -> Principal:  # noqa: ANN001
    u = create_user(s, username=username, display_name="企业管理员", role="enterprise", password="correct-horse-9",
                    org_code=entity)
    u.org_admin = is_admin
    s.flush()
    return Principal(u.id, username, "企业管理员", "enterprise", entity)


def seed(s) -> dict[str, int]:  # noqa: ANN001
    departments.create(s, code="harbin-amr", name=PROVIDER, region="230100", contact="13800000011", actor="op")
    departments.create(s, code="tax-bureau", name="黑龙江省税务局", region="230000", contact="13800000012", actor="op")
    return {"mine": penalty(s, ENT, "哈市监罚〔2026〕1号"), "second": penalty(s, ENT, "哈市监罚〔2026〕2号"),
            "theirs": penalty(s, OTHER, "齐市监罚〔2026〕9号")}


@pytest.fixture
def world(db: Database) -> dict:
    with db.session() as s:
        ids = seed(s)
        ids["p"] = admin(s)
    return ids


def _raise(db: Database, w: dict, record: str = "mine", **kw) -> str:  # noqa: ANN003
    with db.session() as s:
        return objections.raise_objection(s, w["p"], record_id=w[record], complaint=kw.pop("complaint", "罚款金额有误"),
                                          **kw).number


def _live_kinds(s, key: str) -> list[str]:  # noqa: ANN001
    return [m.kind for m in marks.live_for(s, ENT).get(("penalty", key), [])]


def test_raise_marks_the_record_and_starts_the_clock(db: Database, world: dict) -> None:
    number = _raise(db, world, wanted="应为 0.2 万元", files=[objections.Upload("罚款缴纳凭证.png", PNG),
                                                           objections.Upload("说明.pdf", PDF)])
    assert number == "YY202611150001"  # the fixed clock is Sunday 15 Nov 2026, 10:00 in Beijing
    with db.session() as s:
        o = objections.get(s, world["p"], number)
        assert o.state == "submitted" and o.due_on == date(2026, 12, 5)  # 20 days
        assert o.stage_due_on == date(2026, 11, 17)  # 2 working days from a Sunday: Monday, Tuesday
        assert _live_kinds(s, "哈市监罚〔2026〕1号") == ["objection"]
        assert [e.filename for e in s.execute(select(Evidence).where(Evidence.case_id == o.id)).scalars()] == [
            "罚款缴纳凭证.png", "说明.pdf"]
        assert [st.action for st in objections.steps(s, o)] == ["raised"]
        ev = s.execute(select(AuditEvent).where(AuditEvent.action == "rights.objection.raised")).scalar_one()
        assert ev.entity_code == ENT and ev.target == f"objection:{number}"
    assert _raise(db, world, record="second") == "YY202611150002"


def _count(db: Database, model) -> int:  # noqa: ANN001
    with db.session() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


@pytest.mark.parametrize(("record", "kw", "code"), [
    ("theirs", {}, "OBJECTION_RECORD_NOT_FOUND"),
    ("missing", {}, "OBJECTION_RECORD_NOT_FOUND"),
    ("mine", {"complaint": " "}, "COMPLAINT_REQUIRED"),
    ("mine", {"complaint": "错" * 2001}, "COMPLAINT_TOO_LONG"),
    ("mine", {"files": [objections.Upload("a.png", PNG), objections.Upload("big.pdf", b"%PDF-" + b"0" * (10 << 20))]},
     "EVIDENCE_TOO_LARGE"),
    ("mine", {"files": [objections.Upload("a.docx", b"\xd0\xcf\x11\xe0 word")]}, "EVIDENCE_FORMAT"),
    ("mine", {"files": [objections.Upload("invoice.pdf", b"MZ\x90\x00 program")]}, "EVIDENCE_DISGUISED"),
    ("mine", {"files": [objections.Upload("pic.png", PNG + b"PK\x03\x04" + b"x" * 64)]}, "EVIDENCE_DISGUISED"),
    ("mine", {"files": [objections.Upload(f"{i}.png", PNG) for i in range(6)]}, "EVIDENCE_TOO_MANY"),
])
def test_bad_input_is_refused_and_nothing_is_stored(db: Database, world: dict, record: str, kw: dict,
                                                    code: str) -> None:
    world = {**world, "missing": 987654}
    with db.session() as s, pytest.raises(DomainError) as exc:
        objections.raise_objection(s, world["p"], record_id=world[record],
                                   complaint=kw.pop("complaint", "罚款金额有误"), **kw)
    assert exc.value.code == code
    if record == "theirs":  # the same answer as a record that does not exist: nothing revealed
        assert exc.value.status == 404 and "本企业" in exc.value.message
    assert (_count(db, Objection), _count(db, RecordMark), _count(db, Evidence), _count(db, CaseStep)) == (0, 0, 0, 0)


def test_only_the_administrator_raises_and_one_open_objection_per_record(db: Database, world: dict) -> None:
    with db.session() as s:
        colleague = admin(s, "ent-staff", is_admin=False)
    with db.session() as s, pytest.raises(DomainError) as exc:
        objections.raise_objection(s, colleague, record_id=world["mine"], complaint="有误")
    assert exc.value.code == "OBJECTION_ADMIN_ONLY"
    first = _raise(db, world)
    with db.session() as s, pytest.raises(DomainError) as dup:
        objections.raise_objection(s, world["p"], record_id=world["mine"], complaint="再次异议")
    assert dup.value.code == "OBJECTION_ALREADY_OPEN" and first in dup.value.message


def test_refusal_lifts_the_mark_and_a_new_objection_may_follow(db: Database, world: dict) -> None:
    number = _raise(db, world)
    with db.session() as s, pytest.raises(DomainError) as exc:
        objections.refuse(s, OPERATOR, number, "")
    assert exc.value.code == "REASON_REQUIRED"
    with db.session() as s:
        o = objections.refuse(s, OPERATOR, number, "异议内容与该记录无关")
        assert (o.state, o.decision_note) == ("refused", "异议内容与该记录无关")
        assert _live_kinds(s, "哈市监罚〔2026〕1号") == []
    with db.session() as s, pytest.raises(DomainError) as again:
        objections.accept(s, OPERATOR, number)
    assert again.value.code == "OBJECTION_BAD_STATE"
    _raise(db, world)  # the record is free for a new objection


def _routed(db: Database, world: dict, **kw) -> str:  # noqa: ANN003
    number = _raise(db, world)
    with db.session() as s:
        o = objections.accept(s, OPERATOR, number, **kw)
        assert (o.state, o.route, o.department) == ("routed", "department", kw.get("department", "harbin-amr"))
        assert o.stage_due_on == date(2026, 11, 27)  # 10 working days from Sunday 15 November
    return number


def test_corrected_makes_a_new_current_version_and_lifts_the_mark(db: Database, world: dict,
                                                                  catalog: Catalog) -> None:
    number = _routed(db, world)
    for p, code in ((TAX, "OBJECTION_NOT_FOUND"), (OPERATOR, "ROLE_FORBIDDEN")):  # another department; not one
        with db.session() as s, pytest.raises(DomainError) as exc:
            objections.answer(s, p, catalog, number, outcome="confirmed", statement="核实")
        assert exc.value.code == code
    with db.session() as s, pytest.raises(DomainError) as exc:
        objections.answer(s, AMR, catalog, number, outcome="corrected", statement="金额录入错误")
    assert exc.value.code == "CORRECTION_REQUIRED"
    with db.session() as s, pytest.raises(DomainError) as bad:
        objections.answer(s, AMR, catalog, number, outcome="corrected", statement="金额录入错误",
                          changes={"fine_amount": "两千元"})
    assert bad.value.code == "CORRECTION_INVALID"
    with db.session() as s:
        o = objections.answer(s, AMR, catalog, number, outcome="corrected", statement="金额录入错误，已更正",
                              changes={"fine_amount": "0.2"})
        assert (o.state, o.outcome, o.provider_statement) == ("concluded", "corrected", "金额录入错误，已更正")
        new = s.get(CreditRecord, o.corrected_record_id)
        assert new is not None and new.status == "current" and new.version == 2
        assert json.loads(new.content)["fine_amount"] in ("0.2", 0.2, "0.20")
        assert s.get(CreditRecord, world["mine"]).status == "superseded"
        assert _live_kinds(s, "哈市监罚〔2026〕1号") == []


def test_confirmed_keeps_the_record_and_undetermined_keeps_both_statements(db: Database, world: dict,
                                                                           catalog: Catalog) -> None:
    number = _routed(db, world)
    with db.session() as s:
        objections.answer(s, AMR, catalog, number, outcome="confirmed", statement="经核查处罚属实")
        assert s.get(CreditRecord, world["mine"]).status == "current"
        assert _live_kinds(s, "哈市监罚〔2026〕1号") == []
    with db.session() as s:
        second = objections.raise_objection(s, world["p"], record_id=world["second"], complaint="该处罚已撤销").number
        objections.accept(s, OPERATOR, second, department="tax-bureau")  # the operator picks another department
    with db.session() as s:
        objections.answer(s, TAX, catalog, second, outcome="undetermined", statement="原始档案缺失，无法确定")
        (m,) = marks.live_for(s, ENT)[("penalty", "哈市监罚〔2026〕2号")]
        assert (m.kind, m.statement, m.provider_statement) == ("disputed", "该处罚已撤销", "原始档案缺失，无法确定")
        assert "双方陈述并存" in m.footnote


def test_network_route_answered_by_the_origin_then_concluded(db: Database, world: dict, catalog: Catalog) -> None:
    ident = get_suite("sm").generate_identity()
    here = NodeContext("CN-230000", "provincial", ident)
    with db.session() as s:
        s.add(Peer(code="CN-230100", name="哈尔滨", role="municipal", relation="child", suite="sm",
                   public_key=dict(ident.public_bundle()), key_id=ident.key_id, status="active", assessment={},
                   applied_at=clock.now(), mode="push"))
        world["relayed"] = penalty(s, ENT, "哈市监罚〔2026〕7号", origin="CN-230100", via="CN-230100")
    number = _raise(db, world, record="relayed")
    with db.session() as s, pytest.raises(DomainError) as exc:
        objections.accept(s, OPERATOR, number)  # without the node's context it cannot go over the network
    assert exc.value.code == "OBJECTION_NEEDS_NETWORK"
    with db.session() as s:
        o = objections.accept(s, OPERATOR, number, ctx=here)
        assert o.route == "network" and o.feedback_id and o.department is None
        env = s.execute(select(OutboxEnvelope).where(OutboxEnvelope.kind == "feedback")).scalar_one()
        assert env.recipient == "CN-230100"
        assert objections.sync_network(s) == 0  # not answered yet
    closure = {"id": o.feedback_id, "outcome": "经核查已更正罚款金额", "node": "CN-230100",
               "closed_at": "2026-11-16T08:00:00"}
    with db.session() as s:
        assert exchange.apply(s, here, "feedback", "CN-230100", {"closures": [closure]})["closed"] == 1
        assert objections.sync_network(s) == 1
        o = objections.get(s, OPERATOR, number)
        assert (o.state, o.provider_statement) == ("answered", "经核查已更正罚款金额")
        note = s.execute(select(FeedbackNote).where(FeedbackNote.external_id == o.feedback_id)).scalar_one()
        assert note.closed_at is not None
    with db.session() as s:
        o = objections.conclude(s, OPERATOR, catalog, number, outcome="corrected", note="来源平台已更正，新版本经中继送达")
        assert (o.state, o.outcome, o.corrected_record_id) == ("concluded", "corrected", None)
        assert _live_kinds(s, "哈市监罚〔2026〕7号") == []


def test_reminder_once_per_stage_and_escalation_as_the_clock_moves(db: Database, world: dict,
                                                                   tmp_path) -> None:  # noqa: ANN001
    notifier = FileNotifier(tmp_path / "notes.log")
    number = _routed(db, world)  # verification due Friday 27 November; the 20 days end 5 December
    with db.session() as s:
        r = objections.remind_and_escalate(s, date(2026, 11, 27), notifier)
        assert (r.reminded, r.escalated) == (0, 0)
    clock.set_clock(lambda: datetime(2026, 11, 30, 2, 0, tzinfo=UTC))
    with db.session() as s:
        assert objections.remind_and_escalate(s, clock.today(), notifier).reminded == 1
        assert objections.remind_and_escalate(s, clock.today(), notifier).reminded == 0  # once per stage
        assert objections.overdue(s, clock.today()) == 0
    clock.set_clock(lambda: datetime(2026, 12, 6, 2, 0, tzinfo=UTC))
    with db.session() as s:
        r = objections.remind_and_escalate(s, clock.today(), notifier)
        assert (r.reminded, r.escalated) == (0, 1)
        assert objections.remind_and_escalate(s, clock.today(), notifier).escalated == 0
        o = objections.get(s, OPERATOR, number)
        assert o.escalated_at is not None and objections.is_overdue(o)
        assert [st.action for st in objections.steps(s, o)] == ["raised", "accepted", "routed", "reminded",
                                                                "escalated"]
        assert objections.overdue(s, clock.today()) == 1
        assert objections.overdue(s, clock.today(), "2301") == 1 and objections.overdue(s, clock.today(), "2302") == 0
        assert objections.listing(s, OPERATOR, PageRequest(), overdue=True, today=clock.today()).total == 1
    sent = [(m["to"], "逾期" in m["message"] or "超过" in m["message"]) for m in notifier.messages()]
    assert sent == [("13800000011", False), ("13800000011", True)]


def test_each_sees_only_their_own_and_every_step_is_audited(db: Database, world: dict, catalog: Catalog) -> None:
    mine = _routed(db, world)
    with db.session() as s:
        other = admin(s, "other-admin", OTHER)
        theirs = objections.raise_objection(s, other, record_id=world["theirs"], complaint="不是本企业的处罚").number
    with db.session() as s:
        assert [o.number for o in objections.listing(s, world["p"], PageRequest()).items] == [mine]
        assert [o.number for o in objections.listing(s, other, PageRequest()).items] == [theirs]
        assert objections.listing(s, REGULATOR, PageRequest()).total == 2
        assert [o.number for o in objections.listing(s, AMR, PageRequest()).items] == [mine]
        assert objections.listing(s, TAX, PageRequest()).total == 0
        for p, number in ((world["p"], theirs), (other, mine), (TAX, mine)):
            with pytest.raises(DomainError) as exc:
                objections.get(s, p, number)
            assert exc.value.code == "OBJECTION_NOT_FOUND"
        with pytest.raises(DomainError) as role:
            objections.listing(s, Principal(9, "bank", "银行", "bank", "B1"), PageRequest())
        assert role.value.code == "ROLE_FORBIDDEN"
    with db.session() as s:
        objections.answer(s, AMR, catalog, mine, outcome="confirmed", statement="属实")
    with db.session() as s:
        got = list(s.execute(select(AuditEvent.action, AuditEvent.entity_code)
                             .where(AuditEvent.target == f"objection:{mine}").order_by(AuditEvent.id)).all())
    assert got == [(f"rights.objection.{a}", ENT) for a in ("raised", "accepted", "routed", "concluded")]


def test_the_clock_across_national_day(db: Database, world: dict) -> None:
    clock.set_clock(lambda: datetime(2026, 9, 30, 2, 0, tzinfo=UTC) + timedelta(hours=1))
    with db.session() as s:
        o = objections.raise_objection(s, world["p"], record_id=world["mine"], complaint="金额有误")
        assert o.due_on == date(2026, 10, 20) and o.stage_due_on == date(2026, 10, 9)  # after the 7 days off
        o = objections.accept(s, OPERATOR, o.number)
        assert o.stage_due_on == date(2026, 10, 20)


def test_overdue_objections_count_in_the_oversight_indicator_s4(db: Database, world: dict) -> None:
    """S4 counts overdue tickets and objections together, an objection by its enterprise's city."""
    from xinyidai.market.figures import Period
    from xinyidai.oversight import indicators
    from xinyidai.oversight.measures import MEASURES, Facts, Scope, rows_statement

    late = _raise(db, world)
    _raise(db, world, record="second")
    with db.session() as s:
        objections.refuse(s, OPERATOR, late, "不属于异议范围")  # settled: not overdue
        assert indicators.default().indicator("S4").measure == "overdue_cases"
    scope = Scope(Period(202612, 202612), ("230100", "230200"), clock.now())
    with db.engine.connect() as conn:
        got = MEASURES["overdue_cases"].compute(Facts(conn, scope))
        only = MEASURES["overdue_objections"].compute(Facts(conn, scope))
        rows = conn.execute(rows_statement("overdue_cases", scope, "230100", conn.dialect.name)).all()
    assert {c: v.value for c, v in got.items()} == {"230100": 1.0, "230200": 0.0} == {c: v.value for c, v in only.items()}
    assert [(r[0], r[1], r[4]) for r in rows] == [("YY202611150002", "尚未受理", "submitted")]


def test_the_cli_lists_and_shows_and_the_chore_reminds(db: Database, world: dict, tmp_path,  # noqa: ANN001
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from typer.testing import CliRunner

    from xinyidai.cli import app

    number = _routed(db, world)
    for k in list(os.environ):
        if k.startswith("XINYIDAI_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("XINYIDAI_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("XINYIDAI_DATABASE_URL", db.url)
    runner = CliRunner()
    listed = runner.invoke(app, ["rights", "objection", "list"])
    assert listed.exit_code == 0 and number in listed.output and "共 1 件" in listed.output
    assert "共 0 件" in runner.invoke(app, ["rights", "objection", "list", "--overdue"]).output
    shown = runner.invoke(app, ["rights", "objection", "show", number])
    assert shown.exit_code == 0 and "罚款金额有误" in shown.output and "转交核查" in shown.output
    missing = runner.invoke(app, ["rights", "objection", "show", "YY202611150999"])
    assert missing.exit_code == 2 and "OBJECTION_NOT_FOUND" in missing.output
    clock.set_clock(lambda: datetime(2026, 12, 7, 2, 0, tzinfo=UTC))
    reminded = runner.invoke(app, ["rights", "objection", "remind"])
    assert reminded.exit_code == 0 and "到期提醒 1 件，逾期督办 1 件" in reminded.output
    assert "逾期" in runner.invoke(app, ["rights", "objection", "list", "--overdue"]).output
    messages = (tmp_path / "var" / "notifications.log").read_text(encoding="utf-8")
    assert number in messages and "13800000011" in messages

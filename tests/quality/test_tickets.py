"""The ticket loop as a service: a finding above the threshold opens one ticket per rule and department, the
department answers with a delivery of its own, a full run without the finding closes it (a re-check that still
finds it sends it back); another department cannot touch it; overdue tickets are escalated once; a feedback
note from the node above opens a ticket to the record's provider."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.quality.tickets_world import (
    HOUSING,
    HOUSING_NAME,
    OPERATOR,
    TAX,
    TAX_NAME,
    days,
    delivery,
    high_rule,
    run_with,
    seed,
)
from xinyidai.catalog.schema import Catalog
from xinyidai.entities.codes import make_uscc
from xinyidai.kit import clock
from xinyidai.kit.audit import AuditEvent
from xinyidai.kit.crypto.suite import get_suite
from xinyidai.kit.db import Database
from xinyidai.kit.errors import Conflict, DomainError, NotFound
from xinyidai.kit.notify import FileNotifier
from xinyidai.network import exchange
from xinyidai.network.models import FeedbackNote, OutboxEnvelope, Peer
from xinyidai.network.relay import NodeContext
from xinyidai.quality import runs, tickets
from xinyidai.quality.models import Ticket, TicketStep
from xinyidai.records.models import CreditRecord, Delivery


def _only_ticket(db: Database) -> Ticket:
    with db.session() as s:
        t = s.execute(select(Ticket)).scalar_one()
        s.expunge(t)
        return t


def test_finding_to_ticket_to_answer_to_closed(db: Database) -> None:
    with db.session() as s:
        seed(s)
        rule = high_rule(s)
        run_with(s, [(rule, TAX_NAME, 12), (rule, "未登记的提供单位", 3)])
        assert tickets.providers_without_department(s) == ["未登记的提供单位"]  # listed on the page, no ticket
        run_with(s, [(rule, TAX_NAME, 9)])  # a later run: the count moves, no second ticket
    t = _only_ticket(db)
    assert t.state == "open" and t.affected == 9 and t.department == "tax-bureau" and t.origin == "finding"
    assert t.number == f"QT-2026-{t.id:06d}" and t.due_on == days(15)
    with db.session() as s:
        assert tickets.providers_without_department(s) == []  # the latest full run named only the tax bureau
        d = delivery(s, TAX_NAME, clock.now() + timedelta(minutes=5))
        tickets.answer(s, TAX, t.number, kind="delivery", delivery_id=d)
    assert _only_ticket(db).state == "answered"
    with db.session() as s:
        run_with(s, [])  # the next full run finds nothing for the rule
    closed = _only_ticket(db)
    assert closed.state == "closed" and closed.affected == 0 and "未再发现" in (closed.closure or "")
    with db.session() as s:
        actions = list(s.execute(select(TicketStep.action).where(TicketStep.ticket_id == closed.id)
                                 .order_by(TicketStep.id)).scalars())
        audited = list(s.execute(select(AuditEvent.action).where(AuditEvent.target == f"ticket:{closed.number}")
                                 .order_by(AuditEvent.id)).scalars())
    assert actions == ["opened", "updated", "answered", "closed"]
    assert audited == [f"quality.ticket.{a}" for a in actions]


def test_a_run_that_still_finds_it_keeps_the_answered_ticket_and_the_operator_reopens(db: Database) -> None:
    with db.session() as s:
        seed(s)
        rule = high_rule(s)
        run_with(s, [(rule, TAX_NAME, 5)])
        number = s.execute(select(Ticket.number)).scalar_one()
        tickets.answer(s, TAX, number, kind="explanation", text="系统升级导致延迟，已补报")
        run_with(s, [(rule, TAX_NAME, 5)])
        assert s.execute(select(Ticket.state)).scalar_one() == "answered"
        tickets.reopen(s, OPERATOR, number, "说明不充分，请补报数据")
        t = tickets.get(s, TAX, number)
        assert t.state == "open" and t.answered_at is not None
        with pytest.raises(Conflict) as exc:
            tickets.open_from_finding(s, OPERATOR, t.finding_id or 0)
        assert exc.value.code == "TICKET_EXISTS"


def test_a_department_cannot_answer_another_departments_ticket(db: Database) -> None:
    with db.session() as s:
        seed(s)
        rule = high_rule(s)
        run_with(s, [(rule, TAX_NAME, 4)])
        number = s.execute(select(Ticket.number)).scalar_one()
        mine = delivery(s, HOUSING_NAME, clock.now() + timedelta(minutes=1))
        theirs_old = delivery(s, TAX_NAME, clock.now() - timedelta(days=3))
    for attempt in (lambda s: tickets.answer(s, HOUSING, number, kind="explanation", text="与我无关"),
                    lambda s: tickets.answer(s, HOUSING, number, kind="delivery", delivery_id=mine),
                    lambda s: tickets.get(s, HOUSING, number)):
        with db.session() as s, pytest.raises(NotFound) as exc:
            attempt(s)
        assert exc.value.code == "TICKET_NOT_FOUND" and "不属于本部门" in exc.value.message
    for kwargs, code in (({"kind": "delivery", "delivery_id": mine}, "DELIVERY_NOT_FOUND"),  # not its own
                         ({"kind": "delivery", "delivery_id": theirs_old}, "DELIVERY_TOO_OLD"),
                         ({"kind": "explanation", "text": " "}, "EXPLANATION_REQUIRED"),
                         ({"kind": "phone"}, "BAD_ANSWER_KIND")):
        with db.session() as s, pytest.raises(DomainError) as err:
            tickets.answer(s, TAX, number, **kwargs)  # type: ignore[arg-type]
        assert err.value.code == code
    t = _only_ticket(db)
    assert t.state == "open" and t.answered_at is None
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(TicketStep)).scalar_one() == 1  # only `opened`
        assert tickets.listing(s, HOUSING, tickets.PageRequest()).total == 0
        assert tickets.listing(s, TAX, tickets.PageRequest()).total == 1


def test_overdue_tickets_are_escalated_once_and_reminded_before(db: Database, tmp_path) -> None:  # noqa: ANN001
    notifier = FileNotifier(tmp_path / "notifications.log")
    with db.session() as s:
        seed(s)
        late = tickets.open_by_judgement(s, OPERATOR, department="housing-fund", title="缴存人数异常",
                                         description="连续两月缴存人数为零", due_days=3)
        soon = tickets.open_by_judgement(s, OPERATOR, department="tax-bureau", title="纳税等级缺失",
                                         description="A 级纳税人名单未报送", due_days=10)
        assert tickets.escalate_overdue(s, days(2), notifier) == 0  # the first is 1 day from due: reminded
        assert tickets.escalate_overdue(s, days(2), notifier) == 0  # reminded once
        assert tickets.escalate_overdue(s, days(4), notifier) == 1
        assert tickets.escalate_overdue(s, days(5), notifier) == 0  # escalated once
        assert tickets.escalate_overdue(s, days(9), notifier) == 0  # the second: reminded now
        got = {t: list(s.execute(select(TicketStep.action).where(TicketStep.ticket_id == t.id)
                                 .order_by(TicketStep.id)).scalars()) for t in (late, soon)}
        assert got[late] == ["opened", "reminded", "escalated"] and got[soon] == ["opened", "reminded"]
        assert late.escalated_at is not None and soon.escalated_at is None
        assert tickets.is_overdue(late, days(4)) and not tickets.is_overdue(soon, days(4))
    sent = [(m["to"], "逾期" in m["message"]) for m in notifier.messages()]
    assert sent == [("13800000002", False), ("13800000002", True), ("13800000001", False)]


def test_a_feedback_note_opens_a_ticket_to_the_records_provider(db: Database, catalog: Catalog) -> None:
    ident = get_suite("sm").generate_identity()
    here = NodeContext("CN-230000", "provincial", ident)
    ent = make_uscc("230100", 8101)
    with db.session() as s:
        seed(s)
        s.add(Peer(code="CN", name="CN", role="national", relation="parent", suite="sm",
                   public_key=dict(ident.public_bundle()), key_id=ident.key_id, status="active", assessment={},
                   applied_at=clock.now(), mode="push"))
        for key, provider in (("2026-07", TAX_NAME), ("2026-08", "未登记的提供单位")):
            s.add(CreditRecord(entity_code=ent, category="tax", record_key=key, version=1, status="current",
                               content="{}", fingerprint="0" * 64, provider=provider, received_at=clock.now()))
    notes = [{"id": f"CN-fb-{k}", "from_node": "CN", "about_node": "CN-230000", "entity_code": ent,
              "category": "tax", "record_key": k, "problem": "欠税标记可疑"} for k in ("2026-07", "2026-08")]
    with db.session() as s:
        assert exchange.apply(s, here, "feedback", "CN", {"notes": notes})["stored"] == 2
        assert exchange.apply(s, here, "feedback", "CN", {"notes": notes})["duplicates"] == 2
    t = _only_ticket(db)
    assert (t.origin, t.department, t.feedback_id, t.record_key) == ("feedback", "tax-bureau", "CN-fb-2026-07",
                                                                      "2026-07")
    with db.session() as s:
        assert [n.external_id for n in tickets.unmatched_feedback(s)] == ["CN-fb-2026-08"]
        tickets.answer(s, TAX, t.number, kind="explanation", text="已核实并更正欠税标记")
    with pytest.raises(Conflict) as exc:  # no rule to run again: the operator judges the answer
        tickets.recheck(db, catalog, OPERATOR, t.number)
    assert exc.value.code == "NO_RULE_TO_RECHECK"
    with db.session() as s:
        tickets.close(s, OPERATOR, t.number, "接受部门说明")
        note = s.execute(select(FeedbackNote).where(FeedbackNote.external_id == "CN-fb-2026-07")).scalar_one()
        assert (note.status, note.outcome) == ("closed", f"整改工单 {t.number} 已关闭：接受部门说明")
    # The closure goes back up to the node that raised the note, once.
    with db.session() as s:
        assert exchange.collect_closures(s, here) == 1
        assert exchange.collect_closures(s, here) == 0
        sent = s.execute(select(OutboxEnvelope).where(OutboxEnvelope.kind == "feedback")).scalar_one()
        assert (sent.recipient, sent.items) == ("CN", 1)
    # Closures are accepted only from below, well formed, once each.
    closure = {"id": "CN-230000-fb-x", "outcome": "已更正", "node": "CN-230100", "closed_at": "2026-11-14T08:00:00"}
    with db.session() as s:
        s.add(Peer(code="CN-230100", name="哈尔滨", role="municipal", relation="child", suite="sm",
                   public_key=dict(ident.public_bundle()), key_id=ident.key_id, status="active", assessment={},
                   applied_at=clock.now(), mode="push"))
        s.add(FeedbackNote(external_id="CN-230000-fb-x", from_node="CN-230000", about_node="CN-230100",
                           entity_code=ent, category="tax", record_key="2026-07", problem="核实", status="raised",
                           received_at=clock.now()))
    for sender, payload, code in (("CN", {"closures": [closure]}, "NOT_A_CHILD"),
                                  ("CN-230100", {"closures": []}, "PAYLOAD_INVALID"),
                                  ("CN-230100", {"closures": [{**closure, "id": None}]}, "PAYLOAD_INVALID")):
        with db.session() as s, pytest.raises(DomainError) as refused:
            exchange.apply(s, here, "feedback", sender, payload)
        assert refused.value.code == code
    with db.session() as s:
        assert exchange.apply(s, here, "feedback", "CN-230100", {"closures": [closure]})["closed"] == 1
        assert exchange.apply(s, here, "feedback", "CN-230100", {"closures": [closure]})["duplicates"] == 1
        raised = s.execute(select(FeedbackNote).where(FeedbackNote.external_id == "CN-230000-fb-x")).scalar_one()
        assert (raised.status, raised.outcome) == ("closed", "已更正")
        assert exchange.collect_closures(s, here) == 0  # raised here: nothing further up to tell


def test_operator_input_is_checked(db: Database, catalog: Catalog) -> None:
    with db.session() as s:
        seed(s)
        for kwargs, code in (({"department": "nobody"}, "DEPARTMENT_NOT_FOUND"),
                             ({"title": "x"}, "TITLE_REQUIRED"), ({"due_days": 0}, "BAD_DUE_DAYS"),
                             ({"category": "nope"}, "UNKNOWN_CATEGORY"), ({"severity": "huge"}, "BAD_SEVERITY")):
            args = {"department": "tax-bureau", "title": "标题", "description": "说明", "due_days": 5, **kwargs}
            with pytest.raises(DomainError) as exc:
                tickets.open_by_judgement(s, OPERATOR, catalog=catalog, **args)  # type: ignore[arg-type]
            assert exc.value.code == code
        with pytest.raises(DomainError) as exc:
            tickets.open_by_judgement(s, TAX, department="tax-bureau", title="自己开", description="说明",
                                      due_days=5)
        assert exc.value.code == "ROLE_FORBIDDEN"
        assert s.execute(select(func.count()).select_from(Ticket)).scalar_one() == 0


def test_a_recheck_by_the_real_rule_reopens_then_closes(db: Database, catalog: Catalog) -> None:
    """The timeliness rule of the tax category: a delivery 60 days old is late; an explanation does not change
    the data (re-check reopens), a new delivery does (re-check closes)."""
    with db.session() as s:
        seed(s)
        s.add(Delivery(provider=TAX_NAME, category="tax", filename="old.csv", file_digest="1" * 64, format="csv",
                       submitted_by="tax1", status="accepted", threshold=0.2,
                       received_at=clock.now() - timedelta(days=60)))
    run_id = runs.run_rules(db, catalog, "op", rule_ids=["timeliness.tax"])
    with db.session() as s:
        f = runs.finding_for(s, run_id, "timeliness.tax", TAX_NAME)
        assert f is not None and f.affected == 1
        assert s.execute(select(func.count()).select_from(Ticket)).scalar_one() == 0  # medium: below open_at
        number = tickets.open_from_finding(s, OPERATOR, f.id, note="请尽快补报", due_days=7).number
        tickets.answer(s, TAX, number, kind="explanation", text="系统故障，稍后补报")
    t = tickets.recheck(db, catalog, OPERATOR, number)
    assert t.state == "open" and t.affected == 1
    with db.session() as s:
        new = Delivery(provider=TAX_NAME, category="tax", filename="new.csv", file_digest="2" * 64, format="csv",
                       submitted_by="tax1", status="accepted", threshold=0.2,
                       received_at=clock.now() + timedelta(minutes=1))
        s.add(new)
        s.flush()
        tickets.answer(s, TAX, number, kind="delivery", delivery_id=new.id)
    with clock.frozen_at(clock.now() + timedelta(minutes=2)):
        t = tickets.recheck(db, catalog, OPERATOR, number)
    assert t.state == "closed" and t.affected == 0 and "复核通过" in (t.closure or "")
    with db.session() as s:
        actions = list(s.execute(select(TicketStep.action).where(TicketStep.ticket_id == t.id)
                                 .order_by(TicketStep.id)).scalars())
    assert actions == ["opened", "explained", "rechecked", "reopened", "answered", "rechecked", "closed"]


def test_the_oversight_measure_counts_each_citys_overdue_tickets(db: Database) -> None:
    """Due before the period's end and not closed by then, by the department's city; a provincial
    department's tickets count for no city."""
    from xinyidai.market.figures import Period
    from xinyidai.oversight.measures import MEASURES, Facts, Scope, rows_statement

    with db.session() as s:
        seed(s)
        for dept, due in (("housing-fund", 3), ("housing-fund", 40), ("tax-bureau", 3), ("housing-fund", 5)):
            tickets.open_by_judgement(s, OPERATOR, department=dept, title="问题", description="说明", due_days=due)
        last = s.execute(select(Ticket).order_by(Ticket.id.desc()).limit(1)).scalar_one()
        tickets.close(s, OPERATOR, last.number, "已整改")  # closed within the period: not overdue at its end
    scope = Scope(Period(202611, 202611), ("230100", "230200"), clock.now())
    with db.engine.connect() as conn:
        got = MEASURES["overdue_tickets"].compute(Facts(conn, scope))
        rows = conn.execute(rows_statement("overdue_tickets", scope, "230100", conn.dialect.name)).all()
    assert {c: v.value for c, v in got.items()} == {"230100": 1.0, "230200": 0.0}
    assert [r[1] for r in rows] == [HOUSING_NAME]
    with db.session() as s:  # the node's own figures, as its progress report carries them up
        start = datetime(2026, 11, 1, tzinfo=clock.CHINA_TZ)
        assert tickets.figures(s, start, start + timedelta(days=30), days(4)) == {"open": 3, "overdue": 2,
                                                                                 "closed": 1}

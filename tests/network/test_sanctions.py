"""Deadlines that bite and the two-person suspension decision, in one process on the test database: the daily
job on a moved clock (reminders d-7, d-1, on the day, then one proposal), idempotence, the agree → decide
flow with its refusals, a suspended child's envelopes refused (PEER_SUSPENDED) until restored, and refusals
leaving nothing behind."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from xinyidai.kit import clock
from xinyidai.kit.audit import AuditEvent
from xinyidai.kit.crypto.suite import Identity, get_suite
from xinyidai.kit.db import Database
from xinyidai.kit.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from xinyidai.kit.principal import Principal
from xinyidai.network import deadlines, envelope, inbox, peers, sanctions
from xinyidai.network.models import ConnectionReminder, OutboxEnvelope, Peer, SanctionProposal
from xinyidai.network.relay import NodeContext

from .nodes import ASSESSMENT

CITY = "CN-230100"
OPERATOR = Principal(1, "op", "运营", "operator", None)
SEC_A = Principal(2, "sec-a", "安全管理员甲", "security", None)
SEC_B = Principal(3, "sec-b", "安全管理员乙", "security", None)
SEC_C = Principal(4, "sec-c", "安全管理员丙", "security", None)
START = date(2026, 11, 1)
DEADLINE = date(2026, 11, 20)


class Recorder:
    """A notifier that keeps what it was asked to send (the built-in ones write files or logs)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    def send(self, phone: str, message: str, *, kind: str = "") -> None:
        self.sent.append((phone, message, kind))


@pytest.fixture
def on_day() -> Iterator[Callable[[date], None]]:
    def move(d: date) -> None:
        moment = datetime(d.year, d.month, d.day, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
        clock.set_clock(lambda: moment)

    move(START)
    yield move
    clock.set_clock(None)


@pytest.fixture
def ids() -> dict[str, Identity]:
    suite = get_suite("intl")
    return {"province": suite.generate_identity(), "city": suite.generate_identity()}


@pytest.fixture
def ctx(ids: dict[str, Identity]) -> NodeContext:
    return NodeContext("CN-230000", "provincial", ids["province"])


def _add_city(db: Database, identity: Identity) -> None:
    with db.session() as s:
        s.add(Peer(code=CITY, name="哈尔滨市融资信用服务平台", role="municipal", relation="child",
                   endpoint="http://127.0.0.1:1", mode="push", suite=identity.suite,
                   public_key=identity.public_bundle(), key_id=identity.key_id, region_prefix="2301",
                   status="active", contact="哈尔滨运维 0451-12345", assessment=ASSESSMENT, applied_at=clock.now()))


def _count(db: Database, model: Any, *where: Any) -> int:
    with db.session() as s:
        return s.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def test_the_daily_job_reminds_on_each_step_once_and_proposes_once(db: Database, on_day, ids, ctx) -> None:  # noqa: ANN001
    _add_city(db, ids["city"])
    with db.session() as s:
        peers.rectify(s, SEC_A, CITY, DEADLINE, "日志留存不足 6 个月")
    notifier = Recorder()
    sender = deadlines.envelope_sender(ctx)

    def run(d: date) -> dict[str, int]:
        on_day(d)
        with db.session() as s:
            return deadlines.run(s, clock.today(), notifier, sender)

    assert run(DEADLINE - timedelta(days=8)) == {"checked": 1, "reminders": 0, "proposals": 0}
    for days, step in ((7, "d-7"), (1, "d-1"), (0, "d0")):
        assert run(DEADLINE - timedelta(days=days))["reminders"] == 1
        assert run(DEADLINE - timedelta(days=days))["reminders"] == 0  # twice a day: once
        assert _count(db, ConnectionReminder, ConnectionReminder.step == step) == 1
    assert run(DEADLINE + timedelta(days=1)) == {"checked": 1, "reminders": 1, "proposals": 1}
    assert run(DEADLINE + timedelta(days=1))["proposals"] == 0
    assert run(DEADLINE + timedelta(days=2))["proposals"] == 0  # raised once, not every day after
    assert _count(db, SanctionProposal) == 1
    with db.session() as s:
        p = s.execute(select(SanctionProposal)).scalar_one()
        assert (p.target_kind, p.target_code, p.action, p.source, p.source_ref, p.proposed_by, p.state) == \
            ("peer", CITY, "suspend", "deadline", DEADLINE.isoformat(), "system", "proposed")
        # The contact got four messages; the child four signed notice envelopes in the outbox.
        assert len(notifier.sent) == 4 and all(to == "哈尔滨运维 0451-12345" for to, _, _ in notifier.sent)
        notes = list(s.execute(select(OutboxEnvelope).where(OutboxEnvelope.kind == "notice")).scalars())
        assert len(notes) == 4 and {n.recipient for n in notes} == {CITY}
        steps = [r.channels for r in s.execute(select(ConnectionReminder)).scalars()]
        assert all(c == ["notifier", "envelope"] for c in steps)
        assert s.execute(select(func.count()).select_from(AuditEvent)
                         .where(AuditEvent.action == "connection.reminded")).scalar_one() == 4
    # `remind` (the re-assessment job's entry) sends a step once and says so.
    with db.session() as s:
        assert deadlines.remind(s, "peer", CITY, "assessment_due", DEADLINE, "d-30", "安全评估将到期", "请提交复评")
        assert not deadlines.remind(s, "peer", CITY, "assessment_due", DEADLINE, "d-30", "安全评估将到期", "请提交复评")


def _envelope(ids: dict[str, Identity], ctx: NodeContext) -> bytes:
    return envelope.make_envelope(ids["city"], CITY, ctx.code, ids["province"].public_bundle(), "ping",
                                  {"hello": 1})[1]


def test_two_officers_suspend_and_a_restore_lets_envelopes_in_again(db: Database, on_day, ids, ctx) -> None:  # noqa: ANN001
    _add_city(db, ids["city"])
    with db.session() as s:
        number = sanctions.propose(s, SEC_A, "peer", CITY, "suspend", "发生数据泄露事件", "officer").number
        # A second proposal for the same target and action is the open one, not a duplicate.
        assert sanctions.propose(s, OPERATOR, "peer", CITY, "suspend", "重复提议", "officer").number == number
    with db.session() as s, pytest.raises(Forbidden) as e:
        sanctions.agree(s, SEC_A, number, "同意")  # the proposer
    assert e.value.code == "SAME_OFFICER"
    with db.session() as s, pytest.raises(Forbidden):
        sanctions.agree(s, OPERATOR, number, "同意")  # not a security officer
    with db.session() as s, pytest.raises(Conflict) as e:
        sanctions.decide(s, SEC_B, number, True, "暂停")  # nobody agreed yet
    assert e.value.code == "NOT_AGREED"
    with db.session() as s:
        sanctions.agree(s, SEC_B, number, "核实属实，同意暂停")
    for who in (SEC_A, SEC_B):
        with db.session() as s, pytest.raises(Forbidden) as e:
            sanctions.decide(s, who, number, True, "暂停")
        assert e.value.code == "SAME_OFFICER" and "另一名安全管理员" in e.value.message
    with db.session() as s:
        assert s.get(Peer, CITY).status == "active"  # nothing of the refusals was kept
        sanctions.decide(s, SEC_C, number, True, "决定暂停接入")
    with db.session() as s:
        assert s.get(Peer, CITY).status == "suspended"
        p = sanctions.get(s, SEC_A, number)
        assert (p.state, p.agreed_by, p.decided_by) == ("executed", "sec-b", "sec-c")
        actions = set(s.execute(select(AuditEvent.action).where(AuditEvent.target.in_(
            (f"sanction:{number}", f"peer:{CITY}")))).scalars())
        assert {"sanction.proposed", "sanction.agreed", "sanction.executed", "peer.suspended"} <= actions
    with db.session() as s, pytest.raises(Conflict) as e:
        sanctions.decide(s, SEC_C, number, True, "再决定一次")
    assert e.value.code == "ALREADY_DECIDED"
    # The suspended child's envelope is refused with its own code; the refusal is recorded.
    with pytest.raises(envelope.EnvelopeRefused) as e, db.session() as s:
        inbox.receive(s, ctx, _envelope(ids, ctx))
    assert e.value.code == "PEER_SUSPENDED" and e.value.status == 403
    with db.session() as s:
        peers.restore(s, SEC_A, CITY, "整改完成，恢复接入")
    with db.session() as s:
        receipt = inbox.receive(s, ctx, _envelope(ids, ctx))
    assert receipt["receipt"]["status"] == "applied"


def test_reject_path_and_bad_input_leave_nothing(db: Database, on_day, ids) -> None:  # noqa: ANN001
    _add_city(db, ids["city"])
    with db.session() as s, pytest.raises(InvalidInput) as e:
        peers.rectify(s, SEC_A, CITY, START, "期限是今天")
    assert e.value.code == "BAD_DEADLINE"
    with db.session() as s, pytest.raises(NotFound):
        sanctions.propose(s, SEC_A, "peer", "CN-999900", "suspend", "不存在的节点", "officer")
    with db.session() as s, pytest.raises(NotFound):
        sanctions.propose(s, SEC_A, "institution", "91230100XY0000009X", "revoke", "不存在的机构", "officer")
    with db.session() as s, pytest.raises(Forbidden):
        sanctions.propose(s, Principal(9, "bank", "银行", "bank", None), "peer", CITY, "revoke", "越权", "officer")
    assert _count(db, SanctionProposal) == 0
    with db.session() as s:
        number = sanctions.propose(s, OPERATOR, "peer", CITY, "revoke", "多次未整改", "officer").number
    with db.session() as s:
        sanctions.agree(s, SEC_A, number, "同意")
    with db.session() as s:
        sanctions.decide(s, SEC_B, number, False, "情节较轻，不予取消")
    with db.session() as s:
        assert s.get(Peer, CITY).status == "active"
        assert sanctions.get(s, SEC_A, number).state == "rejected"
    with db.session() as s, pytest.raises(Conflict):
        sanctions.decide(s, SEC_C, number, True, "改变主意")
    # A new proposal may now be raised (the rejected one is closed); once revoked, no more.
    with db.session() as s:
        peers.revoke(s, SEC_A, CITY, "主动退出")
    with db.session() as s, pytest.raises(Conflict) as e:
        sanctions.propose(s, OPERATOR, "peer", CITY, "suspend", "已撤销的节点", "officer")
    assert e.value.code == "ALREADY_REVOKED"


def test_a_failed_execution_keeps_the_proposal_open(db: Database, on_day, ids) -> None:  # noqa: ANN001
    _add_city(db, ids["city"])
    with db.session() as s:
        number = sanctions.propose(s, OPERATOR, "peer", CITY, "suspend", "事件", "incident", "SJ-1").number
        sanctions.agree(s, SEC_A, number, "同意")
        s.get(Peer, CITY).status = "pending"  # cannot be suspended from here
    with pytest.raises(DomainError), db.session() as s:
        sanctions.decide(s, SEC_B, number, True, "暂停")
    with db.session() as s:
        assert sanctions.get(s, SEC_A, number).state == "agreed"
        assert s.execute(select(func.count()).select_from(AuditEvent)
                         .where(AuditEvent.action == "sanction.executed")).scalar_one() == 0


def test_a_suspended_childs_signed_requests_are_refused(db: Database, on_day, ids) -> None:  # noqa: ANN001
    from xinyidai.network import child_requests

    _add_city(db, ids["city"])
    with db.session() as s:
        peers.suspend(s, SEC_A, CITY, "安全事件处置期间暂停")
    with db.session() as s, pytest.raises(Forbidden) as e:
        child_requests.authenticate(s, {"x-xyd-node": CITY}, lambda c, t, n: b"", "拉取请求")
    assert e.value.code == "PEER_SUSPENDED" and e.value.status == 403 and "暂停" in e.value.message

"""Between real node processes: the province's daily deadline job sends the city a signed `notice` envelope
that the city stores once; then the province suspends the city through a sanction proposal (proposed by an
operator, agreed by one security officer, decided by another), the city's next envelope is refused with
PEER_SUSPENDED, and after a restore the city's envelopes are accepted again."""

from __future__ import annotations

from datetime import timedelta

from xinyidai.kit import clock
from xinyidai.kit.principal import Principal
from xinyidai.network import peers, sanctions

from .nodes import OFFICER, SECURITY, Node, wait_for

SECOND_SECURITY = Principal(0, "sec-officer-2", "安全管理员乙", "security", None)
CITY = "CN-230100"
NOTICES = "SELECT count(*) FROM node_notices WHERE from_node='CN-230000' AND kind='rectify_due'"
REFUSED = "SELECT count(*) FROM refused_envelopes WHERE claimed_sender='CN-230100' AND code='PEER_SUSPENDED'"
ACCEPTED = "SELECT count(*) FROM inbox WHERE sender='CN-230100' AND kind='reconcile'"


def test_notice_then_suspension_and_restore_between_nodes(network: dict[str, Node]) -> None:
    province, city = network["province"], network["city"]
    db = province.db()
    try:
        deadline = clock.today() + timedelta(days=7)
        with db.session() as s:
            peers.rectify(s, SECURITY, CITY, deadline, "审计日志留存不足 6 个月")
        for _ in range(2):  # twice on one day: one reminder, one notice
            out = province.cli("node", "deadlines")
            assert "整改" in out.stdout
        wait_for(lambda: city.count(NOTICES) == 1, 60)
        assert province.count("SELECT count(*) FROM connection_reminders WHERE target_code=:c AND step='d-7'",
                              c=CITY) == 1
        assert province.count("SELECT count(*) FROM outbox WHERE kind='notice' AND recipient=:c", c=CITY) == 1
        assert city.count("SELECT count(*) FROM node_notices WHERE read_at IS NULL AND due_on IS NOT NULL") == 1

        with db.session() as s:
            number = sanctions.propose(s, OFFICER, "peer", CITY, "suspend", "发生数据泄露事件", "officer").number
        with db.session() as s:
            sanctions.agree(s, SECURITY, number, "核实属实")
        with db.session() as s:
            sanctions.decide(s, SECOND_SECURITY, number, True, "暂停接入，待整改")
        assert province.count("SELECT count(*) FROM peers WHERE code=:c AND status='suspended'", c=CITY) == 1

        before = province.count(ACCEPTED)
        city.cli("network", "reconcile", "--force")
        wait_for(lambda: province.count(REFUSED) >= 1, 60)
        assert province.count(ACCEPTED) == before
        assert city.count("SELECT count(*) FROM outbox WHERE recipient='CN-230000' AND kind='reconcile' "
                          "AND status='pending' AND last_error LIKE 'PEER_SUSPENDED%'") >= 1

        with db.session() as s:
            peers.restore(s, SECURITY, CITY, "整改完成，恢复接入")
        wait_for(lambda: province.count(ACCEPTED) > before, 90)  # the retried envelope is accepted now
    finally:
        db.dispose()

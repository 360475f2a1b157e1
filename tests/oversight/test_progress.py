"""Progress reports (issue 17): a province prepares the report of a month from the run, the figures and the
督办 items; a second person approves and the node signs it; it goes to the parent as a `progress_report`
envelope. On the parent a child's report is stored once; a report from a node that is not a child, a
malformed one and a forged one are refused with nothing stored. Then the pages, and two real nodes."""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.oversight import signin
from xinyidai.entities.codes import make_uscc
from xinyidai.kit import clock
from xinyidai.kit.crypto.suite import get_suite
from xinyidai.kit.db import Database
from xinyidai.kit.errors import DomainError
from xinyidai.market.figures import Period
from xinyidai.market.models import Loan
from xinyidai.network import exchange
from xinyidai.network.exchange import ExchangeRefused
from xinyidai.network.models import OutboxEnvelope, Peer
from xinyidai.network.relay import NodeContext
from xinyidai.oversight import progress
from xinyidai.oversight.models import ProgressReport, Task
from xinyidai.oversight.runs import NoData

NODE = "CN-230000"
CITY = "CN-230100"
PERIOD = Period(202610, 202610)
BANK = make_uscc("230100", 7290, "1", "1")


def add_loans(s: Any, origin: str = NODE) -> None:
    """Loans of October 2026 in Harbin and Qiqihar: enough for a run and the figures."""
    for n, (city, wan, credit, first) in enumerate((("230100", 300, True, True), ("230100", 200, False, False),
                                                    ("230200", 100, True, False)), 1):
        fen = wan * 1_000_000
        s.add(Loan(loan_no=f"L-P-{n:04d}", origin_node=origin, institution_code=BANK, bank_code=BANK,
                   loan_ref=f"REF{n}", entity_code=make_uscc(city, 7200 + n), city_code=city, product_number="P",
                   product_kind="纯信用", sector_mask=0, guarantee_type="信用" if credit else "抵押",
                   is_credit=int(credit), first_declared=int(first), first_on_platform=int(first),
                   first_loan=int(first), granted_fen=fen, credit_fen=fen if credit else 0,
                   first_fen=fen if first else 0, disbursed_fen=fen, granted_on=date(2026, 10, 10 + n),
                   granted_month=202610, rate_bp=400, term_months=12, policy_tags=[], status="GRANTED",
                   created_at=clock.now(), updated_at=clock.now()))


def add_tasks(s: Any) -> None:
    today = clock.today()
    for number, deadline, state in (("DB-1", today - timedelta(days=10), "open"),
                                    ("DB-2", today + timedelta(days=10), "open"),
                                    ("DB-3", today - timedelta(days=30), "done"),
                                    ("DB-4", today - timedelta(days=2), "answered")):
        s.add(Task(number=number, kind="province", title=f"督办事项{number}", owner="哈尔滨市金融办",
                   city_code="230100", deadline=deadline, state=state, created_by="reg1", created_at=clock.now()))


@dataclass
class World:
    db: Database
    ctx: NodeContext  # this province
    child: NodeContext  # its city, whose reports arrive here


@pytest.fixture
def world(db: Database) -> World:
    me, city = get_suite("sm").generate_identity(), get_suite("sm").generate_identity()
    with db.session() as s:
        for code, relation, ident in (("CN", "parent", me), (CITY, "child", city)):
            s.add(Peer(code=code, name=f"节点{code}", role="national" if code == "CN" else "municipal",
                       relation=relation, suite="sm", public_key=dict(ident.public_bundle()), key_id=ident.key_id,
                       status="active", assessment={}, applied_at=clock.now() - timedelta(days=30), mode="push"))
        add_loans(s)
        add_tasks(s)
    return World(db, NodeContext(NODE, "provincial", me), NodeContext(CITY, "municipal", city))


def _prepare(w: World, actor: str = "reg1") -> str:
    with w.db.session() as s:
        return progress.prepare(s, w.ctx, "黑龙江省融资信用服务平台", actor, PERIOD).number


def test_prepare_approve_send(world: World) -> None:
    number = _prepare(world)
    assert number == "JZ-CN230000-202610-1"
    with world.db.session() as s:
        rep = progress.get(s, number)
        assert rep.state == "draft" and rep.signature is None and rep.pdf.startswith(b"%PDF-")
        d = rep.data
        assert d["figures"]["loans"] == 3 and d["figures"]["granted_fen"] == 600_000_000
        assert d["figures"]["credit_share_amount"] == pytest.approx(400 / 600, abs=1e-6)
        assert d["figures"]["first_share_amount"] == pytest.approx(300 / 600, abs=1e-6)
        assert d["progress"]["cumulative_fen"] == 600_000_000 and d["progress"]["target_fen"] > 0
        assert d["ranking"]["run_number"] == rep.run_number and len(d["ranking"]["cities"]) == 13
        assert d["tasks"]["open"] == 3 and d["tasks"]["overdue"] == 2
        assert [t["number"] for t in d["tasks"]["overdue_items"]] == ["DB-1", "DB-4"]
    # a second report of the same month uses the same stored run and is numbered on
    assert _prepare(world, "op1") == "JZ-CN230000-202610-2"
    with world.db.session() as s:
        assert progress.get(s, "JZ-CN230000-202610-2").run_number == progress.get(s, number).run_number
    with world.db.session() as s:  # not yet approved: cannot be sent
        with pytest.raises(DomainError) as exc:
            progress.send(s, world.ctx, "op1", number)
        assert exc.value.code == "REPORT_STATE"
    with world.db.session() as s:
        rep = progress.approve(s, world.ctx, "op1", number)
        assert rep.state == "approved" and rep.approved_by == "op1"
        assert rep.data["approval"]["by"] == "op1"
        assert progress.verify(rep, world.ctx.identity.public_bundle())
    with world.db.session() as s:
        progress.send(s, world.ctx, "op1", number)
    with world.db.session() as s:
        rep = progress.get(s, number)
        assert rep.state == "sent" and rep.sent_at is not None
        assert [tuple(r) for r in s.execute(select(OutboxEnvelope.recipient, OutboxEnvelope.kind,
                                                   OutboxEnvelope.source_ref))] == [("CN", "progress_report", number)]


def test_approving_ones_own_report_is_refused(world: World) -> None:
    number = _prepare(world)
    with world.db.session() as s, pytest.raises(DomainError) as exc:
        progress.approve(s, world.ctx, "reg1", number)
    assert exc.value.code == "SELF_APPROVAL" and "本人" in exc.value.message
    with world.db.session() as s:
        rep = progress.get(s, number)
        assert rep.state == "draft" and rep.signature is None


def test_a_period_without_data_is_refused(world: World) -> None:
    with world.db.session() as s, pytest.raises(NoData):
        progress.prepare(s, world.ctx, "省平台", "reg1", Period(202501, 202501))
    with world.db.session() as s:
        assert s.execute(select(func.count()).select_from(ProgressReport)).scalar_one() == 0


@pytest.fixture
def payload(world: World) -> dict[str, Any]:
    """A report of the city, signed with the city's key (made on this database under the city's context,
    then taken away so the database holds none)."""
    with world.db.session() as s:
        number = progress.prepare(s, world.child, "哈尔滨市融资信用服务平台", "city-reg", PERIOD).number
    with world.db.session() as s:
        out = progress.payload_of(progress.approve(s, world.child, "city-op", number))
    with world.db.session() as s:
        s.delete(progress.get(s, number))
    return out


def _received(w: World) -> list[tuple[str | None, str | None, str]]:
    with w.db.session() as s:
        return [(r.origin_node, r.external_id, r.state) for r in progress.listing(s, received=True)]


def test_a_childs_report_is_stored_once(world: World, payload: dict[str, Any]) -> None:
    with world.db.session() as s:
        assert exchange.apply(s, world.ctx, "progress_report", CITY, payload) == {"stored": 1}
    with world.db.session() as s:
        assert exchange.apply(s, world.ctx, "progress_report", CITY, copy.deepcopy(payload)) == {
            "stored": 0, "duplicates": 1}
    number = f"{CITY}-JZ-CN230100-202610-1"
    assert _received(world) == [(CITY, number, "received")]
    with world.db.session() as s:
        rep = progress.get(s, number)
        assert rep.pdf.startswith(b"%PDF-") and progress.verify(rep, world.child.identity.public_bundle())
        assert [r.number for r in progress.latest_by_node(s)] == [number]
        row, = progress.compare(s, [number])
        assert row["granted_fen"] == 600_000_000 and row["overdue_tasks"] == 2
        assert row["credit_share"] == pytest.approx(2 / 3, abs=1e-6)


def _forged_pdf(p: dict[str, Any]) -> None:
    p["report"]["pdf"] = base64.b64encode(base64.b64decode(p["report"]["pdf"]) + b"%forged").decode()


def _forged_data(p: dict[str, Any]) -> None:
    p["report"]["data"]["figures"]["granted_fen"] = 999_000_000


def _forged_signature(p: dict[str, Any]) -> None:
    """Re-signed consistently, but with a key that is not the child's."""
    other = get_suite("sm").generate_identity()
    r = p["report"]
    r["data"]["figures"]["granted_fen"] = 999_000_000
    digest = progress.signed_digest(r["data"], r["pdf_digest"])
    r["signature"] = {**r["signature"], "digest": digest,
                      "value": get_suite("sm").sign(other, digest.encode("ascii")).hex()}


def _set(**change: Any):  # noqa: ANN202
    return lambda p: p["report"].update(change)


@pytest.mark.parametrize(("sender", "change", "code"), [
    ("CN", None, "NOT_A_CHILD"),
    ("CN-239999", None, "NOT_A_CHILD"),
    (CITY, _set(kind="weekly"), "PAYLOAD_INVALID"),
    (CITY, _set(period_start=202613), "PAYLOAD_INVALID"),
    (CITY, _set(number=None), "PAYLOAD_INVALID"),
    (CITY, _set(approved_at="2026-11-15T10:00:00"), "PAYLOAD_INVALID"),  # no zone
    (CITY, _set(pdf="not base64!"), "PAYLOAD_INVALID"),
    (CITY, _set(data="{}"), "PAYLOAD_INVALID"),
    (CITY, _set(approved_by="city-other"), "PAYLOAD_INVALID"),  # not the approval in the data as sent
    (CITY, _set(approved_by="city-reg"), "SELF_APPROVAL"),  # approved by the one who prepared it
    (CITY, _set(number="JZ-OTHER-1"), "PAYLOAD_INVALID"),  # not the number in the data
    (CITY, _forged_pdf, "REPORT_DIGEST_MISMATCH"),
    (CITY, _forged_data, "REPORT_DIGEST_MISMATCH"),
    (CITY, _forged_signature, "REPORT_SIGNATURE_INVALID"),
])
def test_a_bad_report_is_refused_and_nothing_stored(world: World, payload: dict[str, Any], sender: str,
                                                   change: Any, code: str) -> None:
    bad = copy.deepcopy(payload)
    if change is not None:
        change(bad)
    with world.db.session() as s, pytest.raises(ExchangeRefused) as exc:
        exchange.apply(s, world.ctx, "progress_report", sender, bad)
    assert exc.value.code == code
    assert _received(world) == []


def _rotated(w: World, until: datetime) -> None:
    """The city rotated its key (network.keys): the one its report was signed with is now the retiring one."""
    new = get_suite("sm").generate_identity()
    with w.db.session() as s:
        peer = s.get(Peer, CITY)
        peer.retiring_key_id, peer.retiring_public_key, peer.retiring_until = \
            peer.key_id, dict(peer.public_key), until
        peer.key_id, peer.public_key = new.key_id, dict(new.public_bundle())


def test_a_report_signed_before_the_childs_key_rotation(world: World, payload: dict[str, Any]) -> None:
    """Signed by the key the child has since rotated away from: taken while the overlap lasts, and still
    verified on the page afterwards; refused once the overlap is over."""
    _rotated(world, clock.now() - timedelta(seconds=1))
    with world.db.session() as s, pytest.raises(ExchangeRefused) as exc:
        exchange.apply(s, world.ctx, "progress_report", CITY, copy.deepcopy(payload))
    assert exc.value.code == "REPORT_SIGNATURE_INVALID" and _received(world) == []
    with world.db.session() as s:
        s.get(Peer, CITY).retiring_until = clock.now() + timedelta(hours=1)
    with world.db.session() as s:
        assert exchange.apply(s, world.ctx, "progress_report", CITY, payload) == {"stored": 1}
    with world.db.session() as s:
        rep = progress.get(s, f"{CITY}-JZ-CN230100-202610-1")
        peer = s.get(Peer, CITY)
        key = progress.peer_signing_key(peer, rep.signature["key_id"])
        assert key == world.child.identity.public_bundle() and progress.verify(rep, key)
        assert progress.peer_signing_key(peer, "no-such-key") is None


def test_a_payload_without_a_report_is_refused(world: World) -> None:
    with world.db.session() as s, pytest.raises(ExchangeRefused) as exc:
        progress.apply_progress_report(s, world.ctx, CITY, {"reports": []})
    assert exc.value.code == "PAYLOAD_INVALID"


def test_a_changed_report_under_a_held_number_is_refused(world: World, payload: dict[str, Any]) -> None:
    with world.db.session() as s:
        progress.apply_progress_report(s, world.ctx, CITY, payload)
    other = copy.deepcopy(payload)
    _forged_signature(other)  # differs; the signature check refuses it before the number is even compared
    with world.db.session() as s, pytest.raises(ExchangeRefused):
        progress.apply_progress_report(s, world.ctx, CITY, other)
    assert len(_received(world)) == 1


# ── the pages ───────────────────────────────────────────────────────────────────────────────────────────

PASSWORD = "correct-horse-9"


def _login(app: Any, username: str) -> Any:
    return signin.login(app, username, PASSWORD)


def _token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


@pytest.fixture
def site(world: World, tmp_path: Path) -> Iterator[dict[str, Any]]:
    from argon2 import PasswordHasher

    from xinyidai.accounts.models import User
    from xinyidai.app import create_app
    from xinyidai.config import load_settings

    hashed = PasswordHasher().hash(PASSWORD)
    with world.db.session() as s:
        for username, role, org in (("reg", "regulator", None), ("op", "operator", None), ("teller", "bank", BANK)):
            s.add(User(username=username, display_name=f"测试{username}", role=role, password_hash=hashed,
                       org_code=org, created_at=clock.now()))
    app = create_app(load_settings(env={}, var_dir=tmp_path / "var", database_url=world.db.url), world.db)
    clients = {name: _login(app, name) for name in ("reg", "op", "teller")}
    yield clients
    for c in clients.values():
        c.close()


def test_the_pages_prepare_approve_and_send(site: dict[str, Any], world: World, payload: dict[str, Any]) -> None:
    reg, op = site["reg"], site["op"]
    page = reg.get("/oversight/reports")
    assert page.status_code == 200 and "编制进展报告" in page.text and page.headers["cache-control"] == "no-store"
    r = reg.post("/oversight/reports", data={"from": "2026-10", "to": "", "kind": "monthly",
                                             "csrf_token": _token(page.text)}, follow_redirects=False)
    assert r.status_code == 303, r.text
    number = "JZ-CN230000-202610-1"
    assert r.headers["location"] == f"/oversight/reports/{number}?done=prepared"
    detail = reg.get(r.headers["location"])
    assert "进展报告已编制" in detail.text and 'id="approve-form"' not in detail.text
    refused = reg.post(f"/oversight/reports/{number}/approve", data={"csrf_token": _token(detail.text)})
    assert refused.status_code == 403 and 'data-code="SELF_APPROVAL"' in refused.text
    no_token = op.post(f"/oversight/reports/{number}/approve", data={})
    assert no_token.status_code in (400, 403)
    detail = op.get(f"/oversight/reports/{number}")
    assert 'id="approve-form"' in detail.text
    r = op.post(f"/oversight/reports/{number}/approve", data={"csrf_token": _token(detail.text)},
                follow_redirects=False)
    assert r.status_code == 303
    detail = op.get(r.headers["location"])
    assert "核验通过" in detail.text and 'id="send-form"' in detail.text
    r = op.post(f"/oversight/reports/{number}/send", data={"csrf_token": _token(detail.text)}, follow_redirects=False)
    assert r.status_code == 303
    assert 'data-state="sent"' in op.get(r.headers["location"]).text
    pdf = reg.get(f"/oversight/reports/{number}.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf" and pdf.content[:5] == b"%PDF-"
    bad = reg.post("/oversight/reports", data={"from": "2025-01", "kind": "monthly", "csrf_token": _token(page.text)})
    assert bad.status_code == 422 and 'data-code="OVERSIGHT_NO_DATA"' in bad.text
    # a child's report arrives: its latest is shown beside the others, and can be compared
    with world.db.session() as s:
        progress.apply_progress_report(s, world.ctx, CITY, payload)
    page = reg.get("/oversight/reports")
    assert f'data-node="{CITY}"' in page.text and "哈尔滨市融资信用服务平台" in page.text
    received = f"{CITY}-JZ-CN230100-202610-1"
    compared = reg.get(f"/oversight/reports?compare={received}")
    assert 'id="compared-reports"' in compared.text and "66.7%" in compared.text
    child = reg.get(f"/oversight/reports/{received}")
    assert child.status_code == 200 and "核验通过" in child.text and 'id="approve-form"' not in child.text


def test_the_pages_are_refused_to_a_bank(site: dict[str, Any]) -> None:
    assert site["teller"].get("/oversight/reports").status_code == 403


# ── two real nodes: a province reports to the national node ─────────────────────────────────────────────

@pytest.mark.slow
def test_a_provinces_report_reaches_the_national_node(tmp_path: Path) -> None:

    from xinyidai.kit.crypto.keystore import load_or_create_identity

    from ..network.nodes import Node, wait_for

    clock.set_clock(None)  # the nodes run on the real clock, so the envelope made here must too
    national = Node("CN", "national", "全国中小企业融资综合信用服务平台", tmp_path / "national")
    province = Node("CN-230000", "provincial", "黑龙江省融资信用服务平台", tmp_path / "province")
    try:
        national.init()
        national.start()
        province.init(parent=national)
        province.start()
        province.apply_to(national, region="23")
        # the province prepares, approves and queues its report; its own relay worker delivers it
        identity = load_or_create_identity(province.root / "var", "sm", passphrase=province.env[
            "XINYIDAI_KEY_PASSPHRASE"])
        ctx = NodeContext(province.code, "provincial", identity)
        pdb = province.db()
        try:
            with pdb.session() as s:
                add_loans(s)
            with pdb.session() as s:
                number = progress.prepare(s, ctx, province.name, "prov-reg", PERIOD).number
            with pdb.session() as s:
                progress.approve(s, ctx, "prov-op", number)
            with pdb.session() as s:
                progress.send(s, ctx, "prov-op", number)
        finally:
            pdb.dispose()
        held = f"{province.code}-{number}"
        wait_for(lambda: national.count("SELECT count(*) FROM oversight_reports WHERE external_id = :x", x=held) == 1)
        wait_for(lambda: province.count("SELECT count(*) FROM outbox WHERE kind = 'progress_report' "
                                        "AND status = 'sent'") == 1)
        ndb = national.db()
        try:
            with ndb.session() as s:
                latest, = progress.latest_by_node(s)
                assert (latest.number, latest.origin_node, latest.state) == (held, province.code, "received")
                peer = s.get(Peer, province.code)
                assert peer is not None and progress.verify(latest, peer.public_key)
                assert progress.compare(s, [held])[0]["granted_fen"] == 600_000_000
            # the national node's page shows it (the router included here, as the application factory will)
            from argon2 import PasswordHasher

            from xinyidai.accounts.models import User
            from xinyidai.app import create_app
            from xinyidai.config import load_settings

            with ndb.session() as s:
                s.add(User(username="cn-reg", display_name="国家监管", role="regulator",
                           password_hash=PasswordHasher().hash(PASSWORD), created_at=clock.now()))
            app = create_app(load_settings(env={}, var_dir=tmp_path / "page-var", database_url=ndb.url), ndb)
            client = _login(app, "cn-reg")
            page = client.get("/oversight/reports")
            assert page.status_code == 200 and f'data-node="{province.code}"' in page.text and held in page.text
            assert client.get(f"/oversight/reports/{held}.pdf").content[:5] == b"%PDF-"
            client.close()
        finally:
            ndb.dispose()
    finally:
        for n in (province, national):
            n.kill()


def test_the_node_prepares_last_months_report_by_itself_once(world: World) -> None:
    from datetime import date

    from xinyidai.oversight import runtime

    assert runtime.last_month(date(2027, 1, 3)) == 202612 and runtime.last_month(date(2026, 11, 15)) == 202610
    with world.db.session() as s:
        number = runtime.monthly_report(s, world.ctx, "黑龙江省融资信用服务平台")  # the fixed clock: 2026-11-15
    assert number == "JZ-CN230000-202610-1"
    with world.db.session() as s:
        assert runtime.monthly_report(s, world.ctx, "黑龙江省融资信用服务平台") is None  # one a month
        rep = progress.get(s, number)
        assert rep.prepared_by == "system" and rep.state == "draft" and rep.kind == "monthly"
    with world.db.session() as s:  # any officer approves what the system prepared
        assert progress.approve(s, world.ctx, "reg1", number).state == "approved"
    with world.db.session() as s:  # a month with nothing in it: no report, nothing stored
        assert runtime.monthly_report(s, world.ctx, "黑龙江省融资信用服务平台", date(2025, 3, 2)) is None
        assert s.execute(select(func.count()).select_from(ProgressReport)).scalar_one() == 1

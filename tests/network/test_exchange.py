"""What nodes exchange besides records, on real node processes over loopback HTTP (national, provincial and
one city; a second city in file mode joins for the file test): quality feedback going down to the node
where a record was loaded, reconciliation finding a difference and the resend repairing it, banks' needs
aggregated upward, file mode with bad files refused, and the 先立后破 migration with both paths and the cut.

The tests of this module run in order on one network; each leaves it consistent for the next."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.records.helpers import REG_HEADER, TAX_HEADER, codes, registration_rows, tax_rows, write_csv
from xinyidai.entities.codes import make_uscc
from xinyidai.institutions import onboarding as institutions
from xinyidai.kit import clock
from xinyidai.kit.crypto.suite import get_suite
from xinyidai.kit.db import Database
from xinyidai.network import envelope, exchange
from xinyidai.network.models import BankNeed, FeedbackNote, Peer
from xinyidai.network.relay import NodeContext

from .nodes import OFFICER, Node, execute, latest_reconciliation, wait_for

HARBIN = codes(30, "230100", start=1500)
QIQIHAR = codes(8, "230200", start=1800)
TAX_PROVIDER = "国家税务总局哈尔滨市税务局"
CURRENT = "SELECT count(*) FROM credit_records WHERE status='current' AND entity_code IN :codes"


def _load_harbin(city: Node, tmp: Path, months: list[str]) -> None:
    tax = write_csv(tmp / f"tax-{months[0]}.csv", TAX_HEADER, tax_rows(HARBIN, months))
    city.cli("ingest", str(tax), "--provider", TAX_PROVIDER, "--category", "tax")


def _mismatches(node: Node) -> list[tuple]:
    with node.db().session() as s:
        return list(s.execute(text("SELECT peer, category, day, local_count, remote_count, difference FROM "
                                   "reconciliations WHERE status='mismatch' ORDER BY id")).all())


def _outbox_settled(*nodes: Node) -> bool:
    return all(n.count("SELECT count(*) FROM outbox WHERE status='pending'") == 0 for n in nodes)


def test_feedback_goes_down_to_the_node_that_loaded_the_record(network: dict[str, Node], tmp_path: Path) -> None:
    city, province, national = network["city"], network["province"], network["national"]
    reg = write_csv(tmp_path / "reg.csv", REG_HEADER, registration_rows(HARBIN))
    city.cli("ingest", str(reg), "--provider", "哈尔滨市市场监督管理局", "--category", "registration")
    _load_harbin(city, tmp_path, ["2026-07", "2026-08"])
    city.cli("quality", "department", "add", "hrb-tax", "--name", TAX_PROVIDER, "--region", "230100")
    expected = len(HARBIN) * 3
    wait_for(lambda: national.count(CURRENT, codes=HARBIN) == expected, 90)

    out = national.cli("network", "feedback", "--entity", HARBIN[0], "--category", "tax",
                       "--problem", "应纳税额与实缴税额相同但标记欠税，请核实")
    note_id = out.stdout.strip().rsplit("：", 1)[-1]
    q = "SELECT count(*) FROM feedback_notes WHERE external_id = :i AND status = :st"
    assert national.count(q, i=note_id, st="raised") == 1
    wait_for(lambda: city.count(q, i=note_id, st="open") == 1, 60)
    assert province.count(q, i=note_id, st="forwarded") == 1  # passed on: the province only relayed it
    assert city.count("SELECT count(*) FROM feedback_notes WHERE from_node='CN' AND about_node='CN-230100' "
                      "AND entity_code = :e", e=HARBIN[0]) == 1
    # The city loaded the record itself: nothing further down to send it to.
    bad = city.cli("network", "feedback", "--entity", HARBIN[0], "--category", "tax", "--problem", "测试",
                   check=False)
    assert bad.returncode == 1 and "NOT_FROM_CHILD" in bad.stderr
    # The city's tax office is a registered department: the note became its ticket (issue 18). Closing the
    # ticket reports the outcome back up the same path, to the node that raised the note.
    ticket = city.cli("quality", "ticket", "list").stdout.split("\t", 1)[0]
    assert ticket.startswith("QT-"), ticket
    city.cli("quality", "ticket", "close", ticket, "--reason", "税务局已核实：欠税标记有误，已更正")
    closed = ("SELECT count(*) FROM feedback_notes WHERE external_id = :i AND status = 'closed' "
              "AND about_node = 'CN-230100' AND outcome LIKE :o")
    wait_for(lambda: national.count(closed, i=note_id, o=f"整改工单 {ticket} 已关闭%已更正") == 1, 60)
    assert province.count(closed, i=note_id, o="整改工单%") == 1  # passed on up, with the same outcome
    assert city.count("SELECT count(*) FROM quality_tickets WHERE number = :n AND state = 'closed'", n=ticket) == 1


def test_reconciliation_finds_a_difference_and_the_resend_repairs_it(network: dict[str, Node]) -> None:
    city, province = network["city"], network["province"]
    wait_for(lambda: _outbox_settled(city), 60)
    held = province.count(CURRENT, codes=HARBIN)
    # Faults at the parent: one record lost, one altered behind the network's back.
    assert execute(province, "DELETE FROM credit_records WHERE entity_code = :e AND category='tax' "
                             "AND status='current' AND via_node='CN-230100'", e=HARBIN[1]) == 2
    assert execute(province, "UPDATE credit_records SET fingerprint='tampered' "
                             "WHERE entity_code = :e AND category='registration'", e=HARBIN[2]) == 1
    assert province.count(CURRENT, codes=HARBIN) == held - 2

    out = city.cli("network", "reconcile", "--days", "2")
    assert "CN-230000" in out.stdout and "已发送对账数据" in out.stdout
    wait_for(lambda: province.count(CURRENT, codes=HARBIN) == held, 60)  # resent and applied
    mismatched = {r for r in ("tax", "registration")
                  if province.count("SELECT count(*) FROM reconciliations WHERE peer='CN-230100' AND "
                                    "status='mismatch' AND category = :c", c=r)}
    assert mismatched == {"tax", "registration"}
    wait_for(lambda: city.count("SELECT coalesce(sum(resent), 0) FROM reconciliations "
                                "WHERE peer='CN-230000'") > 0, 30)
    assert province.count("SELECT count(*) FROM credit_records WHERE entity_code = :e AND category='registration' "
                          "AND status='current' AND fingerprint <> 'tampered'", e=HARBIN[2]) == 1

    # Run again once the resends have settled: now everything agrees.
    wait_for(lambda: _outbox_settled(city), 60)
    city.cli("network", "reconcile", "--days", "2")
    wait_for(lambda: latest_reconciliation(province, "CN-230100")["match"] >= 2, 60)
    assert latest_reconciliation(province, "CN-230100")["mismatch"] == 0


def _institution(node: Node, serial: int, name: str) -> str:
    code = make_uscc(node.code.split("-")[-1], serial)
    db = node.db()
    with db.session() as s:
        institutions.onboard(s, OFFICER, code=code, name=name, kind="银行分支机构")
    db.dispose()
    return code


def test_bank_needs_aggregate_upward(network: dict[str, Node]) -> None:
    city, province, national = network["city"], network["province"], network["national"]
    harbin_bank = _institution(city, 9001, "哈尔滨测试银行道里支行")
    province_bank = _institution(province, 9002, "黑龙江测试银行营业部")
    city.cli("network", "need", "--institution", harbin_bank, "--category", "tax",
             "--items", "tax_credit_grade,tax_arrears", "--reason", "小微企业信用贷款审批需要纳税信用与欠税情况")
    province.cli("network", "need", "--institution", province_bank, "--category", "tax",
                 "--items", "tax_credit_grade", "--reason", "首贷户风险评估")
    bad = city.cli("network", "need", "--institution", harbin_bank, "--category", "tax", "--items", "shoe_size",
                   "--reason", "测试用途", check=False)
    assert bad.returncode == 1 and "UNKNOWN_ITEM" in bad.stderr

    wait_for(lambda: national.count("SELECT count(*) FROM bank_needs") == 2, 60)
    assert province.count("SELECT count(*) FROM bank_needs WHERE origin_node='CN-230100'") == 1
    reg = json.loads(national.cli("network", "needs").stdout)
    assert reg["by_category"] == [{"category": "tax", "needs": 2, "institutions": 2}]
    items = {(r["category"], r["item"]): r["needs"] for r in reg["by_item"]}
    assert items == {("tax", "tax_credit_grade"): 2, ("tax", "tax_arrears"): 1}
    assert {n["origin_node"] for n in reg["needs"]} == {"CN-230100", "CN-230000"}


def test_file_mode_round_trip_with_bad_files_refused(network: dict[str, Node], tmp_path: Path) -> None:
    province, national = network["province"], network["national"]
    qqhr = Node("CN-230200", "municipal", "齐齐哈尔市融资信用服务平台", tmp_path / "qiqihar")
    qqhr.init(parent=province, mode="file")  # never started: everything goes through files
    qqhr.apply_to(province, region="2302")
    assert province.count("SELECT count(*) FROM peers WHERE code='CN-230200' AND mode='file'") == 1
    rows = [r[:6] + ["230202"] + r[7:] for r in registration_rows(QIQIHAR)]
    qqhr.cli("ingest", str(write_csv(tmp_path / "reg.csv", REG_HEADER, rows)), "--provider", "齐齐哈尔市市场监督管理局",
             "--category", "registration")

    up, receipts = tmp_path / "up", tmp_path / "receipts"
    out = qqhr.cli("network", "export", "--peer", "CN-230000", "--dir", str(up), "--collect")
    files = sorted(up.glob("*.xyd"))
    assert len(files) == 1 and "已导出 1 个" in out.stdout
    assert qqhr.count("SELECT count(*) FROM outbox WHERE status='exported'") == 1
    # Bad files in the same batch: tampered payload, addressed to another node, and garbage.
    doc = json.loads(files[0].read_bytes())
    doc["payload"] = ("A" if doc["payload"][40] != "A" else "B").join([doc["payload"][:40], doc["payload"][41:]])
    (up / "tampered.xyd").write_text(json.dumps(doc))
    stranger = get_suite("sm").generate_identity()
    info = doc["header"]
    _, wrong = envelope.make_envelope(stranger, "CN-230200", "CN-990000", stranger.public_bundle(), "ping", {})
    (up / "wrong.xyd").write_bytes(wrong)
    (up / "garbage.xyd").write_bytes(b"\x00\x01not an envelope")

    r = province.cli("network", "import", str(up), "--receipts", str(receipts), check=False)
    assert r.returncode == 1, r.stdout + r.stderr
    for code in ("PAYLOAD_TAMPERED", "WRONG_RECIPIENT", "ENVELOPE_MALFORMED"):
        assert code in r.stderr
        assert province.count("SELECT count(*) FROM refused_envelopes WHERE code = :c AND via='file'", c=code) >= 1
    assert "已应用 1 个" in r.stdout
    assert province.count(CURRENT, codes=QIQIHAR) == len(QIQIHAR)
    assert (receipts / f"{info['id']}.receipt.json").exists()
    wait_for(lambda: national.count(CURRENT, codes=QIQIHAR) == len(QIQIHAR), 60)  # and on up, pushed

    # The same file again is acknowledged, not applied twice.
    again = province.cli("network", "import", str(files[0]), "--receipts", str(receipts))
    assert "已应用 0 个，重复 1 个" in again.stdout
    assert province.count("SELECT count(*) FROM credit_records WHERE entity_code IN :codes", codes=QIQIHAR) == 8

    qqhr.cli("network", "receipts", str(receipts))
    assert qqhr.count("SELECT count(*) FROM outbox WHERE status='sent'") == 1

    # And down: national data for Qiqihar entities waits at the province as files for the file-mode city.
    tax = write_csv(tmp_path / "tax.csv", TAX_HEADER, tax_rows(QIQIHAR, ["2026-09"]))
    national.cli("ingest", str(tax), "--provider", "国家税务总局（总对总）", "--category", "tax")
    wait_for(lambda: province.count("SELECT coalesce(sum(items), 0) FROM outbox WHERE recipient='CN-230200' "
                                    "AND status='pending' AND kind='records'") == len(QIQIHAR), 60)
    down, back = tmp_path / "down", tmp_path / "back"
    province.cli("network", "export", "--peer", "CN-230200", "--dir", str(down))
    qqhr.cli("network", "import", str(down), "--receipts", str(back))
    assert qqhr.count("SELECT count(*) FROM credit_records WHERE origin_node='CN' AND category='tax'") == 8
    province.cli("network", "receipts", str(back))
    assert province.count("SELECT count(*) FROM outbox WHERE recipient='CN-230200' AND status <> 'sent'") == 0


def test_legacy_path_migration_both_paths_then_cut(network: dict[str, Node], tmp_path: Path) -> None:
    city, province, national = network["city"], network["province"], network["national"]
    # The city was linked straight to the national platform before it joined the province.
    national.cli("network", "legacy-link", city.url)
    city.cli("network", "legacy-link", national.url)
    assert national.count("SELECT count(*) FROM peers WHERE code='CN-230100' AND legacy_path AND relation='child'") == 1

    # Both paths deliver; the national node holds each record once.
    _load_harbin(city, tmp_path, ["2026-10"])
    expected = city.count(CURRENT, codes=HARBIN)
    assert expected == len(HARBIN) * 4  # registration and three tax months
    wait_for(lambda: national.count(CURRENT, codes=HARBIN) == expected, 90)
    wait_for(lambda: _outbox_settled(city, province), 60)
    assert national.count("SELECT count(*) FROM inbox WHERE sender='CN-230100' AND kind='records'") >= 1
    assert national.count("SELECT count(*) FROM credit_records WHERE entity_code IN :codes",
                          codes=HARBIN) == expected  # nothing doubled, not even as a superseded version
    assert national.count("SELECT count(*) FROM credit_records WHERE status='current' AND entity_code IN :codes "
                          "AND category='tax'", codes=HARBIN) == len(HARBIN) * 3

    refused = national.cli("network", "cut-legacy", "CN-230100", "--by", "sec-officer", check=False)
    assert refused.returncode == 1 and "RECONCILIATION_UNSETTLED" in refused.stderr  # not compared yet

    # Reconciliation compares the two paths: the city directly, and the province it now reports through.
    assert "CN：已发送对账数据" in city.cli("network", "reconcile", "--days", "2").stdout
    wait_for(lambda: latest_reconciliation(national, "CN-230100")["match"] >= 1, 60)
    assert latest_reconciliation(national, "CN-230100")["mismatch"] == 0
    # The province also carries what earlier tests corrected and withdrew; a relay round still collecting
    # those shows as a difference whose resend repairs it, so the comparison converges within a few rounds.
    rounds = "SELECT count(*) FROM reconciliations WHERE peer='CN-230000'"
    for _ in range(4):
        wait_for(lambda: _outbox_settled(province), 60)
        before = national.count(rounds)
        province.cli("network", "reconcile", "--days", "2")
        wait_for(lambda before=before: national.count(rounds) > before, 60)
        if latest_reconciliation(national, "CN-230000")["mismatch"] == 0:
            break
    assert latest_reconciliation(national, "CN-230000")["mismatch"] == 0, _mismatches(national)

    national.cli("network", "cut-legacy", "CN-230100", "--by", "sec-officer")
    assert national.count("SELECT count(*) FROM peers WHERE code='CN-230100' AND status='revoked'") == 1
    assert national.count("SELECT count(*) FROM audit_events WHERE action='peer.legacy_cut'") == 1

    # After the cut, new data arrives through the province only; the old link is refused and closed.
    _load_harbin(city, tmp_path, ["2026-11"])
    wait_for(lambda: national.count("SELECT count(*) FROM credit_records WHERE status='current' "
                                    "AND entity_code IN :codes AND content LIKE '%2026-11%'", codes=HARBIN)
             == len(HARBIN), 90)
    assert national.count("SELECT count(*) FROM credit_records WHERE content LIKE '%2026-11%' "
                          "AND via_node <> 'CN-230000'") == 0
    wait_for(lambda: city.count("SELECT count(*) FROM peers WHERE code='CN' AND status='revoked'") == 1, 60)
    assert national.count("SELECT count(*) FROM refused_envelopes WHERE claimed_sender='CN-230100' "
                          "AND code='PEER_REVOKED'") >= 1


# ── the appliers on their own (no processes): idempotent, and only in the right direction ───────────────

@pytest.fixture
def here(db: Database) -> NodeContext:
    ident = get_suite("sm").generate_identity()
    with db.session() as s:
        for code, relation in (("CN", "parent"), ("CN-230100", "child")):
            s.add(Peer(code=code, name=code, role="national" if code == "CN" else "municipal", relation=relation,
                       suite="sm", public_key=dict(ident.public_bundle()), key_id=ident.key_id, status="active",
                       assessment={}, applied_at=clock.now(), mode="push"))
    return NodeContext("CN-230000", "provincial", ident)


def test_appliers_are_idempotent_and_directional(db: Database, here: NodeContext) -> None:
    need = {"id": "CN-230100-need-1", "origin_node": "CN-230100", "institution_code": "91230100MA0000001X",
            "institution_name": "测试银行", "category": "tax", "items": ["tax_credit_grade"], "reason": "授信",
            "filed_by": "bank1", "filed_at": "2026-11-15T02:00:00+00:00"}
    note = {"id": "CN-fb-1", "from_node": "CN", "about_node": "CN-230100", "entity_code": HARBIN[0],
            "category": "tax", "record_key": "2026-07", "problem": "欠税标记可疑"}
    with db.session() as s:
        assert exchange.apply(s, here, "needs", "CN-230100", {"needs": [need, need]}) == {"stored": 1,
                                                                                          "duplicates": 1}
        assert exchange.apply(s, here, "needs", "CN-230100", {"needs": [need]})["stored"] == 0
        assert exchange.apply(s, here, "feedback", "CN", {"notes": [note]})["stored"] == 1
        assert exchange.apply(s, here, "feedback", "CN", {"notes": [note]})["duplicates"] == 1
        assert s.query(BankNeed).count() == 1 and s.query(FeedbackNote).one().status == "open"
    for kind, sender, payload, code in (
            ("needs", "CN", {"needs": [need]}, "NOT_A_CHILD"),
            ("reconcile", "CN", {"type": "figures", "days": [], "origins": [], "figures": []}, "NOT_A_CHILD"),
            ("reconcile", "CN-230100", {"type": "verdict", "results": []}, "NOT_AN_UPSTREAM"),
            ("reconcile", "CN-230100", {"type": "figures", "days": ["x"], "origins": [], "figures": []},
             "PAYLOAD_INVALID"),
            ("feedback", "CN", {"notes": [{"id": "x"}]}, "PAYLOAD_INVALID"),
            ("feedback", "CN-230100", {"notes": [note]}, "NOT_AN_UPSTREAM")):
        with db.session() as s, pytest.raises(exchange.ExchangeRefused) as exc:
            exchange.apply(s, here, kind, sender, payload)
        assert exc.value.code == code


# ── the JSON endpoints, in process ───────────────────────────────────────────────────────────────────────

PASSWORD = "correct-horse-9"


@pytest.fixture
def api(db: Database, tmp_path: Path):  # noqa: ANN201 - a function logging in a TestClient per role
    import re

    from fastapi.testclient import TestClient

    from xinyidai.accounts.users import create_user
    from xinyidai.app import create_app
    from xinyidai.config import load_settings

    with db.session() as s:
        bank = institutions.onboard(s, OFFICER, code=make_uscc("230100", 9100), name="测试银行哈尔滨分行",
                                    kind="银行分支机构").code
        other = institutions.onboard(s, OFFICER, code=make_uscc("230100", 9101), name="另一家测试银行",
                                     kind="银行").code
        for role in ("operator", "bank", "enterprise", "security"):
            create_user(s, username=role, display_name=f"测试{role}", role=role, password=PASSWORD,
                        org_code=bank if role == "bank" else None)
    app = create_app(load_settings(env={}, var_dir=tmp_path / "var", database_url=db.url), db)
    clients: list[TestClient] = []

    def login(username: str) -> TestClient:
        c = TestClient(app, base_url="http://testserver")
        clients.append(c)
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)  # type: ignore[union-attr]
        r = c.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token, "next": "/"},
                   follow_redirects=False)
        assert r.status_code == 303, r.text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/catalog").text).group(1)  # type: ignore[union-attr]
        c.headers["x-csrf-token"] = csrf
        return c

    yield login, bank, other
    for c in clients:
        c.close()


def test_exchange_endpoints(api) -> None:  # noqa: ANN001
    login, bank_code, other_code = api
    op, bank, sec, ent = login("operator"), login("bank"), login("security"), login("enterprise")
    r = op.post("/api/v1/network/needs", json={"category": "tax", "items": ["tax_credit_grade"],
                                               "reason": "代机构登记：授信审批", "institution_code": other_code})
    assert r.status_code == 201, r.text
    r = bank.post("/api/v1/network/needs", json={"category": "tax", "items": ["tax_arrears", "tax_credit_grade"],
                                                 "reason": "贷前调查", "institution_code": other_code})
    assert r.status_code == 201 and r.json()["institution_code"] == bank_code  # a bank files for itself only
    bad = op.post("/api/v1/network/needs", json={"category": "tax", "items": ["shoe_size"], "reason": "测试用途",
                                                 "institution_code": other_code})
    assert bad.status_code == 422 and bad.json()["error"] == "UNKNOWN_ITEM"
    register = op.get("/api/v1/network/needs").json()
    assert register["by_category"] == [{"category": "tax", "needs": 2, "institutions": 2}]
    assert {(x["item"], x["needs"]) for x in register["by_item"]} == {("tax_credit_grade", 2), ("tax_arrears", 1)}
    assert [n["institution_code"] for n in bank.get("/api/v1/network/needs").json()["needs"]] == [bank_code]
    assert ent.get("/api/v1/network/needs").status_code == 403

    assert op.post("/api/v1/network/reconciliations", json={"days": 3}).json() == {"started": []}  # no parent
    assert op.get("/api/v1/network/reconciliations").json() == {"items": []}
    r = op.post("/api/v1/network/feedback", json={"entity_code": HARBIN[0], "category": "tax", "problem": "可疑"})
    assert r.status_code == 404 and r.json()["error"] == "RECORD_NOT_FOUND"
    assert op.get("/api/v1/network/feedback").json() == {"items": []}
    r = sec.post("/api/v1/network/legacy/CN-230100/cut", json={})
    assert r.status_code == 404 and r.json()["error"] == "NOT_LEGACY"
    assert op.post("/api/v1/network/legacy/CN-230100/cut", json={}).status_code == 403


def test_checkpoints_reach_the_parent_and_expose_a_rewrite(network: dict[str, Node]) -> None:
    """The real wiring (the relay worker, the inbox, the parent's endpoint) of what test_checkpoints shows in
    process: last in this module, as it leaves the city's audit chain rewritten."""
    from tests.unit.audit_tampering import rewrite_chain
    from xinyidai.kit import audit

    city, province, national = network["city"], network["province"], network["national"]
    out = city.cli("audit", "checkpoint")
    assert "已签名第 1 个检查点" in out.stdout and "已排队向上级节点报送 1 个检查点" in out.stdout
    wait_for(lambda: province.count("SELECT count(*) FROM child_checkpoints WHERE node='CN-230100'") == 1, 60)
    assert "已与上级节点 CN-230000 保存的 1 个检查点核对" in city.cli("audit", "verify").stdout
    assert "没有上级节点" in national.cli("audit", "verify").stdout
    db = city.db()
    try:
        with db.session() as s:  # the city's operator rewrites the chain and signs it afresh with the node key
            rewrite_chain(s, lambda ev: setattr(ev, "actor", "mallory"))
            s.execute(text("DELETE FROM audit_checkpoints"))
    finally:
        db.dispose()
    (city.root / "var" / "keys" / "checkpoints.jsonl").unlink()
    city.cli("audit", "checkpoint")
    assert "审计链完整" in city.cli("audit", "verify", "--offline").stdout
    bad = city.cli("audit", "verify", check=False)
    assert bad.returncode == 1 and "[AUDIT_WITNESS_MISMATCH] 链与上级节点 CN-230000 保存的第 1 个检查点" in bad.stderr
    # The re-signed head goes up with the next checkpoint, and the province refuses it and records the conflict.
    db = city.db()
    try:
        with db.session() as s:
            audit.record(s, "operator", "test.later", "t:later")
    finally:
        db.dispose()
    assert "已排队向上级节点报送 1 个检查点" in city.cli("audit", "checkpoint").stdout
    wait_for(lambda: province.count("SELECT count(*) FROM audit_events WHERE action='checkpoint.conflict'") == 1, 60)
    assert province.count("SELECT count(*) FROM child_checkpoints WHERE node='CN-230100'") == 1

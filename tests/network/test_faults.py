"""Faults on real node processes: the provincial node killed with SIGKILL in the middle of a transfer
(every record still arrives exactly once at the national node), a child in pull mode behind a firewall,
a revoked child refused at once, and replayed, stale or nonce-reusing envelopes made with a node's real key."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.records.helpers import REG_HEADER, TAX_HEADER, codes, registration_rows, tax_rows, write_csv
from xinyidai.kit import clock
from xinyidai.kit.crypto.keystore import load_or_create_identity
from xinyidai.kit.db import Database
from xinyidai.network import envelope, peers

from .conftest import PG_URL
from .nodes import SECURITY, Node, reset_postgres, wait_for

HARBIN = codes(2500, "230100", start=3000)
QIQIHAR = codes(4, "230200", start=3900)
MONTHS = [f"2025-{m:02d}" for m in range(1, 13)]
ALL_TAX = "SELECT count(*) FROM credit_records WHERE category='tax' AND entity_code IN :codes"


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Node]]:
    root = tmp_path_factory.mktemp("faults")
    national = Node("CN", "national", "全国平台", root / "national")
    province = Node("CN-230000", "provincial", "黑龙江省平台", root / "province", database_url=PG_URL)
    harbin = Node("CN-230100", "municipal", "哈尔滨市平台", root / "harbin")
    qiqihar = Node("CN-230200", "municipal", "齐齐哈尔市平台（防火墙后）", root / "qiqihar")
    nodes = {"national": national, "province": province, "harbin": harbin, "qiqihar": qiqihar}
    if PG_URL:
        reset_postgres(PG_URL)
    try:
        national.init()
        national.start()
        province.init(parent=national)
        province.start()
        province.apply_to(national, region="23")
        harbin.init(parent=province)
        harbin.apply_to(province, region="2301")
        qiqihar.init(parent=province, mode="pull", upload="tax")  # this level passes up only 纳税
        qiqihar.start()
        qiqihar.apply_to(province, region="2302")
        yield nodes
    finally:
        for n in nodes.values():
            n.kill()


def test_sigkill_mid_transfer_every_record_arrives_once(net: dict[str, Node], tmp_path: Path) -> None:
    harbin, province, national = net["harbin"], net["province"], net["national"]
    # Harbin loads 30,000 records while its server is down, then starts relaying them (three envelopes).
    harbin.cli("ingest", str(write_csv(tmp_path / "reg.csv", REG_HEADER, registration_rows(HARBIN))),
               "--provider", "哈尔滨市市场监督管理局", "--category", "registration")
    harbin.cli("ingest", str(write_csv(tmp_path / "tax.csv", TAX_HEADER, tax_rows(HARBIN, MONTHS))),
               "--provider", "国家税务总局哈尔滨市税务局", "--category", "tax")
    total = len(HARBIN) * len(MONTHS)
    harbin.start()
    wait_for(lambda: province.count(ALL_TAX, codes=HARBIN) > 0, 120, 0.05)
    held = province.count(ALL_TAX, codes=HARBIN)
    assert 0 < held < total, "the transfer should be under way when the province is killed"
    province.kill(signal.SIGKILL)  # no chance to finish a request, commit, or say goodbye
    time.sleep(2)
    province.start()
    wait_for(lambda: national.count(ALL_TAX, codes=HARBIN) >= total, 300, 1)
    time.sleep(3)  # anything resent after this point would show up as a duplicate
    assert national.count(ALL_TAX, codes=HARBIN) == total
    assert national.count(ALL_TAX + " AND version > 1", codes=HARBIN) == 0  # each record once, one version
    assert province.count(ALL_TAX, codes=HARBIN) == total
    assert national.count("SELECT count(*) FROM (SELECT entity_code, category, record_key FROM credit_records "
                          "GROUP BY entity_code, category, record_key HAVING count(*) > 1) d") == 0


def test_pull_mode_child_behind_a_firewall(net: dict[str, Node], tmp_path: Path) -> None:
    national, province, qiqihar = net["national"], net["province"], net["qiqihar"]
    rows = registration_rows(QIQIHAR)
    reg = write_csv(tmp_path / "reg.csv", REG_HEADER, [r[:6] + ["230202"] + r[7:] for r in rows])
    national.cli("ingest", str(reg), "--provider", "国家市场监督管理总局", "--category", "registration")
    national.cli("ingest", str(write_csv(tmp_path / "tax.csv", TAX_HEADER, tax_rows(QIQIHAR, ["2026-09"]))),
                 "--provider", "国家税务总局（总对总）", "--category", "tax")
    wait_for(lambda: qiqihar.count(ALL_TAX, codes=QIQIHAR) == len(QIQIHAR), 120)
    assert qiqihar.count("SELECT count(*) FROM inbox WHERE via='pull'") >= 1
    # The province never pushed to it: its envelopes were fetched, and the receipts came back.
    wait_for(lambda: province.count("SELECT count(*) FROM outbox WHERE recipient='CN-230200' "
                                    "AND status='pending'") == 0, 60)
    # A poll signed by someone else is refused.
    r = httpx.get(province.url + "/api/v1/network/pull", headers={
        "X-XYD-Node": "CN-230200", "X-XYD-Timestamp": clock.now().isoformat(), "X-XYD-Nonce": "n" * 32,
        "X-XYD-Signature": "00" * 64})
    assert r.status_code == 401 and r.json()["error"] == "SIGNATURE_INVALID"


def _identity(node: Node):  # noqa: ANN202
    return load_or_create_identity(node.root / "var", "sm", node.env["XINYIDAI_KEY_PASSPHRASE"])


def _post(node: Node, wire: bytes) -> httpx.Response:
    return httpx.post(node.url + "/api/v1/network/inbox", content=wire, timeout=60)


def test_replayed_stale_and_reused_nonce_envelopes(net: dict[str, Node]) -> None:
    national, province = net["national"], net["province"]
    me, their_key = _identity(province), httpx.get(national.url + "/api/v1/network/node").json()["public_key"]
    _, wire = envelope.make_envelope(me, "CN-230000", "CN", their_key, "ping", {"n": 1})
    first = _post(national, wire)
    assert first.status_code == 200 and envelope.check_receipt(
        first.json(), envelope.PeerKey("CN", "active", "sm", their_key), first.json()["receipt"]["envelope_id"],
        first.json()["receipt"]["envelope_digest"])
    again = _post(national, wire)  # the same bytes again: acknowledged, not applied twice
    assert again.status_code == 200 and again.json().get("duplicate") is True
    before = national.count("SELECT count(*) FROM inbox")
    doc = httpx.Response(200, content=wire).json()
    doc["header"]["id"] = doc["header"]["id"] + "-x"  # a new id reusing the nonce: the signature breaks first
    assert _post(national, httpx.Response(200, json=doc).content).json()["error"] == "SIGNATURE_INVALID"
    real = datetime.now(UTC)
    clock.set_clock(lambda: real - timedelta(minutes=30))
    try:
        _, stale = envelope.make_envelope(me, "CN-230000", "CN", their_key, "ping", {"n": 2})
    finally:
        clock.set_clock(None)
    r = _post(national, stale)
    assert r.status_code == 400 and r.json()["error"] == "ENVELOPE_STALE"
    assert national.count("SELECT count(*) FROM inbox") == before


def test_only_the_configured_categories_pass_up(net: dict[str, Node], tmp_path: Path) -> None:
    qiqihar, national = net["qiqihar"], net["national"]
    local = codes(3, "230200", start=3950)
    rows = registration_rows(local)
    qiqihar.cli("ingest", str(write_csv(tmp_path / "reg.csv", REG_HEADER, [r[:6] + ["230202"] + r[7:] for r in rows])),
                "--provider", "齐齐哈尔市市场监督管理局", "--category", "registration")
    qiqihar.cli("ingest", str(write_csv(tmp_path / "tax.csv", TAX_HEADER, tax_rows(local, ["2026-10"]))),
                "--provider", "国家税务总局齐齐哈尔市税务局", "--category", "tax")
    wait_for(lambda: national.count(ALL_TAX, codes=local) == len(local), 120)
    assert national.count("SELECT count(*) FROM credit_records WHERE category = 'registration' "
                          "AND entity_code IN :codes", codes=local) == 0


def test_revoked_child_is_refused_at_once(net: dict[str, Node]) -> None:
    province, qiqihar = net["province"], net["qiqihar"]
    db = Database(province.env["XINYIDAI_DATABASE_URL"])
    with db.session() as s:
        peers.revoke(s, SECURITY, "CN-230200", "未按期完成整改")
    db.dispose()
    me = _identity(qiqihar)
    key = httpx.get(province.url + "/api/v1/network/node").json()["public_key"]
    _, wire = envelope.make_envelope(me, "CN-230200", "CN-230000", key, "ping", {"n": 1})
    r = _post(province, wire)
    assert r.status_code == 403 and r.json()["error"] == "PEER_REVOKED"
    assert province.count("SELECT count(*) FROM refused_envelopes WHERE code='PEER_REVOKED'") >= 1


"""Three real node processes on loopback: onboarding, a city's delivery flowing up to the national platform
(each record exactly once, with its origin), national data flowing down to the city where the entity is
registered, and every kind of bad envelope refused with its code and nothing applied."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.records.helpers import REG_HEADER, TAX_HEADER, codes, registration_rows, tax_rows, write_csv
from xinyidai.kit.crypto.suite import get_suite
from xinyidai.network import envelope

from .nodes import Node, wait_for

HARBIN = codes(40, "230100", start=500)
QIQIHAR = codes(10, "230200", start=800)


def test_onboarding_states_are_visible(network: dict[str, Node]) -> None:
    n, p = network["national"], network["province"]
    assert n.count("SELECT count(*) FROM peers WHERE code='CN-230000' AND status='active'") == 1
    assert p.count("SELECT count(*) FROM peers WHERE code='CN-230100' AND status='active'") == 1
    assert p.count("SELECT count(*) FROM peers WHERE code='CN' AND relation='parent'") == 1
    assert n.count("SELECT count(*) FROM audit_events WHERE action IN ('peer.applied','peer.checked','peer.approved')") == 3


def test_upload_city_to_national_exactly_once(network: dict[str, Node], tmp_path: Path) -> None:
    city, province, national = network["city"], network["province"], network["national"]
    reg = write_csv(tmp_path / "reg.csv", REG_HEADER, registration_rows(HARBIN))
    tax = write_csv(tmp_path / "tax.csv", TAX_HEADER, tax_rows(HARBIN, ["2026-07", "2026-08"]))
    city.cli("ingest", str(reg), "--provider", "哈尔滨市市场监督管理局", "--category", "registration")
    city.cli("ingest", str(tax), "--provider", "国家税务总局哈尔滨市税务局", "--category", "tax")
    expected = len(HARBIN) * 3  # one registration and two tax months per entity
    wait_for(lambda: national.count("SELECT count(*) FROM credit_records WHERE status='current'") >= expected, 90)
    assert national.count("SELECT count(*) FROM credit_records") == expected  # exactly once, no duplicates
    assert national.count("SELECT count(*) FROM credit_records WHERE origin_node='CN-230100' "
                          "AND via_node='CN-230000'") == expected
    assert province.count("SELECT count(*) FROM credit_records WHERE via_node='CN-230100'") == expected
    assert national.count("SELECT count(*) FROM entities") == len(HARBIN)
    # A correction at the city travels up as a new version; the national node supersedes the old one.
    fixed = write_csv(tmp_path / "tax2.csv", TAX_HEADER, tax_rows(HARBIN[:5], ["2026-08"], grade="B"))
    city.cli("ingest", str(fixed), "--provider", "国家税务总局哈尔滨市税务局", "--category", "tax")
    wait_for(lambda: national.count("SELECT count(*) FROM credit_records WHERE status='superseded'") == 5, 60)
    assert national.count("SELECT count(*) FROM credit_records WHERE status='current'") == expected


def test_download_routes_to_the_city_of_registration(network: dict[str, Node], tmp_path: Path) -> None:
    city, national = network["city"], network["national"]
    ents = HARBIN[:3] + QIQIHAR[:3]
    reg = write_csv(tmp_path / "reg.csv", REG_HEADER, [r[:6] + [("230102" if c in HARBIN else "230202")] + r[7:]
                                                       for c, r in zip(ents, registration_rows(ents), strict=True)])
    national.cli("ingest", str(reg), "--provider", "国家市场监督管理总局", "--category", "registration")
    tax = write_csv(tmp_path / "tax.csv", TAX_HEADER, tax_rows(ents, ["2026-09"]))
    national.cli("ingest", str(tax), "--provider", "国家税务总局（总对总）", "--category", "tax")
    wait_for(lambda: city.count("SELECT count(*) FROM credit_records WHERE origin_node='CN' AND category='tax'") >= 3, 90)
    assert city.count("SELECT count(*) FROM credit_records WHERE origin_node='CN' AND category='tax'") == 3
    assert city.count("SELECT count(*) FROM credit_records WHERE entity_code IN :codes", codes=QIQIHAR[:3]) == 0


def _wire(sender_identity, sender: str, recipient: str, recipient_key: dict, **kw) -> bytes:  # noqa: ANN001
    return envelope.make_envelope(sender_identity, sender, recipient, recipient_key, "ping", {"hello": 1}, **kw)[1]


@pytest.mark.parametrize("case", ["forged", "tampered", "wrong_recipient", "unknown_peer", "malformed", "oversized"])
def test_bad_envelopes_are_refused(network: dict[str, Node], case: str) -> None:
    national = network["national"]
    info = httpx.get(national.url + "/api/v1/network/node").json()
    stranger = get_suite("sm").generate_identity()
    if case == "forged":  # claims to be the province, signed by someone else
        wire = _wire(stranger, "CN-230000", "CN", info["public_key"])
        code = "SIGNATURE_INVALID"
    elif case == "tampered":
        wire = _wire(stranger, "CN-230000", "CN", info["public_key"])
        doc = httpx.Response(200, content=wire).json()
        doc["header"]["items"] = 999
        wire = httpx.Response(200, json=doc).content
        code = "SIGNATURE_INVALID"
    elif case == "wrong_recipient":
        wire = _wire(stranger, "CN-230000", "CN-990000", info["public_key"])
        code = "WRONG_RECIPIENT"
    elif case == "unknown_peer":
        wire = _wire(stranger, "CN-440000", "CN", info["public_key"])
        code = "UNKNOWN_PEER"
    elif case == "malformed":
        wire = b'{"header": {"id": 1}, "payload": "!!", "signature": "zz"}'
        code = "ENVELOPE_MALFORMED"
    else:
        wire = b"x" * (envelope.MAX_ENVELOPE_BYTES + 1)
        code = "ENVELOPE_TOO_LARGE"
    r = httpx.post(national.url + "/api/v1/network/inbox", content=wire, timeout=60)
    assert r.status_code >= 400 and r.json()["error"] == code, r.text
    if case != "oversized":
        assert national.count("SELECT count(*) FROM refused_envelopes WHERE code = :c", c=code) >= 1


def test_a_withdrawal_travels_up(network: dict[str, Node]) -> None:
    from sqlalchemy import select

    from xinyidai.records.models import CreditRecord
    from xinyidai.records.service import withdraw_record

    city, national = network["city"], network["national"]
    db = city.db()
    with db.session() as s:
        rid, key = s.execute(select(CreditRecord.id, CreditRecord.record_key).where(
            CreditRecord.entity_code == HARBIN[7], CreditRecord.category == "tax",
            CreditRecord.status == "current")).first()
        withdraw_record(s, rid, actor="test", reason="复议撤销")
    db.dispose()
    q = ("SELECT count(*) FROM credit_records WHERE entity_code = :e AND category = 'tax' AND record_key = :k "
         "AND status = 'withdrawn'")
    wait_for(lambda: national.count(q, e=HARBIN[7], k=key) == 1, 60)
    assert national.count("SELECT count(*) FROM credit_records WHERE entity_code = :e AND record_key = :k "
                          "AND status = 'current' AND category = 'tax'", e=HARBIN[7], k=key) == 0


def test_a_city_loan_travels_up_once_and_its_default_data_stays(network: dict[str, Node]) -> None:
    """The market's loans ride the relay's own rounds (a collector it runs): the city's loan reaches the
    province and the national platform, each holding it once; its days past due never leave the city."""
    from datetime import date

    from xinyidai.kit import clock
    from xinyidai.market.models import Loan

    city, province, national = network["city"], network["province"], network["national"]
    db = city.db()
    try:
        with db.session() as s:
            now = clock.now()
            s.add(Loan(loan_no="DK-CN-230100-20261115-RELAY00001", origin_node="CN-230100", revision=1,
                       institution_code="91230100MA1XYZ0001", bank_code="91230100MA1XYZ0001", loan_ref="HRB-RELAY-1",
                       entity_code=HARBIN[0], city_code="230100", industry_code="C34",
                       product_number="CP-CN-230100-20261101-AAAA", product_kind="纯信用", sector_mask=1,
                       guarantee_type="信用", is_credit=1, first_declared=1, first_on_platform=1, first_loan=1,
                       granted_fen=30_000_000, credit_fen=30_000_000, first_fen=30_000_000, disbursed_fen=30_000_000,
                       granted_on=date(2026, 11, 15), granted_month=202611, rate_bp=385, term_months=12,
                       policy_tags=[], status="DISBURSED", dpd=40, risk_class="次级", created_at=now, updated_at=now))
    finally:
        db.dispose()
    loan = "SELECT count(*) FROM market_loans WHERE loan_no='DK-CN-230100-20261115-RELAY00001'"
    wait_for(lambda: national.count(loan) == 1, 60)
    assert province.count(loan) == 1
    assert national.count(loan + " AND dpd = 0 AND risk_class IS NULL AND origin_node = 'CN-230100'") == 1
    assert city.count("SELECT count(*) FROM market_loans WHERE dirty = 1") == 0

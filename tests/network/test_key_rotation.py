"""Rotating a node's key with no downtime (issue 24): signatures by the old key still verify, neighbours learn
the new key from an announcement signed by the old one, both are accepted during the overlap, and the old one is
refused after it. In-process with two databases first (fast), then two real node processes on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import PG_URL
from tests.reports.test_render import make_doc
from tests.web.conftest import app, login  # noqa: F401 - the web fixtures, for the page test
from xinyidai.config import Settings, load_settings
from xinyidai.kit import audit, clock, node_key
from xinyidai.kit.crypto.keystore import (
    ENV_PASSPHRASE,
    current_key_file,
    load_or_create_identity,
    read_keyfile,
)
from xinyidai.kit.crypto.suite import Identity, get_suite
from xinyidai.kit.db import Database
from xinyidai.kit.errors import DomainError
from xinyidai.network import checkpoints, envelope, inbox, keys
from xinyidai.network.models import OutboxEnvelope, Peer
from xinyidai.network.relay import NodeContext
from xinyidai.reports import service as reports

from .nodes import Node, peer_row, wait_for

PROVINCE, CITY = "CN-230000", "CN-230100"
PASSPHRASE = "轮换测试口令-2026"


# ── in-process ──────────────────────────────────────────────────────────────────────────────────────────

@pytest.fixture(autouse=True)
def _clock_back() -> Iterator[None]:
    """Tests here move the clock past an overlap; the next test starts on the real one again."""
    yield
    clock.set_clock(None)


@pytest.fixture
def var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(ENV_PASSPHRASE, PASSPHRASE)
    return tmp_path / "var"


def _settings(var: Path, db: Database, code: str = CITY) -> Settings:
    return load_settings(env={}, var_dir=var, database_url=db.url, node_code=code, node_role="municipal",
                         node_name=code)


def _issue_report(s: Any, signer: audit.Signer) -> str:
    doc = make_doc(rows=3, trend_months=3)
    return reports.issue(s, doc, signer, CITY, "tester", "https://example.test").verification_code


def test_old_checkpoints_and_reports_still_verify_after_rotation(db: Database, var: Path) -> None:
    old_signer = node_key.node_signer(var, "sm")
    with db.session() as s:
        audit.record(s, "alice", "test.write", "t:1")
        assert audit.make_checkpoint(s, old_signer) is not None
        code = _issue_report(s, old_signer)
    rotation = node_key.rotate(var, "sm", timedelta(hours=24))
    assert rotation.old.key_id == old_signer.key_id != rotation.new.key_id
    assert set(node_key.published_keys(var)) == {rotation.old.key_id, rotation.new.key_id}
    # This process moved to the new key at once (it rotated it); others within RECHECK_S.
    new_signer = node_key.node_signer(var, "sm")
    assert new_signer.key_id == rotation.new.key_id
    assert [(k["key_id"], k["status"]) for k in node_key.key_list(var, "sm")] == [
        (rotation.old.key_id, "retiring"), (rotation.new.key_id, "current")]
    with db.session() as s:
        audit.record(s, "alice", "test.write", "t:2")
        assert audit.make_checkpoint(s, new_signer) is not None
        chain = audit.verify_chain(s, node_key.anchors_for(var))
        assert chain.intact and chain.checkpoints == 2, chain.breaks
        published = node_key.published_keys(var)
        assert reports.verify(s, new_signer, code, published=published)["code"] == "VALID"
        # Trusting only the current key, as before issue 24, would call a genuine report forged.
        assert reports.verify(s, new_signer, code)["code"] == "SIGNATURE_INVALID"
        # A report signed by a key the node never published does not verify, whatever key id it names.
        stranger = get_suite("sm").generate_identity()
        forged = node_key.signer_for(stranger)
        bad = _issue_report(s, forged)
        assert reports.verify(s, new_signer, bad, published=published)["code"] == "SIGNATURE_INVALID"
        rep = s.execute(select(reports.CreditReport).where(reports.CreditReport.verification_code == bad)).scalar_one()
        rep.key_id = rotation.old.key_id  # claims the old key
        s.flush()
        assert reports.verify(s, new_signer, bad, published=published)["code"] == "SIGNATURE_INVALID"
    node_key.retire(var, node_key.retiring_key_ids(var, "sm"))
    assert [k["status"] for k in node_key.key_list(var, "sm")] == ["retired", "current"]


def test_a_process_picks_up_a_rotation_made_by_another(var: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = node_key.node_identity(var, "sm")
    keys_dir = var / "keys"
    # What `xinyidai node rotate-key` does in its own process: a new file, then the pointer moves.
    from xinyidai.kit.crypto.keystore import create_rotated, switch_current

    new, path = create_rotated(keys_dir, before, PASSPHRASE)
    switch_current(keys_dir, path)
    assert node_key.node_identity(var, "sm") is before  # not looked at again within RECHECK_S
    monkeypatch.setattr(node_key, "RECHECK_S", 0.0)
    assert node_key.node_identity(var, "sm").key_id == new.key_id
    assert new.key_id in node_key.published_keys(var)  # published on first load at the latest
    assert [i.key_id for i in node_key.earlier_identities(var, "sm")] == [before.key_id]
    assert current_key_file(keys_dir) == path




def _deliver(to_db: Database, ctx: NodeContext, wire: bytes) -> dict[str, Any]:
    """As the inbox endpoint does: commit what was applied, and what a refusal recorded."""
    with to_db.sessions() as s:
        try:
            receipt = inbox.receive(s, ctx, wire)
            s.commit()
            return receipt
        except DomainError:
            s.commit()
            raise


def _outbox(db: Database, kind: str) -> list[bytes]:
    with db.session() as s:
        return list(s.execute(select(OutboxEnvelope.wire).where(OutboxEnvelope.kind == kind)
                              .order_by(OutboxEnvelope.created_at)).scalars())


def _ping(sender: Identity, recipient_key: dict[str, str], frm: str = CITY, to: str = PROVINCE) -> bytes:
    return envelope.make_envelope(sender, frm, to, recipient_key, "ping", {"n": 1})[1]


def _applied(to_db: Database, ctx: NodeContext, wire: bytes) -> bool:
    return _deliver(to_db, ctx, wire)["receipt"]["status"] == "applied"


def _refused(to_db: Database, ctx: NodeContext, wire: bytes) -> str:
    with pytest.raises(DomainError) as e:
        _deliver(to_db, ctx, wire)
    return e.value.code


def _poll(parent_db: Database, signer: Identity) -> str:
    """The child a poll signed by `signer` authenticates as at the parent, or the refusal's code."""
    headers = {k.lower(): v for k, v in checkpoints.signed_headers(NodeContext(CITY, "municipal", signer), 0).items()}
    with parent_db.session() as s:
        try:
            return checkpoints.authenticate_child(s, headers, 0).code
        except DomainError as exc:
            return exc.code


def _city_key(parent_db: Database) -> tuple[str, str | None, datetime | None]:
    with parent_db.session() as s:
        p = s.get(Peer, CITY)
        return p.key_id, p.retiring_key_id, p.retiring_until


def test_announcement_overlap_and_retirement(db: Database, parent_db: Database, var: Path) -> None:
    city_settings = _settings(var, db)
    old = node_key.node_identity(var, "sm")
    province = get_suite("sm").generate_identity()
    at_province = NodeContext(PROVINCE, "provincial", province)
    with db.session() as s:
        s.add(peer_row(PROVINCE, "parent", province))
    with parent_db.session() as s:
        s.add(peer_row(CITY, "child", old))
    sealed_to_old = _ping(province, old.public_bundle(), PROVINCE, CITY)  # before the province learns the new key
    signed_by_old = _ping(old, province.public_bundle())

    rotation, told = keys.rotate(db, city_settings, "sec-officer", "定期轮换", 24)
    assert told == [PROVINCE]
    [announcement] = _outbox(db, keys.KIND)
    assert envelope.parse(announcement)[0]["key_id"] == old.key_id  # signed with the OLD key

    # Forged announcements change nothing: signed by a stranger, or with a proof the announced key did not make.
    stranger = get_suite("sm").generate_identity()
    forged_rot = node_key.Rotation(old, stranger, rotation.overlap_until)
    payload = keys.announcement(CITY, forged_rot)
    by_stranger = envelope.make_envelope(stranger, CITY, PROVINCE, province.public_bundle(), keys.KIND, payload)[1]
    assert _refused(parent_db, at_province, by_stranger) == "SIGNATURE_INVALID"
    bad_proof = {**keys.announcement(CITY, rotation), "proof": payload["proof"]}
    wire = envelope.make_envelope(old, CITY, PROVINCE, province.public_bundle(), keys.KIND, bad_proof)[1]
    assert _refused(parent_db, at_province, wire) == "KEY_PROOF_INVALID"
    swapped = {**keys.announcement(CITY, rotation), "public_key": stranger.public_bundle()}
    wire = envelope.make_envelope(old, CITY, PROVINCE, province.public_bundle(), keys.KIND, swapped)[1]
    assert _refused(parent_db, at_province, wire) == "KEY_PROOF_INVALID"
    assert _city_key(parent_db) == (old.key_id, None, None)

    # The real one: the new key becomes current, the old one is accepted until the overlap ends.
    assert _deliver(parent_db, at_province, announcement)["receipt"]["result"]["key_id"] == rotation.new.key_id
    key_id, retiring, until = _city_key(parent_db)
    assert (key_id, retiring, until) == (rotation.new.key_id, old.key_id, rotation.overlap_until)
    assert _deliver(parent_db, at_province, announcement)["duplicate"] is True
    assert _applied(parent_db, at_province, _ping(rotation.new, province.public_bundle()))
    assert _applied(parent_db, at_province, signed_by_old)  # made before, arrives within the overlap
    # Sealed to the city's old key before the province knew better: the city still opens it.
    at_city = keys.node_context(city_settings)
    assert at_city.identity.key_id == rotation.new.key_id
    assert _deliver(db, at_city, sealed_to_old)["receipt"]["status"] == "applied"
    # …which the city's current key alone could not.
    with pytest.raises(envelope.EnvelopeRefused) as e:
        envelope.open_envelope(_ping(province, old.public_bundle(), PROVINCE, CITY), CITY, at_city.identity,
                               {PROVINCE: envelope.PeerKey(PROVINCE, "active", "sm", province.public_bundle())})
    assert e.value.code == "PAYLOAD_TAMPERED"

    # A child's signed poll (pull mode, checkpoint fetch) names no key: the old one serves during the overlap.
    assert _poll(parent_db, old) == CITY and _poll(parent_db, rotation.new) == CITY

    # After the overlap the old key is refused with no chore having run.
    clock.set_clock(lambda: rotation.overlap_until + timedelta(seconds=1))
    assert _refused(parent_db, at_province, _ping(old, province.public_bundle())) == "KEY_RETIRED"
    assert _poll(parent_db, old) == "SIGNATURE_INVALID" and _poll(parent_db, rotation.new) == CITY
    assert _applied(parent_db, at_province, _ping(rotation.new, province.public_bundle()))


def test_retire_key_ends_the_overlap_early(db: Database, parent_db: Database, var: Path) -> None:
    city_settings = _settings(var, db)
    old = node_key.node_identity(var, "sm")
    province = get_suite("sm").generate_identity()
    at_province = NodeContext(PROVINCE, "provincial", province)
    with db.session() as s:
        s.add(peer_row(PROVINCE, "parent", province))
    with parent_db.session() as s:
        s.add(peer_row(CITY, "child", old))
    with pytest.raises(DomainError) as e:
        keys.retire(db, city_settings, "cli", "无旧密钥")
    assert e.value.code == "NO_RETIRING_KEY"
    with pytest.raises(DomainError) as e:
        keys.rotate(db, city_settings, "cli", " ")
    assert e.value.code == "REASON_REQUIRED"
    rotation, _ = keys.rotate(db, city_settings, "cli", "密钥疑似泄露", 48)
    _deliver(parent_db, at_province, _outbox(db, keys.KIND)[0])
    assert _applied(parent_db, at_province, _ping(old, province.public_bundle()))
    ids, told = keys.retire(db, city_settings, "cli", "泄露处置：提前停用")
    assert ids == [old.key_id] and told == [PROVINCE]
    retire_wire = _outbox(db, keys.KIND)[1]
    assert envelope.parse(retire_wire)[0]["key_id"] == rotation.new.key_id  # told with the new key
    _deliver(parent_db, at_province, retire_wire)
    assert _refused(parent_db, at_province, _ping(old, province.public_bundle())) == "KEY_RETIRED"
    assert [k["status"] for k in node_key.key_list(var, "sm")] == ["retired", "current"]
    with parent_db.session() as s:
        actions = [e.action for e in s.execute(select(audit.AuditEvent)).scalars()]
    assert "peer.key_rotated" in actions and "peer.key_retired" in actions
    with db.session() as s:
        actions = [e.action for e in s.execute(select(audit.AuditEvent)).scalars()]
    assert "node.key_rotated" in actions and "node.key_retired" in actions


def test_the_network_page_lists_keys_and_lets_security_rotate(db: Database, login, tmp_path: Path  # noqa: ANN001, F811
                                                               ) -> None:
    var_dir = tmp_path / "var"
    first = node_key.node_identity(var_dir, "sm")
    with db.session() as s:
        s.add(peer_row(CITY, "child", get_suite("sm").generate_identity()))
    operator, security = login("operator"), login("security")
    page = operator.get("/network").text
    assert "节点密钥" in page and first.key_id in page and "/network/keys/rotate" not in page
    # once, in the page's body: not in its <title> or <head>
    title = page.split("<title>", 1)[1].split("</title>", 1)[0]
    assert page.count('id="node-keys"') == 1 and "节点网络" in title and "<" not in title
    assert operator.post("/network/keys/rotate", data={"reason": "想轮换", "csrf_token": operator.csrf}
                         ).status_code == 403
    assert "/network/keys/rotate" in security.get("/network").text
    r = security.post("/network/keys/rotate", data={"reason": " ", "csrf_token": security.csrf})
    assert r.status_code == 422 and "请填写密钥轮换的理由" in r.text
    r = security.post("/network/keys/rotate", data={"reason": "年度轮换", "overlap_hours": "72",
                                                    "csrf_token": security.csrf}, follow_redirects=False)
    assert r.status_code == 303
    page = security.get(r.headers["location"]).text
    new = node_key.node_identity(var_dir, "sm")
    assert new.key_id != first.key_id and new.key_id in page and "重叠期内" in page
    # Receipts name their key: the node-key endpoint gives the current key and every earlier one.
    served = security.get("/api/v1/access/node-key").json()
    assert served["key_id"] == new.key_id and set(served["published"]) == {first.key_id, new.key_id}
    with db.session() as s:
        event = s.execute(select(audit.AuditEvent).where(audit.AuditEvent.action == "node.key_rotated")).scalar_one()
        assert event.actor == "security" and event.detail["reason"] == "年度轮换"
        assert s.execute(select(OutboxEnvelope.recipient).where(OutboxEnvelope.kind == keys.KIND)).scalar_one() == CITY


# ── real processes ──────────────────────────────────────────────────────────────────────────────────────

@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Node]]:
    if PG_URL:
        pytest.skip("the real-process rotation test runs on SQLite")
    root = tmp_path_factory.mktemp("keys")
    national = Node("CN", "national", "全国中小企业融资综合信用服务平台", root / "national")
    province = Node(PROVINCE, "provincial", "黑龙江省融资信用服务平台", root / "province")
    try:
        national.init()
        national.start()
        province.init(parent=national)
        province.start()
        province.apply_to(national, region="23")
        yield {"national": national, "province": province}
    finally:
        national.kill()
        province.kill()


def _identity(node: Node, path: Path | None = None) -> Identity:
    if path is None:
        return load_or_create_identity(node.root / "var", "sm", node.env[ENV_PASSPHRASE])
    return read_keyfile(path, node.env[ENV_PASSPHRASE])


def _post(node: Node, wire: bytes) -> httpx.Response:
    return httpx.post(node.url + "/api/v1/network/inbox", content=wire, timeout=60)


def _peer_row(node: Node, code: str) -> dict[str, Any]:
    db = node.db()
    try:
        with db.session() as s:
            p = s.get(Peer, code)
            return {"key_id": p.key_id, "retiring_key_id": p.retiring_key_id, "retiring_until": p.retiring_until}
    finally:
        db.dispose()


def test_rotating_a_running_child_key(pair: dict[str, Node]) -> None:
    national, province = pair["national"], pair["province"]
    parent_id, old = _identity(national), _identity(province)
    sealed_to_old = _ping(parent_id, old.public_bundle(), "CN", PROVINCE)  # before the parent learns the new key
    signed_by_old = _ping(old, parent_id.public_bundle(), PROVINCE, "CN")

    out = province.cli("node", "rotate-key", "--reason", "年度轮换", "--overlap-hours", "24", "--by", "sec-officer")
    assert "密钥已轮换" in out.stdout and "CN" in out.stdout
    new = _identity(province, current_key_file(province.root / "var" / "keys"))
    assert new.key_id != old.key_id
    # The running parent applies the announcement the running child pushed; the child's server moved to the
    # new key without a restart.
    wait_for(lambda: _peer_row(national, PROVINCE)["key_id"] == new.key_id, 30)
    assert _peer_row(national, PROVINCE)["retiring_key_id"] == old.key_id
    wait_for(lambda: httpx.get(province.url + "/api/v1/network/node").json()["key_id"] == new.key_id, 15)
    listing = province.cli("node", "keys").stdout
    assert f"{old.key_id}  sm" in listing and "重叠期内" in listing and f"{new.key_id}  sm" in listing

    # The child's next envelopes, signed by its server with the new key, are accepted; the parent's answer,
    # sealed to the new key, opens at the child.
    province.cli("network", "reconcile", "--days", "1", "--force")
    wait_for(lambda: national.count("SELECT count(*) FROM inbox WHERE sender=:p AND kind='reconcile'",
                                    p=PROVINCE) >= 1, 30)
    wait_for(lambda: province.count("SELECT count(*) FROM inbox WHERE sender='CN' AND kind='reconcile'") >= 1, 30)
    assert province.count("SELECT count(*) FROM outbox WHERE status='failed'") == 0
    assert national.count("SELECT count(*) FROM outbox WHERE status='failed'") == 0

    # An envelope signed with the old key before the rotation is still accepted within the overlap …
    assert _post(national, signed_by_old).status_code == 200
    # … and one the parent sealed to the old key still opens at the child.
    r = _post(province, sealed_to_old)
    assert r.status_code == 200, r.text
    # A forged announcement (signed by a stranger) is refused and changes nothing.
    stranger = get_suite("sm").generate_identity()
    fake = keys.announcement(PROVINCE, node_key.Rotation(new, stranger, datetime.now(UTC) + timedelta(hours=1)))
    wire = envelope.make_envelope(stranger, PROVINCE, "CN", parent_id.public_bundle(), keys.KIND, fake)[1]
    r = _post(national, wire)
    assert (r.status_code, r.json()["error"]) == (401, "SIGNATURE_INVALID")
    # Signed by the child's real current key, but the proof was not made by the announced key.
    bad = {**fake, "proof": keys.announcement(PROVINCE, node_key.Rotation(new, new, datetime.now(UTC)))["proof"]}
    r = _post(national, envelope.make_envelope(new, PROVINCE, "CN", parent_id.public_bundle(), keys.KIND, bad)[1])
    assert (r.status_code, r.json()["error"]) == (400, "KEY_PROOF_INVALID")
    assert _peer_row(national, PROVINCE)["key_id"] == new.key_id

    # retire-key ends the overlap: the parent then refuses the old key.
    province.cli("node", "retire-key", "--reason", "提前停用")
    wait_for(lambda: (u := _peer_row(national, PROVINCE)["retiring_until"]) is not None
             and u <= datetime.now(UTC), 30)
    r = _post(national, _ping(old, parent_id.public_bundle(), PROVINCE, "CN"))
    assert (r.status_code, r.json()["error"]) == (401, "KEY_RETIRED")
    assert _post(national, _ping(new, parent_id.public_bundle(), PROVINCE, "CN")).status_code == 200
    assert national.count("SELECT count(*) FROM inbox WHERE sender=:p AND kind='key_rotation'", p=PROVINCE) == 2

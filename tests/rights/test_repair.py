"""Credit repair as a service: who may apply for which record and when, what an application must carry, and
what approval does — a new version that says 已信用修复, the old one kept, evaluations before the repair date
unchanged, the providing department told, the new version relayed to the nodes that hold the record."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.rights.repair_world import (
    ENTERPRISE,
    OPERATOR,
    PDF,
    REGULATOR,
    admin,
    evidence_files,
    penalty,
    seed,
)
from xinyidai.catalog import publication
from xinyidai.catalog.schema import Catalog
from xinyidai.credit.features import entity_features
from xinyidai.kit import clock
from xinyidai.kit.audit import AuditEvent
from xinyidai.kit.crypto.suite import get_suite
from xinyidai.kit.db import Database
from xinyidai.kit.errors import DomainError
from xinyidai.kit.notify import FileNotifier
from xinyidai.network import relay
from xinyidai.network.models import OutboxEnvelope, Peer
from xinyidai.records.models import CreditRecord
from xinyidai.rights import commitments, repair
from xinyidai.rights.evidence import Upload
from xinyidai.rights.models import CaseStep, Commitment, Evidence, RepairApplication

TODAY = date(2026, 11, 15)


@pytest.fixture
def world(db: Database, catalog: Catalog) -> dict[str, int]:
    with db.session() as s:
        ids = seed(s, catalog)
        admin(s)
        admin(s, "ent_staff", is_admin=False)
    return ids


def _admin(db: Database, username: str = "ent_admin"):  # noqa: ANN202
    from xinyidai.accounts.models import User
    from xinyidai.kit.principal import Principal
    with db.session() as s:
        u = s.execute(select(User).where(User.username == username)).scalar_one()
        return Principal(u.id, u.username, u.display_name, "enterprise", u.org_code)


def _refused(fn, code: str) -> DomainError:  # noqa: ANN001
    with pytest.raises(DomainError) as exc:
        fn()
    assert exc.value.code == code, (exc.value.code, exc.value.message)
    return exc.value


def _apply(db: Database, catalog: Catalog, record_id: int, *, files: list[Upload] | None = None,
           digest: str | None = None, grounds: str = "罚款已于 2026-06-20 缴清，虚假宣传已全部下架整改") -> str:
    p = _admin(db)
    with db.session() as s:
        if digest is None:
            _, _, digest = repair.preview_commitment(s, catalog, p, record_id)
        a = repair.apply(s, catalog, p, record_id, grounds=grounds,
                         files=evidence_files() if files is None else files, commitment_digest=digest)
        return a.number


def _nothing_stored(db: Database) -> None:
    with db.session() as s:
        for model in (RepairApplication, Commitment, Evidence, CaseStep):
            assert s.execute(select(func.count()).select_from(model)).scalar_one() == 0, model


def test_the_window_of_each_record(world, db: Database, catalog: Catalog) -> None:  # noqa: ANN001
    with db.session() as s:
        rows = {r["record"].id: r for r in repair.penalty_records(s, catalog, ENTERPRISE, TODAY)}
    assert set(rows) == {world["ripe"], world["early"], world["fire"], world["ended"]}  # not the other's
    ripe, fire, ended = rows[world["ripe"]], rows[world["fire"]], rows[world["ended"]]
    assert ripe["window"].earliest_repair == date(2026, 9, 1) and ripe["window"].ends == date(2029, 6, 1)
    assert ripe["state"] == "public" and ripe["may_apply"]
    assert fire["window"].earliest_repair == date(2027, 6, 1) and not fire["may_apply"]
    assert ended["state"] == "ended" and not ended["may_apply"]


def test_an_early_repair_is_refused_with_the_date(world, db: Database, catalog: Catalog) -> None:  # noqa: ANN001
    p = _admin(db)
    with db.session() as s:
        e = _refused(lambda: repair.preview_commitment(s, catalog, p, world["early"]), "REPAIR_TOO_EARLY")
        assert e.message == "最短公示期至 2027-01-01 届满，届满后方可申请"
        e = _refused(lambda: repair.preview_commitment(s, catalog, p, world["fire"]), "REPAIR_TOO_EARLY")
        assert "2027-06-01" in e.message  # 消防: a year's minimum (58号令 第十条)
    _refused(lambda: _apply(db, catalog, world["early"], digest="0" * 64), "REPAIR_TOO_EARLY")
    _nothing_stored(db)


def test_another_entitys_record_ended_and_unknown_ones_are_refused(world, db: Database, catalog: Catalog) -> None:  # noqa: ANN001
    p = _admin(db)
    with db.session() as s:
        _refused(lambda: repair.preview_commitment(s, catalog, p, world["other"]), "REPAIR_RECORD_NOT_FOUND")
        _refused(lambda: repair.preview_commitment(s, catalog, p, 10**9), "REPAIR_RECORD_NOT_FOUND")
        e = _refused(lambda: repair.preview_commitment(s, catalog, p, world["ended"]), "REPAIR_NOT_NEEDED")
        assert "2025-06-30" in e.message
    _refused(lambda: _apply(db, catalog, world["other"], digest="0" * 64), "REPAIR_RECORD_NOT_FOUND")
    staff = _admin(db, "ent_staff")  # a colleague, not the administrator
    with db.session() as s:
        _refused(lambda: repair.preview_commitment(s, catalog, staff, world["ripe"]), "ORG_ADMIN_ONLY")
    _nothing_stored(db)


@pytest.mark.parametrize(("files", "digest", "grounds", "code"), [
    ([], None, "罚款已缴清并整改完毕", "REPAIR_EVIDENCE_REQUIRED"),
    ([Upload("空.pdf", b"")], None, "罚款已缴清并整改完毕", "REPAIR_EVIDENCE_REQUIRED"),
    (None, "", "罚款已缴清并整改完毕", "REPAIR_COMMITMENT_REQUIRED"),
    (None, "ab" * 32, "罚款已缴清并整改完毕", "COMMITMENT_TEXT_CHANGED"),
    (None, None, "", "REPAIR_GROUNDS_REQUIRED"),
    ([Upload("证明.pdf", b"MZ\x90\x00" + b"\x00" * 64)], None, "罚款已缴清并整改完毕", "EVIDENCE_DISGUISED"),
])
def test_an_incomplete_application_is_refused_and_nothing_is_stored(  # noqa: PLR0913
        world, db: Database, catalog: Catalog, files, digest, grounds, code) -> None:  # noqa: ANN001
    e = _refused(lambda: _apply(db, catalog, world["ripe"], files=files, digest=digest, grounds=grounds), code)
    assert e.message
    _nothing_stored(db)


def test_one_open_application_per_record(world, db: Database, catalog: Catalog) -> None:  # noqa: ANN001
    number = _apply(db, catalog, world["ripe"])
    e = _refused(lambda: _apply(db, catalog, world["ripe"], digest="0" * 64), "REPAIR_ALREADY_OPEN")
    assert number in e.message
    with db.session() as s:
        a = repair.get(s, _admin(db), number)
        assert a.state == "submitted" and a.number.startswith("XF20261115")
        c = repair.commitment_of(s, a)
        assert c is not None and c.kind == "repair" and c.scope == "penalty" and "哈市监罚〔2026〕101号" in c.text
        assert [x.action for x in repair.steps(s, a)] == ["submitted"]
        assert s.execute(select(Evidence.size_bytes).where(Evidence.case_id == a.id)).scalar_one() == len(PDF)


def test_approval_makes_a_new_version_and_keeps_history(world, db: Database, catalog: Catalog, tmp_path: Path) -> None:  # noqa: ANN001
    with db.session() as s:
        before_yesterday, n = entity_features(s, ENTERPRISE, TODAY - timedelta(days=1))
        assert n and before_yesterday["penalties_3y"] >= 3  # ripe, early and fire at least
    number = _apply(db, catalog, world["ripe"])
    notifier = FileNotifier(tmp_path / "sms.log")
    with db.session() as s:
        _refused(lambda: repair.approve(s, catalog, OPERATOR, number, ""), "REASON_REQUIRED")
        _refused(lambda: repair.approve(s, catalog, REGULATOR, number, "同意"), "ROLE_FORBIDDEN")
        a = repair.approve(s, catalog, OPERATOR, number, "材料齐全，罚款已缴清，同意修复", notifier)
        assert a.state == "approved" and a.repaired_on == TODAY
        new = s.get(CreditRecord, a.new_record_id)
        old = s.get(CreditRecord, world["ripe"])
        assert new.status == "current" and new.version == 2 and old.status == "superseded"
        content = json.loads(new.content)
        assert content["credit_repaired"] is True and content["publicity_until"] == TODAY.isoformat()
        w = publication.window(catalog.category("penalty"), content)
        assert w is not None and w.state(TODAY) == "repaired" and not w.public_on(TODAY)
        assert [x.action for x in repair.steps(s, a)] == ["submitted", "approved", "notified"]
        assert s.execute(select(AuditEvent.entity_code).where(AuditEvent.action == "rights.repair.approved")
                         ).scalar_one() == ENTERPRISE
        _refused(lambda: repair.approve(s, catalog, OPERATOR, number, "再次"), "REPAIR_NOT_OPEN")
    [sms] = notifier.messages()
    assert sms["to"] == "13800000009" and number in sms["message"] and sms["kind"] == "credit_repair"
    with db.session() as s:
        yesterday, _ = entity_features(s, ENTERPRISE, TODAY - timedelta(days=1))
        today, _ = entity_features(s, ENTERPRISE, TODAY)
    assert yesterday == before_yesterday  # history is not rewritten
    assert today["penalties_3y"] == before_yesterday["penalties_3y"] - 1  # the repaired one no longer counts
    with db.session() as s:  # a repaired record cannot be applied for again
        _refused(lambda: repair.preview_commitment(s, catalog, _admin(db), world["ripe"]),
                 "REPAIR_ALREADY_REPAIRED")


def test_refusal_and_withdrawal(world, db: Database, catalog: Catalog) -> None:  # noqa: ANN001
    number = _apply(db, catalog, world["ripe"])
    with db.session() as s:
        _refused(lambda: repair.refuse(s, OPERATOR, number, " "), "REASON_REQUIRED")
        a = repair.refuse(s, OPERATOR, number, "缴款凭证与决定书金额不符")
        assert a.state == "refused" and a.decision_note == "缴款凭证与决定书金额不符"
        assert s.get(CreditRecord, world["ripe"]).status == "current"  # the record is untouched
    again = _apply(db, catalog, world["ripe"], digest=None)  # a refused application leaves the way open
    with db.session() as s:
        assert repair.withdraw(s, _admin(db), again).state == "withdrawn"
        _refused(lambda: repair.withdraw(s, _admin(db), again), "REPAIR_NOT_OPEN")
        _refused(lambda: repair.get(s, _admin(db), "XF000"), "REPAIR_NOT_FOUND")


def test_the_repaired_version_travels_to_the_nodes_that_hold_the_record(world, db: Database, catalog: Catalog) -> None:  # noqa: ANN001
    """A penalty relayed here from the city node below: its repaired version goes back down to that node (its
    origin) and up to the national node."""
    ident = get_suite("sm").generate_identity()
    with db.session() as s:
        for code, relation, prefix in (("CN", "parent", None), ("CN-230100", "child", "2301")):
            s.add(Peer(code=code, name=code, role="national" if relation == "parent" else "municipal",
                       relation=relation, suite="sm", public_key=dict(ident.public_bundle()), key_id=ident.key_id,
                       status="active", assessment={}, applied_at=clock.now(), mode="push",
                       region_prefix=prefix))
        relayed = penalty(s, catalog, ENTERPRISE, "哈市监罚〔2026〕404号", "2026-05-05")
        relayed.origin_node = relayed.via_node = "CN-230100"
    ctx = relay.NodeContext("CN-230000", "provincial", ident)

    def queued() -> tuple[int, int]:
        with db.session() as s:
            up, down = relay.collect_uploads(s, ctx), relay.collect_downloads(s, ctx)
            s.commit()
            return up, down

    assert queued() == (6, 5)  # everything once: the relayed record goes up, but not back down to its origin
    number = _apply(db, catalog, relayed.id)
    with db.session() as s:
        repair.approve(s, catalog, OPERATOR, number, "同意修复")
    assert queued() == (1, 1)
    with db.session() as s:
        sent = dict(s.execute(select(OutboxEnvelope.recipient, func.sum(OutboxEnvelope.items))
                              .group_by(OutboxEnvelope.recipient)).all())
    assert sent == {"CN": 7, "CN-230100": 6}


def test_the_penalty_list_has_no_window_without_one(world, db: Database, catalog: Catalog) -> None:  # noqa: ANN001
    with db.session() as s:
        r = penalty(s, catalog, ENTERPRISE, "无日期", "2026-06-01")
        assert commitments.valid_until("general", TODAY) == date(2027, 11, 15)
        assert commitments.valid_until("self_report", TODAY) is None
        assert repair.current_version(s, ENTERPRISE, r.id).id == r.id


def test_the_cli_lists_and_shows_applications(world, db: Database, catalog: Catalog, tmp_path: Path,  # noqa: ANN001
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from typer.testing import CliRunner

    from xinyidai.cli import app
    number = _apply(db, catalog, world["ripe"])
    for k in list(os.environ):
        if k.startswith("XINYIDAI_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("XINYIDAI_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("XINYIDAI_DATABASE_URL", db.url)
    runner = CliRunner()
    listed = runner.invoke(app, ["rights", "repair", "list"])
    assert listed.exit_code == 0 and number in listed.output and "共 1 件" in listed.output
    assert "共 0 件" in runner.invoke(app, ["rights", "repair", "list", "--state", "approved"]).output
    assert runner.invoke(app, ["rights", "repair", "list", "--state", "nonsense"]).exit_code == 2
    shown = runner.invoke(app, ["rights", "repair", "show", number])
    assert shown.exit_code == 0 and "罚款缴纳凭证.pdf" in shown.output and "提交申请" in shown.output
    missing = runner.invoke(app, ["rights", "repair", "show", "XF0"])
    assert missing.exit_code == 2 and "REPAIR_NOT_FOUND" in missing.output

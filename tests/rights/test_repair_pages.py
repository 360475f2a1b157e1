"""The repair and commitment pages over HTTP for each role: the administrator applies with evidence and the
commitment in one form, sees only its own records and applications; a colleague cannot apply; the operator
approves or refuses with a reason; a regulator reads; a bank sees nothing; a general commitment is signed by
preview → confirm and a broken one is flagged to the operator."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.rights.repair_world import ENTERPRISE, OTHER, PDF, admin, client, make_app, penalty, seed, staff
from xinyidai.catalog.schema import Catalog
from xinyidai.kit.db import Database
from xinyidai.records.models import CreditRecord
from xinyidai.rights import commitments
from xinyidai.rights.models import Commitment, RepairApplication


@pytest.fixture
def world(db: Database, catalog: Catalog) -> dict[str, int]:
    with db.session() as s:
        ids = seed(s, catalog)
        staff(s)
        admin(s)
        admin(s, "other_admin", OTHER)
    return ids


@pytest.fixture
def login(world, db: Database, tmp_path: Path) -> Iterator[Callable[[str], TestClient]]:  # noqa: ANN001
    app = make_app(db, tmp_path / "var")
    clients: list[TestClient] = []

    def _login(username: str) -> TestClient:
        clients.append(client(app, db, username))
        return clients[-1]

    yield _login
    for c in clients:
        c.close()


def _digest(html: str) -> str:
    m = re.search(r'name="text_digest" value="([0-9a-f]{64})"', html)
    assert m, "no commitment digest on the page"
    return m.group(1)


def _apply(c, record: int, *, files: list | None = None, digest: str | None = None, grounds: str = "罚款已缴清，已整改"):  # noqa: ANN001, ANN202
    form = c.get(f"/my/repairs/new?record={record}")
    assert form.status_code == 200, form.text
    return c.post("/my/repairs/new", data={"csrf_token": c.csrf, "record": str(record), "grounds": grounds,
                                           "text_digest": _digest(form.text) if digest is None else digest},
                  files=files if files is not None else [("files", ("缴款凭证.pdf", PDF, "application/pdf"))],
                  follow_redirects=False)


def test_the_enterprise_applies_and_the_operator_approves(world, login, db: Database) -> None:  # noqa: ANN001
    ent = login("ent_admin")
    mine = ent.get("/my/repairs")
    assert mine.status_code == 200 and "哈市监罚〔2026〕101号" in mine.text and "哈市监罚〔2026〕303号" not in mine.text
    assert f"/my/repairs/new?record={world['ripe']}" in mine.text and "2027-01-01 起可申请" in mine.text
    assert "公示期满，停止公示" in mine.text
    r = _apply(ent, world["ripe"])
    assert r.status_code == 303, r.text
    number = r.headers["location"].split("/")[-1].split("?")[0]
    page = ent.get(f"/my/repairs/{number}?done=submitted")
    assert page.status_code == 200 and "信用修复申请已提交" in page.text and 'data-state="submitted"' in page.text
    assert "信用修复承诺书" in page.text and "缴款凭证.pdf" in page.text
    ev = re.search(rf"/my/repairs/{number}/evidence/(\d+)", page.text).group(1)  # type: ignore[union-attr]
    download = ent.get(f"/my/repairs/{number}/evidence/{ev}")
    assert download.status_code == 200 and download.content == PDF and "attachment" in download.headers[
        "content-disposition"]

    reg = login("regulator")
    assert number in reg.get("/rights/repairs").text
    detail = reg.get(f"/rights/repairs/{number}")
    assert detail.status_code == 200 and 'id="approve-form"' not in detail.text
    assert reg.get(f"/rights/repairs/{number}/evidence/{ev}").content == PDF
    assert reg.post(f"/rights/repairs/{number}/approve", data={"csrf_token": reg.csrf, "note": "同意"}  # type: ignore[attr-defined]
                    ).status_code == 403

    op = login("operator")
    queue = op.get("/rights/repairs?state=submitted&sort=applied_at")
    assert queue.status_code == 200 and number in queue.text and "哈尔滨信易测试有限公司" in queue.text
    bad = op.post(f"/rights/repairs/{number}/approve", data={"csrf_token": op.csrf, "note": ""})  # type: ignore[attr-defined]
    assert bad.status_code == 422 and 'data-code="REASON_REQUIRED"' in bad.text
    done = op.post(f"/rights/repairs/{number}/approve", data={"csrf_token": op.csrf, "note": "材料齐全，同意修复"})  # type: ignore[attr-defined]
    assert done.status_code == 200 and 'data-state="approved"' in done.text and "已信用修复，停止公示" in done.text
    assert 'data-action="notified"' in done.text
    with db.session() as s:
        versions = s.execute(select(CreditRecord.status, CreditRecord.version).where(
            CreditRecord.record_key == "哈市监罚〔2026〕101号").order_by(CreditRecord.version)).all()
    assert versions == [("superseded", 1), ("current", 2)]
    assert "2026-11-15" in ent.get(f"/my/repairs/{number}").text


def test_bad_applications_come_back_on_the_form(world, login, db: Database) -> None:  # noqa: ANN001
    ent = login("ent_admin")
    early = ent.get(f"/my/repairs/new?record={world['early']}")
    assert early.status_code == 422 and 'data-code="REPAIR_TOO_EARLY"' in early.text
    assert "最短公示期至 2027-01-01 届满，届满后方可申请" in early.text and 'id="repair-form"' not in early.text
    assert ent.get(f"/my/repairs/new?record={world['other']}").status_code == 404
    assert ent.get(f"/my/repairs/new?record={2**63}").status_code == 422
    no_file = _apply(ent, world["ripe"], files=[])
    assert no_file.status_code == 422 and 'data-code="REPAIR_EVIDENCE_REQUIRED"' in no_file.text
    assert "罚款已缴清，已整改" in no_file.text  # the grounds as typed
    unsigned = _apply(ent, world["ripe"], digest="")
    assert unsigned.status_code == 422 and 'data-code="REPAIR_COMMITMENT_REQUIRED"' in unsigned.text
    changed = _apply(ent, world["ripe"], digest="ab" * 32)
    assert changed.status_code == 409 and 'data-code="COMMITMENT_TEXT_CHANGED"' in changed.text
    exe = _apply(ent, world["ripe"], files=[("files", ("凭证.pdf", b"MZ\x90\x00" + b"\0" * 100, "application/pdf"))])
    assert exe.status_code == 422 and 'data-code="EVIDENCE_DISGUISED"' in exe.text
    other = ent.post("/my/repairs/new", data={"csrf_token": ent.csrf, "record": str(world["other"]),  # type: ignore[attr-defined]
                                              "grounds": "不是我们的", "text_digest": "0" * 64},
                     files=[("files", ("a.pdf", PDF, "application/pdf"))])
    assert other.status_code == 404
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(RepairApplication)).scalar_one() == 0
        assert s.execute(select(func.count()).select_from(Commitment)).scalar_one() == 0


def test_roles_see_only_what_is_theirs(world, login) -> None:  # noqa: ANN001
    ent = login("ent_admin")
    number = _apply(ent, world["ripe"]).headers["location"].split("/")[-1].split("?")[0]
    other = login("other_admin")
    assert other.get(f"/my/repairs/{number}").status_code == 404
    assert other.get(f"/my/repairs/{number}/evidence/1").status_code == 404
    assert number not in other.get("/my/repairs").text
    staff = login("enterprise")  # the enterprise's colleague: reads, cannot apply
    assert number in staff.get("/my/repairs").text and "可由管理员申请" not in staff.get("/my/repairs").text
    refused = staff.get(f"/my/repairs/new?record={world['fire']}")
    assert refused.status_code in (403, 422)
    assert staff.post(f"/my/repairs/{number}/withdraw", data={"csrf_token": staff.csrf}).status_code == 403  # type: ignore[attr-defined]
    bank = login("bank")
    for path in ("/rights/repairs", f"/rights/repairs/{number}", "/rights/commitments", "/my/repairs"):
        assert bank.get(path).status_code == 403, path
    assert ent.get("/rights/repairs").status_code == 403
    op = login("operator")
    r = op.post(f"/rights/repairs/{number}/refuse", data={"csrf_token": op.csrf, "note": "凭证金额不符"})  # type: ignore[attr-defined]
    assert r.status_code == 200 and 'data-state="refused"' in r.text
    assert "凭证金额不符" in ent.get(f"/my/repairs/{number}").text


def test_a_general_commitment_is_signed_and_a_broken_one_flagged(world, login, db: Database, catalog: Catalog) -> None:  # noqa: ANN001
    ent = login("ent_admin")
    page = ent.get("/my/commitments")
    assert page.status_code == 200 and 'id="commitment-form"' in page.text
    empty = ent.post("/my/commitments/preview", data={"csrf_token": ent.csrf})  # type: ignore[attr-defined]
    assert empty.status_code == 422 and 'data-code="COMMITMENT_SCOPE_REQUIRED"' in empty.text
    preview = ent.post("/my/commitments/preview", data={"csrf_token": ent.csrf, "scope": "penalty"})  # type: ignore[attr-defined]
    assert preview.status_code == 200 and "信用承诺书（主动型）" in preview.text
    bad = ent.post("/my/commitments", data={"csrf_token": ent.csrf, "scope": "penalty", "text_digest": "0" * 64})  # type: ignore[attr-defined]
    assert bad.status_code == 409 and 'data-code="COMMITMENT_TEXT_CHANGED"' in bad.text
    r = ent.post("/my/commitments", data={"csrf_token": ent.csrf, "scope": "penalty",  # type: ignore[attr-defined]
                                          "text_digest": _digest(preview.text)}, follow_redirects=False)
    assert r.status_code == 303
    number = r.headers["location"].split("/")[-1].split("?")[0]
    assert 'data-state="live"' in ent.get(f"/my/commitments/{number}?done=signed").text
    assert login("other_admin").get(f"/my/commitments/{number}").status_code == 404
    assert 'id="commitment-form"' not in login("enterprise").get("/my/commitments").text  # not the administrator
    with db.session() as s:
        penalty(s, catalog, ENTERPRISE, "哈市监罚〔2026〕600号", "2026-11-15")
        s.get(CreditRecord, 1)
    with db.session() as s:
        late = penalty(s, catalog, ENTERPRISE, "哈市监罚〔2026〕601号", "2026-11-16")
        assert commitments.check_broken(s, date(2026, 11, 16), catalog) == 1
        assert late.id
    assert 'data-state="broken"' in ent.get(f"/my/commitments/{number}").text
    assert "哈市监罚〔2026〕601号" in ent.get(f"/my/commitments/{number}").text
    op = login("operator")
    flagged = op.get("/rights/commitments?broken=true&sort=broken_at")
    assert flagged.status_code == 200 and number in flagged.text and 'data-broken="1"' in flagged.text
    assert number not in op.get("/rights/commitments?kind=repair").text
    assert login("regulator").get(f"/rights/commitments/{number}").status_code == 200

"""Issue 19: a record under objection (异议处理中), or one whose objection ended undetermined (存在异议, both
statements), carries its mark in every place it shows — here the services behind banks' profile and
detail, verification answers and their signed receipts, the report (document and PDF) and the public
evaluation's explanation. The pages are in test_marks_pages.py."""

from __future__ import annotations

import io

import orjson
import pytest
from pypdf import PdfReader

from tests.access.conftest import BANK_A, ENTITY
from tests.rights.test_marks_world import (
    DISPUTE_REF,
    ENTERPRISE_SAYS,
    OBJECTION_NOTE,
    OBJECTION_REF,
    PROVIDER_SAYS,
    PUBLISHED,
    build,
    grant,
)
from xinyidai.access import sharing, verification
from xinyidai.access.policy import default_policy
from xinyidai.credit import evaluation
from xinyidai.kit.crypto.suite import get_suite
from xinyidai.kit.node_key import signer_for, verify_signature
from xinyidai.kit.principal import Principal
from xinyidai.records import marks
from xinyidai.reports import pdf
from xinyidai.reports import service as reports

POLICY = default_policy()
BANK = sharing.actor_of(Principal(0, "officer-a", "龙江银行", "bank", BANK_A))


@pytest.fixture
def world(db, catalog):  # noqa: ANN001, ANN201
    build(db, catalog)


def test_profile_names_the_marks_of_the_records_it_rests_on(db, catalog, world) -> None:  # noqa: ANN001
    grant(db, catalog, "汇总查询", ["tax"])
    with db.session() as s:
        out = sharing.profile(s, catalog, POLICY, BANK, ENTITY)
    [mark] = out["categories"]["penalty"]["marks"]
    assert mark == {"kind": "objection", "label": "异议处理中", "ref": OBJECTION_REF, "note": mark["note"]}
    assert OBJECTION_NOTE in mark["note"]
    [dispute] = out["categories"]["tax"]["marks"]
    assert dispute["kind"] == "disputed" and ENTERPRISE_SAYS in dispute["note"] and PROVIDER_SAYS in dispute["note"]
    assert out["categories"]["judicial"]["marks"] == []


def test_detail_rows_carry_their_marks(db, catalog, world) -> None:  # noqa: ANN001
    with db.session() as s:
        out = sharing.detail(s, catalog, POLICY, BANK, ENTITY, "penalty")
    by_no = {r["fields"]["decision_no"]: r["marks"] for r in out["rows"]}
    assert by_no == {PUBLISHED: [{"kind": "objection", "label": "异议处理中", "ref": OBJECTION_REF,
                                  "note": by_no[PUBLISHED][0]["note"]}]}


def test_a_lifted_mark_is_no_longer_shown(db, catalog, world) -> None:  # noqa: ANN001
    with db.session() as s:
        assert marks.lift(s, OBJECTION_REF) == 1
        s.commit()
        out = sharing.detail(s, catalog, POLICY, BANK, ENTITY, "penalty")
    assert [r["marks"] for r in out["rows"]] == [[]]


def test_a_verification_answer_on_a_marked_record_says_so_in_its_receipt(db, catalog, world) -> None:  # noqa: ANN001
    grant(db, catalog, "核验比对", ["tax"])
    claims = [verification.Claim(category="tax", item="tax_paid", op="ge", value="1", aggregate="sum",
                                 period_from="2025-03", period_to="2025-03"),
              verification.Claim(category="tax", item="tax_paid", op="ge", value="1", aggregate="sum",
                                 period_from="2025-05", period_to="2025-06")]
    signer = signer_for(get_suite("sm").generate_identity())
    actor = sharing.actor_of(Principal(0, "officer-a", "龙江银行", "bank", BANK_A), "req-marks-1")
    with db.session() as s:
        out = verification.verify(s, catalog, POLICY, signer, "CN-230000", actor, ENTITY, claims)
        s.commit()
    first, second = out["results"]
    assert first["outcome"] == "match" and DISPUTE_REF in first["disputed"] and PROVIDER_SAYS in first["disputed"]
    assert "disputed" not in second
    signed = out["receipt"]["statement"]["results"]
    assert DISPUTE_REF in signed[0]["disputed"] and "disputed" not in signed[1]
    receipt = out["receipt"]  # the note is under the signature
    assert verify_signature(receipt["suite"], signer.public_key, verification.receipt_message(receipt),
                            bytes.fromhex(receipt["signature"]))


def _report(db, catalog):  # noqa: ANN001, ANN202
    signer = signer_for(get_suite("sm").generate_identity())
    with db.session() as s:
        rep = reports.public_report(s, catalog, POLICY, signer, ENTITY, issuer="黑龙江省融资信用服务平台",
                                    node_code="CN-230000", actor="op", verify_base="http://testserver")
        s.commit()
        return reports.document_of(rep)


def test_the_report_footnotes_the_marked_row_and_names_the_objection_channel(db, catalog, world) -> None:  # noqa: ANN001
    doc = _report(db, catalog)
    negative = next(x for x in doc.sections if x.key == "negative")
    [table] = negative.tables
    [row] = table.rows  # only the published penalty: the ended and the repaired one are not in it
    assert row[0] == f"{PUBLISHED}〔注1〕"
    [note] = negative.notes
    assert note.startswith("注1：行政处罚（异议处理中）") and OBJECTION_NOTE in note
    assert "在“我的异议”中对具体记录提出（/my/objections）" in doc.sections[-1].paragraphs[-1]
    assert "可通过平台提出信用信息异议申请" not in orjson.dumps(doc.to_dict()).decode()
    # The deduction the penalty causes says the record is under objection; the score is what it was.
    assert "所依据的记录正在异议处理中，暂按现有记录计算，异议办结后重新评价" in negative.paragraphs[-1]


def test_the_pdf_carries_the_footnote(db, catalog, world) -> None:  # noqa: ANN001
    doc = _report(db, catalog)
    try:
        data = pdf.render_pdf(doc)
    except pdf.PdfFontMissing:
        pytest.skip("no Chinese font for the PDF")
    text = "".join("".join((p.extract_text() or "").split()) for p in PdfReader(io.BytesIO(data)).pages)
    assert "〔注1〕" in text
    assert "".join(OBJECTION_NOTE.split()) in text and "/my/objections" in text


def test_the_evaluation_says_a_deduction_rests_on_a_record_under_objection(db, catalog, world) -> None:  # noqa: ANN001
    with db.session() as s:
        marked = evaluation.evaluate_one(s, ENTITY, reports.clock.today())
        s.rollback()
        marks.lift(s, OBJECTION_REF)
        marks.lift(s, DISPUTE_REF)
        plain = evaluation.evaluate_one(s, ENTITY, reports.clock.today())
    assert (marked["score"], marked["grade"]) == (plain["score"], plain["grade"])  # the numbers do not change
    pen = next(x for x in marked["explained"] if x["indicator"] == "penalties")
    assert pen["points"] < 0 and pen["marked"] == evaluation.MARKED_DEDUCTION["objection"]
    assert any(evaluation.MARKED_DEDUCTION["objection"] in r for r in marked["reasons"])
    assert not any("异议" in r for r in plain["reasons"])
    assert all("marked" not in x for x in marked["explained"] if x["points"] > 0)

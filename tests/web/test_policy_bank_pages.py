"""The policy pages of banks, guarantors and enterprises over HTTP, on the policy world of tests/policy (bank A
and bank B's branch, a government guarantor, Harbin's finance officers): enrolment through the form, through
a CSV file (UTF-8 and GBK; a bad encoding, an empty file, duplicates, another bank's loan — each refused
clearly, nothing enrolled wrongly) and all at once; claims with evidence, one by one and by period; a pool's
compensation and recovery; a guarantor's contracts; what another bank cannot see; the enterprise's page."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from tests.market.conftest import market  # noqa: F401  (the fixture)
from tests.policy.conftest import (
    BANK_A,
    BRANCH_B,
    ENTITY,
    GUARANTOR_CODE,
    HRB_OFFICER,
    HRB_OFFICER_2,
    World,
    world,  # noqa: F401  (the fixture)
)
from tests.web.conftest import PASSWORD
from xinyidai.accounts.models import User
from xinyidai.accounts.users import create_user
from xinyidai.market import loans
from xinyidai.market.models import Loan
from xinyidai.policy import claims, flows, programmes
from xinyidai.policy.models import Claim, ClaimEvent, Enrolment, GuaranteeContract

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\n%%EOF\n"
# Whole files as far as kit.attachments looks: an image ends with its end marker (IEND, EOI).
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32 + b"\x00\x00\x00\x00IEND\xaeB`\x82"
JPG = b"\xff\xd8\xff\xe0" + b"\x00" * 32 + b"\xff\xd9"


@pytest.fixture
def pw(app, world: World) -> World:  # noqa: ANN001, F811
    """The web users on the policy world: `bank` at bank A, `bank-b` at bank B's branch, `guar` at the
    guarantor, `enterprise` at the Harbin enterprise the loans are made to."""
    with world.m.db.session() as s:
        s.execute(update(User).where(User.username == "bank").values(org_code=BANK_A))
        s.execute(update(User).where(User.username == "enterprise").values(org_code=ENTITY))
        create_user(s, username="bank-b", display_name="银行B客户经理", role="bank", password=PASSWORD,
                    org_code=BRANCH_B)
        create_user(s, username="guar", display_name="担保公司经办人", role="bank", password=PASSWORD,
                    org_code=GUARANTOR_CODE)
    return world


def _post(c: TestClient, url: str, data: dict[str, str] | None = None, files: dict[str, Any] | None = None):  # noqa: ANN202
    return c.post(url, data={"csrf_token": c.csrf, **(data or {})}, files=files,  # type: ignore[attr-defined]
                  follow_redirects=False)


def _alert(html: str) -> str:
    m = re.search(r'role="alert" data-code="([A-Z_]+)">([^<]*)', html)
    assert m, "no refusal on the page"
    return f"{m.group(1)} {m.group(2).strip()}"


def _enrolled(pw: World, number: str) -> set[str]:
    with pw.m.db.session() as s:
        prog = programmes.get(s, HRB_OFFICER, number)
        return set(s.execute(select(Enrolment.loan_no).where(Enrolment.programme_id == prog.id)).scalars())


def _file(name: str, data: bytes) -> dict[str, Any]:
    return {"file": (name, data, "text/csv")}


def _evidence(name: str, data: bytes) -> dict[str, Any]:
    return {"evidence": (name, data, "application/octet-stream")}


# ── roles and the overview ──────────────────────────────────────────────────────────────────────────────

def test_pages_belong_to_their_roles(pw: World, login) -> None:  # noqa: ANN001
    with pw.m.db.session() as s:
        number = pw.programme(s, name="哈尔滨市小微企业贷款贴息")
        pw.programme(s, "guarantee", name="哈尔滨市担保费补贴")
    bank, ent, guar = login("bank"), login("enterprise"), login("guar")
    r = bank.get("/bank/policy")
    assert r.status_code == 200 and "no-store" in r.headers["cache-control"]
    assert "哈尔滨市小微企业贷款贴息" in r.text and "贴息比例" in r.text and "1 个百分点/年" in r.text
    assert "哈尔滨市担保费补贴" not in r.text  # a lender is shown what it can enrol in
    assert '<a href="/bank/policy" class="active">政策备案与申领</a>' in bank.get(f"/bank/policy/{number}").text
    g = guar.get("/bank/policy").text
    assert "哈尔滨市担保费补贴" in g and 'href="/bank/policy/guarantees"' in g and "哈尔滨市小微企业贷款贴息" not in g
    assert ent.get("/bank/policy").status_code == 403 and bank.get("/my/policies").status_code == 403
    assert bank.get("/bank/policy/guarantees").status_code == 403  # a lender records no guarantee contracts
    assert bank.get("/bank/policy/ZC-NOPE").status_code == 404
    # Paging and sorting links keep the other tables where they were.
    r = bank.get("/bank/policy", params={"sort": "name", "desc": "true", "cpage": "1", "cstate": "PAID"})
    assert r.status_code == 200 and "cstate=PAID" in r.text


# ── enrolment ───────────────────────────────────────────────────────────────────────────────────────────

def test_enrol_one_loan_through_the_form(pw: World, login) -> None:  # noqa: ANN001
    with pw.m.db.session() as s:
        number = pw.programme(s, rules={"credit_only": True})
        ok = pw.loan(s)
        bad = pw.loan(s, credit=False, on=date(2025, 6, 1))
        theirs = pw.loan(s, bank=BRANCH_B)
        ok_no, bad_ref, theirs_no = ok.loan_no, bad.loan_ref, theirs.loan_no
    bank = login("bank")
    page = bank.get(f"/bank/policy/{number}").text
    assert f'<option value="{ok_no}"' in page and f'<option value="{theirs_no}"' not in page
    r = _post(bank, f"/bank/policy/{number}/enrol", {"loan_pick": ok_no, "loan_no": ""})
    assert r.status_code == 303 and "done=enrolled" in r.headers["location"]
    shown = bank.get(r.headers["location"]).text
    assert f"{ok_no} 已备案" in shown and f'data-loan="{ok_no}"' in shown
    # Every reason it does not qualify, each in words; the typed number stays in the form.
    r = _post(bank, f"/bank/policy/{number}/enrol", {"loan_no": bad_ref})
    assert r.status_code == 422 and _alert(r.text).startswith("NOT_ELIGIBLE 该贷款（DK-T-") and "不符合备案条件" in r.text
    assert "授信日期 2025-06-01 不在政策期限 2026-01-01 至 2026-12-31 内" in r.text
    assert 'data-reason="NOT_CREDIT_LOAN"' in r.text and f'value="{bad_ref}"' in r.text
    r = _post(bank, f"/bank/policy/{number}/enrol", {"loan_no": theirs_no})
    assert r.status_code == 404 and _alert(r.text).startswith("LOAN_NOT_FOUND 未找到本机构的贷款")
    r = _post(bank, f"/bank/policy/{number}/enrol", {"loan_no": ""})
    assert r.status_code == 422 and _alert(r.text).startswith("LOAN_REQUIRED")
    assert _enrolled(pw, number) == {ok_no}
    no_token = bank.post(f"/bank/policy/{number}/enrol", data={"loan_no": ok_no})
    assert no_token.status_code == 403 and "CSRF_FAILED" in no_token.text


def test_enrol_by_file_reports_each_row(pw: World, login) -> None:  # noqa: ANN001
    with pw.m.db.session() as s:
        number = pw.programme(s)
        a, b, c = pw.loan(s), pw.loan(s), pw.loan(s)
        old = pw.loan(s, on=date(2025, 6, 1))
        theirs = pw.loan(s, bank=BRANCH_B)
        nos = {x: (x.loan_no, x.loan_ref) for x in (a, b, c, old, theirs)}
    bank = login("bank")
    url = f"/bank/policy/{number}/enrol-file"
    # UTF-8 with a header and a second column: A by its platform number, B by the bank's own, A again,
    # a loan outside the period, another bank's loan, and a blank line.
    text = (f"贷款编号,备注\n{nos[a][0]},第一笔\n{nos[b][1]},第二笔\n\n{nos[a][0]},重复\n{nos[old][0]},去年\n"
            f"{nos[theirs][0]},他行\n")
    r = _post(bank, url, files=_file("备案清单.csv", text.encode("utf-8")))
    assert r.status_code == 200, r.text[:400]
    rows = dict(re.findall(r'data-row="(\d+)" data-status="(\w+)"', r.text))
    assert rows == {"2": "enrolled", "3": "enrolled", "5": "duplicate", "6": "refused", "7": "refused"}
    assert "与第 2 行重复" in r.text and "授信日期 2025-06-01 不在政策期限" in r.text and "未找到本机构的贷款" in r.text
    assert "按表头“贷款编号”所在列读取" in r.text
    assert _enrolled(pw, number) == {nos[a][0], nos[b][0]}
    # GBK, no header: C by the bank's own number; A again is refused as already enrolled.
    r = _post(bank, url, files=_file("清单（GBK）.csv", f"{nos[c][1]},第三笔\n{nos[a][0]},再报\n".encode("gbk")))
    assert r.status_code == 200
    assert dict(re.findall(r'data-row="(\d+)" data-status="(\w+)"', r.text)) == {"1": "enrolled", "2": "refused"}
    assert "该贷款已在本政策备案" in r.text
    before = _enrolled(pw, number)
    assert before == {nos[a][0], nos[b][0], nos[c][0]}
    # Whole-file refusals: nothing is judged, nothing changes.
    for name, data, code in (("utf16.csv", "贷款编号\nDK-X\n".encode("utf-16"), "BAD_ENCODING"),
                             ("bytes.csv", b"\xff\xfe\xfd\x80\x81", "BAD_ENCODING"),
                             ("", b"", "FILE_REQUIRED"),  # no file chosen
                             ("empty.csv", b"", "FILE_EMPTY"),
                             ("blank.csv", b" \r\n\r\n", "FILE_EMPTY"),
                             ("header.csv", "贷款编号\n\n".encode(), "FILE_NO_ROWS")):
        r = _post(bank, url, files=_file(name, data))
        assert r.status_code == 422 and _alert(r.text).startswith(code), (name, _alert(r.text))
    assert "UTF-8 或 GBK" in _post(bank, url, files=_file("b.csv", b"\xff\xfe\xfd\x80")).text
    assert _enrolled(pw, number) == before


def test_enrol_all_reports_what_it_refused_and_why(pw: World, login) -> None:  # noqa: ANN001
    with pw.m.db.session() as s:
        number = pw.programme(s)
        pw.loan(s), pw.loan(s), pw.loan(s, on=date(2025, 6, 1)), pw.loan(s, disbursed=False)
    bank = login("bank")
    r = _post(bank, f"/bank/policy/{number}/enrol-all")
    assert r.status_code == 303 and "done=bulk" in r.headers["location"]
    shown = bank.get(r.headers["location"]).text
    assert "已备案 2 笔贷款。另有 2 笔未备案" in shown
    assert "授信日期不在政策期限内" in shown and "贷款尚未放款" in shown
    again = bank.get(_post(bank, f"/bank/policy/{number}/enrol-all").headers["location"]).text
    assert "已备案 0 笔贷款" in again and "该贷款已在本政策备案" in again


# ── claims ──────────────────────────────────────────────────────────────────────────────────────────────

def test_an_interest_claim_with_its_evidence(pw: World, login) -> None:  # noqa: ANN001
    with pw.m.db.session() as s:
        number = pw.programme(s)
        loan_no = pw.loan(s, granted=500_000_000).loan_no
    bank = login("bank")
    assert _post(bank, f"/bank/policy/{number}/enrol", {"loan_no": loan_no}).status_code == 303
    url = f"/bank/policy/{number}/claims/interest"
    period = {"loan_no": loan_no, "start": "2026-03-01", "end": "2026-05-31", "paid_interest": "60,000.00"}
    # A text file renamed .pdf is no PDF; no file at all is no evidence; neither leaves a claim.
    r = _post(bank, url, period, _evidence("付息凭证.pdf", b"just text, not a PDF"))
    assert r.status_code == 422 and _alert(r.text).startswith("EVIDENCE_FORMAT")
    assert 'value="60,000.00"' in r.text  # what was typed stays
    r = _post(bank, url, period, _evidence("", b""))
    assert r.status_code == 422 and _alert(r.text).startswith("EVIDENCE_REQUIRED")
    r = _post(bank, url, {**period, "end": "2026-11-30"}, _evidence("付息凭证.pdf", PDF))
    assert r.status_code == 422 and _alert(r.text).startswith("PERIOD_NOT_ENDED")
    r = _post(bank, url, {**period, "paid_interest": "abc"}, _evidence("付息凭证.pdf", PDF))
    assert r.status_code == 422 and _alert(r.text).startswith("AMOUNT_FORMAT")
    with pw.m.db.session() as s:
        assert s.execute(select(func.count()).select_from(Claim)).scalar() == 0
    # A scanned voucher of a few MB passes the body limit (a 1 MB form rule would refuse it before the page).
    big = PDF.replace(b"%%EOF", b"%" + b"0" * (3 * 1024 * 1024) + b"\n%%EOF")  # a comment inside, then its end
    r = _post(bank, url, {**period, "start": "2026-09-01", "end": "2026-09-30"}, _evidence("扫描件.pdf", big))
    assert r.status_code == 303, r.text[:300]
    r = _post(bank, url, period, _evidence("付息凭证.pdf", PDF))
    assert r.status_code == 303 and r.headers["location"].endswith("?done=drafted")
    claim_url = r.headers["location"].split("?")[0]
    number_c = claim_url.rsplit("/", 1)[-1]
    page = bank.get(r.headers["location"]).text
    # 5,000,000 × 1% × 92 / 360 = 12,777.78 元
    assert "5,000,000.00 元 × 1% × 92 天 ÷ 360 = 12,777.78 元" in page and "1.28 万元" in page
    assert f'href="/policy/claims/{number_c}/evidence"' in page and "付息凭证.pdf" in page
    assert "2026-03-01 至 2026-05-31（92 天）" in page and "新建申领" in page and "中央" in page
    r = _post(bank, f"{claim_url}/act", {"action": "submit"})
    assert r.status_code == 303 and "done=submit" in r.headers["location"]
    page = bank.get(r.headers["location"]).text
    assert "申领已提交" in page and 'data-state="SUBMITTED"' in page and 'id="form-withdraw"' in page
    assert _post(bank, f"{claim_url}/act", {"action": "submit"}).headers["location"].endswith("done=already")
    r = _post(bank, f"{claim_url}/act", {"action": "approve"})
    assert r.status_code == 422 and _alert(r.text).startswith("UNKNOWN_ACTION")
    # The same period again is refused with the claim that has it.
    r = _post(bank, url, period, _evidence("付息凭证.pdf", PDF))
    assert r.status_code == 409 and number_c in _alert(r.text)
    listing = bank.get("/bank/policy").text
    assert number_c in listing and "12,777.78 元" in listing


def test_a_batch_claim_then_submitting_the_batch(pw: World, login) -> None:  # noqa: ANN001
    with pw.m.db.session() as s:
        number = pw.programme(s)
        for _ in range(3):
            pw.loan(s, granted=100_000_000)
    bank = login("bank")
    _post(bank, f"/bank/policy/{number}/enrol-all")
    url = f"/bank/policy/{number}/claims/period"
    r = _post(bank, url, {"start": "2026-03-01", "end": "2026-05-31"}, _evidence("三月至五月付息清单.png", PNG))
    assert r.status_code == 303 and "/batches/B" in r.headers["location"]
    batch_url = r.headers["location"].split("?")[0]
    page = bank.get(r.headers["location"]).text
    # 1,000,000 × 1% × 92 / 360 = 2,555.56 元 each
    assert "本期批量申领草稿已生成" in page and page.count("2,555.56 元") == 3 and "0.77 万元" in page
    assert "三月至五月付息清单.png" in page and 'id="form-batch-submit"' in page
    r = _post(bank, f"{batch_url}/act", {"action": "submit"})
    assert r.status_code == 303 and r.headers["location"].endswith("done=batch_submit")
    page = bank.get(r.headers["location"]).text
    assert "批次已提交" in page and 'id="form-batch-submit"' not in page and 'id="form-batch-withdraw"' in page
    with pw.m.db.session() as s:
        states = set(s.execute(select(Claim.state)).scalars())
        assert states == {flows.SUBMITTED}
        one = s.execute(select(Claim.number)).scalars().first()
        assert [e for e in s.execute(select(ClaimEvent.action).order_by(ClaimEvent.seq)
                                     .where(ClaimEvent.claim_id == select(Claim.id).where(Claim.number == one)
                                            .scalar_subquery())).scalars()] == ["create", "submit"]
    detail = bank.get(f"/bank/policy/claims/{one}").text
    assert "提交申领" in detail and "批次 B" in detail
    r = _post(bank, f"{batch_url}/act", {"action": "submit"})
    assert r.status_code == 409 and _alert(r.text).startswith("NOTHING_TO_DO")
    # The period is claimed: a second batch finds nothing to claim.
    r = _post(bank, url, {"start": "2026-03-01", "end": "2026-05-31"}, _evidence("x.png", PNG))
    assert r.headers["location"].endswith("done=batch_empty")
    assert "该期间没有可申领的贷款" in bank.get(r.headers["location"]).text


def test_pool_compensation_only_for_non_performing_loans_then_recovery(pw: World, login) -> None:  # noqa: ANN001
    with pw.m.db.session() as s:
        number = pw.programme(s, "pool", budget=500_000_000)
        loan = pw.loan(s, granted=100_000_000)
        loan_no = loan.loan_no
    bank = login("bank")
    assert _post(bank, f"/bank/policy/{number}/enrol", {"loan_no": loan_no}).status_code == 303
    assert 'id="no-npl"' in bank.get(f"/bank/policy/{number}").text
    r = _post(bank, f"/bank/policy/{number}/claims/pool", {"loan_no": loan_no, "loss": "800000"},
              _evidence("损失认定.pdf", PDF))
    assert r.status_code == 409 and _alert(r.text).startswith("NOT_NON_PERFORMING")
    with pw.m.db.session() as s:
        x = s.execute(select(Loan).where(Loan.loan_no == loan_no)).scalar_one()
        loans.report_status(s, x, as_of=date(2026, 11, 1), outstanding_fen=x.disbursed_fen,
                            overdue_principal_fen=x.disbursed_fen, overdue_interest_fen=0, interest_paid_fen=0,
                            dpd=95, risk_class="次级", source="api", reported_by="teller-a")
    page = bank.get(f"/bank/policy/{number}").text
    assert f'<option value="{loan_no}"' in page.split('id="claim-pool"')[1]
    r = _post(bank, f"/bank/policy/{number}/claims/pool", {"loan_no": loan_no, "loss": "800000"},
              _evidence("损失认定.jpg", JPG))
    assert r.status_code == 303
    claim_url = r.headers["location"].split("?")[0]
    page = bank.get(r.headers["location"]).text
    assert "本金损失 800,000.00 元 × 补偿比例 40% = 320,000.00 元" in page
    _post(bank, f"{claim_url}/act", {"action": "submit"})
    number_c = claim_url.rsplit("/", 1)[-1]
    with pw.m.db.session() as s:
        claims.act(s, HRB_OFFICER, number_c, "review")
        claims.act(s, HRB_OFFICER_2, number_c, "approve")
        claims.act(s, HRB_OFFICER, number_c, "pay", payment_ref="GK-P-1")
    page = bank.get(claim_url).text
    assert 'id="form-recover"' in page and "GK-P-1" in page
    r = _post(bank, f"{claim_url}/act", {"action": "recover", "recovered": "900000"})
    assert r.status_code == 422 and _alert(r.text).startswith("RECOVERY_ABOVE_LOSS")
    r = _post(bank, f"{claim_url}/act", {"action": "recover", "recovered": "200000"})
    assert r.status_code == 303 and r.headers["location"].endswith("done=recover")
    page = bank.get(r.headers["location"]).text
    assert "20.00 万元 / 8.00 万元" in page and "登记追偿回款" in page


# ── a guarantor ─────────────────────────────────────────────────────────────────────────────────────────

def test_a_guarantor_records_a_contract_enrols_and_claims_it(pw: World, login) -> None:  # noqa: ANN001
    with pw.m.db.session() as s:
        number = pw.programme(s, "guarantee", rules={"rate_bp": 50, "fee_ceiling_bp": 100})
        loan_no = pw.loan(s, granted=200_000_000).loan_no
    guar, bank = login("guar"), login("bank")
    contract = {"loan_no": loan_no, "contract_ref": "哈担保(2026)001", "covered": "160", "fee_rate": "0.8",
                "starts_on": "2026-03-01", "ends_on": "2027-02-28", "note": ""}
    r = _post(guar, "/bank/policy/guarantees", {**contract, "covered": "300"})
    assert r.status_code == 422 and _alert(r.text).startswith("COVER_ABOVE_LOAN") and 'value="300"' in r.text
    r = _post(guar, "/bank/policy/guarantees", {**contract, "fee_rate": "12"})
    assert r.status_code == 422 and _alert(r.text).startswith("RATE_FORMAT")
    r = _post(guar, "/bank/policy/guarantees", contract)
    assert r.status_code == 303 and r.headers["location"].endswith("done=recorded")
    page = guar.get(r.headers["location"]).text
    assert "担保合同已登记" in page and 'data-contract="哈担保(2026)001"' in page and "160.00 万元" in page
    assert _post(guar, "/bank/policy/guarantees", contract).status_code == 409  # CONTRACT_TAKEN
    # On the fee-subsidy programme: enrol the contract, then claim a period.
    page = guar.get(f"/bank/policy/{number}").text
    assert "哈担保(2026)001" in page.split('id="form-enrol"')[1].split("</form>")[0]
    with pw.m.db.session() as s:
        dbno = s.execute(select(GuaranteeContract.number)).scalar_one()
    r = _post(guar, f"/bank/policy/{number}/enrol", {"contract_pick": dbno})
    assert r.status_code == 303, r.text[:300]
    assert _enrolled(pw, number) == {loan_no}
    r = _post(guar, f"/bank/policy/{number}/claims/guarantee",
              {"contract_ref": dbno, "start": "2026-03-01", "end": "2026-05-31"}, _evidence("担保费收据.pdf", PDF))
    assert r.status_code == 303
    page = guar.get(r.headers["location"]).text
    # 1,600,000 × 0.5% × 92 / 360 = 2,044.44 元
    assert "1,600,000.00 元 × 0.5% × 92 天 ÷ 360 = 2,044.44 元" in page and "哈担保(2026)001" in page
    # A lender sees no enrol form on a fee-subsidy programme and cannot post one.
    lender = bank.get(f"/bank/policy/{number}").text
    assert "担保费补贴由政府性融资担保机构" in lender and 'id="form-enrol"' not in lender
    r = _post(bank, f"/bank/policy/{number}/enrol", {"contract_ref": dbno})
    assert r.status_code in (403, 404)
    # 代偿
    r = _post(guar, "/bank/policy/guarantees/compensate", {"contract_ref": dbno, "amount": "50", "on": "2026-11-01"})
    assert r.status_code == 303
    page = guar.get(r.headers["location"]).text
    assert "代偿已登记" in page and "已代偿" in page and "50.00 万元" in page
    r = _post(guar, "/bank/policy/guarantees/compensate", {"contract_ref": dbno, "amount": "1", "on": "2026-11-02"})
    assert r.status_code == 409 and _alert(r.text).startswith("CONTRACT_NOT_ACTIVE")


# ── what another bank sees ──────────────────────────────────────────────────────────────────────────────

def test_another_bank_sees_none_of_it(pw: World, login) -> None:  # noqa: ANN001
    with pw.m.db.session() as s:
        number = pw.programme(s)
        loan_no = pw.loan(s).loan_no
    bank, other = login("bank"), login("bank-b")
    _post(bank, f"/bank/policy/{number}/enrol", {"loan_no": loan_no})
    r = _post(bank, f"/bank/policy/{number}/claims/interest", {"loan_no": loan_no, "start": "2026-03-01",
                                                               "end": "2026-05-31", "paid_interest": "5000"},
              _evidence("a.pdf", PDF))
    claim_url = r.headers["location"].split("?")[0]
    r = _post(bank, f"/bank/policy/{number}/claims/period", {"start": "2026-06-01", "end": "2026-08-31"},
              _evidence("b.pdf", PDF))
    batch_url = r.headers["location"].split("?")[0]
    assert other.get(claim_url).status_code == 404
    assert other.get(batch_url).status_code == 404
    assert _post(other, f"{claim_url}/act", {"action": "submit"}).status_code == 404
    assert _post(other, f"{batch_url}/act", {"action": "submit"}).status_code == 404
    for url in ("/bank/policy", f"/bank/policy/{number}"):
        page = other.get(url).text
        assert loan_no not in page and claim_url.rsplit("/", 1)[-1] not in page
    r = _post(other, f"/bank/policy/{number}/claims/interest", {"loan_no": loan_no, "start": "2026-09-01",
                                                                "end": "2026-09-30", "paid_interest": "5000"},
              _evidence("c.pdf", PDF))
    assert r.status_code == 404 and _alert(r.text).startswith("NOT_ENROLLED")
    with pw.m.db.session() as s:
        assert s.execute(select(Claim.state)).scalars().all() == [flows.DRAFT] * 2


# ── the enterprise ──────────────────────────────────────────────────────────────────────────────────────

def test_the_enterprise_sees_its_offers_and_what_it_received(pw: World, login) -> None:  # noqa: ANN001
    with pw.m.db.session() as s:
        number = pw.programme(s, name="哈尔滨市贷款贴息")
        pw.programme(s, "pool", name="农业风险补偿", rules={"industries": ["A"]})
        loan_no = pw.loan(s, granted=500_000_000).loan_no
    ent, bank = login("enterprise"), login("bank")
    page = ent.get("/my/policies").text
    assert page.index("哈尔滨市贷款贴息") < page.index("农业风险补偿")  # those it meets first
    assert re.search(r'data-qualifies="yes".*?哈尔滨市贷款贴息', page, re.S)
    assert "✓ 注册地" in page and "✗ 行业 C34不属于支持行业（A）" in page and "暂不符合" in page
    assert "贴息比例" in page and "并由贷款银行向平台备案" in page and "尚未在任何政策中备案" in page
    _post(bank, f"/bank/policy/{number}/enrol", {"loan_no": loan_no})
    r = _post(bank, f"/bank/policy/{number}/claims/interest", {"loan_no": loan_no, "start": "2026-03-01",
                                                               "end": "2026-05-31", "paid_interest": "60000"},
              _evidence("a.pdf", PDF))
    claim_no = r.headers["location"].split("?")[0].rsplit("/", 1)[-1]
    _post(bank, f"/bank/policy/claims/{claim_no}/act", {"action": "submit"})
    with pw.m.db.session() as s:
        claims.act(s, HRB_OFFICER, claim_no, "review")
        claims.act(s, HRB_OFFICER_2, claim_no, "approve")
        claims.act(s, HRB_OFFICER, claim_no, "pay", payment_ref="GK-1")
    page = ent.get("/my/policies").text
    received = page.split('id="received-table"')[1].split("</table>")[0]
    assert "哈尔滨市贷款贴息" in received and "1 笔" in received and received.count("1.28 万元") == 2
    assert f'data-claim="{claim_no}"' in page and "已拨付" in page and "龙江银行股份有限公司" in page
    assert ent.get("/my/policies", params={"sort": "amount", "desc": "false", "page": "1"}).status_code == 200

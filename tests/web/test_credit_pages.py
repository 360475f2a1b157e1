"""Credit pages over HTTP: a batch run with progress, an entity's credit page, a public report (HTML, PDF,
verification, tamper detection), the authorized report a bank gets only under an authorization, and the
indicator-system form refusing a bad file."""

from __future__ import annotations

import io
import re
import time
from datetime import timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from tests.access.conftest import BANK_A, ENTITY, OTHER_ENTITY
from tests.web.test_access_pages import _grant, world  # noqa: F401 - the sharing world, used below
from xinyidai.credit.models import Evaluation, EvaluationRun
from xinyidai.entities.codes import make_uscc
from xinyidai.entities.models import MarketEntity
from xinyidai.kit import clock
from xinyidai.kit.audit import AuditEvent
from xinyidai.records.canonical import canonical_json, fingerprint, record_key
from xinyidai.records.models import CreditRecord
from xinyidai.reports.models import CreditReport

pytestmark = pytest.mark.usefixtures("world")


def _wait_run(db, run_id: int | None = None) -> EvaluationRun:  # noqa: ANN001
    deadline = time.time() + 60
    while time.time() < deadline:
        with db.session() as s:
            run = s.execute(select(EvaluationRun).order_by(EvaluationRun.id.desc()).limit(1)).scalar_one_or_none()
            if run is not None and run.status != "running":
                return run
        time.sleep(0.2)
    raise AssertionError("evaluation run did not finish")


def _report_no(location: str) -> str:
    return location.rsplit("/", 1)[-1]


def _young_entity(db, catalog) -> str:  # noqa: ANN001
    """A third entity, registered this year and nothing else on record: 700 less 10 for its age, grade B."""
    code, est = make_uscc("230102", 4713), (clock.today() - timedelta(days=100))
    body = canonical_json({"established_on": est.isoformat(), "registered_capital": "50"})
    with db.session() as s:
        s.add(MarketEntity(code=code, name="哈尔滨市新芽科技有限公司", kind="企业", region_code="230102",
                           industry_code="I65", registered_on=est, status="存续", updated_at=clock.now()))
        s.add(CreditRecord(entity_code=code, category="registration", version=1, status="current", content=body,
                           record_key=record_key(catalog.category("registration").key, {}),
                           fingerprint=fingerprint(body), period_start=est, period_end=est, provider="测试部门",
                           received_at=clock.now()))
    return code


def test_batch_run_then_entity_credit_page(login, db, catalog) -> None:  # noqa: ANN001
    young = _young_entity(db, catalog)
    op = login("operator")
    home = op.get("/credit")
    assert home.status_code == 200 and "尚未进行批量评价" in home.text and "2026.1" in home.text
    assert "<td>系统 · " in home.text  # the shipped system was loaded by the platform, not by "system"
    r = op.post("/credit/runs", data={"csrf_token": op.csrf, "as_of": "", "scope": "all"}, follow_redirects=False)
    assert r.status_code == 303
    run = _wait_run(db)
    assert run.status == "done" and run.total == 3 and run.done == 3, run.message
    home = op.get("/credit")
    assert "已完成" in home.text and "grade-chart" in home.text
    with db.session() as s:
        grades = {code: grade for code, grade in s.execute(select(Evaluation.entity_code, Evaluation.grade)
                                                           .where(Evaluation.run_id == run.id))}
    assert grades == {ENTITY: "B+", young: "B", OTHER_ENTITY: None}  # stored order would put B before B+
    rows = re.findall(r"<tr><td>([^<]+)</td><td class=\"num\">(\d+)</td>", home.text)
    assert rows == [("B+", "1"), ("B", "1"), ("数据不足", "1")]  # best grade first, as in the chart
    progress = op.get(f"/credit/runs/{run.id}/progress")
    assert progress.status_code == 200 and "hx-get" not in progress.text  # finished: no more polling

    page = op.get(f"/entities/{ENTITY}/credit")
    assert page.status_code == 200
    assert "影响得分的指标" in page.text and "纳税信用等级" in page.text and "批量评价第" in page.text
    # The contributions add up on screen: the base the indicator system starts from, plus the points listed.
    base = float(re.search(r'id="base-points">([\d.]+)<', page.text).group(1))
    points = [float(p) for p in re.findall(r'<td class="num (?:pos|neg)">([+-][\d.]+)</td>', page.text)]
    score = float(re.search(r'id="score">([\d.]+)<', page.text).group(1))
    assert base == 700 and points and base + sum(points) == score == 740
    assert f'id="sum-points">{score:g}<' in page.text and "基础分 700" in page.text
    # Nothing changed since the run: re-evaluating "changed" says so instead of redoing everything.
    again = op.post("/credit/runs", data={"csrf_token": op.csrf, "scope": "changed"}, follow_redirects=False)
    assert again.headers["location"].endswith("nothing_changed")
    # A date in the future is refused with a reason.
    bad = op.post("/credit/runs", data={"csrf_token": op.csrf, "as_of": "2999-01-01"}, headers={"accept": "text/html"})
    assert bad.status_code == 422 and "不能晚于今天" in bad.text


def test_public_report_html_pdf_verify_and_tamper(login, db, fixed_clock) -> None:  # noqa: ANN001
    op = login("operator")
    r = op.post("/reports", data={"csrf_token": op.csrf, "entity_code": ENTITY}, follow_redirects=False)
    assert r.status_code == 303, r.text
    no = _report_no(r.headers["location"])
    page = op.get(f"/reports/{no}")
    assert page.status_code == 200
    assert "数字签名（SM2 签名、SM3 摘要，密钥" in page.text  # the algorithms, not the configuration's "sm"
    for heading in ("企业信用报告", "信用概况", "登记注册信息", "司法风险", "负面信息", "报告使用说明", "公开版"):
        assert heading in page.text
    assert "纳税" not in page.text.split("五、经营指标")[1].split("六、")[0] or "公开版）不含" in page.text

    pdf = op.get(f"/reports/{no}/pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "企业信用报告" in text and no in text
    assert op.get(f"/reports/{no}/pdf").content == pdf.content  # rendered once, the same bytes every time

    with db.session() as s:
        code = s.get(CreditReport, no).verification_code
    anon = login("regulator")  # any client; the verify page needs no login
    ok = anon.post("/reports/verify", data={"code": code, "report_no": no},
                   files={"pdf": ("r.pdf", pdf.content, "application/pdf")})
    assert ok.status_code == 200 and "报告真实有效" in ok.text and "与签发文件一致" in ok.text
    assert "<dt>签名</dt><dd>SM2 签名、SM3 摘要<br>" in ok.text
    altered = pdf.content.replace(b"/Producer", b"/Producex", 1)
    bad_pdf = anon.post("/reports/verify", data={"code": code},
                        files={"pdf": ("r.pdf", altered, "application/pdf")})
    assert "PDF_ALTERED" in bad_pdf.text
    assert "REPORT_NOT_FOUND" in anon.get("/reports/verify", params={"code": "AAAA-BBBB-CCCC-DDDD"}).text
    assert "VERIFY_CODE_INVALID" in anon.get("/reports/verify", params={"code": "123"}).text

    # Genuine but past its 30 days: said so, so nobody relies on a stale report.
    clock.set_clock(lambda: fixed_clock + timedelta(days=31))
    stale = anon.get("/reports/verify", params={"code": code})
    assert "EXPIRED" in stale.text and "有效期" in stale.text
    clock.set_clock(lambda: fixed_clock)

    # Someone edits the stored report: its digest no longer matches and the page says so.
    with db.session() as s:
        rep = s.get(CreditReport, no)
        rep.content = {**rep.content, "grade": "A+"}
    assert "CONTENT_ALTERED" in anon.get("/reports/verify", params={"code": code}).text


def test_authorized_report_only_under_authorization(login, db) -> None:  # noqa: ANN001
    bank = login("bank")
    refused = bank.post(f"/bank/entities/{ENTITY}/report", data={"csrf_token": bank.csrf},
                        headers={"accept": "text/html"}, follow_redirects=False)
    assert refused.status_code == 403 and "NO_AUTHORIZATION" in refused.text
    with db.session() as s:
        assert s.execute(select(CreditReport)).first() is None

    ent = login("enterprise")
    _grant(ent, mode="原始明细", categories=("tax", "social_insurance", "water"))
    made = bank.post(f"/bank/entities/{ENTITY}/report", data={"csrf_token": bank.csrf}, follow_redirects=False)
    assert made.status_code == 303, made.text
    no = _report_no(made.headers["location"])
    page = bank.get(f"/reports/{no}")
    assert "授权版" in page.text and "龙江银行" in page.text and "近24个月纳税" in page.text
    with db.session() as s:
        rep = s.get(CreditReport, no)
        assert rep.recipient == BANK_A and rep.version == "authorized"
        ev = s.execute(select(AuditEvent).where(AuditEvent.action == "access.report")).scalar_one()
        assert ev.entity_code == ENTITY and ev.institution_code == BANK_A
    # The enterprise sees the report the bank was given; staff and another institution do not.
    assert ent.get(f"/reports/{no}").status_code == 200
    assert login("operator").get(f"/reports/{no}").status_code == 404
    assert "生成授权版信用报告" in ent.get("/my/accesses").text

    # The JSON interface gives the same report form with its verification code.
    api = bank.post(f"/api/v1/credit/entities/{ENTITY}/reports", json={"purpose": "贷前审查"},
                    headers={"x-csrf-token": bank.csrf})
    assert api.status_code == 200, api.text
    body = api.json()
    assert body["version"] == "authorized" and len(body["verification_code"]) == 19
    check = bank.post("/api/v1/credit/reports/verify", json={"code": body["verification_code"]},
                      headers={"x-csrf-token": bank.csrf})
    assert check.json()["valid"] is True


def test_enterprise_sees_its_own_credit(login) -> None:  # noqa: ANN001
    ent = login("enterprise")
    page = ent.get("/my/credit")
    assert page.status_code == 200 and "即时计算" in page.text and "哈尔滨市龙信机械制造有限公司" in page.text
    other = ent.post("/reports", data={"csrf_token": ent.csrf, "entity_code": "91230100MA00000011"},
                     headers={"accept": "text/html"})
    assert other.status_code == 403


def test_indicator_system_form_refuses_bad_bands(login) -> None:  # noqa: ANN001
    op = login("operator")
    spec = """version: "bad-1"
name: 测试
grades:
  - {grade: A, min: 600, max: 1001}
  - {grade: B, min: 500, max: 650}
  - {grade: D, min: 0, max: 500}
dimensions:
  - code: x
    name: 测试
    indicators:
      - {code: t, name: 纳税, feature: tax_grade, rules: [{values: [A], points: 10}]}
"""
    r = op.post("/credit/indicators", data={"csrf_token": op.csrf, "spec": spec}, headers={"accept": "text/html"})
    assert r.status_code == 422 and "等级区间重叠" in r.text and "INDICATORS_INVALID" in r.text
    assert "bad-1" not in op.get("/credit").text


def test_report_tables_name_units_in_catalogue_order_and_every_authorized_operating_category(  # noqa: D103
        login, fixed_clock) -> None:  # noqa: ANN001
    ent, bank = login("enterprise"), login("bank")
    _grant(ent, mode="汇总查询", categories=("social_insurance", "water"))
    made = bank.post(f"/bank/entities/{ENTITY}/report", data={"csrf_token": bank.csrf}, follow_redirects=False)
    assert made.status_code == 303, made.text
    page = bank.get(f"/reports/{_report_no(made.headers['location'])}").text
    operating = page.split("五、经营指标")[1].split("六、")[0]
    # 水费 authorized at the summary tier is reported (it was left out: only tax … import_export were)
    assert "社会保险：已获授权汇总查询" in operating and "水费：已获授权汇总查询" in operating
    assert "按时缴费" in operating and "金额按区间显示" in operating
    # the overview lists categories as the catalogue does, not by English code
    overview = page.split("平台归集的信息概况")[1].split("二、")[0]
    found = [n for n in ("登记注册", "行政处罚", "司法判决及执行", "纳税", "社会保险", "水费") if n in overview]
    assert sorted(found, key=overview.index) == found and len(found) == 6, found

    op = login("operator")
    public = op.get(f"/reports/{_report_no(op.post('/reports', data={'csrf_token': op.csrf, 'entity_code': ENTITY}, follow_redirects=False).headers['location'])}").text
    assert "罚款金额（万元）" in public  # units from the catalogue on amount columns
    assert "500 万元" in public.split("二、登记注册信息")[1].split("三、")[0]

"""The credit report renderers: the PDF (embedded Chinese font, text extractable, furniture, metadata) and the
HTML fragment (headings, grade badge, ECharts options), both from one ReportDocument."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pypdf import PdfReader
from pypdf.generic import IndirectObject

from xinyidai.reports import pdf
from xinyidai.reports.document import ReportDocument, Section, Table, Trend
from xinyidai.reports.render import TEMPLATE_FILTERS, beijing_time, echarts_option, numeric_columns
from xinyidai.reports.service import USE_NOTES

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "xinyidai" / "web" / "templates"
REPORT_NO = "XYD-CN230000-20261128-000017"
CODE = "K7QH-3MZP-9TXD"
SUBJECT = "哈尔滨松江智能装备制造有限公司"


def months(n: int, start: int = 2024) -> list[str]:
    return [f"{start + i // 12}-{i % 12 + 1:02d}" for i in range(n)]


def make_doc(*, rows: int = 40, trend_months: int = 24, version: str = "authorized") -> ReportDocument:
    labels = months(trend_months)
    tax: list[float | None] = [round(38.5 + 2.1 * i + (i % 5) * 1.7, 2) for i in range(trend_months)]
    tax[min(7, trend_months - 1)] = None  # a month the tax bureau did not report: must be a gap in the chart
    sales = [round(410 + 17.5 * i - (i % 4) * 9.2, 2) for i in range(trend_months)]
    power = [round(12000 + 380 * i + (i % 6) * 150, 0) for i in range(trend_months)]
    social = [float(52 + i // 3) for i in range(trend_months)]
    judicial = Table(
        columns=["案号", "案由", "当事人地位", "立案日期", "标的金额（万元）", "审理状态"],
        rows=[[f"（2025）黑0102民初{1000 + i}号", "买卖合同纠纷" if i % 3 else "建设工程施工合同纠纷，涉及厂房扩建工程款结算",
               "被告" if i % 2 else "原告", f"2025-{i % 12 + 1:02d}-{i % 27 + 1:02d}", f"{12.5 + i * 3.75:,.2f}",
               "已结案" if i % 4 else "审理中"] for i in range(rows)],
        caption="涉诉案件（近三年）",
    )
    return ReportDocument(
        report_no=REPORT_NO, version=version, subject_name=SUBJECT, subject_code="91230102MA1C7XQ25K",
        generated_at=datetime(2026, 11, 28, 8, 5, tzinfo=UTC), snapshot_date=date(2026, 11, 27),
        issuer="黑龙江省融资信用服务平台", grade="B+", score=76.5,
        grade_note="中小微企业公共信用综合评价模型 v2.3（2026 年版），评分区间 0–100。",
        reasons=["近 12 个月按期纳税，纳税信用等级 A 级", "社保缴纳人数连续 24 个月稳定增长",
                 "存在 1 起审理中的买卖合同纠纷（标的 12.50 万元）", "用电量同比增长 18.6%，经营活跃"],
        recipient="中国工商银行股份有限公司哈尔滨分行" if version == "authorized" else None,
        verification_code=CODE, verify_url="https://xyd.hlj.example.cn/verify",
        sections=[
            Section("summary", "一、信用概况", paragraphs=[
                f"{SUBJECT}成立于 2016 年，主要从事智能装备的研发与制造。截至报告数据日，"
                "平台共归集该企业各类信用信息 1,284 条，覆盖登记注册、纳税、社保、水电气、司法等 9 个类别。",
                "本报告依据《国务院办公厅关于加强信用信息共享应用促进中小微企业融资的实施方案》归集的信息生成。"]),
            Section("registration", "二、登记注册信息", tables=[Table(
                columns=["项目", "内容"],
                rows=[["统一社会信用代码", "91230102MA1C7XQ25K"], ["法定代表人", "王建国"],
                      ["注册资本", "5,000 万元人民币"], ["成立日期", "2016-03-18"],
                      ["住所", "黑龙江省哈尔滨市道里区群力第五大道 1688 号松江科技园 B 座 12 层 1201–1208 室"],
                      ["经营范围", "智能装备、工业机器人、自动化生产线的研发、制造、销售及技术服务；" * 3]])]),
            Section("public", "三、公共信用信息", paragraphs=["纳税、社保与用电情况如下。"], tables=[Table(
                columns=["所属期", "纳税额（万元）", "申报销售额（万元）", "社保缴纳人数"],
                rows=[[labels[i], "" if tax[i] is None else f"{tax[i]:,.2f}", f"{sales[i]:,.2f}", str(int(social[i]))]
                      for i in range(trend_months)], caption="纳税与社保（按月）")],
                trends=[Trend("纳税与销售", labels, {"纳税额": tax, "申报销售额": sales}, unit="万元"),
                        Trend("社保缴纳人数", labels, {"缴纳人数": social}, unit="人")]),
            Section("judicial", "四、司法风险", tables=[judicial]),
            Section("operating", "五、经营指标", trends=[Trend("月度用电量", labels, {"用电量": power}, unit="千瓦时")]),
            Section("ip_rnd", "六、知识产权与科技研发", tables=[Table(
                columns=["类型", "名称", "授权号", "授权日期"],
                rows=[["发明专利", f"一种多轴协同焊接机器人的路径规划方法（第 {i} 代）", f"ZL2023{10000000 + i}.X",
                       "2024-05-12"] for i in range(12)])]),
            Section("honors", "七、荣誉表彰", tables=[Table(columns=["荣誉名称", "授予机关", "授予日期"], rows=[
                ["专精特新“小巨人”企业", "工业和信息化部", "2024-07-01"],
                ["高新技术企业", "黑龙江省科学技术厅", "2023-12-08"]])]),
            Section("negative", "八、负面信息", paragraphs=["未发现行政处罚、失信被执行人、经营异常名录等负面信息。"],
                    tables=[Table(columns=["类别", "决定文书号", "处罚内容", "决定日期"], rows=[],
                                  caption="行政处罚", empty_text="报告期内无行政处罚记录")]),
            Section("notes", "九、报告使用说明", paragraphs=[
                "1. 本报告信息来源于各政府部门、公用事业单位依法共享的数据，平台不对原始数据作实质性修改。",
                "2. 本报告仅供报告使用机构用于融资授信审查，未经信息主体授权不得向第三方提供。",
                "3. 如对报告内容有异议，可通过平台提出异议申请。"]),
        ],
    )


@pytest.fixture(scope="module")
def pdf_bytes() -> bytes:
    return pdf.render_pdf(make_doc())


@pytest.fixture(scope="module")
def reader(pdf_bytes: bytes) -> PdfReader:
    return PdfReader(io.BytesIO(pdf_bytes))


def _text(reader: PdfReader) -> str:
    return "\n".join(p.extract_text() or "" for p in reader.pages)


def test_pdf_text_is_extractable(reader: PdfReader) -> None:
    assert len(reader.pages) > 1
    text = _text(reader)
    squashed = re.sub(r"\s+", "", text)
    for needle in ("企业信用报告", "授权版", "信用概况", "司法风险", "报告使用说明", "知识产权与科技研发",
                   REPORT_NO, CODE, SUBJECT, "中国工商银行股份有限公司哈尔滨分行", "报告期内无行政处罚记录",
                   "2026年11月28日16:05", "数据截至", "2026年11月27日", "核验本报告真伪"):
        assert needle in squashed, needle
    # furniture on later pages: page x of y and the report number, not on the cover
    n = len(reader.pages)
    assert f"第2页/共{n}页" in re.sub(r"\s+", "", reader.pages[1].extract_text() or "")
    assert "共" not in (reader.pages[0].extract_text() or "").replace("共享", "")


def test_pdf_embeds_the_font_and_sets_metadata(reader: PdfReader) -> None:
    def resolve(o):  # noqa: ANN001, ANN202
        return o.get_object() if isinstance(o, IndirectObject) else o

    embedded = set()
    for page in reader.pages:
        fonts = resolve(resolve(page["/Resources"]).get("/Font", {}))
        for ref in fonts.values():
            font = resolve(ref)
            desc = font.get("/FontDescriptor")
            if desc is None and "/DescendantFonts" in font:
                desc = resolve(resolve(font["/DescendantFonts"])[0]).get("/FontDescriptor")
            if desc is not None and "/FontFile2" in resolve(desc):
                embedded.add(str(font["/BaseFont"]))
                assert "/ToUnicode" in font
    assert embedded, "no TrueType font program embedded"
    meta = reader.metadata
    assert meta.title and SUBJECT in meta.title and "企业信用报告" in meta.title
    assert meta.author == "黑龙江省融资信用服务平台"
    assert meta.subject == REPORT_NO
    assert meta.creation_date == datetime(2026, 11, 28, 16, 5, tzinfo=meta.creation_date.tzinfo)  # not "now"
    assert meta.creation_date.utcoffset().total_seconds() == 8 * 3600


def test_pdf_is_deterministic_and_public_version_has_no_recipient(pdf_bytes: bytes) -> None:
    assert pdf.render_pdf(make_doc()) == pdf_bytes
    text = re.sub(r"\s+", "", _text(PdfReader(io.BytesIO(pdf.render_pdf(make_doc(version="public"))))))
    assert "公开版" in text and "报告使用机构：" not in text and "中国工商银行" not in text


def test_pdf_handles_degenerate_content() -> None:
    doc = make_doc(rows=0, trend_months=1)
    doc.grade, doc.score, doc.reasons, doc.verification_code = None, None, [], ""
    doc.sections.append(Section("x", "十、其他", tables=[Table(columns=["甲", "乙"], rows=[["只有一格"], ["a", "b", "多余"]])],
                                trends=[Trend("空", [], {}), Trend("全缺", ["2026-01"], {"a": [None]})]))
    text = re.sub(r"\s+", "", _text(PdfReader(io.BytesIO(pdf.render_pdf(doc)))))
    assert "数据不足" in text and "只有一格" in text and "多余" not in text and "（待签发）" in text


def test_missing_font_is_a_typed_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(pdf.FONT_ENV, str(tmp_path / "nope.ttf"))
    monkeypatch.setattr(pdf, "FONT_CANDIDATES", [])
    pdf.reset_font_cache()
    try:
        with pytest.raises(pdf.PdfFontMissing) as exc:
            pdf.render_pdf(make_doc(rows=2, trend_months=3))
        assert exc.value.code == "PDF_FONT_MISSING"
        assert "fonts-droid-fallback" in exc.value.message and "XINYIDAI_PDF_FONT" in exc.value.message
        status = pdf.font_status()
        assert status["ok"] is False and status["error"] == "PDF_FONT_MISSING"
    finally:
        monkeypatch.undo()
        pdf.reset_font_cache()
    assert pdf.font_status()["ok"] is True


def test_font_env_var_selects_a_ttc_face(monkeypatch: pytest.MonkeyPatch) -> None:
    ttc = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
    if not Path(ttc).exists():
        pytest.skip("WenQuanYi Zen Hei not installed")
    monkeypatch.setenv(pdf.FONT_ENV, f"{ttc}#0")
    pdf.reset_font_cache()
    try:
        status = pdf.font_status()
        assert status["ok"] and status["path"] == ttc and status["source"] == "env" and status["index"] == 0
        text = _text(PdfReader(io.BytesIO(pdf.render_pdf(make_doc(rows=3, trend_months=6)))))
        assert REPORT_NO in text and "司法风险" in text
    finally:
        monkeypatch.undo()
        pdf.reset_font_cache()


def test_helpers() -> None:
    assert beijing_time(datetime(2026, 11, 28, 8, 5, tzinfo=UTC)) == "2026年11月28日 16:05"
    doc = make_doc(rows=3)
    assert numeric_columns(doc.sections[3].tables[0]) == {4}
    opt = echarts_option(doc.sections[2].trends[0])
    assert opt["series"][0]["data"][7] is None and opt["xAxis"]["data"][0] == "2024-01"


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape())
    env.filters.update(TEMPLATE_FILTERS)
    return env


def test_html_fragment() -> None:
    doc = make_doc()
    doc.sections[0].paragraphs.append("<script>alert(1)</script>")
    html = _env().get_template("reports/_report_body.html").render(doc=doc)
    for needle in ("企业信用报告", "授权版", "一、信用概况", "四、司法风险", "九、报告使用说明", REPORT_NO, CODE,
                   SUBJECT, "2026年11月28日 16:05", "2026年11月27日", "报告期内无行政处罚记录",
                   "中国工商银行股份有限公司哈尔滨分行", "核验本报告真伪"):
        assert needle in html, needle
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html
    assert re.search(r'class="grade-badge band-b"[^>]*>\s*B\+\s*<', html)
    assert '<table class="data table' in html
    options = [json.loads(m.replace("&#39;", "'")) for m in re.findall(r"data-echarts='([^']*)'", html)]
    assert len(options) == 3
    tax = next(o for o in options if o["series"][0]["name"] == "纳税额（右轴）")
    assert tax["series"][0]["data"][7] is None and len(tax["xAxis"]["data"]) == 24 and tax["yAxis"][0]["name"] == "万元"


def test_html_fragment_without_grade() -> None:
    doc = make_doc(version="public")
    doc.grade, doc.score = None, None
    html = _env().get_template("reports/_report_body.html").render(doc=doc)
    assert re.search(r'class="grade-badge band-none"[^>]*>\s*数据不足\s*<', html)
    assert "公开版" in html and "<dt>报告使用机构</dt>" not in html


def test_print_page_extends_base() -> None:
    src = (TEMPLATES / "reports" / "report_print.html").read_text(encoding="utf-8")
    assert '{% extends "base.html" %}' in src and "reports/_report_body.html" in src
    for asset in ("/static/vendor/echarts.min.js", "/static/credit.js", "/static/credit.css"):
        assert asset in src


def _fonts(reader: PdfReader) -> dict[str, bool]:
    """Every font the pages use → whether its program is embedded in the file."""
    def resolve(o):  # noqa: ANN001, ANN202
        return o.get_object() if isinstance(o, IndirectObject) else o

    out = {}
    for page in reader.pages:
        for ref in resolve(resolve(page["/Resources"]).get("/Font", {})).values():
            font = resolve(ref)
            desc = font.get("/FontDescriptor")
            if desc is None and "/DescendantFonts" in font:
                desc = resolve(resolve(font["/DescendantFonts"])[0]).get("/FontDescriptor")
            out[str(font["/BaseFont"])] = desc is not None and any(
                k in resolve(desc) for k in ("/FontFile", "/FontFile2", "/FontFile3"))
    return out


def test_every_font_is_embedded(reader: PdfReader) -> None:
    """A viewer without the font would substitute its own: digits and Latin text must travel with the file."""
    fonts = _fonts(reader)
    assert fonts and all(fonts.values()), fonts


@pytest.mark.parametrize("lines", range(0, 24, 2))
def test_the_last_section_is_never_split_to_leave_a_few_lines_on_the_last_page(lines: int) -> None:
    """However the pages fall, 报告使用说明 is printed whole: a last page never holds a section's last lines.
    The negative-information section grows a line at a time, moving where the notes begin."""
    doc = make_doc(rows=20)
    doc.sections[-2].paragraphs = ["未发现行政处罚、失信被执行人、经营异常名录等负面信息。"] * (1 + lines)
    doc.sections[-1].paragraphs = list(USE_NOTES)
    reader = PdfReader(io.BytesIO(pdf.render_pdf(doc)))
    last = re.sub(r"\s+", "", (reader.pages[-1].extract_text() or "").split("报告编号")[0])
    assert "九、报告使用说明" in last and all(re.sub(r"\s+", "", n) in last for n in USE_NOTES), last[:80]


def test_tax_beside_sales_gets_its_own_axis_in_both_renderers() -> None:
    """Tax paid is a tenth of sales: on one axis it lies flat along the bottom. The smaller series is drawn
    against a second axis on the right, named so in its legend; series of one scale share one axis."""
    from reportlab.graphics.charts.linecharts import HorizontalLineChart

    doc = make_doc(rows=3)
    both, one = doc.sections[2].trends  # 纳税额 beside 申报销售额; 缴纳人数 alone
    opt = echarts_option(both)
    assert [s["name"] for s in opt["series"]] == ["纳税额（右轴）", "申报销售额"]
    assert [s.get("yAxisIndex", 0) for s in opt["series"]] == [1, 0] and len(opt["yAxis"]) == 2
    assert opt["legend"]["data"] == ["纳税额（右轴）", "申报销售额"]
    assert isinstance(echarts_option(one)["yAxis"], dict)

    font = pdf.get_font()
    drawing = pdf.trend_chart(both, font)
    charts = [x for x in drawing.contents if isinstance(x, HorizontalLineChart)]
    assert len(charts) == 2  # one per axis, the second's scale labelled on the right
    left, right = charts
    tax = [v for v in both.series["纳税额"] if v is not None]
    assert right.data and max(v for row in right.data for v in row if v is not None) == max(tax)
    assert all(v is None or v > max(tax) for row in left.data for v in row)

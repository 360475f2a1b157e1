"""A credit report document → PDF (A4, reportlab platypus), Chinese text in an embedded TrueType CJK font.

The font: reportlab embeds (and subsets) TrueType-outline fonts only, so Noto CJK (CFF outlines) is no use.
Candidates: `$XINYIDAI_PDF_FONT` (`path` or `path#index` for a .ttc), then `FONT_CANDIDATES`. Without one we
refuse (`PdfFontMissing`) rather than write a PDF whose Chinese shows as empty boxes.

Droid Sans Fallback — the first default — has no Latin letters, digits or curly quotes, so every string is
split into runs: characters the CJK font has go in it, the rest in a Latin TrueType font (`LATIN_CANDIDATES`,
DejaVu Sans first), embedded as the CJK font is. Not Helvetica: a PDF standard font is not embedded, and a
viewer without it draws the report's digits in whatever it substitutes. Text extraction works for both.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import itertools
import logging
import math
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.charts.linecharts import HorizontalLineChart
from reportlab.graphics.shapes import Drawing, Line, String
from reportlab.graphics.widgets.markers import makeMarker
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    TableStyle,
)
from reportlab.platypus import Table as RLTable

from xinyidai.kit.clock import CHINA_TZ
from xinyidai.kit.errors import DomainError
from xinyidai.reports.document import ReportDocument, Section, Table, Trend
from xinyidai.reports.render import (
    BAND_COLORS,
    PALETTE,
    beijing_time,
    cn_date,
    format_score,
    grade_band,
    grade_text,
    numeric_columns,
    series_axes,
    series_label,
    table_rows,
    trend_has_data,
    trend_series,
    trend_title,
)

log = logging.getLogger(__name__)

FONT_ENV = "XINYIDAI_PDF_FONT"
# Tried in order after the environment variable; a list so tests (and packagers) can patch it.
FONT_CANDIDATES: list[str] = [
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
]
# For what the CJK font lacks; with none of these, a CJK font that covers printable ASCII serves alone.
LATIN_CANDIDATES: list[str] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
]
ASCII = frozenset(range(0x20, 0x7F))
BULLET = "•"

RED = colors.HexColor("#b4232a")
INK = colors.HexColor("#1f2933")
MUTED = colors.HexColor("#6b7785")
LINE = colors.HexColor("#cbd2d9")
HEAD_BG = colors.HexColor("#eef1f4")
VERSION_COLORS = {"public": colors.HexColor("#6b7785"), "authorized": colors.HexColor("#2b6cb0")}

PAGE_W, PAGE_H = A4
MARGIN_X = 18 * mm
FRAME_W = PAGE_W - 2 * MARGIN_X


class PdfFontMissing(DomainError):
    code = "PDF_FONT_MISSING"
    status = 503
    message = ("无法生成 PDF 信用报告：服务器上没有可嵌入的中文 TrueType 字体（及其缺少的西文字形所需的西文字体）。"
               "请安装 fonts-droid-fallback 与 fonts-dejavu-core（或 fonts-wqy-zenhei），或设置环境变量 "
               "XINYIDAI_PDF_FONT 指向一个 .ttf/.ttc 字体文件（.ttc 可写 路径#序号）。")


@dataclass(frozen=True)
class CJKFont:
    name: str  # the reportlab registration name
    path: str
    index: int  # sub-font of a .ttc
    family: str  # as the font file names itself
    source: str  # env / default
    coverage: frozenset[int]  # code points with a real glyph
    latin: str = ""  # the registered name of the embedded font for everything else (the CJK font's own if none)
    latin_path: str | None = None


_font: CJKFont | None = None
_font_lock = threading.Lock()
# reportlab keeps per-font subsetting state and module-level settings; renders are pure-Python CPU work that the
# GIL serialises anyway, so one at a time costs nothing and rules out interleaving in a threadpool.
_render_lock = threading.Lock()


def reset_font_cache() -> None:
    """Forget the chosen font (tests; or after installing fonts without restarting)."""
    global _font
    with _font_lock:
        _font = None


def _parse_spec(spec: str) -> tuple[str, int]:
    path, sep, idx = spec.rpartition("#")
    return (path, int(idx)) if sep and idx.isdigit() else (spec, 0)


def _try_font(spec: str, source: str) -> tuple[CJKFont | None, str | None]:
    path, index = _parse_spec(spec)
    if not os.path.isfile(path):
        return None, f"{spec}：文件不存在"
    # The path is part of the name: a different file under the same name would reuse stale metrics.
    name = "XydCJK-" + hashlib.sha1(f"{os.path.abspath(path)}#{index}".encode(), usedforsecurity=False).hexdigest()[:10]
    try:
        ttf = TTFont(name, path, subfontIndex=index)
    except Exception as e:  # TTFError for CFF outlines / bad index; anything else means an unusable file
        return None, f"{spec}：无法作为 TrueType 字体嵌入（{e}）"
    coverage = frozenset(cp for cp, glyph in ttf.face.charToGlyph.items() if glyph)
    if not any(0x4E00 <= cp <= 0x9FFF for cp in coverage):
        return None, f"{spec}：不含中文字形"
    pdfmetrics.registerFont(ttf)
    # One face only: map bold/italic to it so `<b>` in markup cannot fail on an unregistered family member.
    pdfmetrics.registerFontFamily(name, normal=name, bold=name, italic=name, boldItalic=name)
    family = ttf.face.familyName
    family = family.decode("utf-8", "replace") if isinstance(family, bytes) else str(family)
    return CJKFont(name=name, path=path, index=index, family=family, source=source, coverage=coverage), None


def _find_font() -> CJKFont:
    problems: list[str] = []
    specs = [(s, "env") for s in [os.environ.get(FONT_ENV, "").strip()] if s]
    specs += [(p, "default") for p in FONT_CANDIDATES]
    for spec, source in specs:
        font, problem = _try_font(spec, source)
        if font:
            if problems:
                log.warning("PDF font: using %s after skipping: %s", spec, "; ".join(problems))
            return _with_latin(font, specs)
        if problem and (source == "env" or os.path.exists(_parse_spec(spec)[0])):
            problems.append(problem)
    raise PdfFontMissing(detail={"tried": [s for s, _ in specs], "problems": problems})


def _with_latin(font: CJKFont, specs: list[tuple[str, str]]) -> CJKFont:
    """The CJK font with its Latin companion registered; refused when there is none and it lacks ASCII."""
    for path in LATIN_CANDIDATES:
        if not os.path.isfile(path):
            continue
        name = "XydLatin-" + hashlib.sha1(os.path.abspath(path).encode(), usedforsecurity=False).hexdigest()[:10]
        try:
            ttf = TTFont(name, path)
        except Exception as e:  # noqa: BLE001 - an unusable file: try the next
            log.warning("PDF Latin font %s unusable: %s", path, e)
            continue
        pdfmetrics.registerFont(ttf)
        pdfmetrics.registerFontFamily(name, normal=name, bold=name, italic=name, boldItalic=name)
        return dataclasses.replace(font, latin=name, latin_path=path)
    if font.coverage >= ASCII:
        return dataclasses.replace(font, latin=font.name)
    raise PdfFontMissing(detail={"tried": [s for s, _ in specs] + LATIN_CANDIDATES,
                                 "problems": [f"{font.path}：缺少西文字形，且没有可嵌入的西文字体"]})


def get_font() -> CJKFont:
    """The registered CJK font, found once per process; raises PdfFontMissing if there is none."""
    global _font
    if _font is None:
        with _font_lock:
            if _font is None:
                _font = _find_font()
    return _font


def font_status() -> dict[str, Any]:
    """For an admin / health page: which font PDFs embed, or why there is none. Never raises."""
    try:
        f = get_font()
    except PdfFontMissing as e:
        return {"ok": False, "name": None, "path": None, "index": None, "source": None, "error": e.code,
                "message": e.message, "problems": (e.detail or {}).get("problems", [])}
    return {"ok": True, "name": f.family, "path": f.path, "index": f.index, "source": f.source,
            "glyphs": len(f.coverage), "latin": f.latin_path or f.path}


# ---------------------------------------------------------------- mixed-font text


def _runs(text: str, font: CJKFont) -> list[tuple[str, str]]:
    """(run, font name) pieces: the CJK font where it has the glyph, the Latin one otherwise."""
    cov = font.coverage
    return [("".join(g), font.name if k else font.latin)
            for k, g in itertools.groupby(text, key=lambda ch: ord(ch) in cov)]


def _markup(text: Any, font: CJKFont) -> str:
    """Paragraph markup for plain text: escaped, newlines kept, non-CJK runs switched to the Latin font."""
    out = []
    for run, name in _runs("" if text is None else str(text), font):
        esc = escape(run).replace("\n", "<br/>")
        out.append(esc if name == font.name else f'<font face="{font.latin}">{esc}</font>')
    return "".join(out)


def _width(text: str, size: float, font: CJKFont) -> float:
    return sum(pdfmetrics.stringWidth(run, name, size) for run, name in _runs(text, font))


def _draw(c: Canvas, x: float, y: float, text: str, size: float, font: CJKFont, align: str = "left") -> None:
    w = _width(text, size, font)
    x -= w if align == "right" else w / 2 if align == "center" else 0
    for run, name in _runs(text, font):
        c.setFont(name, size)
        c.drawString(x, y, run)
        x += pdfmetrics.stringWidth(run, name, size)


def _shapes(x: float, y: float, text: str, size: float, font: CJKFont, color: colors.Color = INK,
            anchor: str = "start") -> list[String]:
    """Graphics strings for mixed text (a chart String has a single font)."""
    w = _width(text, size, font)
    x -= w if anchor == "end" else w / 2 if anchor == "middle" else 0
    out = []
    for run, name in _runs(text, font):
        out.append(String(x, y, run, fontName=name, fontSize=size, fillColor=color))
        x += pdfmetrics.stringWidth(run, name, size)
    return out


def _bullet(font: CJKFont) -> str:
    return BULLET if ord(BULLET) in font.coverage else "·"


def _clip(text: str, size: float, font: CJKFont, max_w: float) -> str:
    if _width(text, size, font) <= max_w:
        return text
    while text and _width(text + "…", size, font) > max_w:
        text = text[:-1]
    return text + "…"


# ---------------------------------------------------------------- styles


def _styles(font: CJKFont) -> dict[str, ParagraphStyle]:
    f = font.name
    # The CJK font's bullet where it has one, else the Latin font's (DejaVu has •), as a big middle dot.
    bullet: dict[str, Any] = ({"bulletFontName": f} if ord(BULLET) in font.coverage else
                              {"bulletFontName": font.latin, "bulletFontSize": 16, "bulletOffsetY": -2})
    base = ParagraphStyle("base", fontName=f, fontSize=10, leading=16, textColor=INK, wordWrap="CJK")

    def s(name: str, **kw: Any) -> ParagraphStyle:
        return ParagraphStyle(name, parent=base, **kw)

    return {
        "body": s("body", firstLineIndent=20, spaceAfter=4),
        "muted": s("muted", fontSize=9, leading=14, textColor=MUTED),
        "cover_issuer": s("cover_issuer", fontSize=12, leading=18, alignment=TA_CENTER, textColor=MUTED),
        "cover_title": s("cover_title", fontSize=32, leading=42, alignment=TA_CENTER, textColor=RED),
        "cover_version": s("cover_version", fontSize=13, leading=18, alignment=TA_CENTER, textColor=colors.white),
        "cover_subject": s("cover_subject", fontSize=18, leading=26, alignment=TA_CENTER),
        "cover_code": s("cover_code", fontSize=11, leading=16, alignment=TA_CENTER, textColor=MUTED),
        "label": s("label", fontSize=10.5, leading=16, textColor=MUTED, alignment=TA_RIGHT),
        "value": s("value", fontSize=10.5, leading=16),
        "verify_code": s("verify_code", fontSize=16, leading=22, alignment=TA_CENTER),
        "verify_note": s("verify_note", fontSize=9.5, leading=15, alignment=TA_CENTER),
        "h1": s("h1", fontSize=15, leading=22, textColor=RED, spaceBefore=12, spaceAfter=6, keepWithNext=1),
        "h3": s("h3", fontSize=11, leading=17, spaceBefore=6, spaceAfter=3, keepWithNext=1),
        "grade": s("grade", fontSize=30, leading=36, alignment=TA_CENTER, textColor=colors.white),
        "grade_none": s("grade_none", fontSize=15, leading=20, alignment=TA_CENTER, textColor=colors.white),
        "score": s("score", fontSize=13, leading=20),
        "reason": s("reason", leftIndent=14, bulletIndent=2, spaceAfter=2, **bullet),
        "caption": s("caption", fontSize=9.5, leading=14, textColor=MUTED, spaceBefore=4, spaceAfter=3,
                     keepWithNext=1),
        "th": s("th", fontSize=8.5, leading=12, textColor=colors.HexColor("#3e4c59")),
        "td": s("td", fontSize=8.5, leading=12),
        "td_num": s("td_num", fontSize=8.5, leading=12, alignment=TA_RIGHT),
        "td_empty": s("td_empty", fontSize=9, leading=13, alignment=TA_CENTER, textColor=MUTED),
        "chart_title": s("chart_title", fontSize=10, leading=15, spaceBefore=6, spaceAfter=2, keepWithNext=1),
    }


# ---------------------------------------------------------------- page furniture


class _FixedStamp:
    """Stands in for reportlab's TimeStamp so CreationDate is the report's generation time, not the wall clock:
    the same document renders to the same bytes."""

    def __init__(self, dt: datetime) -> None:
        b = (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(CHINA_TZ)
        self.YMDhms = (b.year, b.month, b.day, b.hour, b.minute, b.second)
        self.dhh, self.dmm = 8, 0
        self.t = b.timestamp()
        self.tzname = "Asia/Shanghai"
        self.lt = (*self.YMDhms, 0, 0, 0)


@dataclass(frozen=True)
class _PageInfo:
    font: CJKFont
    report_no: str
    subject: str
    heading: str  # 企业信用报告（公开版）
    issuer: str
    generated_at: datetime


class _PagedCanvas(Canvas):
    """Holds every page back until the end so each header can say 共 y 页 — one layout pass instead of two."""

    def __init__(self, *args: Any, info: _PageInfo, **kw: Any) -> None:
        # Every page begins by selecting the initial font: Helvetica unless told, and so in the file, unembedded.
        super().__init__(*args, **{**kw, "initialFontName": info.font.latin})
        self._pages: list[dict[str, Any]] = []
        self._info = info
        # Private but stable since reportlab 3; if it moves we only lose the fixed CreationDate.
        with contextlib.suppress(AttributeError):
            self._doc._timeStamp = _FixedStamp(info.generated_at)

    def showPage(self) -> None:  # noqa: N802 (reportlab's name)
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for n, state in enumerate(self._pages, 1):
            self.__dict__.update(state)
            if n > 1:  # the cover carries no header or footer
                self._furniture(n, total)
            super().showPage()
        super().save()

    def _furniture(self, n: int, total: int) -> None:
        i, f = self._info, self._info.font
        left, right = MARGIN_X, PAGE_W - MARGIN_X
        self.saveState()
        self.setFillColor(MUTED)
        top = PAGE_H - 13 * mm
        _draw(self, right, top, f"报告编号 {i.report_no}", 8, f, "right")
        _draw(self, left, top, _clip(f"{i.heading} · {i.subject}", 8, f, FRAME_W * 0.58), 8, f)
        self.setStrokeColor(RED)
        self.setLineWidth(0.8)
        self.line(left, top - 2.5 * mm, right, top - 2.5 * mm)
        self.setStrokeColor(LINE)
        self.setLineWidth(0.4)
        bottom = 11 * mm
        self.line(left, bottom + 4 * mm, right, bottom + 4 * mm)
        _draw(self, left, bottom, _clip(i.issuer, 8, f, FRAME_W * 0.3), 8, f)
        _draw(self, PAGE_W / 2, bottom, f"第 {n} 页 / 共 {total} 页", 8, f, "center")
        _draw(self, right, bottom, _clip(i.subject, 8, f, FRAME_W * 0.3), 8, f, "right")
        self.restoreState()


# ---------------------------------------------------------------- building blocks


class _KeepWithNext(KeepTogether):
    """What platypus wraps a keepWithNext run in (heading, caption, first block). Stock KeepTogether starts a
    new page whenever the group is taller than the space left, so every long table after a heading would
    leave half a page blank; here the group stays when the headings plus a few rows fit, and only an
    unsplittable block (a chart) has to fit whole."""

    def split(self, aW: float, aH: float) -> list[Flowable]:  # noqa: N803 (reportlab's names)
        if getattr(self, "_wrapInfo", None) != (aW, aH):
            self.wrap(aW, aH)
        *heads, last = self._content
        if aH < self._H and isinstance(last, RLTable | Paragraph):
            head_h = sum(h.wrapOn(self.canv, aW, aH)[1] + h.getSpaceBefore() + h.getSpaceAfter() for h in heads)
            if aH >= head_h + 72:  # room for the header row and a few lines
                return self._content[:]
        return super().split(aW, aH)




def _cell_font(f: CJKFont) -> tuple[Any, ...]:
    """A table cell's font unless a rule says otherwise: reportlab's default is Helvetica, which it names in the
    page (unembedded) for every cell it draws, even one holding only a paragraph in another font."""
    return ("FONTNAME", (0, 0), (-1, -1), f.latin)


def _cover(doc: ReportDocument, f: CJKFont, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    m = partial(_markup, font=f)
    version = RLTable([[Paragraph(m(doc.version_label), st["cover_version"])]], colWidths=[32 * mm])
    version.setStyle(TableStyle([
        _cell_font(f), ("BACKGROUND", (0, 0), (-1, -1), VERSION_COLORS.get(doc.version, MUTED)),
        ("TOPPADDING", (0, 0), (-1, -1), 3), ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
    ]))
    facts = [("报告编号", doc.report_no), ("生成时间", f"{beijing_time(doc.generated_at)}（北京时间）"),
             ("数据截至", cn_date(doc.snapshot_date)), ("出具机构", doc.issuer)]
    if doc.version == "authorized" or doc.recipient:
        facts.append(("报告使用机构", doc.recipient or "无"))
    info = RLTable([[Paragraph(m(k + "："), st["label"]), Paragraph(m(v), st["value"])] for k, v in facts],
                   colWidths=[38 * mm, 100 * mm])
    info.setStyle(TableStyle([_cell_font(f), ("VALIGN", (0, 0), (-1, -1), "TOP"), ("TOPPADDING", (0, 0), (-1, -1), 3),
                              ("BOTTOMPADDING", (0, 0), (-1, -1), 3)]))
    code = doc.verification_code or "（待签发）"
    where = doc.verify_url or "本平台报告核验页面"
    verify = RLTable([
        [Paragraph(m("报告验证码"), st["verify_note"])],
        [Paragraph(m(code), st["verify_code"])],
        [Paragraph(m(f"凭验证码在 {where} 核验本报告真伪"), st["verify_note"])],
    ], colWidths=[120 * mm])
    verify.setStyle(TableStyle([
        _cell_font(f), ("BOX", (0, 0), (-1, -1), 1.2, RED), ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#fffaf5")),
        ("TOPPADDING", (0, 0), (-1, 0), 8), ("BOTTOMPADDING", (0, -1), (-1, -1), 10),
    ]))
    return [
        Spacer(1, 16 * mm), Paragraph(m(doc.issuer), st["cover_issuer"]), Spacer(1, 26 * mm),
        Paragraph(m("企业信用报告"), st["cover_title"]), Spacer(1, 5 * mm), version, Spacer(1, 22 * mm),
        Paragraph(m(doc.subject_name), st["cover_subject"]),
        Paragraph(m(f"统一社会信用代码：{doc.subject_code}"), st["cover_code"]), Spacer(1, 20 * mm),
        info, Spacer(1, 16 * mm), verify, PageBreak(),
    ]


def _summary(doc: ReportDocument, f: CJKFont, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    m = partial(_markup, font=f)
    band = grade_band(doc.grade)
    grade = Paragraph(m(grade_text(doc.grade)), st["grade" if band != "none" else "grade_none"])
    detail = [Paragraph(m(f"信用等级：{grade_text(doc.grade)}"), st["score"]),
              Paragraph(m(f"信用评分：{format_score(doc.score)}"), st["score"])]
    if doc.grade_note:
        detail.append(Paragraph(m(doc.grade_note), st["muted"]))
    box = RLTable([[grade, detail]], colWidths=[36 * mm, FRAME_W - 36 * mm])
    box.setStyle(TableStyle([
        _cell_font(f), ("BACKGROUND", (0, 0), (0, 0), colors.HexColor(BAND_COLORS[band])), ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("LEFTPADDING", (1, 0), (1, 0), 12), ("TOPPADDING", (0, 0), (-1, -1), 10),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 12), ("BOX", (0, 0), (-1, -1), 0.5, LINE),
    ]))
    out: list[Flowable] = [Paragraph(m("信用评价结果"), st["h1"]), box]
    if doc.reasons:
        out.append(Paragraph(m("主要影响因素"), st["h3"]))
        out += [Paragraph(m(r), st["reason"], bulletText=_bullet(f)) for r in doc.reasons]
    return out


def _col_widths(cols: list[str], rows: list[list[str]], f: CJKFont, size: float, avail: float) -> list[float]:
    """Widths from content. Short columns (dates, amounts, statuses) get their one-line width so they never
    wrap mid-value; long-text columns share the rest in proportion to the text they hold."""
    pad = 9.0
    sample = rows[:80]  # enough to judge a column; long tables need not be measured in full
    natural = [min(max([_width(c, size, f)] + [_width(r[j], size, f) for r in sample]) + pad, avail)
               for j, c in enumerate(cols)]
    if sum(natural) <= avail:
        return [w * avail / sum(natural) for w in natural]
    floor = 3 * size + pad  # nothing narrower than three characters
    short = [w <= avail * 0.2 for w in natural]
    fixed = sum(w for w, s in zip(natural, short, strict=True) if s)
    flexible = [w for w, s in zip(natural, short, strict=True) if not s]
    room = avail - fixed
    if flexible and room >= floor * len(flexible):
        total = sum(flexible)
        flex = [max(floor, room * w / total) for w in flexible]
        shares = iter(x * room / sum(flex) for x in flex)  # the floors may overshoot: scale back to fit
        return [w if s else next(shares) for w, s in zip(natural, short, strict=True)]
    # Too many columns to keep anything on one line: proportional, with the floor.
    widths = [max(floor, avail * w / sum(natural)) for w in natural]
    return [w * avail / sum(widths) for w in widths]


def _table(t: Table, f: CJKFont, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    m = partial(_markup, font=f)
    size, pad = 8.5, 4.0
    cols = [str(c) for c in t.columns] or [""]
    rows = table_rows(t) if t.columns else []
    nums = numeric_columns(t)
    widths = _col_widths(cols, rows, f, size, FRAME_W)
    style: list[tuple[Any, ...]] = [
        _cell_font(f), ("FONT", (0, 1), (-1, -1), f.name, size, 12), ("TEXTCOLOR", (0, 1), (-1, -1), INK),
        ("BACKGROUND", (0, 0), (-1, 0), HEAD_BG), ("GRID", (0, 0), (-1, -1), 0.4, LINE),
        ("VALIGN", (0, 0), (-1, -1), "TOP"), ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 4), ("LEFTPADDING", (0, 0), (-1, -1), pad),
        ("RIGHTPADDING", (0, 0), (-1, -1), pad),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#fafbfc")]),
    ]
    style += [("ALIGN", (j, 1), (j, -1), "RIGHT") for j in nums]
    data: list[list[Any]] = [[Paragraph(m(c), st["th"]) for c in cols]]
    for i, r in enumerate(rows, 1):
        line: list[Any] = []
        for j, v in enumerate(r):
            runs = _runs(v, f)
            # A one-font value that fits on one line is drawn as a plain string: same look, a fraction of the
            # cost of a Paragraph (long tables are most of a report's render time). Everything else wraps.
            if len(runs) <= 1 and "\n" not in v and (not runs or _width(v, size, f) <= widths[j] - 2 * pad):
                line.append(v)
                if runs and runs[0][1] != f.name:
                    style.append(("FONTNAME", (j, i), (j, i), f.latin))
            else:
                line.append(Paragraph(m(v), st["td_num" if j in nums else "td"]))
        data.append(line)
    if not rows:  # header kept for context, the empty text spans the body
        data.append([Paragraph(m(t.empty_text), st["td_empty"])] + [""] * (len(cols) - 1))
        style.append(("SPAN", (0, 1), (-1, 1)))
    table = RLTable(data, colWidths=widths, repeatRows=1, hAlign="LEFT")
    table.setStyle(TableStyle(style))
    out: list[Flowable] = [Paragraph(m(t.caption), st["caption"])] if t.caption else []
    return [*out, table, Spacer(1, 6)]


def _axis_number(v: float) -> str:
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    return f"{v:.2f}".rstrip("0").rstrip(".") if a < 10 and v != int(v) else f"{v:,.0f}"


def _segments(values: list[float | None]) -> list[tuple[int, int]]:
    """[start, end) of each unbroken run: one chart line per run, so a None is a gap, not a bridge."""
    out, start = [], None
    for i, v in enumerate([*values, None]):
        if v is not None and start is None:
            start = i
        elif v is None and start is not None:
            out.append((start, i))
            start = None
    return out


def _trend(tr: Trend, f: CJKFont, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    title = Paragraph(_markup(trend_title(tr), f), st["chart_title"])
    if not trend_has_data(tr):
        return [title, Paragraph(_markup("暂无数据", f), st["muted"])]
    return [title, trend_chart(tr, f), Spacer(1, 4)]


def _line_chart(series: list[tuple[str, list[float | None]]], colours: list[int], n: int, f: CJKFont
                ) -> HorizontalLineChart:
    """One line chart of some series (an unbroken run per line: a None is a gap, not a bridge)."""
    chart = HorizontalLineChart()
    rows: list[list[float | None]] = []
    for (_, vals), si in zip(series, colours, strict=True):
        for a, b in _segments(vals):
            rows.append([v if a <= i < b else None for i, v in enumerate(vals)])
            line = chart.lines[len(rows) - 1]
            line.strokeColor = colors.HexColor(PALETTE[si % len(PALETTE)])
            line.strokeWidth = 1.4
            if b - a == 1 or n <= 36:  # a lone point between gaps would be invisible without a marker
                marker = makeMarker("FilledCircle")
                marker.size = 3
                marker.fillColor = line.strokeColor
                marker.strokeColor = line.strokeColor
                line.symbol = marker
    chart.data = rows
    values = [v for row in rows for v in row if v is not None]
    if min(values) >= 0:  # amounts start from zero so the slope is not exaggerated
        chart.valueAxis.valueMin = 0
    if max(values) == min(values):
        chart.valueAxis.valueMax = max(values) * 1.2 + 1 if max(values) >= 0 else 0
    chart.valueAxis.labels.fontName = f.latin
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.labelTextFormat = _axis_number
    chart.valueAxis.strokeColor = LINE
    chart.categoryAxis.strokeColor = LINE
    chart.categoryAxis.categoryNames = [""] * n
    chart.categoryAxis.labels.fontName = f.latin  # drawn empty, but named in the page: not Helvetica
    chart.categoryAxis.visibleTicks = False
    return chart


def trend_chart(tr: Trend, f: CJKFont) -> Drawing:
    """A trend as a drawing: the lines, the month labels, a legend. Series of two scales (see series_axes)
    are two charts over one plot, the second's axis labelled on the right."""
    series = trend_series(tr)
    axes = series_axes(tr)
    labels = [str(x) for x in tr.labels]
    n = len(labels)
    w, left, right = FRAME_W, 46.0, 46.0 if any(axes) else 10.0
    # Legend rows first: they decide how much height is left for the plot.
    legend: list[list[tuple[str, int, float]]] = [[]]
    x = left
    for si, ((name, _), ax) in enumerate(zip(series, axes, strict=True)):
        name = series_label(name, ax)
        item_w = 18 + _width(name, 8, f) + 14
        if legend[-1] and x + item_w > w - right:
            legend.append([])
            x = left
        legend[-1].append((name, si, x))
        x += item_w
    legend_h = 12.0 * len(legend)
    plot_h = 150.0
    bottom = legend_h + 22  # legend, then the x labels
    d = Drawing(w, bottom + plot_h + 8)
    d.initialFontName = f.latin  # the renderer starts each drawing in Helvetica otherwise
    for axis in sorted(set(axes)):
        picked = [i for i, ax in enumerate(axes) if ax == axis and any(v is not None for v in series[i][1])]
        if not picked:
            continue
        chart = _line_chart([series[i] for i in picked], picked, n, f)
        chart.x, chart.y, chart.width, chart.height = left, bottom, w - left - right, plot_h
        if axis == 0:
            chart.valueAxis.visibleGrid = True
            chart.valueAxis.gridStrokeColor = colors.HexColor("#e3e7ec")
            chart.valueAxis.gridStrokeWidth = 0.4
        else:  # its scale at the right edge, its labels outside the plot
            chart.valueAxis.labels.boxAnchor = "w"
            chart.valueAxis.labels.dx = chart.width + 5
            chart.valueAxis.visibleAxis = False
            chart.valueAxis.visibleTicks = False
            chart.categoryAxis.visible = False
        d.add(chart)
    # Category labels drawn by hand (mixed fonts), thinned so they never overlap.
    band = (w - left - right) / n
    widest = max(_width(s, 7, f) for s in labels)
    step = max(1, math.ceil((widest + 6) / band))
    for i in range(0, n, step):
        for s in _shapes(left + (i + 0.5) * band, bottom - 10, labels[i], 7, f, MUTED, "middle"):
            d.add(s)
    for row_no, items in enumerate(legend):
        y = legend_h - 12 * (row_no + 1) + 3
        for name, si, lx in items:
            color = colors.HexColor(PALETTE[si % len(PALETTE)])
            d.add(Line(lx, y + 3, lx + 14, y + 3, strokeColor=color, strokeWidth=2))
            for s in _shapes(lx + 18, y, name, 8, f):
                d.add(s)
    return d


def _section(sec: Section, f: CJKFont, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    out: list[Flowable] = [Paragraph(_markup(sec.title, f), st["h1"])]
    out += [Paragraph(_markup(p, f), st["body"]) for p in sec.paragraphs]
    for t in sec.tables:
        out += _table(t, f, st)
    for tr in sec.trends:
        out += _trend(tr, f, st)
    out += [Paragraph(_markup(n, f), st["body"]) for n in sec.notes]
    return out


def render_pdf(doc: ReportDocument) -> bytes:
    """The report as an A4 PDF. Raises PdfFontMissing when no embeddable Chinese font is installed."""
    f = get_font()
    st = _styles(f)
    heading = f"企业信用报告（{doc.version_label}）"
    story = _cover(doc, f, st) + _summary(doc, f, st)
    for i, sec in enumerate(doc.sections, 1):
        flow = _section(sec, f, st)
        # The last section (the notes on using the report) is printed whole, on one page: split, it left a
        # last page holding its final two lines, which reads as a page printed by mistake.
        story += [KeepTogether(flow)] if i == len(doc.sections) else flow
    buf = io.BytesIO()
    template = SimpleDocTemplate(
        buf, pagesize=A4, leftMargin=MARGIN_X, rightMargin=MARGIN_X, topMargin=22 * mm, bottomMargin=20 * mm,
        title=f"{doc.subject_name} {heading}", author=doc.issuer, subject=doc.report_no,
        creator="xinyidai", keywords=[doc.report_no, doc.subject_code], lang="zh-CN",
        invariant=1,  # no wall-clock date or random ID: same document, same bytes
    )
    template.keepTogetherClass = _KeepWithNext
    info = _PageInfo(font=f, report_no=doc.report_no, subject=doc.subject_name, heading=heading,
                     issuer=doc.issuer, generated_at=doc.generated_at)
    with _render_lock:
        template.build(story, canvasmaker=partial(_PagedCanvas, info=info))
    return buf.getvalue()

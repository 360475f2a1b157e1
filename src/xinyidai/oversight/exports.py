"""A run as a workbook: the ranking (totals, ranks, group points), every city's raw value and score of each
indicator, and the indicator system it used — what the office files with its business-environment assessment."""

from __future__ import annotations

import io
from typing import Any

from xinyidai.oversight.indicators import DIRECTIONS, METHODS
from xinyidai.oversight.measures import MEASURES
from xinyidai.oversight.runs import Ranking


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 4)


def ranking_rows(r: Ranking) -> tuple[list[str], list[list[Any]]]:
    groups = list(r.system.groups)
    head = ["名次", "地区代码", "地区", "总分", *[f"{r.system.groups[g][0]}得分" for g in groups], "缺数据指标数"]
    rows = []
    for c in r.cities:
        parts = {g: 0.0 for g in groups}
        for ind in r.system.indicators:
            parts[ind.group] += c.values.get(ind.code, (None, None, 0.0))[2]
        rows.append([c.rank, c.city_code, c.name, round(c.total, 2), *[round(parts[g], 2) for g in groups], c.missing])
    return head, rows


def ranking_xlsx(r: Ranking) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "排名"
    head, rows = ranking_rows(r)
    ws.append(head)
    for row in rows:
        ws.append(row)
    ws.append([])
    ws.append([f"考核期间：{r.period_text}；计算编号 {r.run.number}；指标体系 {r.system.name}（{r.system.version}）；"
               "同分（两位小数）并列同一名次。"])
    values = wb.create_sheet("指标值与得分")
    values.append(["地区代码", "地区", "指标代码", "指标", "单位", "原始值", "分子", "分母", "得分（0-100）", "权重",
                   "加权得分"])
    for c in r.cities:
        for ind in r.system.indicators:
            v, sc, w = c.values.get(ind.code, (None, None, 0.0))
            values.append([c.city_code, c.name, ind.code, ind.name, ind.unit, _round(getattr(v, "value", None)),
                           _round(getattr(v, "numerator", None)), _round(getattr(v, "denominator", None)),
                           _round(sc), ind.weight, _round(w)])
    system = wb.create_sheet("指标体系")
    system.append(["指标代码", "指标", "分组", "对应条款", "计算方法", "计算口径", "单位", "方向", "权重", "标准化",
                   "目标值"])
    for ind in r.system.indicators:
        system.append([ind.code, ind.name, r.system.groups[ind.group][0], ind.clause, ind.measure,
                       MEASURES[ind.measure].explain, ind.unit, DIRECTIONS[ind.direction], ind.weight,
                       METHODS[ind.method], ind.target])
    for sheet in wb.worksheets:
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        sheet.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()

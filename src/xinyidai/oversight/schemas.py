"""Shapes of the oversight JSON API: runs of the indicator system and the ranking they stored."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class RunIn(BaseModel):
    start: str = Field(min_length=1, max_length=10, description="考核期间起始月份，YYYY-MM", examples=["2026-11"])
    end: str | None = Field(None, max_length=10, description="截止月份，YYYY-MM；省略即只算起始月份一个月")
    reason: str | None = Field(None, max_length=200, description="重新计算的原因；省略则返回已保存的同期结果")


class RunOut(BaseModel):
    number: str
    system_version: str
    period_start: str
    period_end: str
    seq: int
    reason: str | None
    evidence: int = Field(description="计算所依据的期间内记录数")
    elapsed_ms: int
    computed_by: str
    computed_at: datetime


class IndicatorValueOut(BaseModel):
    indicator: str
    name: str
    unit: str
    value: float | None = Field(description="原始值；null 表示缺数据（记 0 分）")
    numerator: float | None
    denominator: float | None
    score: float | None = Field(description="标准化得分 0–100")
    weight: float
    weighted: float


class CityOut(BaseModel):
    city_code: str
    name: str
    rank: int
    total: float
    missing: int
    values: list[IndicatorValueOut]


class RankingOut(BaseModel):
    run: RunOut
    system_name: str
    cities: list[CityOut]


class BankLineOut(BaseModel):
    code: str
    name: str
    institutions: int = Field(description="已接入机构（总行及状态正常的分支机构）")
    products_published: int = Field(description="本期首次发布的产品")
    products_live: int = Field(description="当前在架产品")
    applications: int
    responded: int
    accepted: int
    accept_rate: float | None
    breached: int = Field(description="期间内提交且曾超时的申请")
    loans: int
    granted: float = Field(description="授信额（元）")
    credit_share_amount: float | None
    first_loans: int
    first_share_count: float | None
    median_first_response_hours: float | None


class TaskOut(BaseModel):
    number: str
    kind: str
    title: str
    clause: str | None
    owner: str
    city_code: str | None
    deadline: date
    state: str
    overdue: bool
    indicator: str | None
    answered_at: datetime | None
    closed_at: datetime | None


class ReportSummaryOut(BaseModel):
    number: str
    origin_node: str | None
    node_name: str
    kind: str
    period: str
    state: str
    loans: int | None
    granted: float | None = Field(description="授信额（元）")
    credit_share: float | None
    first_share: float | None
    progress_share: float | None = Field(description="累计授信目标完成率")
    open_tasks: int | None
    overdue_tasks: int | None

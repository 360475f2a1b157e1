"""Shapes of the incident register's JSON API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from xinyidai.incidents.register import MAX_AUDIT_LINKS, MAX_ENTITIES
from xinyidai.web.params import INT64_MAX

Kind = Literal["leak", "intrusion", "misuse", "disclosure", "other"]
Severity = Literal["minor", "major", "serious", "critical"]
PartyKind = Literal["platform", "peer", "institution"]


class IncidentIn(BaseModel):
    kind: Kind = Field(description="事件类型：leak 数据泄露、intrusion 网络入侵、misuse 机构违规使用数据、disclosure 平台错误披露、other 其他")
    severity: Severity = Field(description="级别（GB/T 20986）：minor 一般、major 较大、serious 重大、critical 特别重大")
    title: str = Field(min_length=2, max_length=200)
    description: str = Field(min_length=2, max_length=10_000, description="事件经过")
    occurred_at: datetime | None = Field(None, description="发生时间（可不填；不能晚于现在）")
    found_at: datetime = Field(description="发现时间（不能晚于现在）")
    party_kind: PartyKind = Field("platform", description="涉事方：platform 本平台、peer 接入节点、institution 金融机构")
    party_code: str | None = Field(None, max_length=20, description="涉事节点或机构的代码")
    responsible_unit: str = Field(min_length=2, max_length=200, description="责任单位")
    data_affected: str = Field("", max_length=4_000, description="涉及的数据（文字说明）")
    audit_event_ids: list[Annotated[int, Field(ge=1, le=INT64_MAX)]] = Field(default_factory=list, max_length=MAX_AUDIT_LINKS,
                                       description="关联的本节点审计记录编号")
    entity_codes: list[Annotated[str, Field(min_length=1, max_length=18)]] = Field(default_factory=list, max_length=MAX_ENTITIES,
                                    description="涉及企业的统一社会信用代码（须为本节点辖区内的市场主体）")


class ActionIn(BaseModel):
    text: str = Field(min_length=2, max_length=4_000, description="采取的处置措施")


class CloseIn(BaseModel):
    closure: str = Field(min_length=2, max_length=10_000, description="调查结论、责任认定与追究情况、整改措施")


class ActionOut(BaseModel):
    at: datetime
    by: str
    text: str


class AuditLinkOut(BaseModel):
    id: int = Field(ge=1, le=INT64_MAX)
    at: datetime
    actor: str
    action: str
    target: str


class IncidentOut(BaseModel):
    number: str
    kind: str
    kind_label: str
    severity: str
    severity_label: str
    title: str
    occurred_at: datetime | None
    found_at: datetime
    party_kind: str
    party_code: str | None
    responsible_unit: str
    state: str
    state_label: str
    reported_by: str
    reported_at: datetime
    closed_by: str | None
    closed_at: datetime | None
    origin_node: str | None = Field(description="由下级节点报告时为该节点代码")
    reported_up_at: datetime | None


class IncidentDetailOut(IncidentOut):
    description: str
    data_affected: str
    closure: str | None
    entities: list[str]
    audit_events: list[AuditLinkOut]
    actions: list[ActionOut]
    sanction_proposals: list[str] = Field(description="因本事件提出的暂停接入提议编号")


class IncidentPageOut(BaseModel):
    items: list[IncidentOut]
    total: int
    page: int
    size: int
    pages: int
    sort: str | None
    desc: bool


class ProposalOut(BaseModel):
    number: str
    target_kind: str
    target_code: str
    action: str
    state: str

"""What the network's staff API takes in: decisions on peers, quality feedback, reconciliation, banks' needs,
the 先立后破 cut."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictBool

from xinyidai.network import exchange
from xinyidai.web.params import Day


class Decision(BaseModel):
    reason: str = Field(description="审核意见或理由：批准、驳回、整改、恢复、撤销须至少 2 个字；登记审核可为空")
    deadline: Day | None = None


class FeedbackIn(BaseModel):
    entity_code: str = Field(min_length=1, max_length=18)
    category: str = Field(min_length=1, max_length=40)
    record_key: str | None = Field(default=None, max_length=300)
    problem: str = Field(min_length=1, max_length=2000)


class ReconcileIn(BaseModel):
    days: int = Field(default=7, ge=1, le=exchange.MAX_DAYS)
    peer: str | None = None
    force: StrictBool = False


class NeedIn(BaseModel):
    category: str = Field(min_length=1, max_length=40)
    items: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=2000)
    institution_code: str | None = Field(default=None, max_length=18)  # operators only; a bank files for itself


class CutIn(BaseModel):
    reason: str = Field(default="先立后破：新路径对账一致，切断原直连", max_length=1000)
    force: StrictBool = False


class ReassessmentDecision(BaseModel):
    reason: str = Field(default="", max_length=1000,
                        description="审核意见（登记审核）或决定理由（批准、驳回须至少 2 个字）")


class AssessmentValidity(BaseModel):
    state: str = Field(description="valid 有效 / due 即将到期 / expired 已过期 / none 未生效")
    label: str
    valid_until: str | None = Field(description="安全评估有效期的最后一天（北京时间）")
    days_left: int | None = Field(description="距有效期最后一天的天数；已过期为负数")


class PendingReassessment(BaseModel):
    assessment: dict[str, Any]  # as the child filed it (its values may be numbers)
    filed_at: str | None
    checked_by: str | None


class PeerAssessment(BaseModel):
    code: str
    name: str
    status: str
    assessed_at: str | None
    validity: AssessmentValidity
    reassessment: PendingReassessment | None


class AssessmentsDue(BaseModel):
    items: list[PeerAssessment]
    total: int
    page: int
    size: int
    pages: int
    sort: str | None
    desc: bool



# ── sanction proposals (暂停 / 取消接入, two security officers) ─────────────────────────────────────────────

class ProposalIn(BaseModel):
    target_kind: Literal["peer", "institution"] = Field(description="peer 下级节点 / institution 金融机构")
    target_code: str = Field(min_length=1, max_length=20)
    action: Literal["suspend", "revoke"] = Field(description="suspend 暂停接入 / revoke 取消接入")
    reason: str = Field(min_length=2, max_length=1000)
    source: Literal["deadline", "incident", "assessment", "officer"] = "officer"
    source_ref: str | None = Field(default=None, max_length=60)


class ProposalStep(BaseModel):
    reason: str = Field(min_length=2, max_length=1000, description="初审意见")


class ProposalDecision(BaseModel):
    approve: StrictBool = Field(description="true 批准并立即执行；false 否决")
    reason: str = Field(min_length=2, max_length=1000)


class ProposalOut(BaseModel):
    number: str
    target_kind: str
    target_kind_label: str
    target_code: str
    action: str
    action_label: str
    reason: str
    source: str
    source_label: str
    source_ref: str | None
    state: str
    state_label: str
    proposed_by: str
    proposed_at: str | None
    agreed_by: str | None
    agreed_at: str | None
    decided_by: str | None
    decided_at: str | None
    decision_reason: str | None


class ProposalPage(BaseModel):
    items: list[ProposalOut]
    total: int
    page: int
    size: int
    pages: int
    sort: str | None
    desc: bool

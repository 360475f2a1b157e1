"""What the market's JSON API takes in and gives back. Amounts are in 元 (a number, or a decimal string such as
"500000.00" — at most two places), annual rates in % ("3.85"), dates YYYY-MM-DD, times ISO 8601 (Beijing time
when no zone is given). The services check meaning (ranges, states, reasons) and answer with a code; these
shapes check form and document it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, field_validator

from xinyidai.web.errors import ErrorBody

T = TypeVar("T")

Text = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=60, strip_whitespace=True)]
Note = Annotated[str, Field(max_length=2000)]
Amount = Annotated[Annotated[str, StringConstraints(min_length=1, max_length=30)] | int | float, Field(
    description="金额，单位元，最多两位小数（数字或十进制字符串）", examples=["500000.00"])]
Rate = Annotated[Annotated[str, StringConstraints(min_length=1, max_length=10)] | int | float, Field(
    description="年利率，百分数（0–24，最多两位小数）", examples=["3.85"])]
Months = Annotated[int, Field(ge=1, le=360, description="期限（月），1–360")]
# Dates a loan can have; the bounds keep arithmetic on them (the end of a day, a day later) in range.
Day = Annotated[date, Field(ge=date(2000, 1, 1), le=date(2099, 12, 31))]


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ── errors ──────────────────────────────────────────────────────────────────────────────────────────────

# What the market's refusals mean, per status, in the shell's one error shape (`web.errors.ErrorBody`); for a
# flow's refusal (OUT_OF_ORDER, ALREADY_FINAL, ALREADY_DONE, ACTOR_NOT_ALLOWED, THRESHOLD_NOT_REACHED) `detail` is
# {flow, state, state_label, action, allowed: [{action, label, actors}]}.
ERRORS: dict[int, str] = {
    401: "未登录，或 API 凭证/请求签名无效",
    403: "当前角色或机构无权办理（ROLE_FORBIDDEN、ACTOR_NOT_ALLOWED、CSRF_FAILED …）",
    404: "未找到，或不属于本机构/本企业（不透露其是否存在）",
    409: "与当前状态冲突：流程顺序不符（OUT_OF_ORDER、ALREADY_FINAL、ALREADY_DONE）、请求编号已用于其他内容"
         "（REQUEST_ID_REUSED）等；detail 说明当前状态和可办理的操作",
    413: "上传内容过大",
    422: "输入不符合要求（含金融机构写操作缺少 X-Request-Id：REQUEST_ID_REQUIRED）",
    429: "请求过于频繁",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error responses a route may give, in the one error shape (401, 403 and 429 always)."""
    return {code: {"model": ErrorBody, "description": ERRORS[code]} for code in sorted({401, 403, 429, *statuses})}


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="符合条件的总数")
    page: int
    size: int
    pages: int
    sort: str | None
    desc: bool


class NextMove(BaseModel):
    action: str = Field(description="操作代码")
    label: str = Field(description="操作名称")
    by: list[str] = Field(description="可以办理的一方：enterprise / bank / operator / system")


# ── products ────────────────────────────────────────────────────────────────────────────────────────────

class EligibilityIn(In):
    min_grade: str | None = Field(None, description="最低公共信用综合评价等级，如 B")
    min_years: int | None = Field(None, ge=1, le=50, description="最短经营年限（年）")
    no_serious_dishonesty: StrictBool = Field(False, description="要求无严重失信、无未结执行记录")


class ProductTermsIn(In):
    name: str = Field(min_length=2, max_length=100, description="产品名称")
    summary: Note = Field("", description="产品简介")
    kind: str = Field(min_length=1, max_length=12, description="担保方式（产品类别）：纯信用、保证、抵押、质押、订单融资、"
                      "仓单融资、保单融资、存货融资、应收账款融资、知识产权质押、政府性融资担保", examples=["纯信用"])
    sectors: list[str] = Field([], max_length=6, description="领域标签：制造业、战略性新兴产业、三农、生态环保、外贸、科技")
    amount_min: Amount = Field(description="额度下限（元）")
    amount_max: Amount = Field(description="额度上限（元）")
    term_min_months: Months
    term_max_months: Months
    rate_min: Rate = Field(description="年利率下限（%）")
    rate_max: Rate = Field(description="年利率上限（%）")
    regions: list[Annotated[str, StringConstraints(min_length=6, max_length=6)]] = Field(
        min_length=1, max_length=200, description="服务区域：GB/T 2260 行政区划代码，地市代码包含其下辖区县", examples=[["230100"]])
    industries: list[Annotated[str, StringConstraints(min_length=1, max_length=5)]] = Field(
        [], max_length=100, description="支持的行业：GB/T 4754-2017 门类（如 C）或大类（如 34）；空表示不限")
    eligibility: EligibilityIn = Field(default_factory=EligibilityIn, description="准入条件")
    auth_categories: list[Code] = Field(min_length=1, max_length=30, description="贷前审查时需企业授权的信息类别代码",
                                        examples=[["tax", "social_insurance"]])
    auth_mode: Literal["汇总查询", "原始明细"] = Field("汇总查询", description="贷前审查授权的方式")
    auth_days: int = Field(90, ge=1, le=90, description="贷前审查授权的有效天数")


class ProductActionIn(In):
    note: Note = Field("", description="说明；平台退回修改时必填")


class FitCheck(BaseModel):
    rule: str = Field(description="规则：region / industry / min_grade / min_years / no_serious_dishonesty / amount / term")
    ok: bool
    text: str = Field(description="为什么符合或不符合")


class AuthorizationTerms(BaseModel):
    purpose: str
    categories: list[str]
    mode: str
    days: int


class ProductVersionOut(BaseModel):
    number: str = Field(description="产品编号")
    version: int
    state: str = Field(description="版本状态：DRAFT / REVIEW / PUBLISHED / SUSPENDED / WITHDRAWN / SUPERSEDED")
    state_label: str
    institution_code: str
    institution_name: str
    name: str
    summary: str
    kind: str
    sectors: list[str]
    amount_min: float = Field(description="额度下限（元）")
    amount_max: float = Field(description="额度上限（元）")
    term_min_months: int
    term_max_months: int
    rate_min: float = Field(description="年利率下限（%）")
    rate_max: float = Field(description="年利率上限（%）")
    regions: list[str]
    industries: list[str]
    eligibility: dict[str, Any]
    authorization: AuthorizationTerms
    published_at: str | None
    review_note: str | None
    fit: list[FitCheck] | None = Field(None, description="企业用户：该产品是否适合本企业，逐条说明")


class ProductOut(BaseModel):
    number: str
    institution_code: str
    institution_name: str
    status: str = Field(description="产品当前状态（在用版本的状态）")
    versions: list[ProductVersionOut] = Field(description="调用方可见的各版本，新版本在前")


# ── financing needs and quotes ──────────────────────────────────────────────────────────────────────────

class DemandIn(In):
    amount: Amount = Field(description="需求金额（元）")
    term_months: Months
    purpose: str = Field(min_length=2, max_length=200, description="融资用途")
    kinds: list[str] = Field(min_length=1, max_length=11, description="可接受的担保方式（产品类别）")
    expires_on: Day = Field(description="征集截止日（不超过 30 天）")


class QuoteIn(In):
    product: Code = Field(description="报价所依据的本机构已发布产品的编号")
    amount: Amount = Field(description="报价金额（元）")
    rate: Rate = Field(description="报价年利率（%）")
    term_months: Months
    valid_until: Day = Field(description="报价有效期至")
    note: Note = ""


class QuoteOut(BaseModel):
    number: str
    institution_code: str
    institution_name: str
    product_name: str
    amount: float
    rate: float
    term_months: int
    valid_until: str
    note: str
    state: str = Field(description="MADE / PICKED / NOT_PICKED / WITHDRAWN")


class DemandOut(BaseModel):
    number: str
    entity_code: str
    entity_name: str
    state: str = Field(description="OPEN / MATCHED / CLOSED / EXPIRED")
    state_label: str
    amount: float
    term_months: int
    purpose: str
    kinds: list[str]
    expires_at: str
    quotes: int | None = Field(None, description="报价数（列表中）")


class DemandDetailOut(BaseModel):
    demand: DemandOut
    quotes: list[QuoteOut] = Field(description="企业与平台：全部报价；金融机构：本机构的报价")


class PickIn(In):
    grant_digest: str = Field(min_length=1, max_length=64, description="预览时返回的授权书摘要")


# ── applications ────────────────────────────────────────────────────────────────────────────────────────

class ApplicationPreviewIn(In):
    product: Code = Field(description="产品编号")
    amount: Amount = Field(description="申请金额（元）")
    term_months: Months
    purpose: str = Field(min_length=2, max_length=200, description="融资用途")


class ApplicationIn(ApplicationPreviewIn):
    grant_digest: str = Field(min_length=1, max_length=64,
                              description="预览时返回的授权书摘要：证明企业确认的正是所展示的授权书全文")


class PreviewOut(BaseModel):
    fit: list[FitCheck] = Field(description="逐条说明是否符合申请条件")
    ok: bool = Field(description="是否全部符合")
    grant_text: str = Field(description="将要确认的授权书全文")
    grant_digest: str = Field(description="授权书摘要，提交时回传")
    product: str | None = None
    quote: str | None = None
    amount: float | None = None
    term_months: int | None = None
    purpose: str | None = None


class GrantTextOut(BaseModel):
    kind: str = Field(description="more：银行要求的补充授权；post_loan：授信后的贷后管理授权")
    grant_text: str
    grant_digest: str


class Offer(BaseModel):
    amount: float
    rate: float
    term_months: int | None
    valid_until: str | None


class ApplicationOut(BaseModel):
    number: str = Field(description="申请编号")
    state: str = Field(description="SUBMITTED / ACCEPTED / AUTH_REQUESTED / OFFERED / OFFER_ACCEPTED / GRANTED / "
                                   "DISBURSED / CLOSED / DECLINED / REJECTED / WITHDRAWN / EXPIRED / CANCELLED")
    state_label: str
    entity_code: str
    entity_name: str
    institution_code: str
    institution_name: str
    product: str = Field(description="产品编号")
    product_name: str
    amount: float = Field(description="申请金额（元）")
    term_months: int
    purpose: str
    authorization: str = Field(description="贷前审查授权编号")
    offer: Offer | None = Field(description="最近一次预授信")
    loan_no: str | None = Field(None, description="授信后：平台贷款编号")
    submitted_at: str
    due_at: str | None = Field(description="当前环节的办理时限")
    breached: bool = Field(description="当前环节是否已超时")
    reason_code: str | None
    reason_note: str | None
    next: list[NextMove] = Field(description="当前可以办理的操作及办理方")


class EventOut(BaseModel):
    seq: int
    action: str
    label: str
    from_state: str = Field(alias="from")
    to: str
    actor_kind: str
    actor: str
    acted_at: str = Field(description="办理方所称的办理时间")
    recorded_at: str = Field(description="平台记录时间")
    payload: dict[str, Any]
    source: str = Field(description="page / api / file / system")
    request_id: str | None

    model_config = ConfigDict(populate_by_name=True)


class ApplicationDetailOut(BaseModel):
    application: ApplicationOut
    timeline: list[EventOut]
    yours: list[NextMove] = Field(description="调用方此时可以办理的操作")


class DecisionIn(In):
    """One move of an application; which fields a move needs is in its description."""

    action: Literal["accept", "decline", "request_auth", "confirm_auth", "offer", "accept_offer", "decline_offer",
                    "grant", "disburse", "close", "reject", "withdraw", "cancel"] = Field(description=(
        "金融机构：accept 受理、decline 不予受理（reason_code D*）、request_auth 要求补充授权（categories、mode）、"
        "offer 预授信（amount、rate、term_months、valid_until）、grant 授信（amount、guarantee_type、first_loan、loan_ref，"
        "可选 rate、term_months、matures_on、policy_tags）、disburse 放款（amount）、close 结清、reject 审批不通过"
        "（reason_code R*）；企业：confirm_auth 确认补充授权（grant_digest）、accept_offer / decline_offer、"
        "withdraw 撤回（可选 reason_code W*）；平台：cancel 撤销（reason_code C*）"))
    reason_code: Annotated[str, StringConstraints(min_length=1, max_length=8)] | None = Field(
        None, description="原因代码（封闭清单；*99 须填写 note）")
    note: Note | None = Field(None, description="说明")
    amount: Amount | None = None
    rate: Rate | None = None
    term_months: Months | None = None
    valid_until: Day | None = Field(None, description="预授信有效期至")
    guarantee_type: Literal["信用", "保证", "抵押", "质押"] | None = Field(None, description="贷款的担保方式")
    first_loan: StrictBool | None = Field(None, description="是否为该企业的首笔贷款（首贷，金融机构声明）")
    loan_ref: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        None, description="金融机构的贷款编号（同一机构内唯一）")
    matures_on: Day | None = Field(None, description="贷款到期日")
    policy_tags: list[Annotated[str, StringConstraints(min_length=1, max_length=20)]] | None = Field(
        None, max_length=10, description="政策标签")
    categories: list[Code] | None = Field(None, max_length=30, description="要求补充授权的信息类别代码")
    mode: Literal["汇总查询", "原始明细"] | None = Field(None, description="补充授权的方式")
    grant_digest: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        None, description="企业确认补充授权时：授权书摘要")
    acted_at: datetime | Day | None = Field(
        None, description="实际办理时间（默认为现在）；只给日期时视为当天、且不早于上一步")

    @field_validator("acted_at")
    @classmethod
    def _in_range(cls, v: datetime | date | None) -> datetime | date | None:
        if v is not None and not 2000 <= v.year <= 2099:
            raise ValueError("办理时间须在 2000–2099 年之间")
        return v


class DecisionOut(BaseModel):
    application: ApplicationOut
    event: EventOut = Field(description="这一步在时间线上的记录")
    replayed: bool = Field(description="true：同一请求编号的重发，返回首次办理的结果，未重复办理")


class PostLoanIn(In):
    grant_digest: str = Field(min_length=1, max_length=64, description="贷后管理授权书摘要")


class PostLoanOut(BaseModel):
    authorization: str = Field(description="贷后管理授权编号")


# ── loans and repayment ─────────────────────────────────────────────────────────────────────────────────

class LoanOut(BaseModel):
    loan_no: str = Field(description="平台贷款编号")
    loan_ref: str = Field(description="金融机构的贷款编号")
    institution_code: str
    entity_code: str
    city_code: str
    product: str
    product_kind: str
    guarantee_type: str
    first_loan: bool = Field(description="金融机构声明的首贷")
    first_on_platform: bool = Field(description="平台核对：此前在平台上没有该企业的贷款")
    granted: float = Field(description="授信金额（元）")
    disbursed: float = Field(description="累计放款（元）")
    granted_on: str
    matures_on: str | None
    rate: float
    term_months: int
    status: str = Field(description="GRANTED / DISBURSED / CLOSED")
    policy_tags: list[str]
    dpd: int | None = Field(None, description="逾期天数（最近一次还款状态报告）")
    risk_class: str | None = None
    outstanding: float | None = Field(None, description="贷款余额（元）")
    last_report_on: str | None = None


class StatusIn(In):
    as_of: Day = Field(description="统计日期")
    outstanding: Amount = Field(description="贷款余额（元），可为 0")
    dpd: int = Field(ge=0, le=36500, description="逾期天数")
    overdue_principal: Amount = Field("0", description="逾期本金（元）")
    overdue_interest: Amount = Field("0", description="逾期利息（元）")
    interest_paid: Amount = Field("0", description="本期已付利息（元）")
    risk_class: Literal["正常", "关注", "次级", "可疑", "损失"] | None = Field(None, description="五级分类")


class StatusReportOut(BaseModel):
    as_of: str
    outstanding: float
    overdue_principal: float
    overdue_interest: float
    interest_paid: float
    dpd: int
    risk_class: str | None
    source: str
    received_at: str


class CaseOut(BaseModel):
    number: str = Field(description="违约案件编号")
    state: str = Field(description="REPORTED / REMINDED / ESCALATED / CURED / RESTRUCTURED / NPL / CLOSED")
    state_label: str
    entity_code: str
    institution_code: str
    city_code: str
    opened_at: str
    dpd: int
    max_dpd: int
    overdue: float = Field(description="逾期金额（元）")
    escalated_at: str | None
    next: list[NextMove]


class StatusOut(BaseModel):
    loan: LoanOut
    report: StatusReportOut
    changed: bool = Field(description="false：与该日期已报告的数字相同，未作变更")
    case: CaseOut | None = Field(description="该贷款在办的违约案件（逾期报告会立案或推进案件）")


class LoanDetailOut(BaseModel):
    loan: LoanOut
    application: str | None = Field(description="申请编号")
    reports: list[StatusReportOut] = Field(description="还款状态报告，新的在前")
    earlier_loans: list[str] = Field(description="该企业此前在平台上的贷款（首贷声明的核对依据）")
    cases: list[CaseOut] = Field(description="该贷款的违约案件")


# ── default cases ───────────────────────────────────────────────────────────────────────────────────────

class CaseActionIn(In):
    action: Literal["remind", "respond", "escalate", "cure", "restructure", "classify_npl", "close"] = Field(
        description="平台：remind 催告、escalate 升级督办（须记录约谈）、close 结案；金融机构：cure、restructure、"
                    "classify_npl；企业：respond 说明情况（note 必填）")
    note: Annotated[str, Field(max_length=4000)] = ""
    held_on: Annotated[str, Field(max_length=500)] = Field("", description="约谈时间（升级督办）")
    place: Annotated[str, Field(max_length=500)] = Field("", description="约谈地点")
    attendees: Annotated[str, Field(max_length=500)] = Field("", description="参加人")
    agreed: Annotated[str, Field(max_length=500)] = Field("", description="约谈内容与约定")


class CaseEventOut(BaseModel):
    seq: int
    action: str
    label: str
    from_state: str
    to_state: str
    actor_kind: str
    actor: str
    at: str
    payload: dict[str, Any]


class ReminderOut(BaseModel):
    step: str
    channel: str = Field(description="sms / portal")
    to: str | None = Field(description="短信号码（部分隐藏）")
    message: str
    at: str
    delivered: bool


class CaseDetailOut(BaseModel):
    case: CaseOut
    loan_no: str
    timeline: list[CaseEventOut]
    reminders: list[ReminderOut]


# ── post-loan alerts ────────────────────────────────────────────────────────────────────────────────────

class SubscriptionIn(In):
    entity_code: str = Field(min_length=18, max_length=18, description="企业统一社会信用代码")
    kinds: list[str] | None = Field(None, max_length=8, description="预警类型（空：全部）：penalty、enforcement、dishonesty、"
                                    "tax_arrears、si_arrears、fund_arrears、utility_arrears、status_change")


class SubscriptionOut(BaseModel):
    entity_code: str
    institution_code: str
    kinds: list[str] | None
    created_at: str
    cancelled_at: str | None = None


class CancelledOut(BaseModel):
    entity_code: str
    cancelled: list[SubscriptionOut] = Field(description="被取消的订阅（没有在办订阅时为空）")


class AlertOut(BaseModel):
    id: int
    entity_code: str
    category: str
    kind: str
    kind_label: str
    summary: str
    created_at: str
    read: bool


# ── feedback files ──────────────────────────────────────────────────────────────────────────────────────

class FeedbackIssueOut(BaseModel):
    row_no: int | None = Field(description="行号（与表格软件中看到的一致；表头为第 1 行）")
    field: str | None = Field(description="列名")
    value: str | None = Field(description="该单元格的内容")
    code: str
    message: str


class FeedbackFileOut(BaseModel):
    id: int
    kind: str = Field(description="decisions：办理结果；status：还款状态")
    kind_label: str
    filename: str
    file_digest: str
    size_bytes: int
    status: str = Field(description="accepted 已导入 / rejected 未导入（整个文件）/ duplicate 与已导入文件相同，未作变更")
    status_label: str
    rows_total: int
    rows_applied: int = Field(description="办理或更新的行数")
    rows_unchanged: int = Field(description="与已导入内容相同、未作变更的行数")
    rows_rejected: int
    error_code: str | None
    message: str | None
    submitted_by: str
    received_at: str
    issues: list[FeedbackIssueOut] | None = Field(None, description="逐行问题清单（单个文件时给出，最多 1000 条）")

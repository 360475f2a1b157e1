"""What the policy-money JSON API takes in and gives back. As in the market's API, amounts are in 元 and rates
in %: in a request a number or a decimal string ("1000000.00", "1.5"), at most two places; in an answer always
a decimal string with two places, so no amount passes through a binary float. The tables keep 分 and basis
points; the API converts both ways. Dates are YYYY-MM-DD, times ISO 8601.

Evidence (付息凭证, 担保费凭证, 损失证明) travels inside the JSON body, base64-encoded, at most `EVIDENCE_MAX_BYTES`
(700 KB decoded): a JSON request is limited to 1 MB and base64 grows a file by a third. One body keeps one
content type and one way of signing — a signed request's signature covers the raw body, evidence included —
and the request id's replay check covers the file too. A larger file is uploaded on the pages (10 MB)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from xinyidai.market.schemas import Day, PageOut
from xinyidai.web.errors import ErrorBody

EVIDENCE_MAX_BYTES = 700 * 1024  # its base64 text, about 933 KB, leaves room for the rest of the body

Code = Annotated[str, StringConstraints(min_length=1, max_length=60, strip_whitespace=True)]
Ref = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]
Amount = Annotated[Annotated[str, StringConstraints(min_length=1, max_length=30)] | int | float, Field(
    description="金额，单位元，最多两位小数（数字或十进制字符串）", examples=["1000000.00"])]
Percent = Annotated[Annotated[str, StringConstraints(min_length=1, max_length=10)] | int | float, Field(
    description="比例，单位 %，最多两位小数（数字或十进制字符串）；1 个百分点写作 1", examples=["1.00"])]
Yuan = Annotated[str, Field(description="金额（元），两位小数的十进制字符串", examples=["12777.78"])]
Pct = Annotated[str, Field(description="比例（%），两位小数的十进制字符串", examples=["1.00"])]


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ── errors ──────────────────────────────────────────────────────────────────────────────────────────────

ERRORS: dict[int, str] = {
    401: "未登录，或 API 凭证/请求签名无效",
    403: "当前角色或机构无权办理（ROLE_FORBIDDEN、REGION_NOT_MANAGED、NOT_A_GUARANTOR、NOT_A_LENDER、"
         "ACTOR_NOT_ALLOWED、SAME_OFFICER 双人审核、CSRF_FAILED …）",
    404: "未找到，或不属于本机构/本部门（PROGRAMME_NOT_FOUND、LOAN_NOT_FOUND、NOT_ENROLLED、CLAIM_NOT_FOUND、"
         "CONTRACT_NOT_FOUND；不透露其是否存在）",
    409: "与当前状态或资金冲突：PROGRAMME_NOT_ACTIVE、RULES_UNCHANGED、BUDGET_EXCEEDED、BANK_CAP_EXCEEDED、"
         "BANK_SUSPENDED、PERIOD_ALREADY_CLAIMED、流程顺序不符（OUT_OF_ORDER、ALREADY_FINAL、ALREADY_DONE）、"
         "请求编号已用于其他内容（REQUEST_ID_REUSED）等",
    413: "请求内容超过 1 MB（凭证请压缩，或在页面上传）",
    422: "输入不符合要求：RULES_CONTRADICT（detail.rule 为规则名）、RULES_UNKNOWN_KEY、NOT_ELIGIBLE（detail.reasons "
         "逐条说明不符合备案条件的原因）、EVIDENCE_*、金融机构写操作缺少 X-Request-Id（REQUEST_ID_REQUIRED）等",
    429: "请求过于频繁",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error responses a route may give, in the one error shape (401, 403 and 429 always)."""
    return {code: {"model": ErrorBody, "description": ERRORS[code]} for code in sorted({401, 403, 429, *statuses})}


class NextMoveOut(BaseModel):
    action: str = Field(description="操作代码")
    label: str = Field(description="操作名称")
    by: list[str] = Field(description="可以办理的一方：bank（申领机构）/ policy（政策管理部门）")


# ── programmes and their rules ──────────────────────────────────────────────────────────────────────────

class RulesIn(In):
    """A programme's rules in the API's units. Leave out what the kind's defaults should decide (see the
    programme's `source`); keys of another kind are refused (RULES_UNKNOWN_KEY), rules that contradict
    themselves too (RULES_CONTRADICT, `detail.rule` names the key)."""

    industries: list[Annotated[str, StringConstraints(min_length=1, max_length=5)]] | None = Field(
        None, max_length=100, description="适用行业：GB/T 4754-2017 门类（如 C）或大类（如 13）；空表示不限")
    min_grade: Annotated[str, StringConstraints(min_length=1, max_length=4)] | None = Field(
        None, description="企业公共信用综合评价最低等级（如 B）；null 为不限")
    credit_only: StrictBool | None = Field(None, description="仅限信用贷款")
    first_only: StrictBool | None = Field(None, description="仅限首贷")
    allow_stacking: StrictBool | None = Field(None, description="允许与同类政策叠加享受")
    rate: Percent | None = Field(None, description="贴息：贴息比例（个百分点/年，如 1 即 1 个百分点，0.01–10）；"
                                                   "担保费补贴：补贴比例（担保金额的 %/年）")
    cap: Amount | None = Field(None, description="贴息：单户贴息本金上限（元）")
    max_days: int | None = Field(None, ge=1, le=3660, description="贴息、担保费补贴：最长补贴期限（天）")
    day_basis: Literal[360, 365] | None = Field(None, description="计息天数基准：实际天数/360 或 /365")
    split: dict[Annotated[str, StringConstraints(min_length=1, max_length=4)], Percent] | None = Field(
        None, max_length=4, description="各级财政分担比例（%）：中央、省级、市级、县级，合计须为 100",
        examples=[{"中央": "90", "省级": "10"}])
    fee_ceiling: Percent | None = Field(None, description="担保费补贴：担保费率上限（%/年），高于此的合同不予补贴；0 为不设")
    share: Percent | None = Field(None, description="风险补偿：不良贷款本金损失的补偿比例（%）")
    credit_share: Percent | None = Field(None, description="风险补偿：信用贷款的补偿比例（%），0 为同一般比例")
    first_share: Percent | None = Field(None, description="风险补偿：首贷的补偿比例（%），0 为同一般比例")
    bank_cap: Amount | None = Field(None, description="风险补偿：单家银行每年补偿上限（元），0 为不设")
    suspend_overdue: Percent | None = Field(None, description="风险补偿：银行在本政策的逾期率高于此（%）即暂停新增备案，0 为不暂停")


class RulesOut(BaseModel):
    """The rules of one version in the API's units; keys that do not apply to the kind are null."""

    kind: str
    industries: list[str]
    min_grade: str | None
    credit_only: bool
    first_only: bool
    allow_stacking: bool
    rate: Pct | None = None
    cap: Yuan | None = None
    max_days: int | None = None
    day_basis: int | None = None
    split: dict[str, Pct]
    fee_ceiling: Pct | None = None
    share: Pct | None = None
    credit_share: Pct | None = None
    first_share: Pct | None = None
    bank_cap: Yuan | None = None
    suspend_overdue: Pct | None = None


class ProgrammeIn(In):
    kind: Literal["interest", "guarantee", "pool"] = Field(
        description="政策类型：interest 贷款贴息、guarantee 担保费补贴、pool 风险补偿")
    name: str = Field(min_length=2, max_length=100, description="政策项目名称")
    region_code: str = Field(min_length=6, max_length=6, description="实施区域：GB/T 2260 行政区划代码（本部门辖区内）",
                             examples=["230100"])
    starts_on: Day = Field(description="政策期限开始日（授信日期在期限内的贷款可以备案）")
    ends_on: Day = Field(description="政策期限结束日（含）")
    budget: Amount = Field(description="预算（元）：启动时记入政策资金")
    rules: RulesIn = Field(default_factory=RulesIn, description="规则；未给出的按该类型的默认值")


class RulesRevisionIn(In):
    rules: RulesIn = Field(description="新版本的规则（未给出的按该类型的默认值，而非沿用现行版本）")
    note: str = Field("", max_length=200, description="修改原因，记入规则版本")


class ContributionIn(In):
    party: str = Field(min_length=2, max_length=30, description="出资方，如 市财政局、合作银行名称")
    amount: Amount = Field(description="注资金额（元）")


class ProgrammeOut(BaseModel):
    number: str = Field(description="政策项目编号")
    kind: str = Field(description="interest / guarantee / pool")
    kind_label: str
    name: str
    region_code: str
    region_name: str
    starts_on: date
    ends_on: date
    budget: Yuan
    state: str = Field(description="DRAFT 草稿 / ACTIVE 实施中 / CLOSED 已结束")
    state_label: str
    rule_version: int = Field(description="现行规则版本")
    created_by: str
    created_at: str
    updated_at: str


class MoneyOut(BaseModel):
    budget: Yuan = Field(description="预算")
    contributed: Yuan = Field(description="累计入账：预算与各方注资")
    paid: Yuan = Field(description="已拨付")
    recovered: Yuan = Field(description="追偿返还")
    balance: Yuan = Field(description="政策资金余额")
    pending: Yuan = Field(description="已提交未拨付的申领占用")
    available: Yuan = Field(description="新申领可用：余额减去占用")
    balanced: bool = Field(description="账簿借贷是否平衡（应恒为 true）")


class RuleTextOut(BaseModel):
    label: str
    value: str


class RuleVersionOut(BaseModel):
    version: int
    digest: str = Field(description="规则规范化 JSON 的 SHA-256（申领据以计算的规则可核对）")
    note: str | None
    created_by: str
    created_at: str
    rules: RulesOut


class ProgrammeDetailOut(BaseModel):
    programme: ProgrammeOut
    rules: RulesOut = Field(description="现行规则")
    rules_text: list[RuleTextOut] = Field(description="现行规则的文字说明")
    source: str = Field(description="该类型默认规则的政策依据")
    versions: list[RuleVersionOut] = Field(description="各规则版本，新版本在前")
    money: MoneyOut


class ContributionOut(BaseModel):
    txn: str = Field(description="账簿交易编号")
    party: str
    amount: Yuan
    money: MoneyOut


# ── enrolments ──────────────────────────────────────────────────────────────────────────────────────────

class EnrolmentIn(In):
    loan_no: Code = Field(description="平台贷款编号（DK-…）或本机构的贷款编号；担保费补贴可填担保合同编号")
    contract_ref: Ref | None = Field(None, description="担保费补贴：担保合同编号（平台编号 DB-… 或本机构合同编号）")


class EnrolmentOut(BaseModel):
    programme: str
    loan_no: str
    institution_code: str = Field(description="备案并申领的机构")
    bank_code: str = Field(description="贷款银行")
    entity_code: str
    city_code: str
    contract: str | None = Field(description="担保合同编号（担保费补贴）")
    eligible: Yuan = Field(description="纳入政策的本金（已扣除单户上限占用）或担保金额")
    starts_on: date = Field(description="补贴期开始日")
    ends_on: date = Field(description="补贴期最后一日（含）")
    rule_version: int
    source: str = Field(description="page / api / file / bulk")
    enrolled_by: str
    enrolled_at: str


class RefusalCountOut(BaseModel):
    code: str
    message: str
    loans: int


class BulkEnrolmentOut(BaseModel):
    enrolled: int = Field(description="本次备案的贷款数")
    refused: list[RefusalCountOut] = Field(description="未备案的贷款，按原因计数")


# ── claims ──────────────────────────────────────────────────────────────────────────────────────────────

class EvidenceIn(In):
    filename: str = Field(min_length=1, max_length=200, description="文件名（仅供显示；类型按内容识别）")
    # No maxLength here: the request's 1 MB bound answers a longer text first (413), and the API refuses a
    # file above the limit with its own code (EVIDENCE_TOO_LARGE).
    content_base64: str = Field(min_length=4, description=(
        f"文件内容的 base64 编码（可按行折行）：PDF、PNG 或 JPG，解码后不超过 {EVIDENCE_MAX_BYTES // 1024} KB"))


class InterestClaimIn(In):
    kind: Literal["interest"] = Field(description="贷款贴息")
    loan_no: Code = Field(description="已备案贷款的平台编号或本机构贷款编号")
    start: Day = Field(description="申领期间开始日")
    end: Day = Field(description="申领期间结束日（含），须早于今天")
    paid_interest: Amount = Field(description="该期间企业实付利息（元）：贴息以此为限")
    evidence: EvidenceIn | None = Field(None, description="付息凭证（必填）")


class GuaranteeClaimIn(In):
    kind: Literal["guarantee"] = Field(description="担保费补贴")
    contract_ref: Ref = Field(description="已备案的担保合同编号")
    start: Day = Field(description="申领期间开始日")
    end: Day = Field(description="申领期间结束日（含），须早于今天")
    evidence: EvidenceIn | None = Field(None, description="担保费收取凭证（可选）")


class PoolClaimIn(In):
    kind: Literal["pool"] = Field(description="风险补偿")
    loan_no: Code = Field(description="已备案且已认定不良的贷款")
    loss: Amount = Field(description="本金损失（元），不超过贷款余额")
    evidence: EvidenceIn | None = Field(None, description="损失证明材料（必填）")


ClaimIn = Annotated[InterestClaimIn | GuaranteeClaimIn | PoolClaimIn, Field(discriminator="kind")]


class PeriodClaimIn(In):
    start: Day = Field(description="结息期间开始日")
    end: Day = Field(description="结息期间结束日（含），须早于今天")
    evidence: EvidenceIn | None = Field(None, description="该期间的付息清单或凭证（必填）")


class ClaimActionIn(In):
    action: Literal["submit", "withdraw", "recover", "review", "approve", "reject", "pay"] = Field(description=(
        "申领机构：submit 提交、withdraw 撤回、recover 登记追偿回款（风险补偿，recovered）；政策管理部门：review 初审、"
        "approve 复核（须另一名工作人员）、reject 退回（reason）、pay 登记拨付（payment_ref，可选 paid_on）"))
    reason: str | None = Field(None, max_length=300, description="退回原因（2–300 字）")
    payment_ref: str | None = Field(None, max_length=64, description="支付凭证号")
    paid_on: Day | None = Field(None, description="支付日期（默认今天）")
    recovered: Amount | None = Field(None, description="本次追偿回款（元）")


class BatchActionIn(In):
    action: Literal["submit", "withdraw", "review", "approve", "reject", "pay"] = Field(
        description="对批次中处于可办理状态的全部申领办理同一操作")
    reason: str | None = Field(None, max_length=300, description="退回原因")
    payment_ref: str | None = Field(None, max_length=64, description="支付凭证号")


class ClaimOut(BaseModel):
    number: str = Field(description="申领编号")
    programme: str
    kind: str
    kind_label: str
    state: str = Field(description="DRAFT / SUBMITTED / REVIEWED / APPROVED / PAID / REJECTED / WITHDRAWN")
    state_label: str
    institution_code: str
    bank_code: str
    entity_code: str
    city_code: str
    loan_no: str | None
    contract: str | None = Field(description="担保合同编号（担保费补贴）")
    period_start: date | None
    period_end: date | None = Field(description="申领期间最后一日（含）")
    days: int = Field(description="补贴天数")
    basis: Yuan = Field(description="计算基数：贴息本金、担保金额或本金损失")
    paid_interest: Yuan | None = Field(description="实付利息（贴息）")
    rate: Pct = Field(description="补贴比例或补偿比例")
    amount: Yuan = Field(description="申领金额")
    rule_version: int
    evidence_name: str | None
    evidence_sha256: str | None
    batch: str | None
    reviewed_by: str | None
    approved_by: str | None
    payment_ref: str | None
    paid_on: date | None
    reason: str | None
    recovered: Yuan = Field(description="累计追偿回款")
    returned: Yuan = Field(description="已返还资金池")
    created_by: str
    created_at: str
    updated_at: str
    next: list[NextMoveOut] = Field(description="当前可以办理的操作及办理方")


class ClaimEventOut(BaseModel):
    seq: int
    action: str
    label: str
    from_state: str
    to_state: str
    actor: str
    at: str
    payload: dict[str, Any]


class SplitOut(BaseModel):
    level: str = Field(description="财政层级")
    amount: Yuan


class ClaimDetailOut(BaseModel):
    claim: ClaimOut
    formula: str = Field(description="计算过程")
    recomputed: Yuan = Field(description="按申领所记数字与其规则版本重新计算的金额（应与 amount 相同）")
    rule_digest: str = Field(description="所用规则版本的摘要")
    split: list[SplitOut] = Field(description="各级财政分担")
    timeline: list[ClaimEventOut]


class BatchOut(BaseModel):
    programme: str
    batch: str = Field(description="批次编号")
    claims: int = Field(description="本次生成或办理的申领数")
    amount: Yuan = Field(description="合计金额")


# ── guarantees ──────────────────────────────────────────────────────────────────────────────────────────

class GuaranteeIn(In):
    loan_no: Code = Field(description="平台贷款编号（DK-…）")
    contract_ref: Ref = Field(description="本机构的担保合同编号")
    covered: Amount = Field(description="担保金额（元），不超过授信金额")
    fee: Percent = Field(description="担保费率（%/年），0–10")
    starts_on: Day
    ends_on: Day
    note: str = Field("", max_length=500)


class CompensationIn(In):
    amount: Amount = Field(description="代偿金额（元），不超过担保金额")
    on: Day = Field(description="代偿日期")


class GuaranteeOut(BaseModel):
    number: str = Field(description="平台担保合同编号")
    guarantor_code: str
    contract_ref: str
    loan_no: str
    entity_code: str
    covered: Yuan
    fee: Pct
    starts_on: date
    ends_on: date
    state: str = Field(description="ACTIVE 保证中 / COMPENSATED 已代偿 / ENDED 已解除")
    state_label: str
    compensated: Yuan
    compensated_on: date | None
    note: str | None
    created_by: str
    created_at: str


# ── the ledger ──────────────────────────────────────────────────────────────────────────────────────────

class LedgerLineOut(BaseModel):
    txn: str = Field(description="交易编号：同一交易各行借贷相等")
    account: str = Field(description="fund 政策资金 / budget 预算 / contrib:出资方 / payout:机构 / recovery:机构")
    debit: Yuan
    credit: Yuan
    claim: str | None = Field(description="相关申领编号")
    memo: str
    actor: str
    at: str


class LedgerOut(PageOut[LedgerLineOut]):
    programme: str
    money: MoneyOut
    debits: Yuan = Field(description="全部借方合计")
    credits: Yuan = Field(description="全部贷方合计")
    balanced: bool = Field(description="借贷合计相等且每笔交易平衡")
    unbalanced: list[str] = Field(description="不平衡的交易（应恒为空）")

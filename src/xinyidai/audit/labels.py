"""The audit log as people read it: a Chinese name for each action code and readable details (category names
from the catalogue, coded values in words, lists joined with 、, mappings as 名称：值, an empty value as the word
it means — 不限, 无 — never a dash, which a CJK font draws as 一). The codes stay in the log; only the page
translates them, and anything unknown is shown as stored rather than hidden."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from xinyidai.access.anomalies import RULE_NAMES
from xinyidai.access.log import ACTION_LABELS as ACCESS_ACTIONS
from xinyidai.access.log import refusal_reason
from xinyidai.access.verification import OUTCOME_LABELS
from xinyidai.catalog.schema import Catalog
from xinyidai.catalog.values import category_name
from xinyidai.credit.features import BY_CODE as FEATURES
from xinyidai.credit.models import MODEL_STATUSES
from xinyidai.records.models import DELIVERY_STATUSES

ACTION_LABELS: dict[str, str] = {
    **ACCESS_ACTIONS,  # accesses, refusals, grants and revocations, named as the enterprise's log names them
    "alert.raised": "产生异常告警", "alert.closed": "关闭异常告警", "checkpoint.conflict": "下级节点审计检查点冲突",
    "api.auth_refused": "接口认证被拒绝", "api.rate_limited": "接口调用超限",
    "colleague.added": "添加同事账户", "colleague.enabled": "启用同事账户", "colleague.disabled": "停用同事账户",
    "credential.issued": "签发接口凭证", "credential.registered": "登记接口凭证", "credential.rotated": "轮换接口凭证",
    "credit.evaluation.start": "发起批量评价", "credit.indicators.load": "载入指标体系",
    "quality.rules.load": "载入质量规则集", "quality.run.start": "发起质量检查", "quality.run.done": "完成质量检查",
    "quality.run.failed": "质量检查失败",
    "credit.model.status": "变更模型状态", "credit.model.train": "训练评分卡模型",
    "credit.outcomes.import": "导入贷款结果", "credit.report.public": "生成公开版信用报告",
    "credit.report.pdf": "导出信用报告 PDF",
    "quality.department.created": "登记数据提供部门", "quality.department.account": "开设部门账户",
    "quality.ticket.opened": "开具整改工单", "quality.ticket.updated": "更新整改工单涉及条数",
    "quality.ticket.answered": "部门以新报送答复工单", "quality.ticket.corrected": "部门以更正答复工单",
    "quality.ticket.explained": "部门说明工单情况", "quality.ticket.rechecked": "复核整改工单",
    "quality.ticket.closed": "关闭整改工单", "quality.ticket.reopened": "重新打开整改工单",
    "quality.ticket.reminded": "整改工单到期提醒", "quality.ticket.escalated": "整改工单逾期督办",
    "rights.objection.raised": "提出异议", "rights.objection.accepted": "受理异议", "rights.objection.routed": "异议转交核查", "rights.objection.refused": "异议不予受理", "rights.objection.answered": "来源平台答复异议", "rights.objection.concluded": "异议办结", "rights.objection.reminded": "异议到期提醒", "rights.objection.escalated": "异议逾期督办",
    "delivery.received": "接收交付批次", "delivery.loaded": "加载交付批次", "delivery.rejected": "整批拒收",
    "delivery.failed": "交付批次处理失败", "demo.built": "生成演示数据",
    "quality.source_added": "登记数据来源", "quality.source_edited": "修改数据来源", "quality.source_paused": "暂停数据来源",
    "quality.source_resumed": "恢复数据来源", "quality.source_watermark_reset": "重置数据来源水位",
    "quality.source_pulled": "拉取数据来源", "quality.source_failed": "数据来源拉取失败",
    "quality.source_alert": "数据来源连续失败告警",
    "envelope.exported": "发出同步报文", "envelope.applied": "应用同步报文", "envelope.refused": "拒收同步报文",
    "envelope.refused_by_peer": "同步报文被对方拒收", "feedback.raised": "提出数据异议",
    "institution.onboarded": "登记金融机构", "institution.user_added": "添加机构用户",
    "institution.processor_declared": "申报数据处理受托方", "institution.processor_withdrawn": "撤回数据处理受托方",
    "rights.repair.submitted": "申请信用修复", "rights.repair.approved": "同意信用修复", "rights.repair.refused": "信用修复不予通过", "rights.repair.withdrawn": "撤回信用修复申请", "rights.repair.notified": "通知提供部门信用修复结果", "rights.commitment.signed": "签署信用承诺书", "rights.commitment.broken": "信用承诺违诺",
    "rights.selfreport.added": "填报企业自报信息", "rights.selfreport.edited": "修改企业自报信息", "rights.selfreport.withdrawn": "撤回企业自报信息",
    "keyprojects.imported": "导入重点项目清单",
    "login.ok": "登录", "login.failed": "登录失败", "login.refused": "登录被拒绝", "logout": "退出登录",
    "migration.imported": "导入旧站迁移文件", "migration.entity_imported": "迁入旧站账户与授权",
    "migration.code_sent": "发送迁移账户激活验证码", "migration.code_throttled": "激活验证码发送过于频繁",
    "migration.activation_mismatch": "迁移账户激活信息不符", "migration.activation_throttled": "激活请求过于频繁",
    "migration.code_wrong": "激活验证码错误", "migration.account_activated": "激活迁移账户",
    "migration.authorization_confirmed": "重新确认迁移授权", "migration.authorization_declined": "拒绝迁移授权",
    "need.filed": "登记数据需求",
    "peer.applied": "节点申请接入", "peer.approved": "批准节点接入", "peer.checked": "检查节点",
    "peer.rejected": "驳回节点接入", "peer.rectifying": "要求节点整改", "peer.revoked": "撤销节点接入",
    "peer.restored": "恢复节点接入", "peer.parent_registered": "登记上级节点",
    "peer.legacy_linked": "关联旧节点", "peer.legacy_cut": "切断旧节点", "peer.legacy_cut_seen": "确认旧节点切断",
    "receipt.accepted": "确认回执", "reconcile.resent": "对账补发",
    "record.corrected": "更正记录", "record.withdrawn": "撤回记录",
    "registration.started": "开始实名注册", "registration.completed": "完成实名注册",
    "registration.code_wrong": "注册验证码错误", "registration.expired": "注册申请过期",
    "registration.mismatch": "注册信息不符", "registration.refused": "注册被拒绝",
    "registration.throttled": "注册请求过于频繁",
    "session.refused": "会话被拒绝", "user.created": "创建用户", "user.enabled": "启用用户", "user.disabled": "停用用户",
    "whitelist.generated": "生成白名单", "whitelist.received": "接收白名单", "whitelist.rules_saved": "保存白名单规则",
    "whitelist.seen": "查看白名单", "whitelist.subscribed": "订阅白名单", "whitelist.unsubscribed": "取消订阅白名单",
}

FIELD_LABELS: dict[str, str] = {
    "purpose": "用途", "authorizations": "依据授权", "categories": "信息类别", "category": "信息类别",
    "rows": "行数", "export_id": "导出编号", "digest": "摘要", "pdf_digest": "PDF 摘要", "kind": "类型",
    "code": "原因代码", "outcomes": "核验结果", "mode": "授权方式", "valid_until": "有效期至",
    "max_uses": "最多使用次数", "reason": "原因", "as_of": "基准日", "scope": "范围", "report_no": "报告编号",
    "status": "状态", "total": "总行数", "new": "新增", "changed": "变更", "unchanged": "未变", "rejected": "拒收",
    "provider": "提供部门", "file": "文件", "seed": "随机种子", "entities": "主体数", "months": "月数",
    "records": "记录数", "seconds": "耗时（秒）", "name": "名称", "parent_code": "上级机构",
    "rate_per_minute": "每分钟限额", "role": "角色", "rule": "规则", "entries": "条目数", "lists": "名单",
    "spec": "规则内容", "subscriber_kind": "订阅方类型", "subscriber": "订阅方", "list_kind": "名单类型",
    "rule_code": "规则代码", "first": "首次", "username": "用户名", "entity_code": "统一社会信用代码",
    "institution_code": "机构代码", "number": "编号", "version": "版本", "delivery_id": "交付批次",
    "funnel": "逐条筛选后剩余", "delivered": "推送", "institutions": "机构", "peers": "节点", "schedule": "生成周期",
    "description": "说明", "text_digest": "授权书摘要", "institution": "机构", "purpose_text": "用途说明",
    "basis": "依据",  # an access served under no authorization: 公开信息
    "year": "年度", "filename": "文件名", "file_digest": "文件摘要", "projects": "项目数", "window": "时间窗",
    "test_auc": "留出集 AUC", "updated": "更新", "size": "大小（字节）",
    "accounts": "迁入账户", "drafts": "迁入授权草稿", "counts": "逐类结果", "demoted": "因已有管理员改为普通账户",
}
# Inside a white-list rule (whitelist.rules_saved's spec), the keys are the rule's own.
RULE_FIELD_LABELS: dict[str, str] = {
    "code": "规则代码", "name": "名称", "schedule": "生成周期", "description": "说明", "min_grade": "最低等级",
    "max_age_days": "评价时效（天）", "exclude": "排除", "industries": "行业（门类代码）", "regions": "地区",
    "financing_need": "须有融资需求",
}
SCOPES = {"all": "全部主体", "changed": "有变化的主体"}
# Coded values in words. The lists domain sits beside this one (neither imports the other), so its words for
# schedules, subscribers and list kinds are repeated here; tests/audit keeps the two the same.
VALUE_LABELS: dict[str, dict[str, str]] = {
    "scope": SCOPES,
    "schedule": {"monthly": "每月1日", "weekly": "每周一"},
    "subscriber_kind": {"institution": "金融机构", "peer": "平台节点"},
    "list_kind": {"whitelist": "白名单", "key_projects": "重点项目清单"},
    "rule": RULE_NAMES,  # an alert's rule; a white list's "code:vN" is shown as stored
    "kind": {"profile": "查询信用概况", "detail": "查看原始明细", "verify": "核验比对", "export": "导出明细",
             "report": "生成授权版信用报告"},
}
# A status in words depends on what it is the status of: the action says.
STATUSES = {"credit.model.": MODEL_STATUSES, "delivery.": DELIVERY_STATUSES}
IDENTIFIERS = {"seed", "year", "version"}  # numbers that name something: no thousands separators
# What an empty value means, by key: no limit, every rule or region, or simply none.
EMPTY = {"max_uses": "不限", "rate_per_minute": "不限", "rule_code": "全部规则", "regions": "不限",
         "industries": "不限", "purpose": "未指定", "authorizations": "无（公开信息）", "valid_until": "未指定"}
LONG = 240  # a value longer than this (a long rule description) is cut; the log keeps it whole


def action_label(code: str) -> str:
    """The Chinese name of an audit action; an unknown one is shown as its code."""
    return ACTION_LABELS.get(code, code)


def _text(key: str, value: Any, category: Callable[[str], str], action: str = "",
          labels: dict[str, str] = FIELD_LABELS) -> str:
    if value is None or value == "" or value == [] or value == {}:
        return EMPTY.get(key, "无")
    if isinstance(value, bool):
        return "是" if value else "否"
    if key in ("categories", "category"):
        if isinstance(value, dict):  # category → tier
            return "、".join(f"{category(c)}（{t}）" for c, t in value.items())
        if isinstance(value, list | tuple):
            return "、".join(category(str(c)) for c in value)
        return category(str(value))
    if key == "outcomes" and isinstance(value, list | tuple):
        return "、".join(OUTCOME_LABELS.get(str(o), str(o)) for o in value)
    if key in VALUE_LABELS and isinstance(value, str):
        return VALUE_LABELS[key].get(value, value)
    if key == "status" and isinstance(value, str):
        words = next((w for prefix, w in STATUSES.items() if action.startswith(prefix)), {})
        return words.get(value, value)
    if key == "code" and action == "access.refused" and isinstance(value, str):  # its reason, the code kept
        return f"{refusal_reason(value)}（{value}）"
    if key == "exclude" and isinstance(value, list | tuple):
        return "、".join(FEATURES[str(f)].label if str(f) in FEATURES else str(f) for f in value)
    if key == "funnel" and isinstance(value, list | tuple):  # the rule's steps and who remained after each
        return " → ".join(f"{step[0]} {_text('', step[1], category)}" if isinstance(step, list | tuple)
                          and len(step) == 2 else _text("", step, category) for step in value)
    if key in IDENTIFIERS and isinstance(value, int):
        return str(value)
    if key.endswith("digest") and isinstance(value, str) and len(value) > 16:
        return value[:12] + "…"
    if isinstance(value, dict):
        inner = RULE_FIELD_LABELS if key == "spec" else labels
        return "；".join(f"{inner.get(str(k), FIELD_LABELS.get(str(k), str(k)))}：{_text(str(k), v, category, action)}"
                        for k, v in value.items())
    if isinstance(value, list | tuple):
        return "、".join(_text(key, v, category, action) for v in value)
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10000 else str(value)
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value)


def detail_lines(detail: dict[str, Any] | None, category: Callable[[str], str],
                 action: str = "") -> list[tuple[str, str]]:
    """An event's detail as (名称, 值) pairs for people; `category` names a category code, `action` is the
    event's (a status or a code reads differently for a delivery and for a model)."""
    out = []
    for k, v in (detail or {}).items():
        text = _text(str(k), v, category, action)
        out.append((FIELD_LABELS.get(str(k), str(k)), text if len(text) <= LONG else text[:LONG] + "…"))
    return out


def template_filters(catalog: Catalog) -> dict[str, Callable[..., Any]]:
    """The audit page's filters: an action's Chinese name, an event's details with category names."""
    return {"audit_action": action_label,
            "audit_detail": lambda d, action="": detail_lines(d, lambda c: category_name(catalog, c), action)}

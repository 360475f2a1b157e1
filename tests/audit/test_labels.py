"""The audit log says what happened in words (issue 23, item 15): coded values (a schedule, a subscriber's
kind, a list's kind, a rule's keys, a status, a refusal's code) as people read them, and an empty value as
the word it means — 不限, 无 — never a dash, which a CJK font draws as 一 ("最多使用次数：一" read as one use).

The details are made by the real services on a real database and read back through the audit page."""

from __future__ import annotations

import re

from sqlalchemy import select

from tests.access.conftest import BANK_A, ENTITY
from tests.web.test_access_pages import world  # noqa: F401 - the sharing world, used below
from xinyidai.access import authorizations, sharing
from xinyidai.access.authorizations import GrantRequest
from xinyidai.access.policy import default_policy
from xinyidai.audit import labels
from xinyidai.credit import evaluation
from xinyidai.kit import clock
from xinyidai.kit.audit import AuditEvent
from xinyidai.kit.errors import DomainError
from xinyidai.kit.principal import Principal
from xinyidai.lists import whitelists


def _shown(page: str) -> str:
    """The details column of the audit table, as a person sees it."""
    body = page.split("<tbody>")[1].split("</tbody>")[0]
    return "\n".join(re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r'<td class="small">(.*?)</td>', body))


def test_coded_and_empty_values_read_as_words(world, db, catalog, login) -> None:  # noqa: ANN001, F811
    evaluation.evaluate_all(db, clock.today(), "operator")
    with db.session() as s:
        rules = whitelists.save_rule_set(s, whitelists.default_rules_text(), "operator")
        whitelists.subscribe(s, "operator", "institution", BANK_A, "whitelist", None, "CN-230000")
        whitelists.generate(s, rules, clock.today(), "operator", "CN-230000")
        owner = Principal(0, "enterprise", "测试enterprise", "enterprise", ENTITY)
        req = GrantRequest(BANK_A, "贷前审查", "汇总查询", ["tax"], clock.today(), None, {})
        authorizations.grant(s, catalog, owner, req, authorizations.preview(s, catalog, owner, req)[1])
    with db.session() as s:  # another bank asks for details it was never authorized to see: refused
        actor = sharing.Actor("91230100XY99990001", "bank")
        try:
            sharing.detail(s, catalog, default_policy(), sharing.Actor(BANK_A, "bank"), ENTITY, "water")
        except DomainError as exc:
            sharing.log_refusal(s, actor, ENTITY, "detail", exc)
    with db.session() as s:
        actions = set(s.execute(select(AuditEvent.action)).scalars())
    assert {"whitelist.rules_saved", "whitelist.subscribed", "whitelist.generated", "authorization.granted",
            "access.refused"} <= actions

    shown = _shown(login("security").get("/audit", params={"size": 200}).text)
    for words in ("生成周期：每月1日", "最低等级：B+", "评价时效（天）：45", "订阅方类型：金融机构", "名单类型：白名单",
                  "规则代码：全部规则", "最多使用次数：不限", "类型：查看原始明细", "用途：未指定", "有公共信用综合评价结果 "):
        assert words in shown, words
    for raw in ("monthly", "institution", "whitelist", "min_grade", "max_age_days", "—", "detail"):
        assert raw not in shown, raw


def test_statuses_and_codes_by_what_they_belong_to() -> None:
    names = {"tax": "纳税"}.get
    assert labels.detail_lines({"status": "active"}, names, "credit.model.status") == [("状态", "在用")]
    assert labels.detail_lines({"status": "partial"}, names, "delivery.loaded") == [("状态", "部分接收")]
    assert labels.detail_lines({"code": "NO_AUTHORIZATION"}, names, "access.refused") == [
        ("原因代码", "未获授权（NO_AUTHORIZATION）")]
    assert labels.detail_lines({"code": "THRESHOLD_EXCEEDED"}, names, "delivery.rejected") == [
        ("原因代码", "THRESHOLD_EXCEEDED")]
    assert labels.detail_lines({"seed": 20220516, "records": 11014, "test_auc": 0.86813}, names) == [
        ("随机种子", "20220516"), ("记录数", "11,014"), ("留出集 AUC", "0.8681")]
    assert labels.detail_lines({"rule": "enumeration", "parent_code": None}, names) == [
        ("规则", "批量遍历主体"), ("上级机构", "无")]


def test_the_lists_words_are_the_lists_own() -> None:
    assert labels.VALUE_LABELS["schedule"] == whitelists.SCHEDULES
    assert labels.VALUE_LABELS["subscriber_kind"] == whitelists.SUBSCRIBER_KINDS
    assert labels.VALUE_LABELS["list_kind"] == whitelists.LIST_KINDS
    assert set(labels.RULE_FIELD_LABELS) == set(whitelists.RULE_KEYS)

"""Who is acting: the subject every service function is handed, and the roles a deployment knows.

It lives in the kit because every layer takes it — services check it inside their queries, the web shell
admits requests by role — while the accounts and institutions that produce it sit above the shell."""

from __future__ import annotations

from dataclasses import dataclass

USER_ROLES = {
    "operator": "平台运营人员",
    "bank": "金融机构客户经理",
    "enterprise": "企业用户",
    "regulator": "监管人员",
    "security": "安全管理员",
    "policy": "政策管理人员",  # a city's (or the province's) finance office; org_code is its division code
    "department": "数据提供部门",  # a providing department's staff; org_code is its quality.Department code
}
# The platform's own staff: they read the register and the logs; each route still names whom it admits.
STAFF = ("operator", "regulator", "security")


@dataclass(frozen=True)
class Principal:
    """Who is acting: a logged-in user, or an institution's credential (user_id 0, username key:<id>)."""

    user_id: int
    username: str
    display_name: str
    role: str
    org_code: str | None

    @property
    def role_label(self) -> str:
        return USER_ROLES.get(self.role, self.role)

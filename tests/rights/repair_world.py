"""An enterprise with penalties at different points of their publication windows, its verified administrator,
a colleague who is not, a second enterprise, and the department that provided the penalties — shared by the
repair and commitment tests. The clock is tests/conftest.py's FIXED_NOW (2026-11-15, Beijing)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyidai.accounts.models import LoginSession, User
from xinyidai.catalog.schema import Catalog
from xinyidai.entities.models import MarketEntity
from xinyidai.kit import clock
from xinyidai.kit.db import Database
from xinyidai.kit.principal import Principal
from xinyidai.quality import departments
from xinyidai.records.canonical import canonical_json, fingerprint, record_key
from xinyidai.records.models import CreditRecord
from xinyidai.records.validation import period_bounds
from xinyidai.rights.evidence import Upload
from xinyidai.web.deps import SESSION_COOKIE

ENTERPRISE = "91230100XY00000121"  # tests/web/conftest.py's enterprise user's code
OTHER = "91230100XY00000139"
PROVIDER = "哈尔滨市市场监督管理局"
PASSWORD = "correct-horse-9"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def entity(s: Session, code: str, name: str) -> None:
    s.add(MarketEntity(code=code, name=name, kind="企业", region_code="230100", status="存续",
                       updated_at=clock.now()))
    s.flush()


def penalty(s: Session, catalog: Catalog, code: str, decision_no: str, decided_on: str, *, reason: str = "虚假宣传",
            received_at: datetime | None = None, **more: str) -> CreditRecord:
    cat = catalog.category("penalty")
    content = {"decision_no": decision_no, "penalty_type": "罚款", "reason": reason, "basis": "《广告法》第五十五条",
               "decided_on": decided_on, "authority": PROVIDER, "fine_amount": 2.5, **more}
    cj = canonical_json(content)
    start, end = period_bounds(cat.item("decided_on"), decided_on)
    r = CreditRecord(entity_code=code, category="penalty", record_key=record_key(cat.key, content), version=1,
                     status="current", content=cj, fingerprint=fingerprint(cj), period_start=start, period_end=end,
                     provider=PROVIDER, received_at=received_at or datetime(2026, 7, 1, 2, 0, tzinfo=clock.now().tzinfo))
    s.add(r)
    s.flush()
    return r


@cache
def _password_hash() -> str:
    return PasswordHasher().hash(PASSWORD)  # once per test run: hashing is slow on purpose


def admin(s: Session, username: str = "ent_admin", code: str = ENTERPRISE, *, is_admin: bool = True) -> Principal:
    """An enterprise user (the verified administrator, or with is_admin=False a colleague) who can log in."""
    u = User(username=username, display_name=f"管理员{username}", role="enterprise", password_hash=_password_hash(),
             org_code=code, org_admin=is_admin, active=True, created_at=clock.now())
    s.add(u)
    s.flush()
    return Principal(u.id, u.username, u.display_name, "enterprise", code)


OPERATOR = Principal(0, "operator", "运营人员", "operator", None)
REGULATOR = Principal(0, "regulator", "监管人员", "regulator", None)


def seed(s: Session, catalog: Catalog) -> dict[str, int]:
    """Records: `ripe` (decided 2026-06-01, may be repaired since 2026-09-01), `early` (2026-10-01: not before
    2027-01-01), `fire` (消防, 2026-06-01: a year's minimum, 2027-06-01), `ended` (publication ended by the
    provider's 公示截止期), `other` (another enterprise's)."""
    entity(s, ENTERPRISE, "哈尔滨信易测试有限公司")
    entity(s, OTHER, "哈尔滨另一家有限公司")
    departments.create(s, code="hrb-amr", name=PROVIDER, region="230100", contact="13800000009", actor="op")
    return {
        "ripe": penalty(s, catalog, ENTERPRISE, "哈市监罚〔2026〕101号", "2026-06-01").id,
        "early": penalty(s, catalog, ENTERPRISE, "哈市监罚〔2026〕202号", "2026-10-01").id,
        "fire": penalty(s, catalog, ENTERPRISE, "哈消罚〔2026〕7号", "2026-06-01", reason="消防设施未保持完好").id,
        "ended": penalty(s, catalog, ENTERPRISE, "哈市监罚〔2025〕9号", "2025-01-10", publicity_until="2025-06-30").id,
        "other": penalty(s, catalog, OTHER, "哈市监罚〔2026〕303号", "2026-05-01").id,
    }


def evidence_files() -> list[Upload]:
    return [Upload("罚款缴纳凭证.pdf", PDF)]


# ── pages: an app and logged-in clients without hashing a password per user and login ────────────────

def staff(s: Session) -> None:
    """The platform's users and a bank's, plus the enterprise's colleague `enterprise` (not its administrator)."""
    for role in ("operator", "regulator", "bank"):
        s.add(User(username=role, display_name=f"测试{role}", role=role, password_hash=_password_hash(),
                   org_code="91230100MA1AAAAA0X" if role == "bank" else None, active=True, created_at=clock.now()))
    admin(s, "enterprise", is_admin=False)


def make_app(db: Database, var_dir: Path) -> Any:
    from xinyidai.app import create_app
    from xinyidai.config import load_settings
    return create_app(load_settings(env={}, var_dir=var_dir, database_url=db.url), db)


def client(app: Any, db: Database, username: str) -> TestClient:
    """A client with a login session made directly (what POST /login makes, less the password check)."""
    token, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(24), clock.now()
    with db.session() as s:
        u = s.execute(select(User).where(User.username == username)).scalar_one()
        s.add(LoginSession(token_hash=hashlib.sha256(token.encode()).hexdigest(), user_id=u.id, csrf_token=csrf,
                           created_at=now, expires_at=now + timedelta(hours=1), last_seen_at=now))
    c = TestClient(app, base_url="http://testserver")
    c.cookies.set(SESSION_COOKIE, token)
    c.csrf = csrf  # type: ignore[attr-defined]
    return c

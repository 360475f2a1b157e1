"""The old site's sample file (tests/data/rights_migration_sample.json) and the province it is imported into: the
register holds some of its enterprises, one bank is active and one suspended, one username is taken. The same
rows as an Excel workbook are built here (a binary file is not kept in the repository)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from sqlalchemy.orm import Session

from xinyidai.accounts.models import User
from xinyidai.entities.models import MarketEntity
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit import clock
from xinyidai.rights.migration import COLUMNS, SECTIONS, SHEETS

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "rights_migration_sample.json"
E1, E2 = "91230103XY0000G57T", "91230103XY0000G65M"  # in the register and the file
E4 = "91230103XY0000G81B"  # in the register under another name than the file's
E5 = "91230103XY0000G9X3"  # in the register, not in the file's 企业
BANK, SUSPENDED = "91230103XY0000X20U", "91230103XY0000X39Q"

# What the report says of each refused row: (kind, row number) → code. Every other row is imported.
REFUSED = {
    ("enterprise", 3): "INVALID_USCC", ("enterprise", 4): "MIGRATION_DUPLICATE_ROW",
    ("enterprise", 5): "MIGRATION_ENTITY_NOT_REGISTERED", ("enterprise", 6): "MIGRATION_ENTITY_NAME_MISMATCH",
    ("account", 4): "MIGRATION_DUPLICATE_ROW", ("account", 5): "USERNAME_TAKEN",
    ("account", 6): "MIGRATION_ENTITY_NOT_LISTED", ("account", 7): "MIGRATION_ENTITY_REFUSED",
    ("account", 8): "MIGRATION_ENTITY_NOT_REGISTERED", ("account", 9): "BAD_PHONE", ("account", 10): "INVALID_USCC",
    ("account", 11): "ENTITY_HAS_ADMIN",
    ("authorization", 3): "INSTITUTION_UNKNOWN", ("authorization", 4): "INSTITUTION_UNAVAILABLE",
    ("authorization", 5): "MIGRATION_AUTHORIZATION_EXPIRED", ("authorization", 6): "MIGRATION_DUPLICATE_ROW",
    ("authorization", 7): "UNKNOWN_CATEGORY", ("authorization", 8): "BAD_PURPOSE",
    ("authorization", 9): "MIGRATION_ENTITY_REFUSED", ("authorization", 10): "BAD_MODE",
}
COUNTS = {"enterprise": {"imported": 2, "refused": 4}, "account": {"imported": 3, "refused": 8},
          "authorization": {"imported": 3, "refused": 8}}


def seed(s: Session) -> None:
    now = clock.now()
    for code, name in ((E1, "哈尔滨迁移一号科技有限公司"), (E2, "哈尔滨迁移二号商贸有限公司"),
                       (E4, "哈尔滨迁移四号有限公司"), (E5, "哈尔滨迁移五号有限公司")):
        s.add(MarketEntity(code=code, name=name, kind="企业", region_code="230103", status="存续", updated_at=now))
    for code, name, status in ((BANK, "哈尔滨迁移测试银行", "active"), (SUSPENDED, "某暂停接入的小贷公司", "suspended")):
        s.add(FinancialInstitution(code=code, name=name, kind="银行", status=status, created_at=now, created_by="test"))
    s.add(User(username="taken_user", display_name="已有用户", role="enterprise", password_hash="x", org_code=E2,
               active=True, created_at=now))
    s.flush()


def sample() -> dict[str, Any]:
    return json.loads(SAMPLE.read_text(encoding="utf-8"))


def sample_bytes() -> bytes:
    return SAMPLE.read_bytes()


def workbook(doc: dict[str, Any], *, drop_sheet: str | None = None, drop_column: str | None = None) -> bytes:
    """The document as the old site's Excel export: a sheet per kind, headings in the first row."""
    wb = Workbook()
    wb.remove(wb.active)
    for kind, sheet in SHEETS.items():
        if sheet == drop_sheet:
            continue
        ws = wb.create_sheet(sheet)
        fields = [f for f, h in COLUMNS[kind].items() if h != drop_column]
        ws.append([COLUMNS[kind][f] for f in fields])
        for item in doc[SECTIONS[kind]]:
            ws.append([("、".join(v) if isinstance(v, list) else ("是" if v is True else v))
                       for v in (item.get(f) for f in fields)])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()

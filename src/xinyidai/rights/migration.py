"""The move from the old provincial site (黑龙江站整体迁移): importing its enterprises, accounts and authorizations.

The file is one Excel workbook with the sheets 企业 / 账户 / 授权 (`SHEETS`, columns in `COLUMNS`), or the same as
UTF-8 JSON `{"enterprises": [...], "accounts": [...], "authorizations": [...]}` with the field names of
`COLUMNS`. A file imports once (its SM3 digest is unique). A file that cannot be read as a whole — not a
workbook, a sheet or column missing, JSON that does not parse or is not UTF-8 — is refused whole; otherwise
every row is checked on its own and refused with a Chinese reason and a code, and the rest is imported in one
transaction with a report line (`MigrationRow`) per row.

Nothing is carried over silently: the register stays the truth about enterprises (a row only names one, and
must match it); accounts come in inactive with an unusable password until their holder re-verifies by
one-time code (`activation`); authorizations come in as drafts the enterprise's administrator must confirm
through the normal grant path (`confirm_draft`), which alone creates a live `Authorization`.
"""

from __future__ import annotations

import json
import re
import secrets
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Select, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xinyidai.access import authorizations
from xinyidai.access.authorizations import MAX_DAYS, GrantRequest
from xinyidai.access.models import MODES, PURPOSES, Authorization
from xinyidai.accounts.models import User
from xinyidai.accounts.registration import CLOSED_STATUSES
from xinyidai.catalog.schema import Catalog
from xinyidai.entities.codes import validate_uscc
from xinyidai.entities.models import MarketEntity
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit import audit, clock
from xinyidai.kit.digest import sm3_hex
from xinyidai.kit.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from xinyidai.kit.pagination import Page, PageRequest, paginate
from xinyidai.kit.principal import Principal
from xinyidai.records.readers import FileRejected, open_delivery
from xinyidai.rights.models import (
    MigratedAccount,
    MigratedAuthorization,
    MigrationImport,
    MigrationRow,
)

KINDS = {"enterprise": "企业", "account": "账户", "authorization": "授权"}
SECTIONS = {"enterprise": "enterprises", "account": "accounts", "authorization": "authorizations"}  # JSON keys
SHEETS = KINDS  # the workbook's sheet per kind
# Per kind: field → the column's heading in the workbook (JSON uses the field names).
COLUMNS: dict[str, dict[str, str]] = {
    "enterprise": {"code": "统一社会信用代码", "name": "企业名称"},
    "account": {"username": "用户名", "display_name": "姓名", "entity_code": "统一社会信用代码",
                "mobile": "手机号", "admin": "是否管理员"},
    "authorization": {"old_number": "原授权编号", "entity_code": "统一社会信用代码", "institution_code": "机构代码",
                      "purpose": "授权用途", "mode": "授权方式", "categories": "信息类别", "valid_until": "有效期至"},
}
OUTCOMES = {"imported": "已导入", "refused": "未导入"}
MAX_FILE_BYTES = 20 << 20
MAX_ROWS = 50_000  # per kind; the old site held a few thousand enterprises
UNUSABLE_PASSWORD = "!migrated:"  # no argon2 hash starts so: nothing verifies against it
_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{3,64}$")
_PHONE = re.compile(r"^1[3-9][0-9]{9}$")
_SPLIT = re.compile(r"[,，、;；\s]+")
_YES, _NO = ("是", "y", "yes", "true", "1"), ("否", "n", "no", "false", "0", "")
_CHUNK = 500


class RowRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class Line:
    """One row of the file: where it is (row number as a person sees it) and its values by field."""

    row_no: int
    values: dict[str, str | None]
    problem: tuple[str, str] | None = None  # (code, message) when the reader could not read the row

    def get(self, name: str) -> str:
        return (self.values.get(name) or "").strip()


@dataclass
class Parsed:
    lines: dict[str, list[Line]] = field(default_factory=dict)


# ── reading the file ───────────────────────────────────────────────────────────────────────────────────

def _whole(message: str, code: str) -> InvalidInput:
    return InvalidInput(message + "整个文件未导入。", code=code)


def parse(data: bytes, filename: str = "") -> Parsed:
    """The file's rows by kind; raises InvalidInput when the file cannot be read as a whole."""
    if not data:
        raise _whole("文件是空的。", "MIGRATION_FILE_EMPTY")
    if len(data) > MAX_FILE_BYTES:
        raise _whole(f"文件超过 {MAX_FILE_BYTES >> 20} MB 的上限。", "MIGRATION_FILE_TOO_LARGE")
    if data.startswith(b"PK\x03\x04"):
        return _parse_workbook(data)
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith((b"{", b"[")):
        return _parse_json(data)
    raise _whole("文件既不是 Excel 工作簿（.xlsx），也不是 JSON。请按迁移文件格式导出后重新上传。", "MIGRATION_FILE_FORMAT")


def _parse_workbook(data: bytes) -> Parsed:
    out = Parsed()
    with tempfile.TemporaryDirectory(prefix="xyd-migration-") as tmp:
        path = Path(tmp) / "migration.xlsx"
        path.write_bytes(data)
        for kind, sheet in SHEETS.items():
            try:
                with open_delivery(path, "migration.xlsx", sheet=sheet, max_columns=32) as reader:
                    if reader.sheet != sheet:  # type: ignore[attr-defined]
                        raise _whole(f"工作簿中没有名为「{sheet}」的工作表（需要 企业、账户、授权 三个工作表）。",
                                     "MIGRATION_SHEET_MISSING")
                    headers = [h.strip() for h in reader.headers]
                    wanted = COLUMNS[kind]
                    missing = [h for h in wanted.values() if h not in headers]
                    if missing:
                        raise _whole(f"工作表「{sheet}」缺少列：{'、'.join(missing)}。", "MIGRATION_COLUMN_MISSING")
                    at = {f: headers.index(h) for f, h in wanted.items()}
                    lines = []
                    for row in reader.rows():
                        values = {f: (row.values[i] if i < len(row.values) else None) for f, i in at.items()}
                        problem = (row.problem_code or "ROW_UNREADABLE", row.problem) if row.problem else None
                        lines.append(Line(row.row_no, values, problem))
                        if len(lines) > MAX_ROWS:
                            raise _whole(f"工作表「{sheet}」超过 {MAX_ROWS} 行。", "MIGRATION_FILE_TOO_LARGE")
                    out.lines[kind] = lines
            except FileRejected as exc:
                if exc.code == "FILE_EMPTY" and "工作表" in exc.message:  # a sheet with no header at all
                    raise _whole(f"工作表「{sheet}」没有表头。", "MIGRATION_COLUMN_MISSING") from None
                raise _whole(f"工作簿无法读取：{exc.message}", "MIGRATION_FILE_INVALID") from None
    return out


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "是" if v else "否"
    if isinstance(v, list):
        return "、".join(str(x) for x in v)
    return str(v)


def _parse_json(data: bytes) -> Parsed:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _whole("JSON 文件不是 UTF-8 编码。请以 UTF-8 编码导出后重新上传。", "MIGRATION_FILE_ENCODING") from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise _whole(f"JSON 无法解析（{exc}）。", "MIGRATION_FILE_INVALID") from None
    if not isinstance(doc, dict):
        raise _whole('JSON 顶层应为对象 {"enterprises": [...], "accounts": [...], "authorizations": [...]}。',
                     "MIGRATION_FILE_INVALID")
    out = Parsed()
    for kind, key in SECTIONS.items():
        items = doc.get(key)
        if not isinstance(items, list):
            raise _whole(f"JSON 缺少 {key} 列表（{KINDS[kind]}）。", "MIGRATION_SHEET_MISSING")
        if len(items) > MAX_ROWS:
            raise _whole(f"{key} 超过 {MAX_ROWS} 条。", "MIGRATION_FILE_TOO_LARGE")
        lines = []
        for n, item in enumerate(items, 1):
            if not isinstance(item, dict):
                lines.append(Line(n, {}, ("ROW_NOT_OBJECT", "该条不是 JSON 对象")))
                continue
            lines.append(Line(n, {f: _text(item.get(f)) for f in COLUMNS[kind]}))
        out.lines[kind] = lines
    return out


# ── checking and importing ─────────────────────────────────────────────────────────────────────────────

def _norm_name(v: str) -> str:
    return re.sub(r"\s+", "", v or "").replace("(", "（").replace(")", "）")


def _chunks(values: Iterable[str]) -> Iterable[list[str]]:
    items = sorted(set(values))
    for i in range(0, len(items), _CHUNK):
        yield items[i:i + _CHUNK]


def _fetch(s: Session, stmt_for: Any, values: Iterable[str]) -> list[Any]:
    found: list[Any] = []
    for part in _chunks(values):
        found.extend(s.execute(stmt_for(part)).all())
    return found


def _uscc(value: str, what: str = "统一社会信用代码") -> str:
    if not value:
        raise RowRefused("MISSING_VALUE", f"{what}未填写")
    try:
        return validate_uscc(value)
    except InvalidInput as exc:
        raise RowRefused(exc.code, exc.message) from None


def _required(line: Line, name: str) -> str:
    v = line.get(name)
    if not v:
        raise RowRefused("MISSING_VALUE", f"「{COLUMNS_ALL[name]}」未填写")
    return v


COLUMNS_ALL = {f: h for cols in COLUMNS.values() for f, h in cols.items()}


@dataclass
class _Outcome:
    kind: str
    row_no: int
    ref: str | None
    code: str | None = None
    message: str | None = None

    @property
    def refused(self) -> bool:
        return self.code is not None


def _today() -> date:
    return clock.now().astimezone(clock.CHINA_TZ).date()


def _parse_day(v: str) -> date:
    try:
        return date.fromisoformat(v.strip()[:10].replace("/", "-"))
    except ValueError:
        raise RowRefused("BAD_DATE", f"有效期「{v}」不是日期（YYYY-MM-DD）") from None


def _categories(catalog: Catalog, v: str) -> list[str]:
    names = [x for x in _SPLIT.split(v.strip()) if x]
    if not names:
        raise RowRefused("NO_CATEGORY", "「信息类别」未填写")
    codes = []
    for n in names:
        try:
            codes.append(catalog.category(n).code)
        except KeyError:
            raise RowRefused("UNKNOWN_CATEGORY", f"信息类别「{n}」不在信息清单中") from None
    return sorted(set(codes), key=catalog.position)


def _with_admin(s: Session, codes: set[str]) -> set[str]:
    """Entities that have an administrator: an active one, or one migrated earlier and not yet verified."""
    pending = select(MigratedAccount.user_id).where(MigratedAccount.state == "pending")
    return {r[0] for r in _fetch(s, lambda part: select(User.org_code).where(
        User.role == "enterprise", User.org_admin.is_(True), User.org_code.in_(part),
        or_(User.active.is_(True), User.id.in_(pending))), codes)}


def import_file(s: Session, catalog: Catalog, data: bytes, filename: str, actor: str) -> MigrationImport:
    """Import one file of the old site; the report is its `MigrationRow`s. Refused whole (nothing stored):
    the same file again (MIGRATION_DUPLICATE_FILE) or a file that cannot be read."""
    digest = sm3_hex(data)
    if s.execute(select(MigrationImport.id).where(MigrationImport.digest == digest)).first():
        raise Conflict("该文件已导入过（文件摘要相同），本次未作任何变更。", code="MIGRATION_DUPLICATE_FILE")
    parsed = parse(data, filename)
    now, today = clock.now(), _today()
    lines = parsed.lines

    # What the file names, read from the database in a few queries.
    codes = {line.get("code").upper() for line in lines["enterprise"]}
    codes |= {line.get("entity_code").upper() for k in ("account", "authorization") for line in lines[k]}
    register = {r[0]: r for r in _fetch(s, lambda part: select(MarketEntity.code, MarketEntity.name,
                                                                MarketEntity.status).where(MarketEntity.code.in_(part)),
                                         codes)}
    names = {line.get("username") for line in lines["account"]}
    taken = {r[0] for r in _fetch(s, lambda part: select(User.username).where(User.username.in_(part)), names)}
    olds = {line.get("old_number") for line in lines["authorization"]}
    imported_before = {r[0] for r in _fetch(s, lambda part: select(MigratedAuthorization.old_number)
                                            .where(MigratedAuthorization.old_number.in_(part)), olds)}
    institutions = {i.code: i for i in s.execute(select(FinancialInstitution)).scalars()}

    outcomes: list[_Outcome] = []

    # Enterprises: the register is the truth; a row only names one, which must be there under the same name.
    accepted: set[str] = set()
    listed: set[str] = set()
    for line in lines["enterprise"]:
        o = _Outcome("enterprise", line.row_no, line.get("code") or None)
        try:
            if line.problem:
                raise RowRefused(*line.problem)
            code = _uscc(line.get("code"))
            o.ref = code
            if code in listed:
                raise RowRefused("MIGRATION_DUPLICATE_ROW", f"统一社会信用代码 {code} 在文件中重复出现")
            listed.add(code)
            name = _required(line, "name")
            hit = register.get(code)
            if hit is None:
                raise RowRefused("MIGRATION_ENTITY_NOT_REGISTERED", f"{code} 不在本省市场主体名录中")
            if _norm_name(hit[1]) != _norm_name(name):
                raise RowRefused("MIGRATION_ENTITY_NAME_MISMATCH",
                                 f"名称「{name}」与市场主体名录登记的「{hit[1]}」不一致")
            if hit[2] in CLOSED_STATUSES:
                raise RowRefused("MIGRATION_ENTITY_CLOSED", f"该市场主体已{hit[2]}")
            accepted.add(code)
        except RowRefused as r:
            o.code, o.message = r.code, r.message
        outcomes.append(o)

    def entity_of(line: Line) -> str:
        code = _uscc(line.get("entity_code"), "所属企业的统一社会信用代码")
        if code in accepted:
            return code
        if code in listed:
            raise RowRefused("MIGRATION_ENTITY_REFUSED", f"所属企业 {code} 未通过核对（见企业表），本条不导入")
        if code not in register:
            raise RowRefused("MIGRATION_ENTITY_NOT_REGISTERED", f"所属企业 {code} 不在本省市场主体名录中")
        raise RowRefused("MIGRATION_ENTITY_NOT_LISTED", f"所属企业 {code} 未列入文件的企业表")

    # Accounts: inactive until re-verified; an entity has one administrator.
    accounts: list[tuple[_Outcome, dict[str, Any]]] = []
    seen_users: set[str] = set()
    admins = _with_admin(s, accepted)
    for line in lines["account"]:
        o = _Outcome("account", line.row_no, line.get("username") or None)
        try:
            if line.problem:
                raise RowRefused(*line.problem)
            username = _required(line, "username")
            if not _USERNAME.match(username):
                raise RowRefused("BAD_USERNAME", "用户名须为 3–64 位字母、数字、下划线、点或连字符")
            if username in seen_users:
                raise RowRefused("MIGRATION_DUPLICATE_ROW", f"用户名 {username} 在文件中重复出现")
            seen_users.add(username)
            if username in taken:
                raise RowRefused("USERNAME_TAKEN", f"用户名 {username} 已被本平台的账户使用")
            display = _required(line, "display_name")
            if len(display) > 100:
                raise RowRefused("BAD_DISPLAY_NAME", "姓名超过 100 个字")
            entity = entity_of(line)
            phone = re.sub(r"[\s-]", "", line.get("mobile")).removeprefix("+86")
            if not _PHONE.match(phone):
                raise RowRefused("BAD_PHONE", "手机号应为 11 位中国大陆手机号码（用于首次登录验证）")
            flag = line.get("admin").lower()
            if flag not in _YES + _NO:
                raise RowRefused("BAD_ADMIN_FLAG", f"「是否管理员」应填 是 或 否，而不是「{flag}」")
            admin = flag in _YES
            if admin and entity in admins:
                raise RowRefused("ENTITY_HAS_ADMIN", f"企业 {entity} 已有管理员账户，本条不导入（可作为普通账户迁移）")
            if admin:
                admins.add(entity)
            accounts.append((o, {"username": username, "display": display, "entity": entity, "phone": phone,
                                 "admin": admin}))
        except RowRefused as r:
            o.code, o.message = r.code, r.message
        outcomes.append(o)

    # Authorizations: drafts, checked as the grant form would check them.
    drafts: list[tuple[_Outcome, dict[str, Any]]] = []
    seen_olds: set[str] = set()
    for line in lines["authorization"]:
        o = _Outcome("authorization", line.row_no, line.get("old_number") or None)
        try:
            if line.problem:
                raise RowRefused(*line.problem)
            old = _required(line, "old_number")
            if len(old) > 60:
                raise RowRefused("BAD_OLD_NUMBER", "原授权编号超过 60 个字符")
            if old in seen_olds:
                raise RowRefused("MIGRATION_DUPLICATE_ROW", f"原授权编号 {old} 在文件中重复出现")
            seen_olds.add(old)
            if old in imported_before:
                raise RowRefused("MIGRATION_ALREADY_IMPORTED", f"原授权编号 {old} 已在此前的迁移中导入")
            entity = entity_of(line)
            inst_code = _uscc(line.get("institution_code"), "机构代码")
            inst = institutions.get(inst_code)
            if inst is None:
                raise RowRefused("INSTITUTION_UNKNOWN", f"机构 {inst_code} 未在本平台登记")
            if inst.status != "active":
                raise RowRefused("INSTITUTION_UNAVAILABLE", f"机构「{inst.name}」已暂停接入，授权不能迁移")
            purpose, mode = line.get("purpose"), line.get("mode")
            if purpose not in PURPOSES:
                raise RowRefused("BAD_PURPOSE", f"授权用途「{purpose}」须为 {'、'.join(PURPOSES)} 之一")
            if mode not in MODES:
                raise RowRefused("BAD_MODE", f"授权方式「{mode}」须为 {'、'.join(MODES)} 之一")
            cats = _categories(catalog, line.get("categories"))
            until = _parse_day(_required(line, "valid_until"))
            if until < today:
                raise RowRefused("MIGRATION_AUTHORIZATION_EXPIRED", f"授权已于 {until.isoformat()} 到期，不再迁移")
            req = GrantRequest(inst_code, purpose, mode, cats, min(until, today + timedelta(days=MAX_DAYS)))
            try:  # the remaining rules of a grant (verify-only categories, purpose and mode that go together)
                authorizations.preview(s, catalog, Principal(0, actor, "迁移核对", "enterprise", entity), req)
            except DomainError as exc:
                raise RowRefused(exc.code, exc.message) from None
            drafts.append((o, {"old": old, "entity": entity, "inst": inst_code, "purpose": purpose, "mode": mode,
                               "cats": cats, "until": until}))
        except RowRefused as r:
            o.code, o.message = r.code, r.message
        outcomes.append(o)

    counts = {k: {"imported": sum(1 for o in outcomes if o.kind == k and not o.refused),
                  "refused": sum(1 for o in outcomes if o.kind == k and o.refused)} for k in KINDS}
    imp = MigrationImport(filename=(filename or "migration")[:255], digest=digest, imported_by=actor,
                          imported_at=now, counts=counts)
    try:
        s.add(imp)
        s.flush()
        per_entity = _write(s, imp, outcomes, accounts, drafts)
    except IntegrityError:  # another import at the same moment: the same file, or one naming the same rows
        s.rollback()
        if s.execute(select(MigrationImport.id).where(MigrationImport.digest == digest)).first():
            raise Conflict("该文件已导入过（文件摘要相同），本次未作任何变更。", code="MIGRATION_DUPLICATE_FILE") from None
        raise Conflict("另一次导入同时写入了相同的用户名或授权编号，本次未作任何变更，请重新导入。",
                       code="MIGRATION_CONFLICT") from None
    audit.record(s, actor, "migration.imported", f"migration:{imp.id}", file=imp.filename, digest=digest,
                 counts=counts)
    for code, what in sorted(per_entity.items()):  # so that the enterprise sees it on its own pages
        audit.record(s, actor, "migration.entity_imported", f"migration:{imp.id}", entity_code=code,
                     accounts=what["accounts"], drafts=what["authorizations"])
    return imp


def _write(s: Session, imp: MigrationImport, outcomes: list[_Outcome], accounts: list[tuple[_Outcome, dict[str, Any]]],
           drafts: list[tuple[_Outcome, dict[str, Any]]]) -> dict[str, dict[str, list[str]]]:
    """The report, the pending accounts and the drafts; what came over, per entity."""
    done = {"account": "账户已导入，待本人以登记的手机号验证后激活", "authorization": "已作为草稿导入，待企业管理员重新确认",
            "enterprise": "与市场主体名录一致"}
    s.add_all([MigrationRow(import_id=imp.id, kind=o.kind, row_no=o.row_no, ref=(o.ref or "")[:120] or None,
                            outcome="refused" if o.refused else "imported", code=o.code,
                            message=o.message if o.refused else done[o.kind]) for o in outcomes])
    per_entity: dict[str, dict[str, list[str]]] = {}
    users = [(User(username=a["username"], display_name=a["display"], role="enterprise",
                   password_hash=UNUSABLE_PASSWORD + secrets.token_hex(16), org_code=a["entity"],
                   org_admin=a["admin"], active=False, created_at=imp.imported_at), a) for _o, a in accounts]
    s.add_all([u for u, _a in users])
    s.flush()
    for u, a in users:
        s.add(MigratedAccount(user_id=u.id, import_id=imp.id, entity_code=a["entity"], phone=a["phone"],
                              state="pending", tries=0))
        per_entity.setdefault(a["entity"], {"accounts": [], "authorizations": []})["accounts"].append(a["username"])
    for _o, d in drafts:
        s.add(MigratedAuthorization(import_id=imp.id, entity_code=d["entity"], institution_code=d["inst"],
                                    old_number=d["old"], purpose=d["purpose"], mode=d["mode"], scopes=d["cats"],
                                    valid_until=d["until"], state="draft"))
        per_entity.setdefault(d["entity"], {"accounts": [], "authorizations": []})["authorizations"].append(d["old"])
    s.flush()
    return per_entity


# ── reading the report ─────────────────────────────────────────────────────────────────────────────────

STAFF_READ = ("operator", "regulator")


def _staff(p: Principal) -> None:
    if p.role not in STAFF_READ:
        raise Forbidden("只有平台运营和监管人员可以查看迁移记录", code="ROLE_FORBIDDEN")


def imports(s: Session, p: Principal, req: PageRequest) -> Page:
    _staff(p)
    return paginate(s, select(MigrationImport), req, {"imported_at": MigrationImport.imported_at,
                                                      "filename": MigrationImport.filename}, "imported_at")


def get_import(s: Session, p: Principal, import_id: int) -> MigrationImport:
    _staff(p)
    imp = s.get(MigrationImport, import_id)
    if imp is None:
        raise NotFound("没有这次迁移导入", code="MIGRATION_NOT_FOUND")
    return imp


def _rows_stmt(import_id: int, outcome: str | None, kind: str | None) -> Select:
    stmt = select(MigrationRow).where(MigrationRow.import_id == import_id)
    if outcome in OUTCOMES:
        stmt = stmt.where(MigrationRow.outcome == outcome)
    if kind in KINDS:
        stmt = stmt.where(MigrationRow.kind == kind)
    return stmt


def rows(s: Session, p: Principal, import_id: int, req: PageRequest, *, outcome: str | None = None,
         kind: str | None = None) -> Page:
    get_import(s, p, import_id)
    return paginate(s, _rows_stmt(import_id, outcome, kind), req,
                    {"id": MigrationRow.id, "kind": MigrationRow.kind, "code": MigrationRow.code}, "id")


def all_rows(s: Session, p: Principal, import_id: int, *, outcome: str | None = None) -> list[MigrationRow]:
    get_import(s, p, import_id)
    return list(s.execute(_rows_stmt(import_id, outcome, None).order_by(MigrationRow.id)).scalars())


# ── the enterprise's drafts ────────────────────────────────────────────────────────────────────────────

def expire_drafts(s: Session, entity_code: str | None = None) -> int:
    """Drafts whose validity has passed become expired: they can no longer be confirmed."""
    m = MigratedAuthorization
    stmt = update(m).where(m.state == "draft", m.valid_until < _today())
    if entity_code:
        stmt = stmt.where(m.entity_code == entity_code)
    return s.execute(stmt.values(state="expired").execution_options(synchronize_session=False)).rowcount or 0


def _own(p: Principal) -> str:
    if p.role != "enterprise" or not p.org_code:
        raise Forbidden("只有企业用户可以查看本企业迁移来的授权", code="ROLE_FORBIDDEN")
    return p.org_code


def drafts(s: Session, p: Principal) -> list[MigratedAuthorization]:
    """The enterprise's authorizations carried over from the old site, drafts first."""
    entity = _own(p)
    m = MigratedAuthorization
    return list(s.execute(select(m).where(m.entity_code == entity).order_by(m.state != "draft", m.id)).scalars())


def get_draft(s: Session, p: Principal, draft_id: int, *, lock: bool = False) -> MigratedAuthorization:
    entity = _own(p)
    stmt = select(MigratedAuthorization).where(MigratedAuthorization.id == draft_id,
                                               MigratedAuthorization.entity_code == entity)
    d = s.execute(stmt.with_for_update() if lock else stmt).scalar_one_or_none()
    if d is None:
        raise NotFound("本企业没有这份迁移来的授权", code="MIGRATED_AUTHORIZATION_NOT_FOUND")
    return d


def is_admin(s: Session, p: Principal) -> bool:
    """The enterprise's verified administrator, read from the database (a revoked right counts at once)."""
    u = s.get(User, p.user_id) if p.user_id else None
    return bool(u and u.active and u.org_admin and u.role == "enterprise" and u.org_code == p.org_code)


def grant_request(d: MigratedAuthorization) -> GrantRequest:
    """The grant a draft becomes: the old terms, its validity capped at what a grant may run to today."""
    until = min(d.valid_until, _today() + timedelta(days=MAX_DAYS))
    return GrantRequest(d.institution_code, d.purpose, d.mode, list(d.scopes), until)


def preview_draft(s: Session, catalog: Catalog, p: Principal, d: MigratedAuthorization) -> tuple[str, str]:
    """The fresh authorization text the administrator would confirm, and its digest."""
    return authorizations.preview(s, catalog, p, grant_request(d))


def _decidable(s: Session, p: Principal, draft_id: int) -> MigratedAuthorization:
    if not is_admin(s, p):
        raise Forbidden("只有本企业经过实名验证的管理员可以确认或拒绝迁移来的授权", code="ORG_ADMIN_ONLY")
    d = get_draft(s, p, draft_id, lock=True)
    if d.state == "draft" and d.valid_until < _today():
        raise Conflict(f"该授权已于 {d.valid_until.isoformat()} 到期，不能再确认；如仍需授权，请新建授权。",
                       code="MIGRATED_AUTHORIZATION_EXPIRED")
    if d.state != "draft":
        raise Conflict("该迁移授权已处理，不能再次确认或拒绝", code="MIGRATED_AUTHORIZATION_DECIDED")
    return d


def confirm_draft(s: Session, catalog: Catalog, p: Principal, draft_id: int, shown_digest: str) -> Authorization:
    """Confirm a draft through the normal grant path: the administrator confirms the text it was shown."""
    d = _decidable(s, p, draft_id)
    a = authorizations.grant(s, catalog, p, grant_request(d), shown_digest)
    d.state, d.authorization_id, d.decided_by, d.decided_at = "confirmed", a.id, p.username, clock.now()
    audit.record(s, p.username, "migration.authorization_confirmed", f"migrated_authorization:{d.old_number}",
                 entity_code=d.entity_code, institution_code=d.institution_code, number=a.number)
    return a


def decline_draft(s: Session, p: Principal, draft_id: int) -> MigratedAuthorization:
    d = _decidable(s, p, draft_id)
    d.state, d.decided_by, d.decided_at = "declined", p.username, clock.now()
    audit.record(s, p.username, "migration.authorization_declined", f"migrated_authorization:{d.old_number}",
                 entity_code=d.entity_code, institution_code=d.institution_code)
    return d

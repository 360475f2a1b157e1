"""Reading rows from a department's source: a front database (SQLAlchemy: PostgreSQL, SQLite, MySQL through
PyMySQL when installed) or a REST interface (httpx, JSON pages, bearer token).

A read returns the rows whose watermark is above the stored one, ordered by it, at most `limit` of them but never
splitting the rows that share one watermark value between two reads (the cut falls before the last value, or,
when one value alone fills the batch, after all its rows). The secret is read by the caller and handed in: it
goes into the URL object (database) or the Authorization header (REST) in memory only, and no message here ever
quotes a driver's error text, which may carry connection details."""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import sqlite3
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from xinyidai.kit.errors import InvalidInput

log = logging.getLogger(__name__)

# dialect+driver as written in a URL → the module that must be importable, and how people call it.
DRIVERS: dict[str, tuple[str, str]] = {
    "postgresql": ("psycopg", "psycopg"), "postgresql+psycopg": ("psycopg", "psycopg"),
    "sqlite": ("sqlite3", "sqlite3"), "sqlite+pysqlite": ("sqlite3", "sqlite3"),
    "mysql+pymysql": ("pymysql", "PyMySQL"),
}
SECRET_PARAMS = re.compile(r"(pass|pwd|token|secret|key|auth|credential|signature)", re.I)
MAX_PAGES = 200  # REST: pages followed in one read, so a looping `next` link cannot hold the node
CONNECT_TIMEOUT = 10  # seconds


class SourceError(InvalidInput):
    """A source could not be read; the code and Chinese message are stored on the source and the pull."""


@dataclass
class Batch:
    rows: list[dict[str, Any]] = field(default_factory=list)  # source column → value, in watermark order
    watermark_to: Any = None  # the last watermark value taken (native type)
    more: bool = False  # the source holds newer rows than this batch


def url_has_secret(url: str) -> bool:
    parts = urlsplit(url)
    if parts.password or ("@" in parts.netloc and ":" in parts.netloc.split("@", 1)[0]):
        return True
    return any(SECRET_PARAMS.search(k) for k, _ in parse_qsl(parts.query, keep_blank_values=True))


def mask_url(url: str) -> str:
    """The URL as people may see it: no password, and the value of any secret-looking query parameter hidden."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "（无法解析的地址）"
    netloc = parts.netloc
    if "@" in netloc:
        user, host = netloc.rsplit("@", 1)
        netloc = f"{user.split(':', 1)[0]}:***@{host}" if ":" in user else netloc
    query = urlencode([(k, "***" if SECRET_PARAMS.search(k) else v)
                       for k, v in parse_qsl(parts.query, keep_blank_values=True)], safe="*")
    if netloc == parts.netloc and query == parts.query:
        return url  # nothing to hide; rebuilding would also drop a slash of sqlite:////absolute/path
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def check_url(kind: str, url: str) -> None:
    """Refuse a URL carrying a secret, an unsupported dialect, or one whose driver is not installed."""
    if not url or len(url) > 500 or any(ord(ch) < 32 for ch in url):
        raise InvalidInput("连接地址为空、过长或含控制字符", code="BAD_SOURCE_URL")
    if url_has_secret(url):
        raise InvalidInput("连接地址不得包含口令，请用 secret_ref 指定环境变量或密钥文件", code="URL_HAS_SECRET")
    if kind == "rest":
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise InvalidInput("REST 接口地址必须以 http:// 或 https:// 开头并含主机名", code="BAD_SOURCE_URL")
        return
    try:
        u = make_url(url)
    except (ArgumentError, ValueError):
        raise InvalidInput("数据库连接地址格式不正确，例如 postgresql://用户@主机:5432/库名",
                           code="BAD_SOURCE_URL") from None
    driver = DRIVERS.get(u.drivername)
    if driver is None:
        raise InvalidInput(f"不支持的数据库类型「{u.drivername}」，可用：postgresql、sqlite、mysql+pymysql",
                           code="UNSUPPORTED_DIALECT")
    module, name = driver
    if importlib.util.find_spec(module) is None:
        raise InvalidInput(f"本节点未安装「{u.drivername}」所需的数据库驱动 {name}，请联系运维人员安装后再添加",
                           code="DRIVER_MISSING")
    if u.drivername.startswith("sqlite") and not u.database:
        raise InvalidInput("SQLite 连接地址须指明数据库文件，例如 sqlite:////data/front.db", code="BAD_SOURCE_URL")


def check_secret_ref(ref: str | None) -> None:
    if ref is None or ref == "":
        return
    if ref.startswith("env:") and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,99}", ref[4:]):
        return
    if ref.startswith("file:") and ref[5:].startswith("/") and len(ref) <= 300:
        return
    raise InvalidInput("secret_ref 须为 env:环境变量名 或 file:/绝对路径", code="BAD_SECRET_REF")


def read_secret(ref: str | None) -> str | None:
    """The secret as it is now (read at each pull, so a rotated secret takes effect at once)."""
    if not ref:
        return None
    if ref.startswith("env:"):
        value = os.environ.get(ref[4:])
        if not value:
            raise SourceError(f"未找到口令：环境变量 {ref[4:]} 未设置或为空", code="SECRET_MISSING")
        return value
    path = Path(ref[5:])
    try:
        mode = path.stat().st_mode
    except OSError:
        raise SourceError(f"未找到口令：密钥文件 {path} 不存在或无法读取", code="SECRET_MISSING") from None
    if mode & (stat.S_IROTH | stat.S_IWOTH):
        raise SourceError(f"密钥文件 {path} 对所有用户可读写，已拒绝使用；请执行 chmod 600 后重试",
                          code="SECRET_FILE_EXPOSED")
    try:
        value = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        raise SourceError(f"未找到口令：密钥文件 {path} 无法读取", code="SECRET_MISSING") from None
    if not value:
        raise SourceError(f"未找到口令：密钥文件 {path} 为空", code="SECRET_MISSING")
    return value


def cut(rows: list[dict[str, Any]], wm: str, limit: int) -> tuple[list[dict[str, Any]], bool]:
    """At most `limit` of `rows` (sorted by `wm`, possibly one more than `limit` to show there is more), cut
    before the last watermark value when it continues past the limit. Empty when one value alone fills the batch
    (the caller then takes all of that value)."""
    if len(rows) <= limit:
        return rows, False
    last = rows[limit - 1][wm]
    if rows[limit][wm] != last:
        return rows[:limit], True
    keep = [r for r in rows[:limit] if r[wm] != last]
    return keep, True


# ---- databases ---------------------------------------------------------------------------------------------

def _engine(url: str, secret: str | None) -> Engine:
    u: URL = make_url(url)
    if u.drivername.startswith("sqlite"):
        path = Path(u.database or "")
        if not path.is_file():
            raise SourceError(f"无法连接数据来源：数据库文件 {path} 不存在", code="SOURCE_UNREACHABLE")
        # Read-only, and never creating a file where the department's database should be.
        uri = f"file:{path}?mode=ro"
        return create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True), poolclass=NullPool)
    if secret is not None:
        u = u.set(password=secret)
    args: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT}
    return create_engine(u, poolclass=NullPool, connect_args=args, hide_parameters=True)


def _relation(engine: Engine, target: str) -> str:
    t = target.strip()
    if re.match(r"(?is)^\s*(select|with)\b", t):
        if ";" in t:
            raise InvalidInput("查询语句不得包含分号（只允许一条 SELECT）", code="BAD_SOURCE_TARGET")
        return f"({t}) src"
    q = engine.dialect.identifier_preparer.quote
    parts = t.split(".")
    if not 1 <= len(parts) <= 2 or not all(parts):
        raise InvalidInput("表名格式不正确，应为 表名 或 模式.表名", code="BAD_SOURCE_TARGET")
    return ".".join(q(p) for p in parts) + " src"


def _classify(exc: DBAPIError, connecting: bool) -> SourceError:
    """A driver error as a code and a message of our own (the driver's text may name hosts or users)."""
    raw = str(exc.orig).lower() if exc.orig is not None else ""
    if "password" in raw or "authentication" in raw or "access denied" in raw:
        return SourceError("数据来源拒绝登录：用户名或口令不正确（请核对 secret_ref 所指的口令）", code="SOURCE_AUTH_FAILED")
    if not connecting and ("no such table" in raw or "does not exist" in raw and "relation" in raw
                           or "doesn't exist" in raw or "undefined" in raw and "table" in raw):
        return SourceError("数据来源中找不到所配置的表或视图，请与提供部门核对", code="SOURCE_TABLE_MISSING")
    if not connecting and ("no such column" in raw or "column" in raw and "does not exist" in raw):
        return SourceError("查询引用的列在数据来源中不存在，请与提供部门核对表结构", code="SOURCE_COLUMNS_CHANGED")
    if connecting:
        return SourceError("无法连接数据来源（数据库未启动、网络不通或地址有误），稍后将自动重试", code="SOURCE_UNREACHABLE")
    return SourceError("读取数据来源时出错（查询未能执行），请核对表名或查询语句", code="SOURCE_QUERY_FAILED")


def read_database(url: str, secret: str | None, target: str, columns: list[str], wm: str, after: str | None,
                  limit: int) -> Batch:
    """Rows of `columns` (and `wm`) with wm > `after` from the table or query `target`, see `cut`.

    Refuses (WATERMARK_BACKWARDS) when the source's newest watermark lies below `after`: the department rebuilt
    or restored its table, and pulling on would silently skip or re-date rows."""
    engine = _engine(url, secret)
    try:
        try:
            conn = engine.connect()
        except DBAPIError as exc:
            raise _classify(exc, connecting=True) from None
        except SQLAlchemyError:
            raise SourceError("无法连接数据来源（数据库未启动、网络不通或地址有误），稍后将自动重试",
                              code="SOURCE_UNREACHABLE") from None
        with conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SET TRANSACTION READ ONLY"))
            try:
                return _read(conn, engine, target, columns, wm, after, limit)
            except DBAPIError as exc:
                raise _classify(exc, connecting=False) from None
            finally:
                conn.rollback()
    finally:
        engine.dispose()


def _read(conn: Any, engine: Engine, target: str, columns: list[str], wm: str, after: str | None,
          limit: int) -> Batch:
    rel = _relation(engine, target)
    have = list(conn.execute(text(f"SELECT * FROM {rel} WHERE 1 = 0")).keys())  # noqa: S608 - quoted names
    missing = [c for c in dict.fromkeys([*columns, wm]) if c not in have]
    if missing:
        raise SourceError(f"数据来源的列与配置不符：找不到 {'、'.join(missing)}（现有列：{'、'.join(have[:30])}）",
                          code="SOURCE_COLUMNS_CHANGED", detail={"missing": missing})
    q = engine.dialect.identifier_preparer.quote
    w = q(wm)
    if after is not None:
        probe = f"SELECT sum(CASE WHEN {w} >= :w THEN 1 ELSE 0 END) FROM {rel}"  # noqa: S608 - quoted names
        at_or_above = conn.execute(text(probe), {"w": after}).scalar()
        if not at_or_above:  # an emptied table, or one whose newest row is older than what was pulled
            newest = conn.execute(text(f"SELECT max({w}) FROM {rel}")).scalar()  # noqa: S608
            raise SourceError(f"数据来源的水位倒退：其最大水位值 {newest if newest is not None else '（无数据）'} "
                              f"低于已拉取到的 {after}，已停止拉取。请与提供部门核实后由操作员重置水位",
                              code="WATERMARK_BACKWARDS")
    cols = ", ".join(q(c) for c in dict.fromkeys([*columns, wm]))
    where = f"{w} > :w" if after is not None else f"{w} IS NOT NULL"
    sql = f"SELECT {cols} FROM {rel} WHERE {where} ORDER BY {w}"  # noqa: S608 - quoted names
    rows = [dict(r._mapping) for r in conn.execute(text(f"{sql} LIMIT :n"), {"w": after, "n": limit + 1})]
    taken, more = cut(rows, wm, limit)
    if more and not taken:  # one watermark value alone fills the batch: take all of it
        value = rows[0][wm]
        taken = [dict(r._mapping) for r in conn.execute(
            text(f"SELECT {cols} FROM {rel} WHERE {w} = :v"), {"v": value})]  # noqa: S608
    return Batch(taken, taken[-1][wm] if taken else None, more)


# ---- REST --------------------------------------------------------------------------------------------------

Fetch = Callable[[str, dict[str, Any]], httpx.Response]


def read_rest(url: str, secret: str | None, target: str, columns: list[str], wm: str, after: str | None,
              limit: int, *, timeout: float = 30.0) -> Batch:
    """GET url?since=<after>&limit=<limit>, following `next` links or `page`/`pages` (bounded); rows under the
    key `target`. Rows at or below `after` are dropped (a server may ignore `since`)."""
    headers = {"Accept": "application/json"}
    if secret is not None:
        headers["Authorization"] = f"Bearer {secret}"
    rows: list[dict[str, Any]] = []
    # One more than the batch, as for a database: the extra row shows whether the last value continues.
    params: dict[str, Any] = {"limit": limit + 1}
    if after is not None:
        params["since"] = after
    with httpx.Client(headers=headers, timeout=timeout, follow_redirects=False, trust_env=False) as client:
        next_url: str | None = url
        page = 1
        for _ in range(MAX_PAGES):
            if next_url is None:
                break
            data = _get_json(client, next_url, params)
            found = data.get(target)
            if not isinstance(found, list) or not all(isinstance(r, dict) for r in found):
                raise SourceError(f"接口返回的 JSON 中「{target}」不是记录列表，请与提供部门核对接口格式",
                                  code="SOURCE_BAD_SHAPE")
            rows.extend(found)
            link = data.get("next")
            if isinstance(link, str) and link:
                next_url, params = urljoin(next_url, link), {}
            elif isinstance(data.get("page"), int) and isinstance(data.get("pages"), int) and data["page"] < data["pages"]:
                page = data["page"] + 1
                params = {**params, "page": page}
            else:
                next_url = None
    missing = sorted({c for r in rows for c in [*columns, wm] if c not in r})
    if missing:
        raise SourceError(f"接口返回的记录缺少字段：{'、'.join(missing)}，请与提供部门核对接口格式",
                          code="SOURCE_COLUMNS_CHANGED", detail={"missing": missing})
    try:
        rows = [r for r in rows if r[wm] is not None and (after is None or _above(r[wm], after))]
        rows.sort(key=lambda r: r[wm])
    except TypeError:
        raise SourceError(f"接口返回的水位字段 {wm} 取值类型不一致，无法排序", code="SOURCE_BAD_SHAPE") from None
    taken, more = cut(rows, wm, limit)
    if more and not taken:
        value = rows[0][wm]
        taken = [r for r in rows if r[wm] == value]
    more = len(taken) < len(rows)
    return Batch(taken, taken[-1][wm] if taken else None, more)


def _above(value: Any, after: str) -> bool:
    if isinstance(value, bool):
        raise TypeError
    if isinstance(value, int | float):
        return value > float(after)
    return str(value) > after


def _get_json(client: httpx.Client, url: str, params: dict[str, Any]) -> dict[str, Any]:
    try:
        resp = client.get(url, params=params or None)  # an empty dict would drop a `next` link's own query
    except httpx.HTTPError:
        raise SourceError("无法连接 REST 接口（服务未启动、网络不通或地址有误），稍后将自动重试",
                          code="SOURCE_UNREACHABLE") from None
    if resp.status_code in (401, 403):
        raise SourceError(f"REST 接口拒绝访问（HTTP {resp.status_code}）：令牌无效或已过期，请核对 secret_ref 所指的令牌",
                          code="SOURCE_AUTH_FAILED")
    if resp.status_code != 200:
        raise SourceError(f"REST 接口返回 HTTP {resp.status_code}，本次未拉取", code="SOURCE_HTTP_STATUS")
    try:
        data = resp.json()
    except ValueError:
        raise SourceError("REST 接口返回的内容不是 JSON，本次未拉取", code="SOURCE_NOT_JSON") from None
    if not isinstance(data, dict):
        raise SourceError("REST 接口返回的 JSON 不是对象，本次未拉取", code="SOURCE_BAD_SHAPE")
    return data

"""Shared fixtures of the quality tests (each helper's names carry its prefix)."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from xinyidai.entities.codes import make_uscc
from xinyidai.entities.models import MarketEntity
from xinyidai.kit import clock
from xinyidai.kit.db import Database
from xinyidai.quality.models import Department

Q1_DEPT = "tax-hrb"
Q1_PROVIDER = "哈尔滨市税务局"
Q1_CODES = [make_uscc("230100", 8100 + i) for i in range(12)]
Q1_TOKEN = "q1-rest-token-Zx81"  # noqa: S105 - a test token; asserted never to leak
Q1_MAPPING = {"uscc": "entity_code", "corp": "entity_name", "ym": "period", "grade": "tax_credit_grade",
              "payable": "tax_payable"}


def q1_rows(n: int, start: int = 1, months: tuple[str, ...] = ("2026-09",)) -> list[tuple]:
    """(uscc, corp, ym, grade, payable, updated): row i has watermark `start + i // 2` — pairs share a value."""
    out = []
    i = 0
    for m in months:
        for c in Q1_CODES[:n]:
            out.append((c, f"测试企业{c[-4:]}", m, "A", f"{100 + i}.50", start + i // 2))
            i += 1
    return out


def q1_front_sqlite(path: Path, rows: list[tuple]) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE IF NOT EXISTS tax_feed (uscc TEXT, corp TEXT, ym TEXT, grade TEXT, payable NUMERIC, "
                 "updated INTEGER)")
    conn.executemany("INSERT INTO tax_feed VALUES (?, ?, ?, ?, ?, ?)", rows)
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def q1_dept(db: Database) -> str:
    """The tax department of Harbin, and the enterprises of Q1_CODES in the register (so their rows load)."""
    with db.session() as s:
        for code in Q1_CODES:
            s.add(MarketEntity(code=code, name=f"测试企业{code[-4:]}", region_code="230100", updated_at=clock.now()))
        s.add(Department(code=Q1_DEPT, name=Q1_PROVIDER, contact="13800001111", region="230100",
                         created_at=clock.now()))
    return Q1_DEPT


# ---- a REST source on a loopback port: rows of q1_rows(8), 3 a page, bearer token checked ----------------

class Q1Api(BaseHTTPRequestHandler):
    rows: list[dict[str, Any]] = []
    mode = "pages"  # pages | next | bad_json | not_dict | error | wrong_key
    seen: list[str] = []

    def log_message(self, *a: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        type(self).seen.append(self.path)
        if self.headers.get("Authorization") != f"Bearer {Q1_TOKEN}":
            return self._send(401, b'{"error":"unauthorized"}')
        q = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        mode = type(self).mode
        if mode == "bad_json":
            return self._send(200, b"<html>maintenance</html>")
        if mode == "error":
            return self._send(503, b"{}")
        if mode == "not_dict":
            return self._send(200, b"[1, 2]")
        since = int(q["since"]) if "since" in q else 0
        mine = [r for r in type(self).rows if r["updated"] > since][: int(q.get("limit", 100))]
        per = 3
        page = int(q.get("page", 1))
        chunk = mine[(page - 1) * per: page * per]
        pages = max(1, -(-len(mine) // per))
        body: dict[str, Any] = {("items" if mode == "wrong_key" else "data"): chunk}
        if mode == "pages":
            body.update(page=page, pages=pages)
        elif page < pages:
            body["next"] = f"/api/tax?since={since}&limit={q.get('limit')}&page={page + 1}"
        self._send(200, json.dumps(body, ensure_ascii=False).encode())

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def q1_api() -> Iterator[str]:
    Q1Api.rows = [dict(zip(("uscc", "corp", "ym", "grade", "payable", "updated"), r, strict=True)) for r in q1_rows(8)]
    Q1Api.mode, Q1Api.seen = "pages", []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Q1Api)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/tax"
    server.shutdown()
    server.server_close()

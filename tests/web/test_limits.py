"""Request bodies: a limit per route, and no body read from a caller who names no one (issue 23, item 5).

Most tests drive the application as an ASGI server would, one message at a time, so they can tell how much
of a body the application read before it answered. The last one starts a real uvicorn and measures its
memory while 50 MB bodies arrive."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import PASSWORD, csrf_of
from xinyidai.app import body_rules, create_app
from xinyidai.config import load_settings
from xinyidai.kit.db import Database
from xinyidai.network.envelope import MAX_ENVELOPE_BYTES
from xinyidai.web.limits import BodyRule

KB, MB = 1 << 10, 1 << 20
JSON = [(b"content-type", b"application/json")]


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    read: int  # bytes of the request body the application took

    def json(self) -> Any:
        return json.loads(self.body)


def call(app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], chunks: Iterable[bytes], *,
         length: int | None = None) -> Answer:
    """One request through the ASGI interface: the body in `chunks`, announced by `length` (Content-Length)
    or, when None, sent chunked. Counts what the application reads."""
    hs = list(headers) + ([(b"content-length", str(length).encode())] if length is not None
                          else [(b"transfer-encoding", b"chunked")])
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(k.lower(), v) for k, v in hs], "client": ("127.0.0.1", 50000),
             "server": ("testserver", 80)}
    pending: Iterator[bytes] = iter(chunks)
    nxt: bytes | None = next(pending, b"")  # an empty body still comes as one (empty) message
    read = 0
    answered = False
    status, out_headers, out = 0, {}, bytearray()

    async def receive() -> dict[str, Any]:
        nonlocal nxt, read
        if answered or nxt is None:
            return {"type": "http.disconnect"}
        chunk, nxt = nxt, next(pending, None)
        read += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": nxt is not None}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, out_headers, answered
        if message["type"] == "http.response.start":
            status = message["status"]
            out_headers = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            out.extend(message.get("body", b""))
            answered = answered or not message.get("more_body", False)

    asyncio.run(app(scope, receive, send))
    return Answer(status, out_headers, bytes(out), read)


def chunks_of(total: int, size: int = 64 * KB, fill: bytes = b"a") -> Iterator[bytes]:
    for start in range(0, total, size):
        yield fill * min(size, total - start)


def json_stream(total: int) -> Iterator[bytes]:
    """A JSON object of about `total` bytes, one long string in it."""
    yield b'{"institution_code": "'
    yield from chunks_of(total)
    yield b'"}'


def session_of(app: Any, username: str) -> tuple[bytes, str]:
    """A real session: the cookie header a logged-in browser sends, and the page's CSRF token."""
    c = TestClient(app)
    try:
        page = c.get("/login")
        r = c.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": csrf_of(page.text),
                                   "next": "/"}, follow_redirects=False)
        assert r.status_code == 303, r.text
        return f"xyd_session={c.cookies['xyd_session']}".encode(), csrf_of(c.get("/").text)
    finally:
        c.close()


def _error(a: Answer, status: int, code: str) -> dict[str, Any]:
    assert a.status == status, (a.status, a.body[:300])
    body = a.json()
    assert set(body) == {"error", "message", "detail"} and body["error"] == code, body
    return body


# ── no body from a caller who names no one ───────────────────────────────────────────────────────────────

def test_an_anonymous_body_is_refused_before_it_is_read(app) -> None:  # noqa: ANN001
    big = 5 * MB
    a = call(app, "POST", "/api/v1/access/authorizations", JSON, json_stream(big), length=big + 24)
    _error(a, 401, "UNAUTHENTICATED")
    assert a.read == 0 and a.headers["connection"] == "close"
    multipart = [(b"content-type", b"multipart/form-data; boundary=xyz")]
    a = call(app, "POST", "/api/v1/deliveries", multipart, chunks_of(big))  # chunked: no length to judge by
    _error(a, 401, "UNAUTHENTICATED")
    assert a.read == 0
    a = call(app, "POST", "/upload", multipart, chunks_of(big))  # a page sends the browser to log in
    assert a.status == 303 and a.headers["location"] == "/login?next=/upload" and a.read == 0
    assert a.headers["x-frame-options"] == "DENY"  # the refusal passes the security headers too


def test_a_small_anonymous_body_is_read_and_dropped_before_the_refusal(app) -> None:  # noqa: ANN001
    """Up to 1 MB declared, the body is read (never parsed) so the connection ends cleanly and stays open: a
    proxy still sending it would otherwise be reset and answer 502 (tests/ops/test_nginx.py)."""
    size = 300 * KB
    a = call(app, "POST", "/api/v1/access/authorizations", JSON, json_stream(size), length=size + 24)
    _error(a, 401, "UNAUTHENTICATED")
    assert a.read == size + 24 and "connection" not in a.headers
    a = call(app, "POST", "/api/v1/access/authorizations", JSON, json_stream(MB), length=MB + 24)  # above 1 MB
    _error(a, 401, "UNAUTHENTICATED")
    assert a.read == 0 and a.headers["connection"] == "close"


def test_how_input_failed_is_not_told_before_who_is_asking(app, db) -> None:  # noqa: ANN001
    """The verification route authenticates in its worker thread, after FastAPI validated the body: its
    field errors reached anyone. Now the caller comes first, with or without a body, with a made-up key."""
    path = "/api/v1/access/entities/91230100XY00000121/verifications"
    _error(call(app, "POST", path, JSON, [b"{}"], length=2), 401, "UNAUTHENTICATED")
    _error(call(app, "POST", path, JSON, [], length=0), 401, "UNAUTHENTICATED")
    made_up = [*JSON, (b"x-api-key", b"xyd_nosuchkey.secret")]
    refused = call(app, "POST", path, made_up, [b'{"claims": "x"}'], length=15)
    assert refused.status == 401 and "claims" not in refused.body.decode(), refused.body
    # a session cookie that names no session: the JSON is not even well formed, and still 401 comes first
    stale = [*JSON, (b"cookie", b"xyd_session=expired")]
    _error(call(app, "POST", "/api/v1/access/authorizations", stale, [b"{"], length=1), 401, "UNAUTHENTICATED")


def test_input_errors_still_reach_an_admitted_caller(app) -> None:  # noqa: ANN001
    cookie, csrf = session_of(app, "bank")
    hs = [*JSON, (b"cookie", cookie), (b"x-csrf-token", csrf.encode())]
    a = call(app, "POST", "/api/v1/access/entities/91230100XY00000121/verifications", hs, [b"{}"], length=2)
    body = _error(a, 422, "INVALID_INPUT")
    assert {d["field"] for d in body["detail"]} == {"claims"}
    enterprise_only = call(app, "POST", "/api/v1/access/authorizations", hs, [b"{"], length=1)
    _error(enterprise_only, 403, "ROLE_FORBIDDEN")


def test_routes_that_need_no_log_in_still_take_bodies(app) -> None:  # noqa: ANN001
    a = call(app, "POST", "/api/v1/credit/reports/verify", JSON, [b'{"code": "NOSUCHCODE"}'], length=22)
    assert a.status not in (401, 413), a.body
    page = call(app, "POST", "/login", [(b"content-type", b"application/x-www-form-urlencoded")],
                [b"username=operator&password=x&csrf_token=forged"], length=46)
    assert page.status == 403 and page.json()["error"] == "CSRF_FAILED"  # the route's own check answered
    envelope = call(app, "POST", "/api/v1/network/inbox", [(b"content-type", b"application/octet-stream")],
                    chunks_of(2 * MB), length=2 * MB)
    assert envelope.status not in (401, 413) and envelope.read == 2 * MB


# ── limits ───────────────────────────────────────────────────────────────────────────────────────────────

def test_a_declared_length_over_the_limit_is_refused_unread(app) -> None:  # noqa: ANN001
    cookie, csrf = session_of(app, "operator")
    hs = [*JSON, (b"cookie", cookie), (b"x-csrf-token", csrf.encode())]
    a = call(app, "POST", "/api/v1/access/alerts/1/close", hs, json_stream(2 * MB), length=2 * MB + 24)
    body = _error(a, 413, "PAYLOAD_TOO_LARGE")
    assert a.read == 0 and body["detail"] == {"max_bytes": MB} and "1 MB" in body["message"]
    assert a.headers["connection"] == "close"
    anonymous_envelope = call(app, "POST", "/api/v1/network/inbox", [], [], length=MAX_ENVELOPE_BYTES + 1)
    assert "报文超过 64 MB" in _error(anonymous_envelope, 413, "ENVELOPE_TOO_LARGE")["message"]  # as peers know it


def test_a_chunked_body_is_cut_off_at_the_limit(app) -> None:  # noqa: ANN001
    cookie, csrf = session_of(app, "operator")
    hs = [*JSON, (b"cookie", cookie), (b"x-csrf-token", csrf.encode())]
    a = call(app, "POST", "/api/v1/access/alerts/1/close", hs, json_stream(20 * MB))
    _error(a, 413, "PAYLOAD_TOO_LARGE")
    assert MB < a.read <= MB + 64 * KB + 24 and a.headers["connection"] == "close"
    # a body longer than it said is cut off the same way
    a = call(app, "POST", "/api/v1/access/alerts/1/close", hs, json_stream(20 * MB), length=100)
    _error(a, 413, "PAYLOAD_TOO_LARGE")
    assert a.read <= MB + 64 * KB + 24
    # within the limit, the route answers as before
    ok = call(app, "POST", "/api/v1/access/alerts/1/close", hs, [b'{"note": "x"}'], length=13)
    assert ok.status == 404, ok.body


def test_uploads_take_the_configured_size(db: Database, app, tmp_path: Path) -> None:  # noqa: ANN001
    small = create_app(load_settings(env={}, var_dir=tmp_path / "var1", database_url=db.url, max_upload_mb=1), db)
    cookie, csrf = session_of(small, "operator")
    boundary = b"xyz"
    hs = [(b"content-type", b"multipart/form-data; boundary=" + boundary), (b"cookie", cookie),
          (b"x-csrf-token", csrf.encode())]

    def form(rows: int) -> Iterator[bytes]:
        yield (b"--xyz\r\nContent-Disposition: form-data; name=\"category\"\r\n\r\ntax\r\n"
               b"--xyz\r\nContent-Disposition: form-data; name=\"provider\"\r\n\r\n\xe6\x9f\x90\xe5\xb1\x80\r\n"
               b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.csv\"\r\n"
               b"Content-Type: text/csv\r\n\r\n")
        yield from chunks_of(rows * 16, fill=b"x")
        yield b"\r\n--xyz--\r\n"

    big = call(small, "POST", "/api/v1/deliveries", hs, form(3 * 65536))  # 3 MB, chunked
    _error(big, 413, "PAYLOAD_TOO_LARGE")
    assert big.read <= MB + 256 * KB + 64 * KB
    fits = call(small, "POST", "/api/v1/deliveries", hs, form(32768))  # 512 KB: read whole, the route answers
    assert fits.status not in (401, 413) and fits.read > 512 * KB, fits.body
    rules = body_rules(load_settings(env={}, max_upload_mb=7))
    assert next(r for r in rules if r.matches("/upload")).max_bytes == 7 * MB + 256 * KB
    assert next(r for r in rules if r.matches("/api/v1/network/inbox")) == BodyRule(
        "/api/v1/network/inbox", MAX_ENVELOPE_BYTES, public=True, code="ENVELOPE_TOO_LARGE", what="报文")


def _requires_a_caller(route: Any) -> bool:
    def walk(dependant: Any) -> bool:
        return any(getattr(d.call, "admits", None) is not None or walk(d) for d in dependant.dependencies)
    return walk(route.dependant)


def test_the_public_rules_are_the_routes_that_need_no_caller(app) -> None:  # noqa: ANN001
    """Deny by default, kept true: every route taking a body that names no roles is listed as public (or it
    could never be reached), and no route that names its roles is."""
    from fastapi.routing import APIRoute, iter_route_contexts

    rules = body_rules(load_settings(env={}))
    public = {r.prefix for r in rules if r.public}
    wrong = []
    for ctx in iter_route_contexts(app.routes):
        route = ctx.original_route
        if not isinstance(route, APIRoute) or not (route.methods - {"GET", "HEAD"}):
            continue
        rule = next(r for r in rules if r.matches(route.path))
        if rule.public == _requires_a_caller(route):
            wrong.append(f"{sorted(route.methods)} {route.path}: public={rule.public}")
    assert wrong == [] and public


# ── a real server ─────────────────────────────────────────────────────────────────────────────────────────

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def _reset_peak(pid: int) -> int:
    """Resets the process's peak resident size (VmHWM) to its current one, which it returns (KB)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return _kb(pid, "VmRSS")


def _settle(pid: int) -> None:
    """Waits out the chores a server starts with (their first run allocates tens of MB), so that what is
    measured next is the requests'."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rss = _reset_peak(pid)
        time.sleep(0.5)
        if _kb(pid, "VmHWM") - rss < 512:
            return
    raise AssertionError("the server's memory did not settle")


@pytest.fixture
def server(app, db: Database, tmp_path: Path) -> Iterator[tuple[str, int]]:  # noqa: ANN001 - users from `app`
    port = _free_port()
    env = {**os.environ, "XINYIDAI_DATABASE_URL": db.url, "XINYIDAI_VAR_DIR": str(tmp_path / "served"),
           "XINYIDAI_MAX_UPLOAD_MB": "8", "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "xinyidai.app:asgi", "--port",
                             str(port), "--log-level", "warning"], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise AssertionError("the server did not start")
        yield base, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_large_bodies_leave_a_real_server_as_it_was(server: tuple[str, int]) -> None:
    """50 MB bodies, streamed to uvicorn: anonymous JSON, JSON past the limit under a (made-up) session, an
    upload past the configured 8 MB. Each is answered within seconds and the server's peak memory hardly
    moves (before: the JSON alone was read whole, parsed and validated — several times its size)."""
    base, pid = server
    size = 50 * MB
    cookie = {"cookie": "xyd_session=made-up"}
    with httpx.Client(base_url=base, timeout=30) as c:
        for _ in range(3):  # warm the paths measured below, so what they allocate once is not counted
            c.post("/api/v1/access/authorizations", content=b"{}", headers={"content-type": "application/json"})
            c.post("/api/v1/access/authorizations", content=b"{}", headers={**cookie, "content-type": "x"})
        _settle(pid)
        before = _reset_peak(pid)
        started = time.monotonic()
        r = c.post("/api/v1/access/authorizations", content=json_stream(size),
                   headers={"content-type": "application/json"})
        assert r.status_code == 401 and r.json()["error"] == "UNAUTHENTICATED"
        r = c.post("/api/v1/access/authorizations", content=json_stream(size),
                   headers={**cookie, "content-type": "application/json"})
        assert r.status_code == 413 and r.json()["error"] == "PAYLOAD_TOO_LARGE"
        r = c.post("/api/v1/access/authorizations", content=b"".join(json_stream(size)),  # with its length
                   headers={**cookie, "content-type": "application/json"})
        assert r.status_code == 413 and r.json()["error"] == "PAYLOAD_TOO_LARGE"
        r = c.post("/api/v1/deliveries", files={"file": ("t.csv", b"x" * size)}, data={"category": "tax"},
                   headers=cookie)
        assert r.status_code == 413 and r.json()["error"] == "PAYLOAD_TOO_LARGE"
        elapsed = time.monotonic() - started
        peak = _kb(pid, "VmHWM")
    growth_mb = (peak - before) / 1024
    print(f"\nRSS before {before / 1024:.1f} MB, peak {peak / 1024:.1f} MB (+{growth_mb:.1f} MB) over four "
          f"50 MB bodies in {elapsed:.1f} s")
    assert growth_mb < 10 and elapsed < 30

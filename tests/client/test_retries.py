"""Retries against a scripted HTTP server on loopback: Retry-After is honoured, a retry keeps the call's
X-Request-Id and signs afresh, 429/503 are retried until they pass, other 4xx never."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from xinyidai.client import ApiError, Client, Ed25519Key, RateLimited, Unavailable


class Script:
    """The answers to give, in order (status, headers, body); then 200 {"ok": true}."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, dict[str, str], dict]] = []
        self.seen: list[dict[str, str]] = []
        self.times: list[float] = []


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            script.seen.append({k.lower(): v for k, v in self.headers.items()})
            script.times.append(time.monotonic())
            status, headers, body = script.answers.pop(0) if script.answers else (200, {}, {"ok": True})
            data = json.dumps(body).encode()
            self.send_response(status)
            for k, v in {"Content-Type": "application/json", **headers}.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", script
    finally:
        httpd.shutdown()
        httpd.server_close()


LIMITED = {"error": "RATE_LIMITED", "message": "本机构每分钟最多 3 次请求，请稍后再试", "detail": {"limit_per_minute": 3}}
BUSY = {"error": "UNAVAILABLE", "message": "节点繁忙", "detail": None}


def test_retry_after_is_honoured_and_each_attempt_is_signed_afresh(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers = [(429, {"Retry-After": "1"}, LIMITED), (503, {}, BUSY)]
    waits: list[tuple[int, float, str]] = []
    with Client(url, "0123456789abcdef", Ed25519Key.generate(), backoff=0.05,
                on_retry=lambda *a: waits.append(a)) as node:
        assert node.post("/api/v1/x", {"金额": "1.00"}) == {"ok": True}
    assert [(n, code) for n, _, code in waits] == [(1, "RATE_LIMITED"), (2, "UNAVAILABLE")]
    assert waits[0][1] == 1.0  # as the server said, not the backoff
    assert script.times[1] - script.times[0] >= 0.95
    assert 0.05 <= waits[1][1] <= 0.15  # backoff·2¹ ± 50 %
    ids = {h["x-request-id"] for h in script.seen}
    nonces = {h["x-xyd-nonce"] for h in script.seen}
    signatures = {h["x-xyd-signature"] for h in script.seen}
    assert len(script.seen) == 3 and len(ids) == 1 and len(nonces) == 3 and len(signatures) == 3


def test_detail_retry_after_is_used_and_a_longer_wait_is_answered_at_once(server: tuple[str, Script]) -> None:
    url, script = server
    throttled = {"error": "AUTH_THROTTLED", "message": "本地址接口认证失败次数过多", "detail": {"retry_after": 0.1}}
    script.answers = [(429, {}, throttled)]
    waits: list[float] = []
    with Client(url, "0123456789abcdef", Ed25519Key.generate(), max_wait=0.2,
                on_retry=lambda n, w, c: waits.append(w)) as node:
        assert node.get("/api/v1/x") == {"ok": True}
    assert waits == [0.1]  # the body's wait, when no header says one
    # told to wait two minutes with at most 0.2 s allowed: asking again sooner would only be refused again
    script.answers = [(429, {}, {**throttled, "detail": {"retry_after": 120}})]
    seen = len(script.seen)
    with Client(url, "0123456789abcdef", Ed25519Key.generate(), max_wait=0.2,
                on_retry=lambda n, w, c: waits.append(w)) as node, pytest.raises(RateLimited) as limited:
        node.get("/api/v1/x")
    assert (limited.value.attempts, limited.value.detail, len(script.seen) - seen) == (1, {"retry_after": 120}, 1)
    assert waits == [0.1]


def test_retries_run_out(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers = [(429, {}, LIMITED)] * 3
    with Client(url, "0123456789abcdef", Ed25519Key.generate(), retries=2, backoff=0.01) as node, \
            pytest.raises(RateLimited) as limited:
        node.get("/api/v1/x")
    assert (limited.value.code, limited.value.attempts, len(script.seen)) == ("RATE_LIMITED", 3, 3)
    assert limited.value.message.startswith("本机构每分钟最多")
    script.answers = [(503, {}, {"not": "the error shape"})]
    with Client(url, api_key="xyd_0123456789abcdef." + "s" * 30, retries=0) as node, \
            pytest.raises(Unavailable) as busy:
        node.get("/api/v1/x")
    assert (busy.value.status, busy.value.code) == (503, "HTTP_503")
    assert script.seen[-1]["x-api-key"].startswith("xyd_")


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_other_refusals_are_never_retried(server: tuple[str, Script], status: int) -> None:
    url, script = server
    script.answers = [(status, {"Retry-After": "0"}, {"error": "SOME_CODE", "message": "不行", "detail": {"a": 1}})]
    with Client(url, "0123456789abcdef", Ed25519Key.generate(), backoff=0.01) as node, \
            pytest.raises(ApiError) as refused:
        node.post("/api/v1/x", {"a": 1})
    assert (refused.value.status, refused.value.code, refused.value.message, refused.value.detail) == \
        (status, "SOME_CODE", "不行", {"a": 1})
    assert refused.value.attempts == 1 and len(script.seen) == 1

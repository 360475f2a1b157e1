"""`Client`: signed calls to a node's JSON API, retried when the node asks to wait.

Every attempt is signed afresh (new timestamp and nonce: the node refuses a nonce it has seen, even on a
request it then refused for its rate limit). Each logical call carries one `X-Request-Id`, the same on every
attempt: the node answers a repeated id with its first answer instead of doing the work twice (access reads
do not spend another use of an authorization, market writes are not done twice), so a retry after a lost
answer is safe. Retried: 429 and 503 and failures to connect or to read an answer, with exponential
backoff and jitter, honouring `Retry-After` (or the error's `detail.retry_after`). Never retried: any other
4xx — it would be refused the same way again.
"""

from __future__ import annotations

import json as jsonlib
import random
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from xinyidai.client import signing
from xinyidai.client.errors import ApiError, Unavailable, error_from
from xinyidai.client.keys import SigningKey
from xinyidai.client.results import (
    Application,
    Decision,
    Detail,
    Institution,
    LoanStatus,
    Page,
    Product,
    Profile,
    Report,
    ReportCheck,
    Verification,
    build,
)

RETRY_STATUSES = (429, 503)
Params = Mapping[str, Any] | Iterable[tuple[str, Any]] | None


def _pairs(params: Params) -> list[tuple[str, str]]:
    """Query parameters as decoded (key, value) strings: None is left out, booleans are true/false, a list
    repeats its key."""
    items = params.items() if isinstance(params, Mapping) else (params or [])
    out: list[tuple[str, str]] = []
    for key, value in items:
        for v in value if isinstance(value, list | tuple) else [value]:
            if v is None:
                continue
            out.append((str(key), ("true" if v else "false") if isinstance(v, bool) else str(v)))
    return out


def new_request_id() -> str:
    return "xyd-" + secrets.token_hex(12)


class Client:
    """A bank's connection to one node. Sign with a registered key (`key_id` + `key`, recommended) or send
    an API key (`api_key="xyd_<id>.<secret>"`, only over TLS).

    `retries` more attempts after the first, waiting `backoff`·2ⁿ seconds (±50 % jitter, at most
    `max_wait`) unless the node says how long (Retry-After); a node's wait beyond `max_wait` is not waited
    out but answered at once as the refusal. `on_retry(attempt, wait_seconds, why)` is told of each."""

    def __init__(self, base_url: str, key_id: str | None = None, key: SigningKey | None = None, *,
                 api_key: str | None = None, timeout: float = 10.0, retries: int = 3, backoff: float = 0.5,
                 max_wait: float = 30.0, verify: bool | str = True,
                 on_retry: Callable[[int, float, str], None] | None = None) -> None:
        if api_key is None and (key_id is None or key is None):
            raise ValueError("需要签名密钥（key_id 与 key）或 API 密钥（api_key）")
        self.base_url = base_url.rstrip("/")
        self.key_id, self.key, self.api_key = key_id, key, api_key
        self.retries, self.backoff, self.max_wait = max(0, retries), backoff, max_wait
        self.on_retry = on_retry
        self._http = httpx.Client(timeout=timeout, verify=verify, follow_redirects=False)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ── the one way out ─────────────────────────────────────────────────────────────────────────────────

    def _auth_headers(self, method: str, path: str, pairs: list[tuple[str, str]], body: bytes) -> dict[str, str]:
        if self.key is None or self.key_id is None:
            return {signing.H_API_KEY: self.api_key or ""}
        ts, nonce = str(int(time.time())), signing.new_nonce()
        message = signing.canonical_string(method, path, pairs, body, ts, nonce)
        return signing.SignedHeaders(self.key_id, ts, nonce, self.key.sign(message).hex()).as_dict()

    def _wait(self, attempt: int, response: httpx.Response | None) -> float | None:
        """Seconds to wait before the next attempt; None when the node asked for longer than `max_wait` —
        asking again sooner would only be refused again (and count against the address), so the caller
        gets the refusal at once, with the node's wait in its detail, to schedule the call itself."""
        told = _retry_after(response)
        if told is not None:
            return max(0.0, told) if told <= self.max_wait else None
        return min(self.backoff * (2 ** attempt) * random.uniform(0.5, 1.5), self.max_wait)

    def send(self, method: str, path: str, *, params: Params = None, json: Any = None,
             request_id: str | None = None) -> httpx.Response:
        """One logical call, retried as the module says; the successful response (2xx/3xx), or ApiError.
        `path` is the decoded path (Chinese as is), `params` decoded values."""
        method = method.upper()
        if not path.startswith("/"):
            raise ValueError("path 应以 / 开头，例如 /api/v1/institutions/me")
        pairs = _pairs(params)
        body = b"" if json is None else jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":")).encode()
        url = self.base_url + signing.percent_encode(path, keep_slash=True)
        if pairs:
            url += "?" + signing.encode_query(pairs)
        rid = request_id or new_request_id()
        attempt = 0
        while True:
            headers = {signing.H_REQUEST_ID: rid, "Accept": "application/json",
                       **self._auth_headers(method, path, pairs, body)}
            if json is not None:
                headers["Content-Type"] = "application/json"
            response: httpx.Response | None = None
            try:
                response = self._http.request(method, url, content=body or None, headers=headers)
            except httpx.TransportError as exc:
                failure: ApiError = Unavailable(0, "CONNECTION_FAILED", f"无法连接节点或读取应答：{exc}",
                                                request_id=rid, attempts=attempt + 1)
            else:
                if response.status_code < 400:
                    return response
                failure = error_from(response.status_code, _json_or_text(response), reason=response.reason_phrase,
                                     request_id=rid, attempts=attempt + 1)
                if response.status_code not in RETRY_STATUSES:
                    raise failure
            wait = self._wait(attempt, response) if attempt < self.retries else None
            if wait is None:
                raise failure
            if self.on_retry is not None:
                self.on_retry(attempt + 1, wait, failure.code)
            time.sleep(wait)
            attempt += 1

    def call(self, method: str, path: str, *, params: Params = None, json: Any = None,
             request_id: str | None = None) -> Any:
        """`send`, answering the parsed JSON body (None when empty)."""
        response = self.send(method, path, params=params, json=json, request_id=request_id)
        return response.json() if response.content else None

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params=params)

    def post(self, path: str, json: Any = None, *, request_id: str | None = None) -> Any:
        return self.call("POST", path, json=json, request_id=request_id)

    # ── institutions ────────────────────────────────────────────────────────────────────────────────────

    def me(self) -> Institution:
        """The calling institution: the first call to check a new key works."""
        return build(Institution, self.get("/api/v1/institutions/me"))

    # ── authorized sharing (access) ─────────────────────────────────────────────────────────────────────

    def profile(self, entity_code: str, *, purpose: str = "贷前审查", authorization: str | None = None,
                request_id: str | None = None) -> Profile:
        data = self.call("GET", f"/api/v1/access/entities/{entity_code}/profile", request_id=request_id,
                         params={"purpose": purpose, "authorization": authorization})
        return build(Profile, data)

    def detail(self, entity_code: str, category: str, *, purpose: str = "贷前审查",
               authorization: str | None = None, request_id: str | None = None) -> Detail:
        data = self.call("GET", f"/api/v1/access/entities/{entity_code}/records/{category}", request_id=request_id,
                         params={"purpose": purpose, "authorization": authorization})
        return build(Detail, data)

    def verify(self, entity_code: str, claims: list[dict[str, Any]], *, authorization: str | None = None,
               request_id: str | None = None) -> Verification:
        """Claims such as `{"category": "tax", "item": "credit_grade", "op": "eq", "value": "A"}`."""
        body: dict[str, Any] = {"claims": claims}
        if authorization:
            body["authorization"] = authorization
        return build(Verification, self.call("POST", f"/api/v1/access/entities/{entity_code}/verifications",
                                             json=body, request_id=request_id))

    def authorizations(self, **params: Any) -> dict[str, Any]:
        """The authorizations granted to this institution (a page, as the node gives it)."""
        return self.get("/api/v1/access/authorizations", **params)

    # ── credit reports ──────────────────────────────────────────────────────────────────────────────────

    def report(self, entity_code: str, *, purpose: str = "贷前审查", authorization: str | None = None,
               request_id: str | None = None) -> Report:
        """An authorized credit report (spends one use of the authorization; the enterprise sees it)."""
        body = {"purpose": purpose, **({"authorization": authorization} if authorization else {})}
        return build(Report, self.call("POST", f"/api/v1/credit/entities/{entity_code}/reports", json=body,
                                       request_id=request_id))

    def get_report(self, report_no: str) -> Report:
        return build(Report, self.get(f"/api/v1/credit/reports/{report_no}"))

    def report_pdf(self, report_no: str) -> bytes:
        return self.send("GET", f"/api/v1/credit/reports/{report_no}/pdf").content

    def verify_report(self, code: str, report_no: str | None = None) -> ReportCheck:
        body = {"code": code, **({"report_no": report_no} if report_no else {})}
        return build(ReportCheck, self.post("/api/v1/credit/reports/verify", body))

    # ── the financing market ────────────────────────────────────────────────────────────────────────────

    def products(self, *, own: bool = False, page: int = 1, size: int = 20, **filters: Any) -> Page[Product]:
        """Products (filters: kind, sector, region, amount, state, q); `own=True` this institution's."""
        data = self.get("/api/v1/market/products", own=own or None, page=page, size=size, **filters)
        return Page.of(data, Product)

    def applications(self, *, state: str | None = None, breached: bool = False, page: int = 1,
                     size: int = 20) -> Page[Application]:
        """The institution's queue of applications."""
        data = self.get("/api/v1/market/applications", state=state, breached=breached or None, page=page,
                        size=size)
        return Page.of(data, Application)

    def application(self, number: str) -> Application:
        """One application (its timeline and the moves open to the caller are in `raw`)."""
        data = self.get(f"/api/v1/market/applications/{number}")
        return build(Application, data["application"])

    def decide(self, number: str, action: str, *, request_id: str | None = None, **fields: Any) -> Decision:
        """One step of an application (accept, decline, offer, grant, disburse, …; fields as the node's
        DecisionIn). A retry, or a repeat with the same `request_id`, is answered with `replayed=True`."""
        data = self.call("POST", f"/api/v1/market/applications/{number}/decisions",
                         json={"action": action, **{k: v for k, v in fields.items() if v is not None}},
                         request_id=request_id)
        return build(Decision, data, application=build(Application, data["application"]))

    def report_loan_status(self, loan: str, *, as_of: str, outstanding: str, dpd: int,
                           overdue_principal: str = "0", overdue_interest: str = "0", interest_paid: str = "0",
                           risk_class: str | None = None, request_id: str | None = None) -> LoanStatus:
        """A loan's repayment status (at least monthly); amounts in yuan as strings, e.g. "120000.00"."""
        body = {"as_of": as_of, "outstanding": outstanding, "dpd": dpd, "overdue_principal": overdue_principal,
                "overdue_interest": overdue_interest, "interest_paid": interest_paid}
        if risk_class:
            body["risk_class"] = risk_class
        return build(LoanStatus, self.call("POST", f"/api/v1/market/loans/{loan}/status", json=body,
                                           request_id=request_id))


def _json_or_text(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:500]


def _retry_after(response: httpx.Response | None) -> float | None:
    """How long the node asked to wait: Retry-After (seconds or an HTTP date), else detail.retry_after."""
    if response is None:
        return None
    value = response.headers.get("Retry-After", "").strip()
    if value:
        if value.isdigit():
            return float(value)
        try:
            return parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            pass
    body = _json_or_text(response)
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, dict) and isinstance(detail.get("retry_after"), int | float):
        return float(detail["retry_after"])
    return None

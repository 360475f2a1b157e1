"""Machine authentication of API requests from financial institutions.

A request to `/api/…` authenticates in one of two ways instead of a log-in cookie. Either way it acts as a
`Principal` with role `bank`, `org_code` = the institution's code, `user_id` 0 and username `key:<key_id>`.

**API key** — header `X-Api-Key: xyd_<key_id>.<secret>` (issued once by an operator; the platform keeps
only the SHA-256 of the secret). Simple; the secret travels with every request, so only over TLS.

**Signed request** — the institution registered a public key (SM2 or Ed25519) and sends four headers:

    X-XYD-Key-Id:     the credential's key id
    X-XYD-Timestamp:  Unix time in whole seconds, e.g. 1794722400
    X-XYD-Nonce:      16–64 characters of A–Z a–z 0–9 _ -, never reused with the same key
    X-XYD-Signature:  hex of the signature over the canonical string below

The canonical string is seven lines joined by a single LF (`\\n`, no trailing newline), encoded as UTF-8:

    XYD-SIG-V1
    <METHOD>                 upper case: GET, POST, …
    <path>                   the percent-decoded URL path, re-encoded as UTF-8 with every byte outside
                             A–Z a–z 0–9 - _ . ~ / written %XX (upper-case hex): /api/v1/institutions/me
    <query>                  every query parameter decoded, then key and value each encoded as above but
                             with "/" encoded too, joined as key=value, sorted by (key, value), joined
                             with "&"; empty when there is no query: a=1&b=%E4%BF%A1&b=2
    <body digest>            lower-case hex SM3 of the raw request body (of zero bytes when there is none:
                             1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b)
    <timestamp>              exactly as sent in X-XYD-Timestamp
    <nonce>                  exactly as sent in X-XYD-Nonce

SM2 signatures are over that string with the default user ID "1234567812345678" (GM/T 0009), DER or raw
r‖s; Ed25519 signatures are the 64 raw bytes. Signed requests may carry a JSON body or none; form and
multipart bodies are not supported (the server parses them before the signature can be checked).

Checks, in order, each refusal audited (`api.auth_refused`, with its code, never a secret) and answered in
the one error shape: the credential exists and is of the right kind (401 `API_KEY_INVALID`), the secret
matches (401 `API_KEY_INVALID`), it is not revoked (401 `CREDENTIAL_REVOKED`), suspended (403
`CREDENTIAL_SUSPENDED`) or expired (401 `CREDENTIAL_EXPIRED`); its institution is active (403
`INSTITUTION_SUSPENDED` / `INSTITUTION_REVOKED`); for signed requests the timestamp lies within ±300 s of
the node's clock (401 `REQUEST_EXPIRED`), the signature verifies (401 `SIGNATURE_INVALID`) and the nonce
was not seen before (401 `REQUEST_REPLAYED`). Then the institution's rate limit applies (429
`RATE_LIMITED`).

Refusals must not flood the audit chain, where each entry takes the write lock (`refusal_guard`,
`kit.throttle`). One that names no real credential — an unknown or malformed key — is recorded once per
client address, code and reason a minute; the others in that minute are counted and written as one
summary (`repeated`, first and last time, `claimed_keys`: how many distinct key ids were tried). A real
credential's refusals (secret mismatch, revoked, suspended, expired, bad timestamp, signature or nonce)
are the security officer's business: each is recorded, up to ten a minute per credential, code and
address, then summed up the same way. And an address refused 100 times in a minute gets 429
`AUTH_THROTTLED` for every credentialed request, with nothing looked up, until a minute has passed
without that many — a client sharing the address with a broken or hostile one is held up with it, and the
summaries name the address.

Nonces are kept in `request_nonces` for twice the window plus a minute — a request older than that fails
the timestamp check anyway — and older rows are purged at most once a minute by whichever request comes.
The nonce is written in the request's own transaction: a request that fails and rolls back leaves no nonce,
and may be sent again, which is harmless because it left nothing else either.

The rate limit (`FinancialInstitution.rate_per_minute`, across the institution's credentials and its users'
browser sessions) is a sliding window of the last 60 seconds **in this process**: with N worker processes
an institution may get up to N times its limit. That is a guard against runaway clients, not a quota.
"""

from __future__ import annotations

import hmac
import re
import secrets
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qsl, quote

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xinyidai.institutions import signing_keys
from xinyidai.institutions.models import ApiCredential, FinancialInstitution, RequestNonce
from xinyidai.institutions.onboarding import secret_hash, split_token
from xinyidai.kit import audit, clock
from xinyidai.kit.crypto import sm3
from xinyidai.kit.errors import DomainError, Forbidden, TooManyRequests, Unauthenticated
from xinyidai.kit.prepared import Prepared, PreparedRow
from xinyidai.kit.principal import Principal
from xinyidai.kit.throttle import Refusal, RefusalGuard, client_key

VERSION = "XYD-SIG-V1"
WINDOW_SECONDS = 300
NONCE_KEEP = timedelta(seconds=2 * WINDOW_SECONDS + 60)
PURGE_EVERY = 60.0
REFUSALS_PER_MINUTE = 100  # per client address, past which it is throttled
INDIVIDUALLY = 10  # a real credential's refusals recorded one by one per minute, code and address

H_API_KEY = "x-api-key"
H_KEY_ID = "x-xyd-key-id"
H_TIMESTAMP = "x-xyd-timestamp"
H_NONCE = "x-xyd-nonce"
H_SIGNATURE = "x-xyd-signature"

_NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_HEX = re.compile(r"^[0-9a-fA-F]{2,1024}$")
_UNRESERVED = "-_.~"

OPENAPI_DESCRIPTION = """
### 金融机构的接口认证

除浏览器登录会话外，金融机构的系统可用以下两种方式之一调用 `/api/…` 接口，身份为该机构（角色 `bank`）：

1. **API 密钥**：请求头 `X-Api-Key: xyd_<key_id>.<secret>`（由平台运营人员签发，仅显示一次）。
2. **请求签名**（推荐）：机构登记 SM2 或 Ed25519 公钥，每个请求带
   `X-XYD-Key-Id`、`X-XYD-Timestamp`（Unix 秒）、`X-XYD-Nonce`（16–64 位 `A-Za-z0-9_-`，不得重复）、
   `X-XYD-Signature`（对下列规范串签名的十六进制）。规范串为以下 7 行以 `\\n` 连接（末尾无换行），UTF-8 编码：
   `XYD-SIG-V1`、请求方法（大写）、路径（除 `A-Za-z0-9-_.~/` 外按 UTF-8 字节 `%XX` 编码）、
   查询串（参数解码后键与值分别按同样规则编码且 `/` 也编码，`键=值` 按键、值排序后以 `&` 连接，无参数为空行）、
   请求体的 SM3 十六进制摘要（无请求体时为空串的摘要）、时间戳、随机数。
   SM2 签名使用默认用户标识 `1234567812345678`，DER 或 r‖s 均可。

时间戳须在平台时间 ±300 秒内；随机数重复视为重放。错误代码：`API_KEY_INVALID`、`CREDENTIAL_REVOKED`、
`CREDENTIAL_SUSPENDED`、`CREDENTIAL_EXPIRED`、`INSTITUTION_SUSPENDED`、`INSTITUTION_REVOKED`、
`SIGNATURE_INVALID`、`REQUEST_EXPIRED`、`REQUEST_REPLAYED`；超过机构每分钟请求上限返回 429 `RATE_LIMITED`。
以请求头认证的请求不需要 CSRF 令牌。
"""


# ── the canonical string ────────────────────────────────────────────────────────────────────────────────

def _enc(text: str, safe: str) -> str:
    return quote(text, safe=_UNRESERVED + safe, encoding="utf-8")


def canonical_query(query: str) -> str:
    pairs = [(_enc(k, ""), _enc(v, "")) for k, v in parse_qsl(query or "", keep_blank_values=True)]
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def canonical_request(method: str, path: str, query: str, body: bytes, timestamp: str, nonce: str) -> bytes:
    """The bytes a signed request's signature covers (see the module docstring). `path` is decoded."""
    lines = [VERSION, method.upper(), _enc(path, "/"), canonical_query(query), sm3.hexdigest(body or b""),
             timestamp, nonce]
    return "\n".join(lines).encode("utf-8")


# ── the per-process rate limit ──────────────────────────────────────────────────────────────────────────

class RateLimiter:
    """A sliding 60-second window per institution, in this process only (see the module docstring)."""

    def __init__(self, window_seconds: float = 60.0) -> None:
        self.window = window_seconds
        self._hits: dict[str, deque[float]] = {}
        self._refused_logged: dict[str, float] = {}
        self._lock = threading.Lock()
        self.last_purge = float("-inf")

    def hit(self, key: str, limit: int) -> tuple[bool, bool]:
        """Count one request; (allowed, first refusal in this window — worth an audit entry)."""
        now = clock.now().timestamp()
        with self._lock:
            q = self._hits.setdefault(key, deque())
            while q and q[0] <= now - self.window:
                q.popleft()
            if len(q) >= max(1, limit):
                first = self._refused_logged.get(key, float("-inf")) <= now - self.window
                if first:
                    self._refused_logged[key] = now
                return False, first
            q.append(now)
            return True, False

    def due_for_purge(self) -> bool:
        now = clock.now().timestamp()
        with self._lock:
            if now - self.last_purge < PURGE_EVERY:
                return False
            self.last_purge = now
            return True


# ── authentication ──────────────────────────────────────────────────────────────────────────────────────

def carries_credentials(headers: Mapping[str, str]) -> bool:
    return bool(headers.get(H_API_KEY) or headers.get(H_KEY_ID) or headers.get(H_SIGNATURE))


def is_signed(headers: Mapping[str, str]) -> bool:
    """A signed request (its signature covers the body), as `authenticate` will treat it: an API key wins."""
    return not headers.get(H_API_KEY) and bool(headers.get(H_KEY_ID) or headers.get(H_SIGNATURE))


def refusal_guard() -> RefusalGuard:
    """The per-client throttle and digest of refusals (one per application, see `kit.throttle.guards`)."""
    return RefusalGuard(limit=REFUSALS_PER_MINUTE, seconds=60, digest_seconds=60)


def _refuse(s: Session, exc: DomainError, *, key_id: str | None, method: str, path: str, client: str | None,
            guard: RefusalGuard | None = None, institution_code: str | None = None, reason: str | None = None,
            claimed_key_id: str | None = None, **why: object) -> DomainError:
    """Audit a refusal (in the caller's session: the caller commits it) and return the error to raise.
    `key_id` names a real credential; without it the refusal is anonymous. With a `guard`, the refusal
    counts against the client's address and repeated ones are summed up (see the module docstring)."""
    common = {"code": exc.code, "client": (client or "")[:100], **({"reason": reason} if reason else {})}
    specific = {"method": method, "path": path[:200], **why,
                **({"claimed_key_id": claimed_key_id} if claimed_key_id is not None else {})}
    anonymous = key_id is None
    refusal = Refusal(key=(client_key(client), exc.code, (reason or "") if anonymous else key_id),
                      actor="anonymous" if anonymous else f"key:{key_id}", action="api.auth_refused",
                      target="api" if anonymous else f"credential:{key_id}", common=common, specific=specific,
                      institution_code=institution_code, individually=1 if anonymous else INDIVIDUALLY,
                      variant=("claimed_keys", claimed_key_id) if anonymous and claimed_key_id is not None else None)
    if guard is None:
        refusal.record(s)
    else:
        guard.clients.add(client_key(client))
        guard.record(s, refusal)
    return exc


@dataclass(frozen=True)
class Standing:
    """An institution as authentication needs it, read with the credential in the same statement."""

    code: str
    name: str
    status: str
    rate_per_minute: int


# Authentication runs on every API request: the credential and its institution come in one statement of
# plain columns (two ORM gets cost more than the rest of authentication).
_CREDENTIAL = Prepared(
    select(ApiCredential.key_id, ApiCredential.institution_code, ApiCredential.kind, ApiCredential.secret_hash,
           ApiCredential.public_key, ApiCredential.status, ApiCredential.expires_at, ApiCredential.last_used_at,
           FinancialInstitution.name.label("inst_name"), FinancialInstitution.status.label("inst_status"),
           FinancialInstitution.rate_per_minute)
    .outerjoin(FinancialInstitution, FinancialInstitution.code == ApiCredential.institution_code)
    .where(ApiCredential.key_id == bindparam("key_id")))
_TOUCH = update(ApiCredential).where(ApiCredential.key_id == bindparam("k")).values(last_used_at=bindparam("at"))


def _credential(s: Session, key_id: str | None) -> PreparedRow | None:
    return _CREDENTIAL.first(s, {"key_id": key_id}) if key_id else None


def _bad_key() -> Unauthenticated:
    return Unauthenticated("接口凭证无效", code="API_KEY_INVALID")


@dataclass(frozen=True)
class Authenticated:
    """Who is calling, and whether authenticating wrote (a signed request's nonce, the credential's last
    use): what it wrote must be committed before the request's own work, which may be rolled back."""

    principal: Principal
    wrote: bool


def authenticate(s: Session, *, headers: Mapping[str, str], method: str, path: str, query: str,
                 body: bytes | None, client: str | None = None, limiter: RateLimiter | None = None,
                 guard: RefusalGuard | None = None) -> Authenticated:
    """The institution's principal for a header-authenticated request, or a typed error (already audited;
    the caller must commit the session before raising it on, or the audit entry is lost). `body` is None
    when the server could not keep the raw body (a parsed form): a signed request is then refused. `guard`
    is the application's refusal guard (`refusal_guard`)."""
    ctx = {"method": method, "path": path, "client": client, "guard": guard}
    wait = guard.clients.wait(client_key(client)) if guard is not None else 0
    if wait:
        raise _refuse(s, TooManyRequests(f"本地址接口认证失败次数过多，请 {wait} 秒后再试", code="AUTH_THROTTLED",
                                         detail={"retry_after": wait}), key_id=None, reason="throttled", **ctx)
    api_key = headers.get(H_API_KEY)
    if api_key:
        parts = split_token(api_key)
        key_id = parts[0] if parts else None
        cred = _credential(s, key_id)
        if cred is None or cred.kind != "api_key" or not cred.secret_hash or parts is None \
                or not hmac.compare_digest(secret_hash(parts[1]), cred.secret_hash):
            raise _refuse(s, _bad_key(), key_id=key_id if cred is not None else None, **ctx,
                          institution_code=cred.institution_code if cred is not None else None,
                          reason="unknown key" if cred is None else "secret mismatch", claimed_key_id=key_id)
        inst = _check_standing(s, cred, ctx)
        signed = False
    else:
        cred, inst = _authenticate_signature(s, headers, method, path, query, body, ctx)
        signed = True
    now = clock.now()
    touched = cred.last_used_at is None or now - cred.last_used_at > timedelta(minutes=1)
    if touched:
        s.connection().execute(_TOUCH, {"k": cred.key_id, "at": now})  # at most one write a minute per credential for this
    principal = Principal(0, f"key:{cred.key_id}", f"{inst.name}（接口凭证 {cred.key_id}）", "bank", inst.code)
    enforce_rate(s, inst, limiter, actor=principal.username, method=method, path=path, client=client)
    if signed and limiter is not None and limiter.due_for_purge():
        s.execute(delete(RequestNonce).where(RequestNonce.seen_at < now - NONCE_KEEP))
    return Authenticated(principal, wrote=signed or touched)


def _check_standing(s: Session, cred: PreparedRow, ctx: dict) -> Standing:
    """The credential and its institution may act now."""
    key_id, code = cred.key_id, cred.institution_code
    if cred.status == "revoked":
        raise _refuse(s, Unauthenticated("接口凭证已被吊销", code="CREDENTIAL_REVOKED"), key_id=key_id,
                      institution_code=code, **ctx)
    if cred.status != "active":
        raise _refuse(s, Forbidden("接口凭证已被暂停使用", code="CREDENTIAL_SUSPENDED"), key_id=key_id,
                      institution_code=code, **ctx)
    if cred.expires_at is not None and cred.expires_at <= clock.now():
        raise _refuse(s, Unauthenticated("接口凭证已过期", code="CREDENTIAL_EXPIRED"), key_id=key_id,
                      institution_code=code, **ctx)
    inst = Standing(code, cred.inst_name, cred.inst_status, cred.rate_per_minute) if cred.inst_status else None
    if inst is None or inst.status not in WORKING:
        raise _refuse(s, institution_refusal(inst), key_id=key_id, institution_code=code, **ctx)
    return inst


# An institution under rectification (整改中) keeps working until its deadline; suspended or revoked does not.
WORKING = ("active", "rectifying")


def institution_refusal(inst: FinancialInstitution | Standing | None) -> Forbidden:
    if inst is not None and inst.status == "revoked":
        return Forbidden("所属金融机构的接入已被撤销", code="INSTITUTION_REVOKED")
    return Forbidden("所属金融机构的接入已被暂停", code="INSTITUTION_SUSPENDED")


def _authenticate_signature(s: Session, headers: Mapping[str, str], method: str, path: str, query: str,
                            body: bytes | None, ctx: dict) -> tuple[PreparedRow, Standing]:
    key_id = (headers.get(H_KEY_ID) or "").strip()[:40]
    cred = _credential(s, key_id)
    if cred is None or cred.kind not in signing_keys.KINDS or not cred.public_key:
        raise _refuse(s, _bad_key(), key_id=None, reason="unknown signing key", claimed_key_id=key_id, **ctx)
    inst = _check_standing(s, cred, ctx)
    timestamp = (headers.get(H_TIMESTAMP) or "").strip()
    nonce = (headers.get(H_NONCE) or "").strip()
    signature = (headers.get(H_SIGNATURE) or "").strip()
    where = {"key_id": key_id, "institution_code": inst.code, **ctx}
    if not _TIMESTAMP.match(timestamp):
        raise _refuse(s, Unauthenticated("请求时间戳缺失或格式不正确（应为 Unix 秒）", code="REQUEST_EXPIRED"),
                      reason="bad timestamp", **where)
    skew = int(timestamp) - int(clock.now().timestamp())
    if abs(skew) > WINDOW_SECONDS:
        raise _refuse(s, Unauthenticated(f"请求时间戳与平台时间相差超过 {WINDOW_SECONDS} 秒，请校准时钟后重新签名",
                                         code="REQUEST_EXPIRED"), skew=skew, **where)
    if not _NONCE.match(nonce):
        raise _refuse(s, Unauthenticated("随机数缺失或格式不正确（16–64 位字母、数字、下划线或连字符）",
                                         code="SIGNATURE_INVALID"), reason="bad nonce", **where)
    if body is None:
        raise _refuse(s, Unauthenticated("签名请求只支持 JSON 请求体或无请求体", code="SIGNATURE_INVALID"),
                      reason="form body", **where)
    message = canonical_request(method, path, query, body, timestamp, nonce)
    if not _HEX.match(signature) or len(signature) % 2 or \
            not signing_keys.verify(cred.kind, cred.public_key, message, bytes.fromhex(signature)):
        raise _refuse(s, Unauthenticated("请求签名验证失败", code="SIGNATURE_INVALID"), reason="bad signature",
                      **where)
    replay = Unauthenticated("该请求已处理过（随机数重复），拒绝重放", code="REQUEST_REPLAYED")
    if s.get(RequestNonce, (key_id, nonce)) is not None:
        raise _refuse(s, replay, nonce=nonce, **where)
    s.add(RequestNonce(key_id=key_id, nonce=nonce, seen_at=clock.now()))
    try:
        s.flush()
    except IntegrityError:  # the same request raced in on another connection
        s.rollback()
        raise _refuse(s, replay, nonce=nonce, **where) from None
    return cred, inst


def enforce_rate(s: Session, inst: FinancialInstitution | Standing, limiter: RateLimiter | None, *, actor: str,
                 method: str, path: str, client: str | None) -> None:
    """Count a request against the institution's per-minute limit; the first refusal in a window is
    audited (not every one: a runaway client must not flood the audit trail)."""
    if limiter is None:
        return
    allowed, first = limiter.hit(inst.code, inst.rate_per_minute)
    if allowed:
        return
    exc = TooManyRequests(f"本机构每分钟最多 {inst.rate_per_minute} 次请求，请稍后再试",
                          detail={"limit_per_minute": inst.rate_per_minute})
    if first:
        audit.record(s, actor, "api.rate_limited", f"institution:{inst.code}", institution_code=inst.code,
                     limit=inst.rate_per_minute, method=method, path=path[:200], client=(client or "")[:100])
    raise exc


def check_bank_user(s: Session, principal: Principal, limiter: RateLimiter | None, *, method: str, path: str,
                    client: str | None) -> None:
    """A logged-in bank user acts for its institution: refused while that institution is suspended or
    revoked, and counted against its rate limit. A bank user without an onboarded institution passes here
    (it can see nothing that is scoped to an institution)."""
    if principal.role != "bank" or not principal.org_code:
        return
    inst = s.get(FinancialInstitution, principal.org_code)
    if inst is None:
        return
    if inst.status not in WORKING:
        exc = institution_refusal(inst)
        audit.record(s, principal.username, "session.refused", f"user:{principal.username}",
                     institution_code=inst.code, code=exc.code, method=method, path=path[:200])
        raise exc
    enforce_rate(s, inst, limiter, actor=principal.username, method=method, path=path, client=client)


def sign_headers(sign: Callable[[bytes], bytes], key_id: str, method: str, path: str, query: str = "", body: bytes = b"", *,
                 timestamp: int | None = None, nonce: str | None = None) -> dict[str, str]:
    """Client side, for tests and example code: the four headers of a signed request. `sign` maps the
    canonical bytes to signature bytes (e.g. `lambda m: sm2.sign(key, m).to_der()`)."""
    ts = str(int(clock.now().timestamp()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_urlsafe(18)
    message = canonical_request(method, path, query, body, ts, nonce)
    signature = sign(message)
    return {"X-XYD-Key-Id": key_id, "X-XYD-Timestamp": ts, "X-XYD-Nonce": nonce,
            "X-XYD-Signature": signature.hex()}

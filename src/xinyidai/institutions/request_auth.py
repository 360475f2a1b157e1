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
import math
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

1. **API 密钥**：请求头 `X-Api-Key: xyd_<key_id>.<secret>`（由平台运营人员签发，仅显示一次）。密钥随每个请求传输，只能经 TLS 使用。
2. **请求签名**（推荐）：机构登记 SM2 或 Ed25519 公钥（平台从不持有私钥），每个请求带下列 4 个请求头，签名覆盖方法、路径、查询参数、请求体、时间戳和随机数。

以请求头认证的请求不需要 CSRF 令牌。Python 可直接使用 `xinyidai.client`（`Client`、`SM2Key`、`Ed25519Key`）。

#### 请求签名规范（XYD-SIG-V1）

请求头：

- `X-XYD-Key-Id`：登记公钥时平台给出的凭证编号（16 位小写十六进制）。
- `X-XYD-Timestamp`：Unix 时间，十进制整数秒，须在平台时间 ±300 秒内。
- `X-XYD-Nonce`：16–64 个 `A-Z a-z 0-9 _ -` 字符，同一凭证下不得重复（建议 18 个随机字节的 base64url）。
- `X-XYD-Signature`：对下述规范串签名的十六进制。
- 建议同时带 `X-Request-Id`（1–64 个字母、数字或 `. _ : -`）：平台对同一编号的重发返回首次结果，不重复办理、不重复消耗授权次数。
  重试时沿用同一 `X-Request-Id`，但**每次发送都要重新生成时间戳和随机数并重新签名**（用过的随机数一律视为重放）。

规范串（canonical string）是以下 7 行以换行符 LF（0x0A）连接、末尾无换行的 UTF-8 字节：

1. `XYD-SIG-V1`
2. 请求方法，大写：`GET`、`POST`……
3. 路径：把请求行中的路径（不含 `?` 及其后）百分号解码为 UTF-8 文本，再逐字节编码——`A–Z a–z 0–9 - _ . ~ /` 原样保留，
   其余每个字节写成 `%XX`（大写十六进制）。不做 `.`、`..` 或 `//` 的归一化。
4. 查询串：把原始查询串按 `&` 拆分并丢弃空段；每段在第一个 `=` 处分为键和值（没有 `=` 时值为空串）；键和值分别按
   `application/x-www-form-urlencoded` 解码（`+` 为空格，`%XX` 为一个字节，字节按 UTF-8 解释）；再分别按第 3 行的规则编码，
   但 `/` 也编码为 `%2F`；得到的 `键=值` 先按编码后的键、再按编码后的值以字节（ASCII）升序排序，以 `&` 连接。
   同名参数全部保留；没有查询参数时这一行为空。（发送时查询参数请用 `%20` 表示空格、`%2B` 表示加号。）
5. 请求体摘要：实际发送的请求体字节的 SM3 摘要（GB/T 32905），64 位小写十六进制；没有请求体时为空串的摘要
   `1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b`。签名请求的请求体只能是 JSON 或为空。
6. 时间戳：与 `X-XYD-Timestamp` 完全相同。
7. 随机数：与 `X-XYD-Nonce` 完全相同。

签名算法：

- **SM2**（GB/T 32918.2）：曲线 sm2p256v1；用户标识 ID 为 16 字节 ASCII `1234567812345678`（GM/T 0009 默认值，ENTL = 0x0080）；
  Z = SM3(ENTL ‖ ID ‖ a ‖ b ‖ x_G ‖ y_G ‖ x_A ‖ y_A)（各 32 字节大端），e = SM3(Z ‖ 规范串)，对 e 签名得 (r, s)。
  签名以 DER（`SEQUENCE { INTEGER r, INTEGER s }`，OpenSSL、GmSSL、BouncyCastle 的默认输出）或 64 字节 r‖s（各 32 字节大端）
  的十六进制发送。Java：BouncyCastle `Signature.getInstance("SM3withSM2", "BC")`（默认 ID 即 `1234567812345678`，输出 DER）。
  OpenSSL 3：`openssl pkeyutl -sign -rawin -digest sm3 -pkeyopt distid:1234567812345678 -inkey 私钥.pem -in 规范串文件`。
  登记的公钥：未压缩点 `04‖x‖y`（130 位十六进制）或 SubjectPublicKeyInfo PEM（`openssl pkey -pubout`）。
- **Ed25519**（RFC 8032，纯 Ed25519，不预先摘要）：直接对规范串字节签名，发送 64 字节签名的十六进制。Java 15+：
  `Signature.getInstance("Ed25519")`。登记的公钥：32 字节（64 位十六进制）或 PEM。

#### 签名示例（可逐字节核对）

示例路径不是真实接口，只用于核对实现；示例密钥切勿用于生产。

- 请求行：`POST /api/v1/%E7%A4%BA%E4%BE%8B/%E4%BF%A1%E7%94%A8%20%E6%8A%A5%E5%91%8A?b=2&a=%E4%BF%A1&a=1&c=x%2By+z&d=/`
  （路径解码后为 `/api/v1/示例/信用 报告`）
- 请求体（45 字节，无换行）：`{"claims":[{"category":"tax","op":"exists"}]}`
- 请求头：`X-XYD-Key-Id: 0123456789abcdef`、`X-XYD-Timestamp: 1794722400`、`X-XYD-Nonce: Q2xpZW50LU5vbmNlLTAx`

规范串（217 字节）：

```text
XYD-SIG-V1
POST
/api/v1/%E7%A4%BA%E4%BE%8B/%E4%BF%A1%E7%94%A8%20%E6%8A%A5%E5%91%8A
a=%E4%BF%A1&a=1&b=2&c=x%2By%20z&d=%2F
666cd8dd937f2066e3b3b8f5704104221b8e5d983adcc8ff4a9ee1405abf7410
1794722400
Q2xpZW50LU5vbmNlLTAx
```

SM2：

- 私钥 d：`41979c2b427f77ada4d2b5d166ce078264ba293cde7318003cc092c43964f36f`
- 公钥（登记用）：`047373371adaa77dc7e21a978a6e8a9ecfc0395e7f8002240a7620e800bcad7f75fc81d84956e4aa0a934c862f005d49667c8b0133b68134415134e3e6ddede585`
- Z：`4a146dfad0bd07fd9feeb14de0b1e6f2b487adf358da963fffead3491e143355`
- e = SM3(Z ‖ 规范串)：`785b764f66a3d8e8cbdaeea8252e9aa9aa89a060b7c021721066e8574d8d7c9d`
- 随机数 k：`2328b18b175b8a36c7c448f2e8a0a42212f1b04698d634ecbc0b97ce87fe9aaf`（实际签名时 k 随机，签名每次不同，请用公钥验证示例签名）
- `X-XYD-Signature`（DER）：`3045022064c8994922f9801c679e2aa393fed1169e98f00b6ee0343d7fc177253d5ca497022100838f5d42bbb9c9b696b92f0744c31b9a16e8a614a746d080b5f5083037e64414`
- 同一签名的 r‖s 形式：`64c8994922f9801c679e2aa393fed1169e98f00b6ee0343d7fc177253d5ca497838f5d42bbb9c9b696b92f0744c31b9a16e8a614a746d080b5f5083037e64414`

Ed25519（确定性签名，应逐字节相同）：

- 私钥种子：`6ce711e76c44439be655cf643571001f06a8b334aaeaaed83f27d97a624427f6`
- 公钥（登记用）：`40c56760534937eb9f8c2cec4da097e660ab04c2438d7e095c953300cf3f6347`
- `X-XYD-Signature`：`81e6f570871adc733810dedf21e9157afc59bb9ea551c1d9a9701683050c73d0df878fe82a1e211d524602bd8f5d0b7e7c2839d93a2b7846c58344014585a308`

#### 拒绝与限流

时间戳须在平台时间 ±300 秒内；随机数重复视为重放。错误代码：`API_KEY_INVALID`、`CREDENTIAL_REVOKED`、
`CREDENTIAL_SUSPENDED`、`CREDENTIAL_EXPIRED`、`INSTITUTION_SUSPENDED`、`INSTITUTION_REVOKED`、
`SIGNATURE_INVALID`、`REQUEST_EXPIRED`、`REQUEST_REPLAYED`；超过机构每分钟请求上限返回 429 `RATE_LIMITED`，
同一地址认证失败过多返回 429 `AUTH_THROTTLED`（`detail.retry_after` 为秒数）。429 与 503 可以按指数退避重试（遵从 `Retry-After`），
其他 4xx 重试也会同样被拒绝。
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

    def wait(self, key: str) -> int:
        """Whole seconds until the oldest request in `key`'s window leaves it (then one more is allowed)."""
        now = clock.now().timestamp()
        with self._lock:
            q = self._hits.get(key)
            return max(1, math.ceil(q[0] + self.window - now)) if q else 1

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
                          detail={"limit_per_minute": inst.rate_per_minute,
                                  "retry_after": limiter.wait(inst.code)})
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

"""Who sent a request, as the web shell asks it (`web.deps.Authenticator`): on `/api/` an institution's API
key or signed headers (see `request_auth`), otherwise the user's session cookie. A bank user's session, and
every institution credential, is refused while the institution is suspended or revoked and counts against
its per-minute rate limit. Refused credentials count against the client's address and are summed up in the
audit log by the application's refusal guard (`request_auth.refusal_guard`).

It lives here because it needs both the institutions' credentials and the users' sessions (accounts, below
this domain); the application factory hands one instance to the shell."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Request
from sqlalchemy.orm import Session

from xinyidai.accounts import users
from xinyidai.institutions import request_auth
from xinyidai.institutions.request_auth import RateLimiter
from xinyidai.kit.errors import DomainError
from xinyidai.kit.principal import Principal
from xinyidai.kit.throttle import guards
from xinyidai.web.deps import SESSION_COOKIE, is_api


class RequestAuthenticator:
    def __init__(self) -> None:
        self.limiter = RateLimiter()  # per process: see request_auth's note on the rate limit

    def carries_credentials(self, headers: Mapping[str, str]) -> bool:
        return request_auth.carries_credentials(headers)

    def is_signed(self, headers: Mapping[str, str]) -> bool:
        return request_auth.is_signed(headers)

    def resolve(self, request: Request, s: Session, body: bytes | None, *, same_thread: bool) -> Principal | None:
        """The request's principal. An API credential's session is committed here when authenticating wrote,
        and also when the route's work runs in another thread (not `Caller`): that gives the pooled
        connection back while the request waits for that thread."""
        client = request.client.host if request.client else None
        if is_api(request) and request_auth.carries_credentials(request.headers):
            try:
                auth = request_auth.authenticate(
                    s, headers=request.headers, method=request.method, path=request.url.path,
                    query=request.url.query, body=body, client=client, limiter=self.limiter,
                    guard=guards(request.app.state).get("api", request_auth.refusal_guard))
            except DomainError:
                s.commit()  # keep the refusal's audit entry
                raise
            if auth.wrote or not same_thread:
                s.commit()  # keep what authentication wrote (nonce, last use) whatever becomes of the handler's work
            principal = request.state.principal = auth.principal
            request.state.header_auth = True
            request.state.auth_method = "api_key" if request.headers.get(request_auth.H_API_KEY) else "signature"
            return principal
        found = users.resolve(s, request.cookies.get(SESSION_COOKIE))
        principal = None
        if found is not None:
            ls, user = found
            principal = users.principal_of(user)
            request.state.csrf_token = ls.csrf_token
            request.state.auth_method = "session"
            try:
                request_auth.check_bank_user(s, principal, self.limiter, method=request.method,
                                             path=request.url.path, client=client)
            except DomainError:
                s.commit()
                raise
        if s.dirty or s.new or s.deleted:
            s.commit()
        request.state.principal = principal
        return principal

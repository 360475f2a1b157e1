"""Per-process things the access routers need: the sharing policy and the node's signer (loaded once), and
the pattern that logs a refused access durably before the error goes back to the caller."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from sqlalchemy.orm import Session

from xinyidai.access import sharing
from xinyidai.access.policy import Policy, default_policy
from xinyidai.kit.audit import Signer
from xinyidai.kit.db import write_lock
from xinyidai.kit.errors import DomainError, Forbidden
from xinyidai.kit.node_key import node_identity, node_signer

T = TypeVar("T")
log = logging.getLogger(__name__)


class CrossSiteRequest(Forbidden):
    code = "CROSS_SITE_REQUEST"
    message = "该查询会使用企业的授权次数，只能从本平台的页面发起；程序调用请使用 API 密钥或签名请求"


def from_own_pages(request: Request) -> bool:
    """Whether the browser says a page of this site made the request. Browsers set `Sec-Fetch-Site` and no
    page can: a link or form on another site (a sibling subdomain too), a mail, a bookmark or the address
    bar say otherwise, and a browser too old to send it is not believed either (deny by default)."""
    return request.headers.get("sec-fetch-site") == "same-origin"


def refuse_cross_site(request: Request) -> None:
    """A read that spends a use of the enterprise's authorization, asked with a session cookie (which the
    browser attaches to another site's links), must come from the platform's own pages. An institution's API
    key or signature is no such ambient authority: those requests are unaffected."""
    if not getattr(request.state, "header_auth", False) and not from_own_pages(request):
        raise CrossSiteRequest()


def policy(request: Request) -> Policy:
    return default_policy()


_signer_lock = threading.Lock()


def app_signer(app: Any) -> Signer:
    """The node's signer, loaded once (unsealing the key file costs scrypt's ~0.5 s and 128 MiB, which a
    burst of first requests must not each pay), and again after the node's key was rotated."""
    state = app.state
    n = state.node
    if getattr(state, "signer", None) is None or getattr(state, "signer_of", None) is not node_identity(
            n.settings.var_dir, n.settings.crypto_suite):
        with _signer_lock:
            identity = node_identity(n.settings.var_dir, n.settings.crypto_suite)
            if getattr(state, "signer", None) is None or getattr(state, "signer_of", None) is not identity:
                state.signer = node_signer(n.settings.var_dir, n.settings.crypto_suite)
                state.signer_of = identity
    return state.signer


def signer(request: Request) -> Signer:
    return app_signer(request.app)


def served(s: Session, actor: sharing.Actor, entity: str, kind: str, purpose: str, call: Callable[[], T],
           keep: tuple[type[DomainError], ...] = ()) -> T:
    """Run `call` and commit; on a refusal, undo what it did (but keep it for `keep` errors, e.g. an alert
    raised before refusing), log the refusal in the audit chain, commit that, and re-raise.

    Committing here, in the handler's worker thread, matters: the write locks an access takes (the audit
    chain's head, the authorization's use count) must be released before the thread is given back. Left to
    the dependency's teardown, which needs a worker thread of its own, a burst of requests can hold every
    worker while waiting for a lock whose release is queued behind them."""
    try:
        with write_lock(s):
            result = call()
            s.commit()
        return result
    except DomainError as exc:
        with write_lock(s):
            if not isinstance(exc, keep):
                s.rollback()
            sharing.log_refusal(s, actor, entity, kind, exc, purpose)
            s.commit()
        raise


def housekeeping_once(app: Any, checkpoint: bool) -> None:
    """One round: raise anomaly alerts for the last window; sign the audit head when asked."""
    from xinyidai.access.anomalies import scan
    from xinyidai.kit.audit import make_checkpoint

    n = app.state.node
    with n.db.session() as s:
        scan(s, default_policy())
    if checkpoint:
        with n.db.session() as s:
            make_checkpoint(s, app_signer(app))


async def housekeeping(app: Any, every_seconds: int = 60, checkpoint_every: int = 10) -> None:
    """Runs while the server runs: anomaly rules every minute, a signed audit checkpoint every ten."""
    await asyncio.to_thread(app_signer, app)  # unseal the key before the first request needs it
    rounds = 0
    while True:
        await asyncio.sleep(every_seconds)
        rounds += 1
        try:
            await asyncio.to_thread(housekeeping_once, app, rounds % checkpoint_every == 0)
        except Exception:  # noqa: BLE001 - keep serving; the next round tries again
            log.exception("access housekeeping failed")

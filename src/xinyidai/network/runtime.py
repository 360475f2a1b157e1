"""The network side of a running node: its context (code, role, identity) and the relay worker that runs
beside the web server — collecting what to send, pushing the outbox, and polling the parent in pull mode.

The worker is a plain thread with its own database sessions, committing after each step, so it never holds
a lock across a network call and a crash loses nothing that was acknowledged.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import httpx

from xinyidai.kit.node_key import node_identity
from xinyidai.network import exchange, relay

log = logging.getLogger(__name__)


def context(app: Any) -> relay.NodeContext:
    st = app.state
    if getattr(st, "network_ctx", None) is None:
        settings = st.node.settings
        st.network_ctx = relay.NodeContext(settings.node_code, settings.node_role,
                                           node_identity(settings.var_dir, settings.crypto_suite))
    return st.network_ctx


def run_once(app: Any, client: httpx.Client) -> dict[str, int]:
    """One round of the relay; returns what it did (for logs and tests)."""
    n = app.state.node
    ctx = context(app)
    done = {"queued_up": 0, "queued_down": 0, "sent": 0, "failed": 0, "pulled": 0}
    with n.db.session() as s:
        done["queued_up"] = relay.collect_uploads(s, ctx)
    with n.db.session() as s:
        done["queued_down"] = relay.collect_downloads(s, ctx)
    done.update(exchange.periodic(n.db, ctx, time.monotonic()))  # legacy link, needs, hourly 对账
    with n.db.session() as s:
        done["sent"], done["failed"] = relay.send_due(s, ctx, client)
    if n.settings.parent_mode == "pull":
        from xinyidai.network import pull

        done["pulled"] = pull.pull_from_parent(n.db, ctx, client)
    return done


class RelayWorker(threading.Thread):
    """Runs `run_once` every `interval` seconds until stopped."""

    def __init__(self, app: Any, interval: float) -> None:
        super().__init__(name="relay", daemon=True)
        self.app, self.interval = app, interval
        self.stopping = threading.Event()

    def run(self) -> None:
        wait = self.interval
        with httpx.Client(timeout=httpx.Timeout(30.0, connect=3.0)) as client:
            while not self.stopping.wait(wait):
                wait = self.interval
                try:
                    done = run_once(self.app, client)
                    if any(done.values()):
                        log.info("relay: %s", done)
                    # A round that moved records may have left more behind (a round collects a bounded
                    # number): go again at once instead of idling a whole interval with a backlog.
                    if done["queued_up"] or done["queued_down"] or done["sent"] or done["pulled"]:
                        wait = 0.0
                except Exception:  # noqa: BLE001 - the next round retries; the outbox keeps what is owed
                    log.exception("relay round failed")

    def stop(self) -> None:
        self.stopping.set()

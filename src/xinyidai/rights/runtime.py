"""The rights domain's chores while the node runs: once a Beijing day, objections answered over the network
are picked up, late stages reminded and cases past their 20 days escalated (`objections.remind_and_escalate`),
and credit commitments broken by a later penalty flagged (`commitments.check_broken`); every few minutes the
network's answers alone, so an answered case does not wait a day."""

from __future__ import annotations

import logging
from typing import Any

from xinyidai.kit import clock
from xinyidai.kit.chores import every
from xinyidai.kit.notify import make_notifier
from xinyidai.rights import commitments, objections

log = logging.getLogger(__name__)


def chores_once(app: Any, state: dict[str, Any]) -> dict[str, Any]:
    n = app.state.node
    if "notifier" not in state:
        state["notifier"] = make_notifier(n.settings.notifier, n.settings.var_dir)
    today = clock.today()
    done: dict[str, Any] = {}
    with n.db.write_lock, n.db.session() as s:
        if state.get("objections_on") != today:
            r = objections.remind_and_escalate(s, today, state["notifier"])
            done.update(answered=r.answered, reminded=r.reminded, escalated=r.escalated,
                        broken=commitments.check_broken(s, today, n.catalog))
            state["objections_on"] = today
        else:
            done["answered"] = objections.sync_network(s)
    if any(done.values()):
        log.info("rights chores: %s", done)
    return done


async def chores(app: Any, every_seconds: int = 300) -> None:
    state: dict[str, Any] = {}
    await every(every_seconds, lambda: chores_once(app, state), "rights chores")

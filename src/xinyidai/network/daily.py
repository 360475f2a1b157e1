"""The daily connection checks (notice point 十) in one run: rectification deadlines (`deadlines.run`) and the
validity of connected children's security assessments (`assessments.daily`). The server's chore and the
`node deadlines` command both call this, so the two never drift apart."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from xinyidai.kit.notify import Notifier
from xinyidai.network import assessments, deadlines


def run(s: Session, today: date, notifier: Notifier | None, send_notice: deadlines.SendNotice | None,
        valid_days: int) -> dict[str, int]:
    done = deadlines.run(s, today, notifier, send_notice)
    done.update({f"assessment_{k}": v for k, v in
                 assessments.daily(s, today, notifier, send_notice, valid_days).items()})
    return done

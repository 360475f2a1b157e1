"""Messages to people outside the platform (one-time codes by SMS), behind a small `Notifier` protocol.

The node ships no SMS gateway: a deployment plugs its own in (a class with `send`). Two are built in —
`FileNotifier` (the default) appends each message as one JSON line to `var/notifications.log`, so a demo,
a test or an operator can read the code that "was texted"; `ConsoleNotifier` logs it. Both write the
message in clear, as an SMS gateway would receive it: they are for development and demonstration, and the
log file must be protected like the gateway's credentials in production.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Protocol

from xinyidai.kit import clock

log = logging.getLogger(__name__)

NOTIFIERS = ("file", "console")


class Notifier(Protocol):
    def send(self, phone: str, message: str, *, kind: str = "") -> None:
        """Deliver `message` to the mobile number `phone`; `kind` names the purpose (e.g. `registration`)."""


class FileNotifier:
    """Appends `{"at", "to", "kind", "message"}` as one JSON line per message (file created 0600)."""

    _lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def send(self, phone: str, message: str, *, kind: str = "") -> None:
        line = json.dumps({"at": clock.now().isoformat(), "to": phone, "kind": kind, "message": message},
                          ensure_ascii=False)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")

    def messages(self) -> list[dict]:
        """Every message written so far, oldest first (demos and tests read codes from here)."""
        if not self.path.exists():
            return []
        return [json.loads(x) for x in self.path.read_text(encoding="utf-8").splitlines() if x.strip()]


class ConsoleNotifier:
    """Logs each message at INFO level, for a developer's terminal."""

    def send(self, phone: str, message: str, *, kind: str = "") -> None:
        log.info("notification to %s (%s): %s", phone, kind or "-", message)


def make_notifier(kind: str, var_dir: Path) -> Notifier:
    if kind == "console":
        return ConsoleNotifier()
    if kind == "file":
        return FileNotifier(Path(var_dir) / "notifications.log")
    raise ValueError(f"unknown notifier {kind!r} (choose one of {', '.join(NOTIFIERS)})")

"""Operations logs: one event a line on stderr — JSON for a log platform, text for a terminal — with the
node, the request and who made it, and no personal data or secrets in them.

The audit chain (kit.audit) stays the record of who accessed what; these logs are for running the node.

* `configure(settings)` installs one root handler (format and level from the settings), sends uvicorn's
  own loggers through it and silences uvicorn's access log: `web.request_context` writes the one access
  event per request. `uvicorn_log_config(settings)` is the same set-up as a `logging.config` dict, for
  `xinyidai serve` (each worker process applies it before it imports the app).
* Every event's text — the message after its %-arguments, the formatted exception, `extra=` fields — goes
  through `REDACTOR`, which masks resident ID numbers, mobile numbers, API key tokens, Authorization and
  Bearer values, `password=`-style pairs, credentials in URLs, and the exact values of the node's
  configured secrets (registered by `configure`). One precompiled pattern, one pass over each text.
* The request in hand lives in a context variable (`begin_request`, `set_principal`) that the formatters
  read: the web shell sets it, the kit never imports the web.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import sys
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xinyidai.kit.principal import Principal

if TYPE_CHECKING:
    from xinyidai.config import Settings

FORMATS = ("text", "json")
ACCESS_LOGGER = "xinyidai.access"
# Loggers whose INFO lines are routine noise on a node: every HTTP call the relay makes (with its URL),
# the migration tool setting itself up each time the server checks the schema.
QUIET = ("httpx", "httpcore", "alembic.runtime.plugins")
# Settings-like environment variables whose values are secrets, whatever else they are called.
SECRET_ENV = re.compile(r"^XINYIDAI_\w*(SECRET|TOKEN|PASSWORD|PASSPHRASE)")
MIN_SECRET = 6  # a shorter "secret" would mask every occurrence of common text; such a value is no secret


# ── the request in hand ──────────────────────────────────────────────────────────────────────────────

@dataclass
class RequestScope:
    """What the log of one request carries. Mutable, and shared by every copy of the context (worker
    threads get copies), so a principal learnt in a thread is seen by the access event at the end."""

    request_id: str
    principal: str | None = None


_request: ContextVar[RequestScope | None] = ContextVar("xinyidai_log_request", default=None)


def begin_request(request_id: str) -> RequestScope:
    scope = RequestScope(request_id)
    _request.set(scope)
    return scope


def current_request() -> RequestScope | None:
    return _request.get()


def principal_label(p: Principal) -> str:
    """Who acted, without a name: `inst:<org_code>` for an institution's credential, else
    `user:<role>:<user id>` (a display name or user name can be a person's)."""
    if p.user_id == 0 and p.username.startswith("key:"):
        return f"inst:{p.org_code}"
    return f"user:{p.role}:{p.user_id}"


def set_principal(p: Principal | None) -> None:
    """Name the principal of the request in hand (no-op outside a request, or for an anonymous one)."""
    scope = _request.get()
    if scope is not None and p is not None:
        scope.principal = principal_label(p)


# ── redaction ────────────────────────────────────────────────────────────────────────────────────────

MASK = "[REDACTED]"
# One alternation, one pass. Every branch starts with a plain character (case is ignored after it): the
# regex engine then skips, at C speed, each position where no branch can start, and a log line costs a few
# µs. Which branch matched is told from the matched text (`Redactor._replace`).
# A secret pair's value: quoted, whole; bare, to the next separator (a backslash too, so that a JSON escape
# is never cut in two).
_VALUE = r"""(?:"[^"\\]*"|'[^'\\]*'|[^\s,;&"'\\}<>]+)"""
_SEP = r"""["']?\s*[:=：]\s*"""
_SCHEME = r"(?:(?:bearer|basic|digest|sm3-hmac)\s+)"
_HEADERS = ("authorization", "proxy-authorization", "x-api-key", "cookie")
_PAIR_KEYS = ("password", "passwd", "passphrase", "secret", "token", "api_key", "api-key", "apikey", "密码", "口令")
_MOBILE = r"1[3-9][0-9](?:[0-9]{8}|[- ][0-9]{4}[- ][0-9]{4})(?![0-9])"  # one run, or split 3-4-4


def _both_cases(branch: str) -> list[str]:
    head, rest = branch[0], f"(?i:{branch[1:]})"
    return [head.lower() + rest, head.upper() + rest] if head.isascii() and head.isalpha() else [head + rest]


_BRANCHES = tuple(b for branch in (
    *(rf"""{h}{_SEP}["']?{_SCHEME}?[^\s,;"'\\]+""" for h in _HEADERS),   # Authorization: Bearer …
    r"bearer\s+[a-z0-9._~+/=-]+",
    *(rf"{k}[a-z_]*{_SEP}{_VALUE}" for k in _PAIR_KEYS),                 # password=…, "token": "…"
    r"xyd_[a-z0-9_.~+/=-]*",                                            # API key tokens
    r"""://[^:/@\s"']+:[^@/\s"']+@""",                                  # user:password@ in a URL
) for b in _both_cases(branch)) + (
    # GB 11643 resident ID numbers, check digit valid or not (a letter-bearing credit code never matches).
    *(rf"{d}(?<![0-9]{d})[0-9]{{16}}[0-9Xx](?![0-9])" for d in "0123456789"),
    # Mainland mobile numbers, with or without +86.
    r"1(?<![0-9]1)" + _MOBILE[1:], r"\+86[- ]?" + _MOBILE, r"8(?<![0-9]8)6[- ]?" + _MOBILE,
)
_SPLIT = re.compile(rf"""^(?:{"|".join(_HEADERS)}|{"|".join(_PAIR_KEYS)})[a-z_]*{_SEP}""", re.IGNORECASE)
_SCHEME_AT = re.compile(_SCHEME, re.IGNORECASE)
_API_KEY = re.compile(r"xyd_([0-9a-f]{16})(?:\.|$)")
# An `extra=` field or mapping key named so holds a secret, whatever its value looks like.
_SECRET_NAME = re.compile("|".join((*_HEADERS, *_PAIR_KEYS)), re.IGNORECASE)


class Redactor:
    """Masks personal data and secrets in text. `register` adds exact values (the node's secrets)."""

    def __init__(self) -> None:
        self._secrets: frozenset[str] = frozenset()
        self._pattern = self._compile()

    def register(self, values: Iterable[str | None]) -> None:
        found = set(self._secrets)
        for v in values:
            v = (v or "").strip()
            if len(v) >= MIN_SECRET:
                found.add(v)
        if found != self._secrets:
            self._secrets = frozenset(found)
            self._pattern = self._compile()

    def _compile(self) -> re.Pattern[str]:
        # Secrets first and longest first, so a secret containing another (or an ID number) is masked whole.
        literal = [re.escape(v) for v in sorted(self._secrets, key=len, reverse=True)]
        return re.compile("|".join([*literal, *_BRANCHES]))

    def redact(self, text: str) -> str:
        return self._pattern.sub(self._replace, text)

    def _replace(self, m: re.Match[str]) -> str:
        t = m.group(0)
        if t in self._secrets:
            return MASK
        head = t[:1]
        if head.isdigit() or head == "+":
            return "[REDACTED:ID]" if len(t) == 18 and t[:17].isdigit() else "[REDACTED:MOBILE]"
        if t.startswith("://"):
            return t[:t.index(":", 3) + 1] + MASK + "@"
        if t[:4].lower() == "xyd_":  # the key id names the credential and is no secret; what follows it is
            kid = _API_KEY.match(t.lower())
            return f"xyd_{kid.group(1)}.{MASK}" if kid else f"xyd_{MASK}"
        key = _SPLIT.match(t)
        if key is None:  # Bearer …
            scheme = _SCHEME_AT.match(t)
            return (scheme.group(0) if scheme else "") + MASK
        prefix, rest = t[:key.end()], t[key.end():]
        quote = rest[:1] if rest[:1] in ("'", '"') else ""
        if quote and len(rest) > 1 and rest.endswith(quote):
            return prefix + quote + MASK + quote
        prefix += quote
        scheme = _SCHEME_AT.match(rest, len(quote))
        return prefix + (scheme.group(0) if scheme else "") + MASK


REDACTOR = Redactor()


def node_secrets(settings: Settings, env: Mapping[str, str] | None = None) -> list[str]:
    """The exact values never to be written: the session key (configured, or the one kept in
    var/secret.key), the metrics token, the database password, the key and backup passphrases and any
    XINYIDAI_* variable named like a secret."""
    env = os.environ if env is None else env
    values = [settings.secret_key, settings.metrics_token, env.get("XINYIDAI_KEY_PASSPHRASE"),
              env.get("XINYIDAI_BACKUP_PASSPHRASE")]
    values += [v for k, v in env.items() if SECRET_ENV.match(k)]
    key_file = Path(settings.var_dir) / "secret.key"
    if not settings.secret_key and key_file.is_file():
        with contextlib.suppress(OSError):
            values.append(key_file.read_text().strip())
    if settings.database_url:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError
        with contextlib.suppress(ArgumentError):
            values.append(make_url(settings.database_url).password)  # type: ignore[arg-type]
    return [v for v in values if v]


# ── formatters and the handler ───────────────────────────────────────────────────────────────────────

# Attributes every LogRecord has; anything else on a record came in through `extra=`.
_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime", "taskName", "color_message"}  # color_message: uvicorn's own duplicate


def _time(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _scrub(value: Any, redact: Any) -> Any:
    """An `extra=` value fit for JSON and redacted: strings and numbers masked (a phone number may come as
    an int), containers walked, anything else by its text."""
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        text = str(value)
        masked = redact(text)
        return value if masked == text else masked
    if isinstance(value, Mapping):
        return {redact(str(k)): MASK if _SECRET_NAME.search(str(k)) else _scrub(v, redact)
                for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub(v, redact) for v in value]
    return redact(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, node, request_id, principal, then exc and the
    record's `extra=` fields."""

    def __init__(self, node: str = "", redactor: Redactor = REDACTOR) -> None:
        super().__init__()
        self.node = node
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        redact = self.redactor.redact
        scope = _request.get()
        event: dict[str, Any] = {"time": _time(record.created), "level": record.levelname, "logger": record.name,
                                 "message": redact(record.getMessage()), "node": self.node,
                                 "request_id": scope.request_id if scope else None,
                                 "principal": scope.principal if scope else None}
        if record.exc_info:
            event["exc"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            event["exc"] = redact(record.exc_text)
        if record.stack_info:
            event["stack"] = redact(self.formatStack(record.stack_info))
        for key, value in record.__dict__.items():
            if key not in _RESERVED and key not in event and not key.startswith("_"):
                event[key] = MASK if _SECRET_NAME.search(key) else _scrub(value, redact)
        return json.dumps(event, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`time level logger: message`, then `[request id principal]` inside a request, then the traceback;
    the whole text redacted."""

    def __init__(self, node: str = "", redactor: Redactor = REDACTOR) -> None:
        super().__init__()
        self.node = node
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_time(record.created)} {record.levelname} {record.name}: {record.getMessage()}"
        scope = _request.get()
        if scope is not None:
            line += f" [{scope.request_id}{' ' + scope.principal if scope.principal else ''}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        elif record.exc_text:
            line += "\n" + record.exc_text
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return self.redactor.redact(line)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time (as logging's last-resort handler does), so a test's
    or a command runner's replaced stream is honoured and a closed one never held on to."""

    def __init__(self, formatter: logging.Formatter, level: int = logging.NOTSET) -> None:
        super().__init__()
        self.setFormatter(formatter)
        self.setLevel(level)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def resolve_format(log_format: str) -> str:
    """"auto" is text on a terminal and JSON anywhere else (a service manager, a container, a pipe)."""
    if log_format in FORMATS:
        return log_format
    try:
        return "text" if sys.stderr.isatty() else "json"
    except (AttributeError, ValueError):
        return "json"


def make_handler(fmt: str = "json", node: str = "", hidden: Iterable[str] = ()) -> logging.Handler:
    """The one handler, masking `hidden` values too (also the factory `uvicorn_log_config` names, so that a
    worker process builds the same)."""
    REDACTOR.register(hidden)
    formatter = JsonFormatter(node) if fmt == "json" else TextFormatter(node)
    return StderrHandler(formatter)


def _route_uvicorn(level: int) -> None:
    for name in ("uvicorn", "uvicorn.error", "uvicorn.asgi"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
        lg.setLevel(logging.NOTSET if name != "uvicorn" else level)
    access = logging.getLogger("uvicorn.access")  # web.request_context logs each request once
    access.handlers.clear()
    access.propagate = False
    access.setLevel(logging.WARNING)


def configure(settings: Settings) -> None:
    """Send every log of this process to one stderr handler, as the settings ask. Safe to call again: the
    handler it installed before is replaced, any other (a test's capture) kept."""
    level = logging.getLevelName(settings.log_level.upper())
    handler = make_handler(resolve_format(settings.log_format), settings.node_code, node_secrets(settings))
    root = logging.getLogger()
    for old in root.handlers[:]:  # ours from before, or a basicConfig one: either would print each line twice
        if isinstance(old, StderrHandler) or (type(old) is logging.StreamHandler
                                              and old.stream in (sys.stderr, sys.__stderr__)):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    _route_uvicorn(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))


def uvicorn_log_config(settings: Settings) -> dict[str, Any]:
    """`configure` as a dict for uvicorn.run(log_config=...): applied in the serving process and again in
    each worker it spawns, before the app is imported. Pass access_log=False beside it."""
    level = settings.log_level.upper()
    handler = {"()": "xinyidai.kit.logs.make_handler", "fmt": resolve_format(settings.log_format),
               "node": settings.node_code, "hidden": node_secrets(settings)}
    return {"version": 1, "disable_existing_loggers": False,
            "handlers": {"xinyidai": handler},
            "root": {"handlers": ["xinyidai"], "level": level},
            "loggers": {"uvicorn": {"handlers": [], "propagate": True, "level": level},
                        "uvicorn.error": {"handlers": [], "propagate": True, "level": "NOTSET"},
                        "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
                        **{name: {"level": "WARNING"} for name in QUIET}}}


def new_request_id() -> str:
    """A fresh request id: 16 hex characters, drawn again in the rare case the redactor would mask part of
    it (a run of digits that looks like a mobile number), so the id in the log is the id in the header."""
    while True:
        rid = secrets.token_hex(8)
        if REDACTOR.redact(rid) == rid:
            return rid

"""Operations logs (kit.logs, web.request_context): one JSON event a line, or text on a terminal, with the
request id, the node and who acted — and no ID number, mobile number, credential or configured secret in
them, whichever logging path they took. The last tests drive a real `xinyidai serve`."""

from __future__ import annotations

import asyncio
import contextvars
import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.network.nodes import free_port
from xinyidai.accounts.users import create_user
from xinyidai.app import create_app
from xinyidai.config import load_settings
from xinyidai.kit import chores, logs
from xinyidai.kit.db import Database
from xinyidai.kit.logs import JsonFormatter, Redactor, TextFormatter
from xinyidai.kit.notify import ConsoleNotifier
from xinyidai.kit.principal import Principal

ID = "230102199003071234"             # an 18-digit resident ID number (check digit not even valid)
ID_X = "23010219900307123X"            # one ending in X
MOBILE = "13845678901"
API_SECRET = "Zq3vN8pLw2Xr7Tk5Hm9Bc4Df6Gj1Sa0E"
TOKEN = f"xyd_0123456789abcdef.{API_SECRET}"
SECRET_KEY = "sk-known-session-key-7c41e9"
METRICS_TOKEN = "mt-known-metrics-token-5d02aa"
KEY_PASSPHRASE = "kp-known-key-passphrase-91ce"
BACKUP_PASSPHRASE = "bp-known-backup-passphrase-3f7a"
PARTNER_TOKEN = "pt-some-other-configured-token-88"  # any XINYIDAI_*TOKEN variable counts as a secret
NEW_PASSWORD = "np-operator-password-6b1d"
PERSON = "张三丰"                      # a display name: never in the operations log
CREDIT_CODE = "91230100MA1B2C3D4E"      # an 18-character credit code with letters: not personal, kept


# ── in-process: the formatters ────────────────────────────────────────────────────────────────────────

def emit(formatter: logging.Formatter, act: Callable[[logging.Logger], None],
         request_id: str | None = None, principal: Principal | None = None) -> list[str]:
    """What `act` logs through `formatter`, line by line, optionally inside a request (in a context of its
    own, so nothing is left bound for other tests)."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(formatter)
    logger = logging.getLogger("xinyidai.test.logs")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)

    def run() -> None:
        if request_id:
            logs.begin_request(request_id)
            logs.set_principal(principal)
        act(logger)

    try:
        contextvars.copy_context().run(run)
    finally:
        logger.removeHandler(handler)
    return buf.getvalue().splitlines()


def json_events(lines: list[str]) -> list[dict]:
    return [json.loads(x) for x in lines]


def test_one_json_object_a_line_with_the_fields() -> None:
    fmt = JsonFormatter(node="CN-230000", redactor=Redactor())
    bank = Principal(0, "key:0123456789abcdef", "某银行（接口凭证）", "bank", "C10223011")
    lines = emit(fmt, lambda lg: lg.warning("delivery %s: %d rows\nsecond line", 7, 12, extra={"rows": 12}),
                 request_id="req-00000001", principal=bank)
    assert len(lines) == 1  # a newline inside the message stays escaped inside the one line
    (event,) = json_events(lines)
    assert event["message"] == "delivery 7: 12 rows\nsecond line"
    assert event["level"] == "WARNING" and event["logger"] == "xinyidai.test.logs"
    assert event["node"] == "CN-230000" and event["request_id"] == "req-00000001"
    assert event["principal"] == "inst:C10223011" and event["rows"] == 12
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", event["time"])
    user = Principal(5, "zhangsf", PERSON, "operator", None)
    (event,) = json_events(emit(fmt, lambda lg: lg.info("x"), request_id="req-00000002", principal=user))
    assert event["principal"] == "user:operator:5"  # no user name, no display name
    (event,) = json_events(emit(fmt, lambda lg: lg.info("outside a request")))
    assert event["request_id"] is None and event["principal"] is None and "exc" not in event


def _raise(message: str) -> None:
    raise ValueError(message)


def _log_exception(lg: logging.Logger, message: str) -> None:
    try:
        _raise(message)
    except ValueError:
        lg.exception("failed")


@pytest.mark.parametrize(("act", "needle"), [
    (lambda lg: lg.info(f"resident {ID} asked"), ID),
    (lambda lg: lg.info("resident %s asked", ID_X), ID_X),
    (lambda lg: lg.info("resident %s asked", ID_X.lower()), ID_X.lower()),
    (lambda lg: _log_exception(lg, f"no such person {ID}"), ID),
    (lambda lg: lg.info("done", extra={"who": ID}), ID),
    (lambda lg: lg.info("done", extra={"people": [{"id": ID}, ID_X]}), ID_X),
    (lambda lg: lg.info("done", extra={"phone": int(MOBILE)}), MOBILE),
    (lambda lg: lg.info("sms to %s", MOBILE), MOBILE),
    (lambda lg: lg.info("sms to +86 138-4567-8901"), "4567-8901"),
    (lambda lg: lg.info("sms to 86%s", MOBILE), MOBILE),
    (lambda lg: lg.info("refused X-Api-Key: %s", TOKEN), API_SECRET),
    (lambda lg: lg.info("refused %s", TOKEN), API_SECRET),
    (lambda lg: lg.info("header Authorization: Bearer abc.DEF-123_xyz"), "abc.DEF-123_xyz"),
    (lambda lg: lg.info('{"authorization": "Basic dXNlcjpwYXNzd29yZA=="}'), "dXNlcjpwYXNzd29yZA=="),
    (lambda lg: lg.info("login password=hunter2-abc&next=/"), "hunter2-abc"),
    (lambda lg: lg.info('body {"passphrase": "two words"}'), "two words"),
    (lambda lg: lg.info("form secret_key='s3 cr3t'"), "s3 cr3t"),
    (lambda lg: lg.info("口令：kouling-9"), "kouling-9"),
    (lambda lg: lg.info("db postgresql://xyd:pg-pass-77@db:5432/xyd"), "pg-pass-77"),
    (lambda lg: lg.info("done", extra={"password": "plain"}), "plain"),
    (lambda lg: lg.info("key is %s", SECRET_KEY), SECRET_KEY),
    (lambda lg: lg.info("done", extra={"detail": {"t": METRICS_TOKEN}}), METRICS_TOKEN),
    (lambda lg: _log_exception(lg, f"cannot unseal with {KEY_PASSPHRASE}"), KEY_PASSPHRASE),
])
def test_each_kind_is_masked_on_every_path(act: Callable[[logging.Logger], None], needle: str) -> None:
    redactor = Redactor()
    redactor.register([SECRET_KEY, METRICS_TOKEN, KEY_PASSPHRASE])
    for fmt in (JsonFormatter("CN-230000", redactor), TextFormatter("CN-230000", redactor)):
        lines = emit(fmt, act, request_id="req-00000003")
        text = "\n".join(lines)
        assert lines and needle not in text, text
        if isinstance(fmt, JsonFormatter):  # (the text format leaves `extra=` fields out)
            assert "[REDACTED" in text
            json_events(lines)  # still JSON


def test_ordinary_numbers_and_credit_codes_are_kept() -> None:
    redactor = Redactor()
    kept = [f"credit code {CREDIT_CODE}", "code 91230100MA1B2C3D4X in a path /entities/91230100MA1B2C3D4X",
            "amount 12345678.90 yuan, 1,234,567 fen", "on 2026-12-07 at 19:49:07.123", "ts 1765136947123",
            "card 6222021234567890123", "nineteen 1234567890123456789", "ip 192.168.100.200:8000",
            "request 7639b367d5ace523", "hash 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "twelve 138456789012", "landline 0451-86661234", "csrf token mismatch", "secret.key is 0600",
            "records 23010219900307 and 1384567890"]
    for text in kept:
        assert redactor.redact(text) == text
    # Eighteen digits, or seventeen and an X, are an ID number's shape: an all-digit credit code is masked
    # too (the rare cost of never missing an ID number).
    assert redactor.redact("code 912301001234567890") == "code [REDACTED:ID]"
    assert redactor.redact(f"身份证{ID}号") == "身份证[REDACTED:ID]号"


def test_text_format_is_for_people() -> None:
    fmt = TextFormatter("CN-230000", Redactor())
    (line,) = emit(fmt, lambda lg: lg.info("merged %d rows", 3))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO xinyidai\.test\.logs: merged 3 rows", line)
    (line,) = emit(fmt, lambda lg: lg.info("x"), request_id="req-00000004",
                   principal=Principal(3, "u", PERSON, "regulator", None))
    assert line.endswith(": x [req-00000004 user:regulator:3]")


def test_node_secrets_come_from_settings_env_and_the_key_file(tmp_path: Path) -> None:
    env = {"XINYIDAI_KEY_PASSPHRASE": KEY_PASSPHRASE, "XINYIDAI_BACKUP_PASSPHRASE": BACKUP_PASSPHRASE,
           "XINYIDAI_PARTNER_TOKEN": PARTNER_TOKEN, "XINYIDAI_NODE_CODE": "CN-230000"}
    s = load_settings(env={}, var_dir=tmp_path, metrics_token=METRICS_TOKEN,
                      database_url="postgresql+psycopg://xyd:pg-pass-77@db/xyd")
    (tmp_path / "secret.key").write_text(SECRET_KEY + "\n")
    found = logs.node_secrets(s, env)
    assert set(found) == {METRICS_TOKEN, KEY_PASSPHRASE, BACKUP_PASSPHRASE, PARTNER_TOKEN, SECRET_KEY, "pg-pass-77"}


# ── in-process: configure, the middleware and the paths that log ──────────────────────────────────

@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    names = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi", *logs.QUIET)
    saved = (root.handlers[:], root.level,
             {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).level, logging.getLogger(n).propagate)
              for n in names})
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    for n, (handlers, lvl, propagate) in saved[2].items():
        lg = logging.getLogger(n)
        lg.handlers[:] = handlers
        lg.setLevel(lvl)
        lg.propagate = propagate


def test_configure_installs_one_handler_and_routes_uvicorn(restore_logging: None, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    s = load_settings(env={}, var_dir=tmp_path, log_format="json", log_level="INFO", secret_key=SECRET_KEY)
    logs.configure(s)
    logs.configure(s)  # again (the CLI, then the app in the same process): still one handler
    root = logging.getLogger()
    assert sum(isinstance(h, logs.StderrHandler) for h in root.handlers) == 1
    logging.getLogger("uvicorn.error").info("Started server process with %s", SECRET_KEY)
    logging.getLogger("uvicorn.access").info('127.0.0.1 - "GET /x?q=%s HTTP/1.1" 200', MOBILE)
    logging.getLogger("httpx").info("HTTP Request: POST http://parent/api")
    logging.getLogger("xinyidai.test.logs").debug("not at INFO")
    events = json_events(capsys.readouterr().err.splitlines())
    assert [e["logger"] for e in events] == ["uvicorn.error"]  # uvicorn's access log is ours now; httpx quiet
    assert SECRET_KEY not in events[0]["message"]


@pytest.fixture
def logged_app(db: Database, tmp_path: Path, restore_logging: None) -> TestClient:
    settings = load_settings(env={}, var_dir=tmp_path / "var", database_url=db.url, log_format="json",
                             secret_key=SECRET_KEY, metrics_token=METRICS_TOKEN)
    logs.configure(settings)
    with db.session() as s:
        create_user(s, username="operator", display_name=PERSON, role="operator", password=NEW_PASSWORD)
    app = create_app(settings, db)

    @app.get("/boom/{code}")
    def boom(code: str) -> None:
        raise RuntimeError(f"lookup of {code} for {MOBILE} failed with key {SECRET_KEY}")

    return TestClient(app, raise_server_exceptions=False)


def test_requests_get_ids_and_one_access_event(logged_app: TestClient, capsys: pytest.CaptureFixture[str]) -> None:
    c = logged_app
    mine = c.get("/login", headers={"X-Request-Id": "client-req-0001"})
    assert mine.headers["x-request-id"] == "client-req-0001"
    for bad in ("short", "has space in it", ID, "x" * 65):  # malformed, or what the log would mask
        r = c.get("/login", headers={"X-Request-Id": bad})
        assert r.headers["x-request-id"] != bad and re.fullmatch(r"[0-9a-f]{16}", r.headers["x-request-id"])
    refused = c.post("/api/v1/access/authorizations", content=b"{}")  # refused before any route: no one named
    assert refused.status_code == 401 and refused.headers["x-request-id"]
    page = c.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    c.post("/login", data={"username": "operator", "password": NEW_PASSWORD, "csrf_token": csrf, "next": "/"},
           follow_redirects=False)
    search = c.get(f"/entities?q={MOBILE}")
    assert search.status_code == 200
    events = json_events(capsys.readouterr().err.splitlines())
    access = [e for e in events if e["logger"] == "xinyidai.access"]
    assert access[0]["request_id"] == "client-req-0001" and access[0]["path"] == "/login"
    by_id = {e["request_id"]: e for e in access}
    assert len(by_id) == len(access) == 9  # one event per request
    assert by_id[refused.headers["x-request-id"]]["status"] == 401
    found = by_id[search.headers["x-request-id"]]
    assert found["path"] == "/entities" and found["route"] == "/entities" and found["status"] == 200
    assert found["principal"] == "user:operator:1" and found["method"] == "GET" and found["client"]
    assert MOBILE not in json.dumps(events, ensure_ascii=False) and PERSON not in json.dumps(events)


def test_every_logging_path_masks(logged_app: TestClient, capsys: pytest.CaptureFixture[str]) -> None:
    # web/errors.py: an unhandled error is logged with its traceback, and answered with the request id.
    r = logged_app.get(f"/boom/{ID}")
    assert r.status_code == 500 and r.json()["error"] == "INTERNAL_ERROR"
    rid = r.headers["x-request-id"]
    # kit.chores: a failed round of a background chore.
    rounds: list[int] = []

    def work() -> None:
        rounds.append(1)
        raise OSError(f"cannot reach parent for {ID_X}, token={PARTNER_TOKEN}")

    async def one_failed_round() -> None:
        task = asyncio.create_task(chores.every(0.01, work, f"relay for {MOBILE}"))
        while not rounds:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        task.cancel()

    asyncio.run(one_failed_round())
    # kit.notify: the console notifier logs what it "texts".
    ConsoleNotifier().send(MOBILE, f"验证码 482913，身份证 {ID}", kind="registration")
    err = capsys.readouterr().err
    events = json_events(err.splitlines())
    failure = next(e for e in events if e["logger"] == "xinyidai.web.errors")
    assert failure["request_id"] == rid and failure["level"] == "ERROR" and "RuntimeError" in failure["exc"]
    assert "[REDACTED:ID]" in failure["message"] + failure["exc"]
    chore = next(e for e in events if e["logger"] == "xinyidai.kit.chores")
    assert "OSError" in chore["exc"] and chore["request_id"] is None
    note = next(e for e in events if e["logger"] == "xinyidai.kit.notify")
    assert "482913" in note["message"]  # the code itself is what a developer reads it for
    for needle in (ID, ID_X, MOBILE, SECRET_KEY, PARTNER_TOKEN):
        assert needle not in err


# ── the real thing: `xinyidai serve` ─────────────────────────────────────────────────────────────────

def node_env(root: Path, log_format: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XINYIDAI_")}
    env.update(XINYIDAI_VAR_DIR=str(root / "var"), XINYIDAI_DATABASE_URL=f"sqlite:///{root / 'node.db'}",
               XINYIDAI_LOG_FORMAT=log_format, XINYIDAI_SECRET_KEY=SECRET_KEY,
               XINYIDAI_METRICS_TOKEN=METRICS_TOKEN, XINYIDAI_KEY_PASSPHRASE=KEY_PASSPHRASE,
               XINYIDAI_BACKUP_PASSPHRASE=BACKUP_PASSPHRASE, XINYIDAI_PARTNER_TOKEN=PARTNER_TOKEN,
               XINYIDAI_NEW_PASSWORD=NEW_PASSWORD, XINYIDAI_NOTIFIER="console", PYTHONIOENCODING="utf-8")
    return env


def cli(env: dict[str, str], root: Path, *args: str) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "xinyidai", *args], env=env, cwd=root, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


class Served:
    """A `xinyidai serve` process; its stdout and stderr in files, read whole once it has stopped."""

    def __init__(self, root: Path, env: dict[str, str], workers: int = 1) -> None:
        self.root, self.port = root, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.out, self.err = open(root / "out.log", "wb"), open(root / "err.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-m", "xinyidai", "serve", "--port", str(self.port),
                                      "--workers", str(workers)], env=env, cwd=root, stdout=self.out,
                                     stderr=self.err, start_new_session=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        self.stop()
        raise AssertionError(f"serve did not start:\n{(root / 'err.log').read_text()[-3000:]}")

    def stop(self) -> tuple[str, str]:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.out.close()
        self.err.close()
        return ((self.root / "out.log").read_text(encoding="utf-8"),
                (self.root / "err.log").read_text(encoding="utf-8"))


@pytest.mark.slow
def test_a_served_node_logs_json_without_secrets_or_personal_data(tmp_path: Path) -> None:
    env = node_env(tmp_path, "json")
    cli(env, tmp_path, "db", "upgrade")
    cli(env, tmp_path, "user", "add", "operator", "--role", "operator", "--name", PERSON)
    node = Served(tmp_path, env, workers=2)  # spawned workers configure their logs from the dict too
    answered: list[httpx.Response] = []
    try:
        with httpx.Client(base_url=node.url, timeout=30, follow_redirects=True) as c:
            def login(username: str, password: str, request_id: str | None = None) -> httpx.Response:
                page = c.get("/login")
                csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
                headers = {"X-Request-Id": request_id} if request_id else {}
                return c.post("/login", data={"username": username, "password": password, "csrf_token": csrf,
                                              "next": "/"}, headers=headers)

            wrong = login("operator", f"wrong-{ID}", request_id="login-attempt-0001")
            assert wrong.status_code == 401 and wrong.headers["x-request-id"] == "login-attempt-0001"
            answered.append(wrong)
            answered.append(login(ID, MOBILE))
            assert login("operator", NEW_PASSWORD).status_code == 200  # redirected home, logged in
            answered.append(c.get("/entities", params={"q": MOBILE}))
            answered.append(c.get(f"/no-such/{ID}"))
            answered.append(c.get(f"/api/v1/access/entities/{CREDIT_CODE}/profile", headers={"X-Api-Key": TOKEN}))
            answered.append(c.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}))
            answered.append(c.get("/catalog", headers={"X-Request-Id": ID_X}))
    finally:
        out, err = node.stop()
    statuses = [r.status_code for r in answered]
    assert statuses == [401, 401, 200, 404, 401, 200, 200], statuses
    assert answered[-1].headers["x-request-id"] != ID_X  # an id the log would mask is replaced
    lines = [x for x in err.splitlines() if x.strip()]
    events = [json.loads(x) for x in lines]  # every line is one JSON event
    assert {"time", "level", "logger", "message", "node", "request_id", "principal"} <= set().union(*events)
    assert all(e["node"] == "CN-230000" for e in events)
    assert {e["message"] for e in events if e["logger"] == "uvicorn.error"} >= {"Application startup complete."}
    access = {e["request_id"]: e for e in events if e["logger"] == "xinyidai.access"}
    for r in answered[:-2] + answered[-1:]:  # /metrics answered fine is logged at DEBUG only
        event = access[r.headers["x-request-id"]]
        assert event["status"] == r.status_code and event["method"] in ("GET", "POST")
    assert access[answered[2].headers["x-request-id"]]["path"] == "/entities"  # the query left out
    assert access[answered[2].headers["x-request-id"]]["principal"] == "user:operator:1"
    assert access[answered[3].headers["x-request-id"]]["path"] == "/no-such/[REDACTED:ID]"
    assert access[answered[4].headers["x-request-id"]]["route"] == "/api/v1/access/entities/{code}/profile"
    for needle in (ID, ID_X, MOBILE, API_SECRET, SECRET_KEY, METRICS_TOKEN, KEY_PASSPHRASE, BACKUP_PASSPHRASE,
                   PARTNER_TOKEN, NEW_PASSWORD, PERSON):
        assert needle not in err and needle not in out, needle


@pytest.mark.slow
def test_text_format_on_request(tmp_path: Path) -> None:
    env = node_env(tmp_path, "text")
    cli(env, tmp_path, "db", "upgrade")
    node = Served(tmp_path, env)
    try:
        r = httpx.get(node.url + f"/no-such/{ID}", timeout=30)
    finally:
        _, err = node.stop()
    lines = [x for x in err.splitlines() if x.strip()]
    shape = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR) [\w.]+: .+")
    assert lines and all(shape.fullmatch(x) for x in lines), lines
    assert any("xinyidai.access: GET /no-such/[REDACTED:ID] 404 " in x and r.headers["x-request-id"] in x
               for x in lines)
    assert ID not in err

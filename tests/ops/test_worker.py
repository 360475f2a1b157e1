"""`xinyidai worker` with XINYIDAI_BACKGROUND=worker: the web process runs no background work, the worker runs
it with no HTTP server, and stops cleanly on SIGTERM; the systemd units that run both verify.

The chore observed is the relay's poll of the parent in pull mode (`network.pull`): every relay round asks
the parent `GET /api/v1/network/pull`. The parent here is a small HTTP server of the test's own that
describes itself as a national node and counts the polls."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.network.nodes import Node, wait_for
from xinyidai.app import create_app
from xinyidai.config import load_settings
from xinyidai.kit.crypto import get_suite
from xinyidai.kit.db import Database

ROOT = Path(__file__).resolve().parents[2]
UNITS = ("xinyidai-web.service", "xinyidai-worker.service")


class Parent(ThreadingHTTPServer):
    """A stand-in national node: its identity at /api/v1/network/node, nothing to hand out on a pull."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        identity = get_suite("intl").generate_identity()
        self.info = {"code": "CN", "name": "全国平台（测试）", "role": "national", "suite": "intl",
                     "key_id": identity.key_id, "public_key": identity.public_bundle(), "endpoint": self.url}
        self.polls = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Parent

    def do_GET(self) -> None:  # noqa: N802 - the http.server interface
        if self.path == "/api/v1/network/node":
            self._json(self.server.info)
        elif self.path == "/api/v1/network/pull":
            self.server.polls += 1
            self._json({"envelopes": []})
        else:
            self.send_error(404)

    def _json(self, doc: object) -> None:
        body = json.dumps(doc, ensure_ascii=False).encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class WorkerNode(Node):
    background: str = "worker"

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, "XINYIDAI_BACKGROUND": self.background}

    def worker(self) -> subprocess.Popen:
        log = open(self.root / "worker.log", "ab")  # noqa: SIM115 - the process owns it
        return subprocess.Popen([sys.executable, "-m", "xinyidai", "worker"], env=self.env, cwd=self.root,
                                stdout=log, stderr=log, start_new_session=True)


@pytest.fixture
def parent() -> Iterator[Parent]:
    server = Parent()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _steady(parent: Parent, seconds: float) -> int:
    """The polls counted over `seconds` (many relay rounds at the node's 0.3 s)."""
    before = parent.polls
    time.sleep(seconds)
    return parent.polls - before


def test_background_work_runs_in_the_worker_only(tmp_path: Path, parent: Parent) -> None:
    node = WorkerNode("CN-230000", "provincial", "黑龙江省融资信用服务平台", tmp_path / "node")
    node.root.mkdir(parents=True)
    # With a parent, `node init` also migrates the database.
    node.cli("node", "init", "--role", "provincial", "--code", "CN-230000", "--name", node.name,
             "--public-url", node.url, "--mode", "pull", "--parent", parent.url)
    worker = node.worker()  # started beside the web process: their start-ups overlap
    try:
        node.start()
        wait_for(lambda: parent.polls >= 3, timeout=30, interval=0.1)
        os.killpg(worker.pid, signal.SIGTERM)
        assert worker.wait(timeout=15) == 0
        log = (node.root / "worker.log").read_text(encoding="utf-8", errors="replace")
        assert "worker stopped" in log, log[-3000:]
        # The web process alone, with background = worker: up and answering, and no relay round of its own.
        assert _steady(parent, 2.0) == 0, "the web process polled the parent with background = worker"
        assert httpx.get(node.url + "/healthz", timeout=5).status_code == 200
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        node.kill()


@pytest.mark.parametrize("background", ["inline", "worker"])
def test_the_web_lifespan_starts_the_relay_only_inline(background: str, db: Database, tmp_path: Path) -> None:
    """In process: the relay thread runs with the app when inline, not at all with a worker; and it is
    stopped and joined when the app stops."""
    settings = load_settings(env={}, var_dir=tmp_path / "var", database_url=db.url, background=background)
    with TestClient(create_app(settings, db)) as c:
        assert c.get("/livez").status_code == 200
        assert _relay_alive() == (background == "inline")
    assert not _relay_alive()


def _relay_alive() -> bool:
    return any(t.name in ("relay", "relay-send") and t.is_alive() for t in threading.enumerate())


def test_the_worker_refuses_to_double_an_inline_node(tmp_path: Path) -> None:
    node = WorkerNode("CN-230000", "provincial", "黑龙江省融资信用服务平台", tmp_path / "node")
    node.background = "inline"
    node.root.mkdir(parents=True)
    r = node.cli("worker", check=False)
    assert r.returncode == 2 and "BACKGROUND_INLINE" in r.stderr



@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_systemd_units_verify(tmp_path: Path) -> None:
    """`systemd-analyze verify` on the units, with the command pointed at this checkout's (it checks that
    what ExecStart names is executable); any complaint about them fails, not only an error."""
    here = Path(sys.executable).parent / "xinyidai"
    for unit in UNITS:
        text = (ROOT / "deploy" / "systemd" / unit).read_text(encoding="utf-8")
        assert "/opt/xinyidai/.venv/bin/xinyidai" in text
        (tmp_path / unit).write_text(text.replace("/opt/xinyidai/.venv/bin/xinyidai", str(here)), encoding="utf-8")
    r = subprocess.run(["systemd-analyze", "verify", *(str(tmp_path / u) for u in UNITS)], capture_output=True,
                       text=True, timeout=60)
    ours = [ln for ln in (r.stdout + r.stderr).splitlines() if "xinyidai" in ln]
    assert r.returncode == 0 and ours == [], r.stdout + r.stderr
    web, worker = ((tmp_path / u).read_text(encoding="utf-8") for u in UNITS)
    assert "ExecStartPre=" in web and "ExecStartPre=" not in worker  # migrations in the web unit only
    assert f"ExecStart={here} worker" in worker
    for text in (web, worker):
        for line in ("User=xinyidai", "EnvironmentFile=/etc/xinyidai/xinyidai.env", "NoNewPrivileges=yes",
                     "ProtectSystem=strict", "ReadWritePaths=/var/lib/xinyidai", "PrivateTmp=yes",
                     "Restart=on-failure"):
            assert line in text.splitlines(), line

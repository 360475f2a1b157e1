"""Fixtures for the browser tests: a live server on a demo province, and Debian's Chromium through Playwright.

Every test in this directory is marked ``e2e``. Without /usr/bin/chromium they are skipped on a developer's
machine, and fail in CI (CI set), where a missing browser is an error.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CHROMIUM = Path("/usr/bin/chromium")
NO_CHROMIUM = "需要 Debian 的 chromium（apt-get install chromium）；CI 会安装"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # This machine's network is closed: without these Chromium keeps dialling out and logging refusals.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
DEMO_ENTITIES = 1500
DEMO_SEED = 7
SERVER_START_TIMEOUT = 30.0
COMMAND_TIMEOUT = 900


def _in_ci() -> bool:
    return bool(os.environ.get("CI"))


def _in_this_dir(item: pytest.Item) -> bool:
    try:
        Path(str(item.path)).resolve().relative_to(HERE)
    except ValueError:
        return False
    return True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # This hook sees every collected item of the session, not only ours: touch only tests/e2e.
    missing = not CHROMIUM.exists()
    for item in items:
        if not _in_this_dir(item):
            continue
        item.add_marker(pytest.mark.e2e)
        if missing and not _in_ci():
            item.add_marker(pytest.mark.skip(reason=NO_CHROMIUM))


@pytest.fixture(scope="session", autouse=True)
def _require_chromium() -> None:
    """Set up before the (slow) live server and the browser: session-scoped autouse fixtures come first."""
    if not CHROMIUM.exists():
        if _in_ci():
            pytest.fail(f"CI 环境缺少 {CHROMIUM}：{NO_CHROMIUM}", pytrace=False)
        pytest.skip(NO_CHROMIUM)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


# ---------------------------------------------------------------------------------------------- live server


@dataclass
class LiveServer:
    url: str
    var_dir: Path
    env: dict[str, str] = field(repr=False)
    log_path: Path
    process: subprocess.Popen = field(repr=False)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_cli(args: list[str], env: dict[str, str], cwd: Path) -> None:
    cmd = [sys.executable, "-m", "xinyidai", *args]
    problem = ""
    try:
        done = subprocess.run(
            cmd, env=env, cwd=cwd, capture_output=True, text=True, check=True, timeout=COMMAND_TIMEOUT
        )
    except subprocess.CalledProcessError as exc:
        problem = f"命令失败（退出码 {exc.returncode}）：{' '.join(cmd)}\n"
        out, err = exc.stdout, exc.stderr
    except subprocess.TimeoutExpired as exc:
        problem = f"命令超时（{COMMAND_TIMEOUT} 秒）：{' '.join(cmd)}\n"
        out, err = exc.stdout, exc.stderr
    if problem:
        out, err = (x.decode(errors="replace") if isinstance(x, bytes) else (x or "") for x in (out, err))
        pytest.fail(f"{problem}--- stdout ---\n{out}\n--- stderr ---\n{err}", pytrace=False)
    if done.stderr.strip():
        sys.stderr.write(done.stderr)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()  # SIGTERM
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def _wait_healthy(url: str, proc: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    last_error = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _stop(proc)
            pytest.fail(
                f"服务进程已退出（退出码 {proc.returncode}），日志：\n{log_path.read_text(errors='replace')}",
                pytrace=False,
            )
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return
                last_error = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            last_error = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last_error = str(exc)
        time.sleep(0.2)
    _stop(proc)
    pytest.fail(
        f"服务在 {SERVER_START_TIMEOUT:.0f} 秒内未就绪（{url}/healthz：{last_error}），日志：\n"
        f"{log_path.read_text(errors='replace')}",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A demo province (synthetic, seed 7) on SQLite, served on a free loopback port for the whole session."""
    var_dir = tmp_path_factory.mktemp("e2e-var")
    env = dict(os.environ)
    env["XINYIDAI_VAR_DIR"] = str(var_dir)
    env["XINYIDAI_DATABASE_URL"] = f"sqlite:///{var_dir}/e2e.db"
    env["PYTHONUNBUFFERED"] = "1"
    # Run from the var dir so that no xinyidai.toml lying in the checkout is picked up.
    _run_cli(["db", "upgrade"], env, var_dir)
    _run_cli(["demo", "--entities", str(DEMO_ENTITIES), "--seed", str(DEMO_SEED), "--reset"], env, var_dir)

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = var_dir / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "xinyidai", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=var_dir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_healthy(url, proc, log_path)
        yield LiveServer(url=url, var_dir=var_dir, env=env, log_path=log_path, process=proc)
    finally:
        _stop(proc)


# ---------------------------------------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        pw.stop()


def _safe_name(name: str) -> str:
    return re.sub(r"[^\w.\-]+", "_", name).strip("_") or "page"


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: the session's pytest temporary folder, never the checkout."""
    folder = tmp_path_factory.getbasetemp() / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(browser, request: pytest.FixtureRequest, screenshots: Path) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
    context.set_default_timeout(30_000)
    context.set_default_navigation_timeout(30_000)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    try:
        yield pg
    finally:
        failed = any(
            getattr(getattr(request.node, f"rep_{when}", None), "failed", False) for when in ("setup", "call")
        )
        if failed:
            target = screenshots / f"FAILED-{_safe_name(request.node.name)}.png"
            try:
                pg.screenshot(path=str(target), full_page=True)
                sys.stderr.write(f"\n失败截图：{target}\n")
            except Exception as exc:  # the page may already be gone; the test's own error matters more
                sys.stderr.write(f"\n失败截图未能保存（{exc}）\n")
        context.close()


@pytest.fixture
def screenshot(screenshots: Path) -> Callable[[object, str], Path]:
    """``screenshot(page, name)`` saves a full-page PNG as <name>.png in the screenshots folder, returns its path."""

    def _shot(pg, name: str) -> Path:
        target = screenshots / f"{_safe_name(name)}.png"
        pg.screenshot(path=str(target), full_page=True)
        return target

    return _shot

"""deploy/nginx/xinyidai.conf in front of a real node: Debian's nginx on loopback with a self-signed
certificate, the node a `xinyidai serve` process that trusts forwarded headers from its configured proxies
(127.0.0.1, where nginx is, and 127.0.0.4) only.

Which address the node saw is read where the node keeps it: a failed log-in is counted per username and
client address in `login_failures` (accounts.users), so each attempt below uses a username of its own."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.network.nodes import Node, free_port

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "deploy" / "nginx" / "xinyidai.conf"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)

FORGED = "203.0.113.9"  # TEST-NET-3: what a client claims in X-Forwarded-For


@dataclass
class Front:
    node: Node
    http: int
    https: int
    ca: Path

    def client(self, source: str = "127.0.0.2") -> httpx.Client:
        """A client connecting from `source` to nginx over HTTPS, trusting the test's certificate."""
        transport = httpx.HTTPTransport(local_address=source, verify=ssl.create_default_context(cafile=self.ca))
        return httpx.Client(transport=transport, base_url=f"https://localhost:{self.https}", timeout=10)

    def failed_from(self, username: str) -> list[str]:
        """The client addresses the node counted failed log-ins of `username` by."""
        from sqlalchemy import text

        db = self.node.db()
        try:
            with db.engine.connect() as conn:
                return [r[0] for r in conn.execute(text("SELECT client FROM login_failures WHERE username = :u"),
                                                   {"u": username})]
        finally:
            db.dispose()


def _certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    crt, pem = folder / "cert.pem", folder / "key.pem"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return crt, pem


def render(conf: str, *, http: int, https: int, upstream: int, cert: Path, key: Path) -> str:
    """The shipped file with what differs here: loopback ports (no IPv6 needed), the node's port, the
    certificate. Each replaced text must be in the file, so a changed file fails here rather than drift."""
    subs = [("listen 80;", f"listen 127.0.0.1:{http};"), ("listen [::]:80;", ""),
            ("listen 443 ssl http2;", f"listen 127.0.0.1:{https} ssl http2;"), ("listen [::]:443 ssl http2;", ""),
            ("server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream};"),
            ("/etc/ssl/xinyidai/fullchain.pem", str(cert)), ("/etc/ssl/xinyidai/privkey.pem", str(key))]
    for old, new in subs:
        assert old in conf, f"{old!r} is no longer in {CONF.name}"
        conf = conf.replace(old, new)
    return conf


def _main_conf(prefix: Path) -> str:
    """The nginx.conf around it, with every path nginx writes inside the test's folder (no root needed);
    as root, workers would drop to `nobody`, who cannot enter pytest's 0700 folders, so they stay root."""
    user = "user root;\n" if os.geteuid() == 0 else ""
    temps = "".join(f"    {kind}_temp_path {prefix / kind};\n"
                    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (f"{user}worker_processes 1;\npid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'} info;\n"
            f"events {{ worker_connections 64; }}\nhttp {{\n    include /etc/nginx/mime.types;\n"
            f"    access_log {prefix / 'access.log'};\n{temps}    include {prefix / 'xinyidai.conf'};\n}}\n")


def _wait_port(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"nginx exited:\n{log.read_text(errors='replace')[-3000:]}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nginx did not listen on {port}")


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    if NGINX is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is required in CI (the Debian package nginx)")
        pytest.skip("nginx is not installed")
    root = tmp_path_factory.mktemp("nginx-node")
    node = Node("CN-230000", "provincial", "黑龙江省融资信用服务平台", root / "node")
    node.root.mkdir(parents=True)
    # nginx on this host, and a second proxy at 127.0.0.4 (beyond uvicorn's own default, to show the setting
    # is what the node goes by).
    (node.root / "xinyidai.toml").write_text('[xinyidai]\ntrusted_proxies = "127.0.0.1, 127.0.0.4"\n',
                                             encoding="utf-8")
    node.cli("db", "upgrade")
    prefix = root / "nginx"
    prefix.mkdir()
    cert, key = _certificate(prefix)
    http, https = free_port(), free_port()
    (prefix / "xinyidai.conf").write_text(render(CONF.read_text(encoding="utf-8"), http=http, https=https,
                                                 upstream=node.port, cert=cert, key=key), encoding="utf-8")
    (prefix / "nginx.conf").write_text(_main_conf(prefix), encoding="utf-8")
    args = [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log")]
    checked = subprocess.run([*args, "-t"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, f"nginx -t:\n{checked.stderr}"
    node.start()
    proc = subprocess.Popen([*args, "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(https, proc, prefix / "error.log")
        yield Front(node, http, https, cert)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        node.kill()


def _fail_login(c: httpx.Client, username: str, **headers: str) -> httpx.Response:
    page = c.get("/login", headers=headers)
    assert page.status_code == 200, page.text[:500]
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    return c.post("/login", data={"username": username, "password": "wrong-password-1", "csrf_token": token,
                                  "next": "/"}, headers=headers)


def test_the_node_sees_the_real_client_through_nginx(front: Front) -> None:
    with front.client("127.0.0.2") as c:
        r = c.get("/livez")
        assert r.status_code == 200
        assert r.headers["strict-transport-security"].startswith("max-age=")
        # The client's own X-Forwarded-For is kept, but nginx appends the address it saw, and the node takes
        # the last hop that is not a trusted proxy: 127.0.0.2, not what the client claimed.
        assert _fail_login(c, "via-nginx", **{"X-Forwarded-For": FORGED}).status_code == 401
    assert front.failed_from("via-nginx") == ["127.0.0.2"]


def test_a_direct_request_from_an_untrusted_address_is_taken_at_its_socket(front: Front) -> None:
    transport = httpx.HTTPTransport(local_address="127.0.0.3")
    with httpx.Client(transport=transport, base_url=front.node.url, timeout=10) as c:
        assert _fail_login(c, "direct-forged", **{"X-Forwarded-For": FORGED}).status_code == 401
        # /metrics answers loopback clients only: a believed header would have made this one 203.0.113.9.
        assert c.get("/metrics", headers={"X-Forwarded-For": FORGED}).status_code == 200
    assert front.failed_from("direct-forged") == ["127.0.0.3"]


def test_a_configured_proxy_is_believed(front: Front) -> None:
    transport = httpx.HTTPTransport(local_address="127.0.0.4")
    with httpx.Client(transport=transport, base_url=front.node.url, timeout=10) as c:
        assert _fail_login(c, "second-proxy", **{"X-Forwarded-For": FORGED}).status_code == 401
    assert front.failed_from("second-proxy") == [FORGED]


def test_metrics_are_closed_at_the_proxy(front: Front) -> None:
    with front.client() as c:
        r = c.get("/metrics")
    assert r.status_code == 403 and "nginx" in r.text  # refused by nginx itself, the node never asked


def test_a_body_over_the_limit_is_refused_by_nginx_in_the_nodes_shape(front: Front) -> None:
    with front.client() as c:
        over = c.post("/api/v1/claims", content=b"[" + b" " * ((1 << 20) - 1) + b"]",
                      headers={"Content-Type": "application/json"})
        assert over.status_code == 413
        assert over.json() == {"error": "PAYLOAD_TOO_LARGE", "message": "请求内容超过上限，请缩小后重试",
                               "detail": None}  # nginx's page (the node's would name the limit)
        # Exactly at the limit, on a route open to anyone: it reaches the node, which takes it.
        at = c.post("/api/v1/network/receipts", content=b"[" + b" " * ((1 << 20) - 2) + b"]",
                    headers={"Content-Type": "application/json"})
        assert at.status_code not in (413, 502) and "error" not in at.text[:200], at.text[:500]


def test_nginx_limits_are_the_nodes_to_the_byte() -> None:
    """Every body rule of the node (app.body_rules) has its location in the file with the same limit, or is
    the server's default; a rule changed on one side only fails here."""
    from xinyidai.app import body_rules
    from xinyidai.config import Settings

    conf = CONF.read_text(encoding="utf-8")
    default = _bytes(re.search(r"^    client_max_body_size (\S+);", conf, re.M).group(1))  # type: ignore[union-attr]
    limits = {m[0]: _bytes(m[1]) for m in
              re.findall(r"location (/\S*) \{[^}]*?client_max_body_size (\S+);", conf)}
    for rule in body_rules(Settings()):
        assert limits.get(rule.prefix, default) == rule.max_bytes, rule


def _bytes(size: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    return int(size[:-1]) * units[size[-1].lower()] if size[-1].lower() in units else int(size)


def test_plain_http_redirects_to_https(front: Front) -> None:
    r = httpx.get(f"http://127.0.0.1:{front.http}/livez?x=1", headers={"Host": "xinyidai.example.gov.cn"})
    assert r.status_code == 301
    assert r.headers["location"] == "https://xinyidai.example.gov.cn/livez?x=1"


def test_static_files_are_compressed_and_cached(front: Front) -> None:
    with front.client() as c:
        r = c.get("/static/app.css", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers.get("content-encoding") == "gzip"
    assert "max-age=3600" in r.headers["cache-control"]


def test_a_body_from_a_caller_who_names_no_one_gets_the_nodes_refusal_not_a_reset(front: Front) -> None:
    """The node refuses such a body before parsing it. Were it to answer with the body unread, the kernel
    would reset the connection under nginx, still sending, and the client would see 502 (web/limits.py)."""
    with front.client() as c:
        for size in (64 << 10, 512 << 10, (1 << 20) - 2, 900 << 10, 256 << 10):
            r = c.post("/api/v1/claims", content=b"[" + b" " * size + b"]",
                       headers={"Content-Type": "application/json"})
            assert r.status_code == 401, (size, r.text[:300])  # nginx's 502 page when the node reset it
            assert r.json()["error"] == "UNAUTHENTICATED"

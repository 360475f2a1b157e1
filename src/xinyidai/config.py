"""Node configuration: environment variables (XINYIDAI_*) over an optional xinyidai.toml over defaults.

Secrets (the session key) are never read from the repository: when none is configured, one is generated
into the node's var directory with owner-only permissions.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from xinyidai.kit.notify import NOTIFIERS

ROLES = ("national", "provincial", "municipal")
SUITES = ("sm", "intl")
LOG_FORMATS = ("auto", "text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
BACKGROUND = ("inline", "worker")
NODE_FILE_KEYS = ("node_code", "node_role", "node_name", "crypto_suite", "public_url", "parent_url", "parent_mode")


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message says which and why (in Chinese)."""


def _doc(default: Any, doc: str, shown: str = "", **kw: Any) -> Any:
    """A setting with its one-line meaning for the configuration reference (`xinyidai config reference`);
    `shown` replaces the default where the empty value stands for something computed."""
    return field(default=default, metadata={"doc": doc, "shown": shown}, **kw)


@dataclass(frozen=True)
class Settings:
    var_dir: Path = _doc(Path("var"), "data folder 数据目录: the SQLite file, keys, uploads, secret.key")
    database_url: str = _doc("", "database URL; PostgreSQL in production (password via ~/.pgpass or PGPASSWORD)",
                             "`sqlite:///$XINYIDAI_VAR_DIR/xinyidai.db`")
    node_code: str = _doc("CN-230000", "node code 节点代码 (`CN`, `CN-230000`, `CN-230100`); node init writes it")
    node_role: str = _doc("provincial", "node role: national / provincial / municipal")
    node_name: str = _doc("黑龙江省融资信用服务平台", "platform name 平台名称 shown on the pages")
    crypto_suite: str = _doc("sm", "crypto suite 密码套件: `sm` (SM2/SM3/SM4) or `intl` (Ed25519/SHA-256/AES-GCM)")
    catalog_path: Path | None = _doc(None, "own information catalogue 信息清单 (YAML)", "the shipped 17-category list")
    session_ttl_minutes: int = _doc(120, "minutes a log-in session lasts")
    # A delivery whose share of rejected rows exceeds this is rejected whole (nothing of it is stored).
    reject_threshold: float = _doc(0.2, "share of rejected rows above which a delivery is rejected whole (0–1)")
    max_upload_mb: int = _doc(512, "largest delivery file accepted, in MB (the proxy's body limit must match)")
    delivery_stall_minutes: int = _doc(  # a delivery 'processing' without progress this long is marked failed
        30, "minutes without progress before a delivery 处理中 is marked failed")
    # Where one-time codes go: "file" (var/notifications.log, the default) or "console" (the log).
    notifier: str = _doc("file", "where one-time codes go: `file` (var/notifications.log) or `console`")
    # The node network: the address other nodes reach this one at, and how it talks to its parent.
    public_url: str = _doc("", "the address other nodes reach this one at", "none")
    parent_url: str = _doc("", "the parent node's address 上级节点", "none (the national node)")
    parent_mode: str = _doc(  # push (HTTP both ways), pull (behind a firewall: this node polls), file
        "push", "exchange with the parent: `push`, `pull` (behind a firewall: this node polls) or `file`")
    network_interval_s: float = _doc(1.0, "seconds between relay rounds when idle")
    # How long an approved security assessment of a child node holds before it must be re-assessed (point 10).
    assessment_valid_days: int = _doc(365, "days a child node's approved security assessment holds (31–3660)")
    # Bearer token for GET /metrics from off this host (loopback needs none); never logged.
    metrics_token: str = _doc("", "bearer token for `/metrics` from off the host (loopback needs none)", "none",
                              repr=False)
    # Logs: "text" for a terminal, "json" (one event a line) for a log platform, "auto": text on a TTY else json.
    log_format: str = _doc("auto", "logs: `text`, `json` (one event a line) or `auto` (text on a terminal)")
    log_level: str = _doc("INFO", "log level: DEBUG / INFO / WARNING / ERROR")
    # Addresses of reverse proxies whose X-Forwarded-For / -Proto is believed (comma-separated IPs or CIDRs);
    # a request from anywhere else is taken at its socket address.
    trusted_proxies: str = _doc("127.0.0.1", "reverse proxies whose X-Forwarded-For/-Proto is believed: "
                                "comma-separated IPs or CIDRs, `*` for any")
    # Where background chores (relay, deadlines, evaluations, reports) run: "inline" in each web process, or
    # "worker" in a separate `xinyidai worker` process (then web processes run none).
    background: str = _doc("inline", "where the relay and chores run: `inline` (each web process) or `worker` "
                           "(the worker process only)")
    # After `xinyidai node rotate-key`, how long peers accept the old key beside the new one.
    key_overlap_hours: int = _doc(168, "hours peers accept the old key after a key rotation (1–2160)")
    secret_key: str = _doc("", "session-signing secret", "generated into $XINYIDAI_VAR_DIR/secret.key (0600)",
                           repr=False)

    def __post_init__(self) -> None:
        if self.node_role not in ROLES:
            raise ConfigError(f"节点角色 node_role 必须是 {'/'.join(ROLES)} 之一，当前为 {self.node_role!r}")
        if self.crypto_suite not in SUITES:
            raise ConfigError(f"密码套件 crypto_suite 必须是 {'/'.join(SUITES)} 之一，当前为 {self.crypto_suite!r}")
        if self.notifier not in NOTIFIERS:
            raise ConfigError(f"通知方式 notifier 必须是 {'/'.join(NOTIFIERS)} 之一，当前为 {self.notifier!r}")
        if self.log_format not in LOG_FORMATS:
            raise ConfigError(f"日志格式 log_format 必须是 {'/'.join(LOG_FORMATS)} 之一，当前为 {self.log_format!r}")
        if self.log_level.upper() not in LOG_LEVELS:
            raise ConfigError(f"日志级别 log_level 必须是 {'/'.join(LOG_LEVELS)} 之一，当前为 {self.log_level!r}")
        if self.background not in BACKGROUND:
            raise ConfigError(f"后台任务 background 必须是 {'/'.join(BACKGROUND)} 之一，当前为 {self.background!r}")
        if not 1 <= self.key_overlap_hours <= 24 * 90:
            raise ConfigError("密钥轮换重叠期 key_overlap_hours 应在 1 至 2160 小时之间")
        if not 0.0 <= self.reject_threshold <= 1.0:
            raise ConfigError("拒收阈值 reject_threshold 必须在 0 与 1 之间")
        if not 31 <= self.assessment_valid_days <= 3660:
            raise ConfigError("安全评估有效期 assessment_valid_days 应在 31 至 3660 天之间")
        check_proxies(self.trusted_proxies)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.var_dir / 'xinyidai.db').resolve()}"

    def ensure_secret_key(self) -> str:
        """The configured key, else one kept in var/secret.key (created 0600 on first use)."""
        if self.secret_key:
            return self.secret_key
        path = self.var_dir / "secret.key"
        if not path.exists():
            self.var_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
        return path.read_text().strip()


def check_proxies(value: str) -> str:
    """The trusted proxies, normalised for uvicorn's ProxyHeadersMiddleware (0.54 takes IPs, CIDR networks
    whose host bits are zero, or `*` alone). It takes anything else — a host name, a typo, `10.0.0.1/8` — for
    a literal that no socket address ever equals, silently trusting no one; refuse it here instead."""
    items = [item.strip() for item in value.split(",") if item.strip()]
    if items == ["*"]:
        return "*"
    for item in items:
        try:
            ipaddress.ip_network(item) if "/" in item else ipaddress.ip_address(item)
        except ValueError:
            raise ConfigError(f"受信代理 trusted_proxies 中的 {item!r} 不是 IP 地址或网段（CIDR，主机位为零，"
                              "如 10.0.0.0/8）；多个用逗号分隔，\"*\" 表示信任任何来源且只能单独使用") from None
    return ",".join(items)


def _coerce(name: str, raw: Any) -> Any:
    kinds = {f.name: f.type for f in fields(Settings)}
    kind = str(kinds[name])
    try:
        if "Path" in kind:
            return Path(raw) if raw not in (None, "") else None
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        return str(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"配置项 {name} 的值 {raw!r} 格式不正确") from exc


def load_settings(config_file: Path | None = None, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from defaults, then the TOML file, then XINYIDAI_* variables, then overrides."""
    env = dict(os.environ) if env is None else env
    values: dict[str, Any] = {}
    path = config_file or (Path(env["XINYIDAI_CONFIG"]) if env.get("XINYIDAI_CONFIG") else Path("xinyidai.toml"))
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"配置文件 {path} 无法解析：{exc}") from exc
        section = data.get("xinyidai", data)
        known = {f.name for f in fields(Settings)}
        unknown = sorted(set(section) - known)
        if unknown:
            raise ConfigError(f"配置文件 {path} 含未知配置项：{', '.join(unknown)}")
        values.update({k: _coerce(k, v) for k, v in section.items()})
    # `xinyidai node init` writes the node's identity facts into var/node.toml; explicit settings win.
    var_dir = Path(env.get("XINYIDAI_VAR_DIR") or overrides.get("var_dir") or values.get("var_dir") or "var")
    node_file = var_dir / "node.toml"
    if node_file.exists():
        try:
            node_values = tomllib.loads(node_file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"节点文件 {node_file} 无法解析：{exc}") from exc
        for k, v in node_values.items():
            if k in NODE_FILE_KEYS and k not in values:
                values[k] = _coerce(k, v)
    for f in fields(Settings):
        key = f"XINYIDAI_{f.name.upper()}"
        if env.get(key):
            values[f.name] = _coerce(f.name, env[key])
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)

"""The configuration reference never drifts: the README's table is the generated one, every `XINYIDAI_*` name
the code reads is in it (and nothing it lists is read nowhere), and the deployment files use only those
names. Also the check of `trusted_proxies`, whose mistakes uvicorn would otherwise swallow."""

from __future__ import annotations

import re
import shlex
from dataclasses import fields
from pathlib import Path

import pytest
from typer.testing import CliRunner

import xinyidai
from xinyidai.cli import app
from xinyidai.config import ConfigError, Settings, check_proxies, load_settings
from xinyidai.ops import configref

ROOT = Path(__file__).resolve().parents[2]
SRC = Path(xinyidai.__file__).resolve().parent
README = ROOT / "README.md"
DEPLOY = ROOT / "deploy"
NAME = re.compile(r"XINYIDAI_[A-Z][A-Z_]*")


def _names_in(paths: list[Path]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in paths:
        for name in NAME.findall(path.read_text(encoding="utf-8")):
            found.setdefault(name.rstrip("_"), []).append(str(path.relative_to(ROOT)))
    return found


def test_the_readme_carries_the_generated_table() -> None:
    text = README.read_text(encoding="utf-8")
    block = configref.readme_block(text)
    assert block is not None, f"the README has no {configref.START} … {configref.END} block"
    assert block == configref.render(), (
        "README's configuration table differs from the settings: paste the output of "
        "`.venv/bin/python -m xinyidai config reference` between the markers")


def test_every_variable_the_code_reads_is_in_the_reference() -> None:
    read = _names_in(sorted(SRC.rglob("*.py")))
    missing = {n: where for n, where in read.items() if n not in configref.names()}
    assert missing == {}, "variables read in src/ but absent from the reference (ops/configref.py ENV_ONLY)"


def test_the_reference_lists_nothing_the_code_does_not_read() -> None:
    code = "\n".join(p.read_text(encoding="utf-8") for p in SRC.rglob("*.py") if p.name != "configref.py")
    stale = [n for n in configref.ENV_ONLY if n not in code]
    assert stale == []


def test_every_setting_has_a_meaning_and_a_variable() -> None:
    rows = configref.rows()
    assert len({name for name, _, _ in rows}) == len(rows)
    assert all(doc and default for _, default, doc in rows)
    assert {f"XINYIDAI_{f.name.upper()}" for f in fields(Settings)} <= configref.names()


def test_config_reference_command_prints_the_table() -> None:
    r = CliRunner().invoke(app, ["config", "reference"])
    assert r.exit_code == 0 and r.output == configref.render()


def test_deployment_files_use_only_known_variables() -> None:
    files = [p for p in DEPLOY.rglob("*") if p.is_file()]
    unknown = {n: where for n, where in _names_in(files).items() if n not in configref.names()}
    assert unknown == {}


def test_the_example_environment_file_loads() -> None:
    env: dict[str, str] = {}
    for line in (DEPLOY / "systemd" / "xinyidai.env.example").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            assert re.fullmatch(r"[A-Z_][A-Z0-9_]*", key), line
            env[key] = value
    s = load_settings(Path("/nonexistent.toml"), env=env)
    assert (s.background, s.trusted_proxies, str(s.var_dir)) == ("worker", "127.0.0.1", "/var/lib/xinyidai")


def test_the_container_definition_is_sound() -> None:
    text = (DEPLOY / "Containerfile").read_text(encoding="utf-8")
    lines = re.sub(r"\\\n", " ", text).splitlines()
    instructions = [ln.split(None, 1) for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    known = {"FROM", "ENV", "RUN", "WORKDIR", "COPY", "VOLUME", "USER", "EXPOSE", "HEALTHCHECK", "CMD"}
    assert {i[0] for i in instructions} <= known
    assert instructions[0] == ["FROM", "python:3.11-slim"]
    for _, args in (i for i in instructions if i[0] == "COPY"):  # what it copies exists in the repository
        for source in shlex.split(args)[:-1]:
            assert (ROOT / source).exists(), source
    users = [i[1] for i in instructions if i[0] == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert "/livez" in next(i[1] for i in instructions if i[0] == "HEALTHCHECK")
    cmd = next(i[1] for i in instructions if i[0] == "CMD")
    assert cmd.startswith('["xinyidai", "serve", "--host", "0.0.0.0"')
    assert "XINYIDAI_TRUSTED_PROXIES=" in text
    check_proxies(re.search(r"XINYIDAI_TRUSTED_PROXIES=(\S+)", text).group(1))  # type: ignore[union-attr]


@pytest.mark.parametrize("value", ["127.0.0.1", "10.0.0.0/8, 192.168.1.7", "::1,fd00::/8", "*", " * "])
def test_trusted_proxies_accepts_what_uvicorn_understands(value: str) -> None:
    assert Settings(trusted_proxies=value).trusted_proxies == value
    assert check_proxies(value) == ",".join(x.strip() for x in value.split(","))


@pytest.mark.parametrize("value", ["nginx", "10.0.0.1/8", "10.0.0.0/33", "*,10.0.0.1", "127.0.0.1;10.0.0.1"])
def test_trusted_proxies_refuses_what_uvicorn_would_silently_ignore(value: str) -> None:
    with pytest.raises(ConfigError, match="受信代理 trusted_proxies"):
        Settings(trusted_proxies=value)


def test_a_bad_proxy_setting_stops_the_server_with_a_clear_message(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    monkeypatch.setenv("XINYIDAI_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("XINYIDAI_TRUSTED_PROXIES", "proxy.internal")
    r = CliRunner().invoke(app, ["serve", "--port", "1"])
    assert r.exit_code == 2
    assert "配置错误" in r.output and "proxy.internal" in r.output

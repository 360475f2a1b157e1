"""The configuration reference: every `XINYIDAI_*` variable, its default and meaning, as the markdown table
the README carries between its `config-reference` markers (`xinyidai config reference` prints it; a test
fails when the README's copy or this list drifts from the code).

The settings describe themselves (`Settings` fields carry their meaning in `metadata["doc"]`); variables
read straight from the environment, outside the settings, are listed in `ENV_ONLY`."""

from __future__ import annotations

from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from xinyidai.config import Settings

START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"

# name → (default as shown, meaning): variables some command reads itself, never from a file.
ENV_ONLY: dict[str, tuple[str, str]] = {
    "XINYIDAI_CONFIG": ("`xinyidai.toml` in the working folder", "the configuration file to read"),
    "XINYIDAI_KEY_PASSPHRASE": ("generated into $XINYIDAI_VAR_DIR/keys/passphrase (0600)",
                                "passphrase sealing the node's private key 节点私钥"),
    "XINYIDAI_BACKUP_PASSPHRASE": ("none (a backup with keys needs one)",
                                   "passphrase sealing the keys in a backup, and to unseal them on restore"),
    "XINYIDAI_NEW_PASSWORD": ("asked for, not echoed", "the new user's password for user add (scripts)"),
    "XINYIDAI_PDF_FONT": ("the first of the known CJK font files found",
                          "font for the PDF credit reports 信用报告: `path` or `path#index` of a .ttc"),
}


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "none"
    if isinstance(value, Path):
        return f"`{value.as_posix()}`"
    return f"`{value}`"


def rows() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) for every setting, then the environment-only variables."""
    out = []
    for f in fields(Settings):
        doc = f.metadata.get("doc")
        if not doc:
            raise ValueError(f"Settings.{f.name} has no metadata doc for the configuration reference")
        default = f.default if f.default is not MISSING else None
        out.append((f"XINYIDAI_{f.name.upper()}", f.metadata.get("shown") or _shown(default), doc))
    out += [(name, default, doc) for name, (default, doc) in ENV_ONLY.items()]
    return out


def names() -> set[str]:
    return {name for name, _, _ in rows()}


def render() -> str:
    """The markdown table (no markers), one line a variable."""
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{name}` | {default} | {doc.replace('|', '/')} |" for name, default, doc in rows()]
    return "\n".join(lines) + "\n"


def readme_block(readme: str) -> str | None:
    """The table between the README's markers, or None when they are missing."""
    if START not in readme or END not in readme:
        return None
    return readme.split(START, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def with_block(readme: str) -> str:
    """The README with its block replaced by the generated table."""
    head, rest = readme.split(START, 1)
    return f"{head}{START}\n{render()}{END}{rest.split(END, 1)[1]}"

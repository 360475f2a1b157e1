"""The house's habits that import-linter does not check: no module takes a private name (`_x`) of another,
and each domain keeps the same room names — the JSON router is `api.py`, pages are `pages.py` or a `pages/`
package, pydantic shapes sit in `schemas.py` — so a newcomer finds the same rooms in every folder."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "xinyidai"
NOT_DOMAINS = {"kit", "web", "migrations", "demo"}
# The catalogue's own shape (the YAML information list as pydantic models), read by every layer above it;
# not a room of an API. Named before the rooms were; renaming it would touch every domain.
KNOWN = {"catalog/schema.py"}
ROOM_LIKE = ("page", "api", "schema", "model", "cli", "runtime")  # words only the rooms' own names carry


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "migrations/versions" not in str(p))


def test_no_module_takes_a_private_name_of_another() -> None:
    found = []
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("xinyidai"):
                for a in node.names:
                    if a.name.startswith("_") and not a.name.startswith("__"):
                        found.append(f"{path.relative_to(SRC)}:{node.lineno} from {node.module} import {a.name}")
                    imported.add(a.asname or a.name)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in imported \
                    and node.attr.startswith("_") and not node.attr.startswith("__"):
                found.append(f"{path.relative_to(SRC)}:{node.lineno} {node.value.id}.{node.attr}")
    assert not found, "private names used across modules:\n" + "\n".join(found)


def test_every_domain_names_its_rooms_alike() -> None:
    odd = []
    for folder in sorted(p for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()):
        if folder.name in NOT_DOMAINS:
            continue
        for path in folder.rglob("*.py"):
            rel = path.relative_to(folder)
            stem = path.stem
            if rel.parts[0] == "pages" or stem in ("__init__", "api", "pages", "schemas", "models", "cli", "runtime"):
                continue
            if any(word in stem for word in ROOM_LIKE) and f"{folder.name}/{rel}" not in KNOWN:
                odd.append(f"{folder.name}/{rel}")
    assert not odd, ("modules named like a room but not one (a domain's JSON router is api.py, its pages "
                     "pages.py or pages/, its shapes schemas.py):\n" + "\n".join(odd))


def test_pydantic_shapes_of_an_api_live_in_its_schemas() -> None:
    stray = []
    for path in SRC.rglob("api.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        stray += [f"{path.relative_to(SRC)}: {n.name}" for n in tree.body if isinstance(n, ast.ClassDef)
                  and any(getattr(b, "id", None) == "BaseModel" for b in n.bases)]
    assert not stray, "pydantic shapes outside schemas.py:\n" + "\n".join(stray)

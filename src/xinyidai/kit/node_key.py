"""The node's own key as the rest of the code needs it: a `Signer` for audit checkpoints and verification
receipts, a verifier of signatures made by any suite's key, and the `Anchors` the audit chain is verified
against.

The identity is loaded once per process from the encrypted key file under the var directory (created on
first start); the private key never leaves the `Identity` object.

Beside the key file, two append-only files in `var/keys/` hold what audit verification trusts because the
database cannot change it (see `kit.audit`):

* `published.jsonl` — every public key this node has signed with, oldest first, one JSON object a line
  (`key_id`, `suite`, `public`, `published_at`). A key is added the first time a process loads it, which is
  when it is created (and, for a node set up before this file existed, its first start since). Checkpoints
  signed by any of them verify; one signed by a key only the database knows does not.
* `checkpoints.jsonl` — the head of every checkpoint this node made, appended once its transaction has
  committed. Someone who can write the database but not this directory can neither delete those checkpoints
  nor rewrite what they cover unnoticed. `archive_journal` sets it aside when a chain is deliberately started
  afresh (`xinyidai demo --reset`).

Both are public data (no secret in them), kept with the key because they share its trust: back them up with
it, and out of database dumps.

Key rotation (`rotate`): a new key file is written and published *before* the pointer file switches to it, so
nothing is ever signed by a key that `published.jsonl` does not list. `rotations.jsonl` (append-only) records
each switch with its overlap and each early retirement, for `key_list`. A running process notices the switch
by the pointer file: `node_identity` looks at it at most every RECHECK_S seconds, so uvicorn workers, the relay
and a separate worker move to the new key without a restart. Earlier key files stay (`earlier_identities`):
envelopes sealed to an earlier key still open.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from xinyidai.kit import clock
from xinyidai.kit.audit import Anchors, SignedHead, Signer, Witness
from xinyidai.kit.crypto.keystore import (
    CURRENT_FILE,
    create_rotated,
    key_files,
    load_or_create_identity,
    read_header,
    read_keyfile,
    resolve_passphrase,
    switch_current,
)
from xinyidai.kit.crypto.suite import Identity, get_suite

PUBLISHED_FILE = "published.jsonl"
ROTATIONS_FILE = "rotations.jsonl"
RECHECK_S = 2.0  # how stale a process's idea of the current key may be after a rotation
JOURNAL_FILE = "checkpoints.jsonl"
JOURNAL_SOURCE = "本节点的检查点记录（var/keys/checkpoints.jsonl）"


def _keys_dir(var_dir: Path) -> Path:
    return Path(var_dir) / "keys"


def _append_line(path: Path, doc: Mapping[str, Any]) -> None:
    """One JSON line, in a single write to a file opened for appending: concurrent writers never interleave."""
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
    line = json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def _lines(path: Path) -> list[tuple[int, Any]]:
    """(line number, parsed JSON or None when it is not JSON) of each non-empty line; none if no file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    out: list[tuple[int, Any]] = []
    for no, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                out.append((no, json.loads(line)))
            except ValueError:
                out.append((no, None))
    return out


# ── published keys ──────────────────────────────────────────────────────────────────────────────────────

def published_keys(var_dir: Path) -> dict[str, dict[str, str]]:
    """Key id → public bundle of every key this node has published. A line whose key id is not that of its
    bundle, or that cannot be read, is left out: it could only make a forgery verify."""
    keys: dict[str, dict[str, str]] = {}
    for _, doc in _lines(_keys_dir(var_dir) / PUBLISHED_FILE):
        try:
            public = dict(doc["public"])
            if get_suite(doc["suite"]).key_id(public) == doc["key_id"] and public.get("suite") == doc["suite"]:
                keys[doc["key_id"]] = public
        except Exception:  # noqa: BLE001 - a damaged line publishes nothing
            continue
    return keys


def publish_key(var_dir: Path, identity: Identity) -> bool:
    """Add this identity's public key to `published.jsonl` unless it is there; whether it was added."""
    if identity.key_id in published_keys(var_dir):
        return False
    _append_line(_keys_dir(var_dir) / PUBLISHED_FILE, {
        "key_id": identity.key_id, "suite": identity.suite, "public": identity.public_bundle(),
        "published_at": clock.now().isoformat()})
    return True


# ── the checkpoint journal ──────────────────────────────────────────────────────────────────────────────

def journal_writer(var_dir: Path) -> Callable[[dict[str, Any]], None]:
    path = _keys_dir(var_dir) / JOURNAL_FILE
    return lambda doc: _append_line(path, doc)


def read_journal(var_dir: Path) -> tuple[list[SignedHead], list[str]]:
    """The heads in the journal, and a note for each line that cannot be read (a crash mid-write leaves one)."""
    heads: list[SignedHead] = []
    problems: list[str] = []
    for no, doc in _lines(_keys_dir(var_dir) / JOURNAL_FILE):
        try:
            heads.append(SignedHead.from_doc(doc))
        except (ValueError, TypeError):
            problems.append(f"{JOURNAL_SOURCE}第 {no} 行无法读取，已略过")
    return heads, problems


def archive_journal(var_dir: Path) -> Path | None:
    """Set the journal aside (renamed with the time) when the chain is deliberately started afresh, so its
    heads are kept but no longer expected of the new chain. Where it went, or None when there was none."""
    path = _keys_dir(var_dir) / JOURNAL_FILE
    if not path.exists():
        return None
    target = path.with_name(f"checkpoints-{clock.now():%Y%m%d%H%M%S%f}.jsonl")
    path.rename(target)
    return target


# ── signing and verifying ───────────────────────────────────────────────────────────────────────────────

def signer_for(identity: Identity, var_dir: Path | None = None) -> Signer:
    """A signer by `identity`; with `var_dir`, its key is published there first and the checkpoints it signs
    are journaled there."""
    suite = get_suite(identity.suite)
    journal = None
    if var_dir is not None:
        publish_key(var_dir, identity)
        journal = journal_writer(var_dir)
    return Signer(suite=identity.suite, key_id=identity.key_id, public_key=dict(identity.public_bundle()),
                  sign=lambda message: suite.sign(identity, message), journal=journal)


@dataclass
class _Loaded:
    identity: Identity
    stamp: tuple[int, int] | None  # the pointer file when the identity was loaded
    checked: float  # time.monotonic() of the last look at the pointer file


_cache: dict[tuple[str, str], _Loaded] = {}
_by_file: dict[str, Identity] = {}  # earlier keys, unsealed once per process when first needed
_lock = threading.Lock()


def _pointer_stamp(var_dir: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(_keys_dir(var_dir) / CURRENT_FILE)
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_ino  # replaced atomically: a new inode each time


def node_identity(var_dir: Path, suite_name: str) -> Identity:
    """This node's current identity, unsealed once per key per process (scrypt costs ~0.5 s and 128 MiB); its
    public key is published in the var directory on first load. A rotation made by another process is seen
    within RECHECK_S seconds."""
    key = (str(Path(var_dir).resolve()), suite_name)
    with _lock:
        got, now = _cache.get(key), time.monotonic()
        if got is not None and now - got.checked < RECHECK_S:
            return got.identity
        stamp = _pointer_stamp(var_dir)
        if got is None or stamp != got.stamp:
            identity = load_or_create_identity(var_dir, suite_name)
            publish_key(var_dir, identity)
            got = _Loaded(identity, stamp, now)
            _cache[key] = got
        got.checked = now
        return got.identity


def earlier_identities(var_dir: Path, suite_name: str) -> tuple[Identity, ...]:
    """The node's other keys, newest first: for opening envelopes a peer sealed to a key it held before it
    learnt of a rotation. Unsealed on first need (a process that never meets such an envelope pays nothing)."""
    current = node_identity(var_dir, suite_name)
    keys = _keys_dir(var_dir)
    out: list[Identity] = []
    for path in key_files(keys):
        if read_header(path)["key_id"] == current.key_id:
            continue  # the current key is not unsealed again (a node that never rotated pays nothing)
        with _lock:
            identity = _by_file.get(str(path))
            if identity is None:
                identity = _by_file[str(path)] = read_keyfile(path, resolve_passphrase(keys))
        if identity.key_id != current.key_id:
            out.append(identity)
    return tuple(reversed(out))


def _forget(var_dir: Path) -> None:
    """Drop this process's cached current key for `var_dir` (after it rotated the key itself)."""
    root = str(Path(var_dir).resolve())
    with _lock:
        for key in [k for k in _cache if k[0] == root]:
            del _cache[key]


# ── rotation ────────────────────────────────────────────────────────────────────────────────────────────

@dataclass(frozen=True)
class Rotation:
    old: Identity
    new: Identity
    overlap_until: datetime


def rotate(var_dir: Path, suite_name: str, overlap: timedelta,
           before_switch: Callable[[Rotation], None] | None = None) -> Rotation:
    """Make a new key of the same suite and switch to it. Order matters: the key file is written and the key
    published first, then `before_switch` runs (it announces the new key to peers, signed by the old one),
    and only then the pointer file moves. Should `before_switch` fail, the old key stays in use."""
    keys = _keys_dir(var_dir)
    old = load_or_create_identity(var_dir, suite_name)  # the file in use now, not a cached copy
    new, path = create_rotated(keys, old, resolve_passphrase(keys))
    publish_key(var_dir, new)
    rotation = Rotation(old, new, clock.now() + overlap)
    if before_switch is not None:
        before_switch(rotation)
    _append_line(keys / ROTATIONS_FILE, {"event": "rotated", "from": old.key_id, "to": new.key_id,
                                         "at": clock.now().isoformat(),
                                         "overlap_until": rotation.overlap_until.isoformat()})
    switch_current(keys, path)
    _forget(var_dir)
    return rotation


def retiring_key_ids(var_dir: Path, suite_name: str) -> list[str]:
    return [k["key_id"] for k in key_list(var_dir, suite_name) if k["status"] == "retiring"]


def retire(var_dir: Path, key_ids: list[str]) -> None:
    """End the overlap of these earlier keys now (recorded in `rotations.jsonl`)."""
    for key_id in key_ids:
        _append_line(_keys_dir(var_dir) / ROTATIONS_FILE, {"event": "retired", "key_id": key_id,
                                                            "at": clock.now().isoformat()})


KEY_STATUSES = {"current": "当前使用", "retiring": "重叠期内（仍被接受）", "retired": "已停用"}


def key_list(var_dir: Path, suite_name: str) -> list[dict[str, Any]]:
    """Every key the node has published, oldest first: key id, suite, since, status (current / retiring /
    retired) and, for a retiring key, until when peers accept it."""
    current = node_identity(var_dir, suite_name).key_id
    valid = published_keys(var_dir)
    until: dict[str, datetime] = {}
    retired: set[str] = set()
    for _, doc in _lines(_keys_dir(var_dir) / ROTATIONS_FILE):
        try:
            if doc["event"] == "rotated":
                until[doc["from"]] = datetime.fromisoformat(doc["overlap_until"])
            elif doc["event"] == "retired":
                retired.add(doc["key_id"])
        except (TypeError, KeyError, ValueError):
            continue
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for _, doc in _lines(_keys_dir(var_dir) / PUBLISHED_FILE):
        kid = doc.get("key_id") if isinstance(doc, dict) else None
        if kid not in valid or kid in seen:
            continue
        seen.add(kid)
        end = until.get(kid)
        if kid == current:
            status = "current"
        elif end is not None and kid not in retired and clock.now() < end:
            status = "retiring"
        else:
            status = "retired"
        out.append({"key_id": kid, "suite": doc.get("suite"), "since": doc.get("published_at"), "status": status,
                    "status_label": KEY_STATUSES[status],
                    "until": end.isoformat() if end is not None and status == "retiring" else None})
    return out


def node_signer(var_dir: Path, suite_name: str) -> Signer:
    return signer_for(node_identity(var_dir, suite_name), var_dir)


def verify_signature(suite_name: str, public_bundle: Mapping[str, str], message: bytes, signature: bytes) -> bool:
    """True only for a valid signature by that key; any malformed input is simply not valid."""
    try:
        return get_suite(suite_name).verify(public_bundle, message, signature)
    except Exception:  # noqa: BLE001 - a verifier answers yes or no
        return False


def anchors_for(var_dir: Path) -> Anchors:
    """What the var directory holds for verifying the audit chain: published keys and the journal."""
    heads, problems = read_journal(var_dir)
    return Anchors(keys=published_keys(var_dir), verify=verify_signature,
                   witnesses=(Witness(JOURNAL_SOURCE, heads),) if heads else (), notes=tuple(problems))


def node_anchors(var_dir: Path, suite_name: str) -> Anchors:
    """`anchors_for` this node, its current key published first (a node set up before keys were published)."""
    node_identity(var_dir, suite_name)
    return anchors_for(var_dir)

"""File mode (GB/T 39443 文件方式): envelopes carried as files through a front-end machine or removable
media, for a peer that cannot be reached over the network.

- At the sender, `export_outbox` writes each pending envelope for a file-mode peer as `<id>.xyd` (exactly
  the wire bytes a push would send) and marks it `exported`; it stays owed until its receipt returns.
- At the receiver, `import_files` checks and applies each file through the same `inbox.receive` as the
  inbox (via="file") and writes the signed receipt as `<id>.receipt.json`. A bad file (tampered, wrong
  recipient, garbage) is refused with its code, recorded, and nothing of it applied; the rest of the batch
  goes on. A file imported twice is acknowledged again without being applied twice.
- Back at the sender, `accept_receipt_files` checks each receipt's signature against the envelope it
  names and marks the envelope sent.

Files are written to a temporary name and renamed, so a transfer job never picks up half a file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from xinyidai.kit import audit, clock
from xinyidai.kit.db import Database
from xinyidai.kit.errors import DomainError, InvalidInput, NotFound
from xinyidai.network import inbox, relay
from xinyidai.network.models import OutboxEnvelope, Peer

ENVELOPE_SUFFIX = ".xyd"
RECEIPT_SUFFIX = ".receipt.json"


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _safe_name(envelope_id: str) -> str:
    """Envelope ids are `CODE-time-hex`; anything else is refused rather than used as a path."""
    if not envelope_id or any(c in envelope_id for c in "/\\\0") or envelope_id.startswith("."):
        raise InvalidInput("报文编号不能用作文件名", code="BAD_ENVELOPE_ID")
    return envelope_id


def export_outbox(db: Database, ctx: relay.NodeContext, peer_code: str, out_dir: Path, *, collect: bool = False,
                  again: bool = False) -> list[Path]:
    """Write the owed envelopes for a file-mode peer into `out_dir`. With `collect`, first queue what is new
    for it (for a node whose server is not running to do so); with `again`, re-export envelopes already
    exported but not yet acknowledged (a lost file)."""
    with db.session() as s:
        peer = s.get(Peer, peer_code)
        if peer is None:
            raise NotFound(f"未找到节点 {peer_code}", code="PEER_NOT_FOUND")
        if peer.mode != "file":
            raise InvalidInput(f"节点 {peer_code} 不是文件交换方式（当前为 {peer.mode}）", code="NOT_FILE_MODE")
    if collect:
        with db.session() as s:
            relay.collect_uploads(s, ctx)
        with db.session() as s:
            relay.collect_downloads(s, ctx)
    out_dir.mkdir(parents=True, exist_ok=True)
    statuses = ("pending", "exported") if again else ("pending",)
    written: list[Path] = []
    with db.session() as s:
        rows = s.execute(select(OutboxEnvelope).where(OutboxEnvelope.recipient == peer_code,
                                                      OutboxEnvelope.status.in_(statuses))
                         .order_by(OutboxEnvelope.created_at)).scalars().all()
        for ob in rows:
            path = out_dir / f"{_safe_name(ob.id)}{ENVELOPE_SUFFIX}"
            _write_atomically(path, ob.wire)
            ob.status, ob.attempts, ob.last_error = "exported", ob.attempts + 1, None
            written.append(path)
        if written:
            audit.record(s, "cli", "envelope.exported", f"peer:{peer_code}", files=len(written),
                         dir=str(out_dir))
    return written


@dataclass
class ImportOutcome:
    applied: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    refused: list[tuple[str, str, str]] = field(default_factory=list)  # (file, code, message)


def envelope_files(paths: Iterable[Path]) -> list[Path]:
    """The `.xyd` files named, or found in the directories named, in a stable order."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(x for x in p.iterdir() if x.name.endswith(ENVELOPE_SUFFIX) and x.is_file()))
        else:
            out.append(p)
    return out


def import_files(db: Database, ctx: relay.NodeContext, paths: Iterable[Path], receipts_dir: Path) -> ImportOutcome:
    """Check and apply each envelope file; one transaction per file, so a refusal affects that file only."""
    receipts_dir.mkdir(parents=True, exist_ok=True)
    outcome = ImportOutcome()
    for path in envelope_files(paths):
        try:
            wire = path.read_bytes()
        except OSError as exc:
            outcome.refused.append((path.name, "FILE_UNREADABLE", f"文件无法读取：{exc.strerror}"))
            continue
        receipt = _receive_one(db, ctx, wire, path.name, outcome)
        if receipt is None:
            continue
        env_id = _safe_name(str(receipt["receipt"]["envelope_id"]))
        _write_atomically(receipts_dir / f"{env_id}{RECEIPT_SUFFIX}",
                          json.dumps(receipt, ensure_ascii=False, sort_keys=True).encode("utf-8"))
        (outcome.duplicates if receipt.get("duplicate") else outcome.applied).append(path.name)
    return outcome


def _receive_one(db: Database, ctx: relay.NodeContext, wire: bytes, name: str,
                 outcome: ImportOutcome) -> dict[str, Any] | None:
    s = db.sessions()
    try:
        receipt = inbox.receive(s, ctx, wire, "file")
        s.commit()
        return receipt
    except DomainError as exc:
        s.commit()  # keeps the record of the refusal; nothing of the envelope was applied
        outcome.refused.append((name, exc.code, exc.message))
        return None
    except BaseException:
        s.rollback()
        raise
    finally:
        s.close()


def accept_receipt_files(db: Database, paths: Iterable[Path]) -> tuple[int, list[tuple[str, str]]]:
    """Accept the receipts in the files or directories named: (envelopes marked sent, files not accepted)."""
    files: list[Path] = []
    for p in paths:
        files.extend(sorted(p.glob(f"*{RECEIPT_SUFFIX}")) if p.is_dir() else [p])
    accepted, rejected = 0, []
    for f in files:
        try:
            doc = json.loads(f.read_text(encoding="utf-8"))
            if not isinstance(doc, dict):
                raise ValueError("not an object")
        except (OSError, ValueError) as exc:
            rejected.append((f.name, f"回执文件无法读取：{exc}"))
            continue
        with db.session() as s:
            n = relay.accept_receipts(s, [doc])
            if n:
                audit.record(s, "cli", "receipt.accepted", f"envelope:{doc['receipt']['envelope_id']}", via="file",
                             at=clock.now().isoformat())
        accepted += n
        if not n and not _already_sent(db, doc):
            rejected.append((f.name, "回执签名无效或不对应本节点的报文"))
    return accepted, rejected


def _already_sent(db: Database, doc: dict[str, Any]) -> bool:
    with db.session() as s:
        ob = s.get(OutboxEnvelope, str((doc.get("receipt") or {}).get("envelope_id", "")))
        return ob is not None and ob.status == "sent"

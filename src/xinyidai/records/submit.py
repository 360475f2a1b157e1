"""Submitting a delivery from the web (page or API): save, register, process in the background."""

from __future__ import annotations

from concurrent.futures import Future

from starlette.datastructures import UploadFile

from xinyidai.kit.principal import Principal
from xinyidai.records.loading import DuplicateDelivery, LoadOutcome, register_delivery
from xinyidai.records.models import Delivery
from xinyidai.records.runtime import start_delivery
from xinyidai.records.uploads import save_upload
from xinyidai.web.deps import Node


async def submit_upload(n: Node, p: Principal, upload: UploadFile, *, category: str, provider: str,
                        threshold: float | None, source: str) -> tuple[Delivery, Future[LoadOutcome] | None]:
    """Returns the delivery and the running job (None for a duplicate, which changes nothing)."""
    path, name = await save_upload(upload, n.settings.var_dir, n.settings.max_upload_mb)
    try:
        d = register_delivery(n.db, n.catalog, path, provider=provider, category=category,
                              submitted_by=p.username, source=source, filename=name,
                              threshold=n.settings.reject_threshold if threshold is None else threshold)
    except DuplicateDelivery as dup:
        path.unlink(missing_ok=True)
        return dup.delivery, None
    except Exception:
        path.unlink(missing_ok=True)
        raise
    kept = path.with_name(f"delivery-{d.id}{path.suffix}")
    path.rename(kept)
    job = start_delivery(n.executor, n.db, n.catalog, d.id, kept)
    return d, job

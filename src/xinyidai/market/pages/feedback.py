"""Bank portal: feedback files (反馈文件) — upload a decisions or repayment-status file, the list of the
institution's files, one file's row report (and as CSV), and example files of both kinds.

An upload goes through the same loading and the same request-id store as the API: the form carries a request
id made when the page was drawn, so a form sent twice (a double click, a reload) loads the file once."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from sqlalchemy.orm import Session

from xinyidai.accounts import people
from xinyidai.kit.errors import DomainError, InvalidInput
from xinyidai.kit.notify import make_notifier
from xinyidai.kit.pagination import PageRequest
from xinyidai.kit.principal import Principal
from xinyidai.market import feedback, idempotency
from xinyidai.market.idempotency import Answer
from xinyidai.records.loading import file_digest
from xinyidai.records.uploads import save_upload
from xinyidai.web.deps import db_session, node, require
from xinyidai.web.templating import no_store, render

router = APIRouter(include_in_schema=False)
FORMATS = {"csv": ("text/csv; charset=utf-8", feedback.example_csv),
           "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", feedback.example_xlsx)}


def _list(request: Request, s: Session, p: Principal, *, kind: str | None = None, page: int = 1,
          status_code: int = 200, error: DomainError | None = None, chosen: str = "decisions") -> Response:
    files = feedback.search(s, p, PageRequest(page, 20, "received_at", True), kind=kind)
    return no_store(render(request, "market/feedback.html", status_code=status_code, files=files, kind=kind or "",
                           people=people.names_of(s, (f.submitted_by for f in files.items)),
                           params=f"kind={kind or ''}", kinds=feedback.KINDS, columns=feedback.COLUMNS,
                           statuses=feedback.STATUS_LABELS, error=error, chosen=chosen,
                           request_id=f"page-{uuid.uuid4().hex}"))


@router.get("/bank/feedback", response_class=HTMLResponse)
def feedback_page(request: Request, kind: Literal["decisions", "status"] | None = None,
                  page: int = Query(1, ge=1, le=100_000), p: Principal = Depends(require("bank")),
                  s: Session = Depends(db_session, scope="function")) -> Response:
    return _list(request, s, p, kind=kind, page=page)


@router.post("/bank/feedback")
async def upload(request: Request, file: UploadFile = File(...), kind: str = Form(...),
                 request_id: str = Form("", max_length=64), p: Principal = Depends(require("bank")),
                 s: Session = Depends(db_session, scope="function")) -> Response:
    n = node(request)
    try:
        if kind not in feedback.KINDS:
            raise InvalidInput("请选择文件类型：办理结果或还款状态", code="FEEDBACK_KIND")
        path, name = await save_upload(file, n.settings.var_dir, n.settings.max_upload_mb)
    except DomainError as exc:
        return await run_in_threadpool(_list, request, s, p, status_code=exc.status, error=exc, chosen=kind)
    try:
        digest, _size = file_digest(path)
        notifier = make_notifier(n.settings.notifier, n.settings.var_dir)

        def work() -> Answer:
            f = feedback.load(s, n.catalog, p, path=path, filename=name, kind=kind, node_code=n.settings.node_code,
                              notifier=notifier)
            return Answer(200, {"id": f.id})
        answer = await run_in_threadpool(idempotency.once, s, p, request_id or None, "POST /bank/feedback",
                                         {"kind": kind, "file_digest": digest}, work)
    except DomainError as exc:
        return await run_in_threadpool(_list, request, s, p, status_code=exc.status, error=exc, chosen=kind)
    finally:
        path.unlink(missing_ok=True)
    return RedirectResponse(f"/bank/feedback/{answer.body['id']}", status_code=303)


@router.get("/bank/feedback/examples/{kind}.{fmt}")
def example(kind: Literal["decisions", "status"], fmt: Literal["csv", "xlsx"],
            p: Principal = Depends(require("bank"))) -> Response:
    media, make = FORMATS[fmt]
    name = f"example-{kind}.{fmt}"
    return Response(make(kind), media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/bank/feedback/{file_id}", response_class=HTMLResponse)
def feedback_file(request: Request, file_id: int = Path(ge=1, le=2**62), page: int = Query(1, ge=1, le=100_000),
                  p: Principal = Depends(require("bank")), s: Session = Depends(db_session, scope="function")
                  ) -> Response:
    f = feedback.get(s, p, file_id)
    issues = feedback.issues(s, f, PageRequest(page, 50, "row_no", False))
    shown = {**feedback.file_dict(f), "received_at": f.received_at}  # the page formats the time itself
    return no_store(render(request, "market/feedback.html", file=shown, issues=issues,
                           people=people.names_of(s, [f.submitted_by]),
                           params="x=1", kinds=feedback.KINDS, columns=feedback.COLUMNS))


@router.get("/bank/feedback/{file_id}/issues.csv")
def issues_csv(request: Request, file_id: int = Path(ge=1, le=2**62), p: Principal = Depends(require("bank")),
               s: Session = Depends(db_session, scope="function")) -> Response:
    f = feedback.get(s, p, file_id)
    body: list[Any] = list(feedback.issues_csv(s, f))
    return StreamingResponse(iter(body), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="feedback-{f.id}-issues.csv"'})

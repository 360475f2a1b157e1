"""`xinyidai credit report`: a signed public report as PDF. The command sits in the `credit` group, where
people look for it; the root command adds it there."""

from __future__ import annotations

from pathlib import Path

import typer

from xinyidai.console import database, fail, settings


def report(code: str = typer.Argument(..., help="统一社会信用代码"),
           out: Path = typer.Option(..., "--out", "-o", help="PDF 输出文件")) -> None:
    """生成并签名一份公开版信用报告，写出 PDF，打印报告编号与验证码。"""
    from xinyidai.access.policy import default_policy
    from xinyidai.catalog.schema import load_catalog
    from xinyidai.kit.errors import DomainError
    from xinyidai.kit.node_key import node_signer
    from xinyidai.reports import service as reports
    from xinyidai.reports.pdf import render_pdf

    st = settings()
    with database(st).session() as s:
        try:
            rep = reports.public_report(s, load_catalog(st.catalog_path), default_policy(),
                                        node_signer(st.var_dir, st.crypto_suite), code.strip().upper(),
                                        issuer=st.node_name, node_code=st.node_code, actor="cli",
                                        verify_base=st.public_url or "http://127.0.0.1:8000")
            pdf = render_pdf(reports.document_of(rep))
            reports.store_pdf(rep, pdf)
        except DomainError as exc:
            fail(exc)
    out.write_bytes(pdf)
    typer.echo(f"报告 {rep.report_no}，验证码 {rep.verification_code}，已写出 {out}（{len(pdf):,} 字节）")

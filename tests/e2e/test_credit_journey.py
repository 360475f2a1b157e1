"""Credit in a real browser: the operator runs a batch evaluation and watches it finish, opens an entity's
credit page (grade, reasons), makes the public report, downloads its PDF and verifies the report's code."""

from __future__ import annotations

import re
from pathlib import Path

from helpers import login
from playwright.sync_api import Page, expect
from sqlalchemy import create_engine, text

DEMO_PASSWORD = "xinyidai-demo"
RUN_TIMEOUT = 600_000  # ms: 1,500 demo entities on a small machine


def _scored_entity(live_server) -> str:  # noqa: ANN001
    """An entity with the lowest public score of the latest done run: the one with the most reasons."""
    engine = create_engine(f"sqlite:///{live_server.var_dir}/e2e.db")
    with engine.connect() as conn:
        code = conn.execute(text(
            "SELECT e.entity_code FROM credit_evaluations e WHERE e.method = 'public' AND e.status = 'ok' "
            "AND e.run_id = (SELECT max(id) FROM credit_evaluation_runs WHERE status = 'done') "
            "ORDER BY e.score, e.entity_code LIMIT 1")).scalar_one()
    engine.dispose()
    return code


def test_batch_run_credit_page_report_pdf_verify(live_server, page: Page, screenshot) -> None:  # noqa: ANN001
    base = live_server.url
    login(page, base, "operator", DEMO_PASSWORD)

    # A batch evaluation, followed by its progress box until done.
    page.goto(base + "/credit")
    page.locator("#run-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/credit$"))
    newest = page.locator(".progress-box").first
    expect(newest).to_contain_text("已完成", timeout=RUN_TIMEOUT)

    # The entity's credit page: grade badge and reasons.
    code = _scored_entity(live_server)
    page.goto(f"{base}/entities/{code}/credit")
    expect(page.locator("#grade")).to_be_visible()
    expect(page.locator("#reasons")).to_be_visible()
    screenshot(page, "credit_page")

    # The public report.
    page.locator("#make-report").click()
    page.wait_for_url(re.compile(r"/reports/[^/]+$"))
    expect(page.get_by_role("heading", name=re.compile("信用概况")).first).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("报告使用说明")).first).to_be_visible()
    verify_code = page.locator(".verify-code").first.inner_text().strip()
    assert verify_code and "待签发" not in verify_code
    screenshot(page, "credit_report")

    with page.expect_download() as info:
        page.locator("#download-pdf").click()
    pdf = Path(info.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF")

    page.goto(f"{base}/reports/verify?code={verify_code}")
    expect(page.locator("#verify-result")).to_contain_text("报告真实有效")

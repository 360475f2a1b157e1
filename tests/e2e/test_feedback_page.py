"""A bank's feedback page in the browser: download the example, upload it through the form, read the row
report it gets (the example names no real application, so the whole file is refused, row by row)."""

from __future__ import annotations

from helpers import login


def test_a_bank_uploads_a_feedback_file_and_reads_its_report(live_server, page, screenshot, tmp_path) -> None:  # noqa: ANN001
    login(page, live_server.url, "bank", "xinyidai-demo")
    page.goto(live_server.url + "/bank/feedback")
    assert page.locator("h1").inner_text() == "反馈文件"
    assert page.locator("#feedback-files").inner_text().count("尚未上传反馈文件") == 1
    screenshot(page, "feedback-empty")

    with page.expect_download() as got:
        page.locator("a[href='/bank/feedback/examples/decisions.xlsx']").click()
    example = tmp_path / "example-decisions.xlsx"
    got.value.save_as(example)

    page.locator("select[name='kind']").select_option("decisions")
    page.locator("input[name='file']").set_input_files(str(example))
    page.locator("#feedback-form button[type='submit']").click()
    page.wait_for_url("**/bank/feedback/*")
    assert "未导入" in page.locator("h1").inner_text()
    issues = page.locator("#issues tbody tr")
    assert issues.count() == 3
    assert "UNKNOWN_APPLICATION" in issues.nth(0).inner_text() and "第 2 行" in issues.nth(0).inner_text()
    assert "PRECEDING_ROW_REJECTED" in issues.nth(1).inner_text()
    assert page.locator("#file-counts").inner_text().replace("\n", " ").count("3") >= 1
    screenshot(page, "feedback-report")

    page.locator(".crumbs a").click()
    assert page.locator("#feedback-files tbody tr").count() == 1
    assert "未导入" in page.locator("#feedback-files tbody tr").first.inner_text()
    screenshot(page, "feedback-list")

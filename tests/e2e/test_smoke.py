"""The login page is served, in Chinese, with a password field."""


def test_login_page_is_chinese_and_has_a_password_field(live_server, page, screenshot):
    response = page.goto(live_server.url + "/login")
    assert response is not None and response.ok, f"GET /login 返回 {response and response.status}"
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("input[type='password']").count() >= 1
    screenshot(page, "login")

"""Every page the enterprise and the bank use works on a phone (issue 23, item 14): at 390 px wide nothing
scrolls sideways (a wide table scrolls inside its card), 退出 is on screen, and the menu does not cover the
user's name. Each page is also shot at 1440 px and at 390 px, full page, into the screenshots folder, for a
person to look at."""

from __future__ import annotations

import re

from helpers import login
from playwright.sync_api import Browser, Page
from sqlalchemy import create_engine, text

DEMO_PASSWORD = "xinyidai-demo"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}

# What the page itself reports: sideways scroll, and where 退出, the menu and the user's name are.
MEASURE = """() => {
  const box = el => { if (!el) return null; const r = el.getBoundingClientRect();
                      return {x: r.x, y: r.y, right: r.right, bottom: r.bottom, w: r.width, h: r.height}; };
  const logout = [...document.querySelectorAll('header.top button')].find(b => b.textContent.trim() === '退出');
  const hit = logout && (() => { const r = logout.getBoundingClientRect();
    return document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2) === logout; })();
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
          logout: box(logout), logoutOnTop: !!hit, nav: box(document.querySelector('header.top nav')),
          user: box(document.querySelector('header.top .user span'))};
}"""


def _db(live_server):  # noqa: ANN001, ANN202
    return create_engine(f"sqlite:///{live_server.var_dir}/e2e.db")


def _pages(live_server) -> dict[str, list[str]]:  # noqa: ANN001
    """The enterprise's and the bank's pages, with the demo's own authorization, entity and lists in them."""
    engine = _db(live_server)
    with engine.connect() as conn:
        own = conn.execute(text("SELECT a.number FROM authorizations a JOIN users u ON u.org_code = a.entity_code "
                                "WHERE u.username = 'enterprise' ORDER BY a.id LIMIT 1")).scalar_one()
        entity = conn.execute(text("SELECT a.entity_code FROM authorizations a JOIN users u "
                                   "ON u.org_code = a.institution_code WHERE u.username = 'bank' "
                                   "ORDER BY a.id LIMIT 1")).scalar_one()
        lists = conn.execute(text("SELECT number FROM whitelists ORDER BY id")).scalars().all()
    engine.dispose()
    return {
        "enterprise": ["/", "/catalog", "/my", "/my/credit", "/my/colleagues", "/my/authorizations",
                       "/my/authorizations/new", f"/my/authorizations/{own}", "/my/accesses",
                       "/market", "/my/financing", "/my/financing/demands", "/my/financing/loans",
                       "/my/financing/cases"],
        "bank": ["/", "/catalog", "/bank", f"/bank/entities/{entity}", f"/bank/entities/{entity}/records/penalty",
                 f"/bank/entities/{entity}/verify", "/bank/whitelists", *[f"/bank/whitelists/{n}" for n in lists],
                 "report", "/bank/products", "/bank/applications", "/bank/demands", "/bank/alerts", "/bank/feedback"],
        None: ["/login", "/register", "/reports/verify"],
    }


def _problems(pg: Page, path: str, signed_in: bool) -> list[str]:
    m = pg.evaluate(MEASURE)
    out = []
    if m["scrollWidth"] > m["innerWidth"]:
        out.append(f"{path}: scrolls sideways ({m['scrollWidth']} > {m['innerWidth']} px)")
    if signed_in:
        lo = m["logout"]
        if lo is None or lo["w"] == 0 or lo["x"] < 0 or lo["right"] > m["innerWidth"] or not m["logoutOnTop"]:
            out.append(f"{path}: 退出 not visible on screen ({lo})")
        nav, user = m["nav"], m["user"]
        if nav and user and not (nav["bottom"] <= user["y"] or user["bottom"] <= nav["y"]
                                 or nav["right"] <= user["x"] or user["right"] <= nav["x"]):
            out.append(f"{path}: the menu overlaps the user's name ({nav} / {user})")
    return out


def _slug(path: str) -> str:
    return re.sub(r"[^\w]+", "_", path).strip("_") or "home"


def _visit(browser: Browser, base: str, role: str | None, paths: list[str], screenshot) -> list[str]:  # noqa: ANN001
    problems: list[str] = []
    for viewport, label in ((DESKTOP, "1440"), (PHONE, "390")):
        ctx = browser.new_context(viewport=viewport, locale="zh-CN")
        ctx.set_default_timeout(30_000)
        pg = ctx.new_page()
        try:
            if role:
                login(pg, base, role, DEMO_PASSWORD)
            for path in paths:
                if path == "report":  # the bank's authorized report of its first enterprise
                    pg.goto(base + "/bank")
                    pg.locator("table.data tbody a[href^='/bank/entities/']").first.click()
                    pg.locator("#make-authorized-report").click()
                    pg.wait_for_url(re.compile(r"/reports/[^/]+$"))
                else:
                    pg.goto(base + path)
                pg.wait_for_load_state("networkidle")
                screenshot(pg, f"phone-{role or 'anonymous'}-{label}-{_slug(path)}")
                if label == "390":
                    problems += _problems(pg, pg.url.removeprefix(base), signed_in=role is not None)
        finally:
            ctx.close()
    return problems


def test_enterprise_and_bank_pages_at_390_px(live_server, browser, screenshot) -> None:  # noqa: ANN001
    problems = []
    for role, paths in _pages(live_server).items():
        problems += _visit(browser, live_server.url, role, paths, screenshot)
    assert problems == [], "\n".join(problems)

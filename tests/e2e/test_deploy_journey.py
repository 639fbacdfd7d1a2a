"""The production stack in a browser: an expert signs in at https://baseliner.test through Caddy,
opens a run's IDE on its own subdomain (a certificate got on demand, forward-auth asked), and
keeps working after one app process is killed.

The stack is deploy/local_stack.py's (two app processes on PostgreSQL, Caddy with Caddyfile's
TLS from its own CA, which this browser context is told to accept). This Chromium is launched
with a resolver rule sending baseliner.test and its subdomains to loopback (the suite's shared
one has none), so the run's subdomain needs no DNS. The run's IDE is an echo server standing in
for code-server, so the page shows what reached it.
"""

import os
import signal

from playwright.sync_api import Browser, expect
from sqlalchemy import create_engine

from baselines.users import Role
from tests.browser import CHROMIUM, CHROMIUM_ARGS, sign_in
from tests.conftest import create_account
from tests.deploy.stack import DOMAIN, echo_run
from tests.e2e.conftest import SCREENSHOTS, TIMEOUT_MS
from tests.ide.servers import Echo, echo_app, serve


def test_an_expert_works_through_caddy_and_a_killed_app_process_goes_unnoticed(
    browser: Browser, stack
):
    processes, url, port = stack
    folder = SCREENSHOTS / "deploy_journey"
    folder.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    expert = create_account(engine, Role.expert, "ada@example.org", "Ada Expert")
    with serve(echo_app(Echo())) as upstream:
        run = echo_run(engine, expert.id, upstream)
        resolver = f"--host-resolver-rules=MAP {DOMAIN} 127.0.0.1, MAP *.{DOMAIN} 127.0.0.1"
        chromium = browser.browser_type.launch(
            executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, resolver]
        )
        context = chromium.new_context(
            base_url=f"https://{DOMAIN}:{port}",
            ignore_https_errors=True,
            viewport={"width": 1280, "height": 800},
        )
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        sign_in(page, "ada@example.org")
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        assert page.url.startswith(f"https://{DOMAIN}:{port}/")
        page.screenshot(path=str(folder / "01-signed-in-through-caddy.png"), full_page=True)

        ide = f"https://run-{run.id}.ide.{DOMAIN}:{port}/echo/workbench"
        page.goto(ide)
        expect(page.locator("body")).to_contain_text('"raw_path":"/echo/workbench"')
        expect(page.locator("body")).not_to_contain_text("baseliner_session")
        page.screenshot(path=str(folder / "02-ide-subdomain-after-forward-auth.png"))

        app1 = next(p for p in processes if p.name == "app1")
        os.killpg(app1.popen.pid, signal.SIGKILL)
        app1.popen.wait(10)
        page.goto("/dashboard")
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        page.screenshot(path=str(folder / "03-dashboard-after-app1-was-killed.png"), full_page=True)
        page.goto(ide)
        expect(page.locator("body")).to_contain_text('"raw_path":"/echo/workbench"')

        anonymous = chromium.new_context(ignore_https_errors=True)
        stranger = anonymous.new_page()
        stranger.goto(ide)
        assert stranger.url == f"https://{DOMAIN}:{port}/login?next=/runs/{run.id}"
        stranger.screenshot(path=str(folder / "04-no-cookie-sent-to-sign-in.png"))
        chromium.close()
    engine.dispose()

"""Sign-in limits in a real browser (issue 18): a person whose account someone guessed at is told
to wait, even with the right password; an admin unlocks them from Accounts and they sign in with the right password;
signing out ends the session on the server, so a copy of its cookie stops working."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from fundraiser.auth import throttle
from fundraiser.auth.users import create_user
from tests.browser.conftest import sign_in

PASSWORD = "a very good password"


def test_admin_unlocks_a_blocked_account_and_signing_out_kills_a_copied_cookie(app, live_server, browser, page, session):
    app.config["WTF_CSRF_ENABLED"] = True  # as in production
    create_user(session, "admin@example.org", "admin", PASSWORD)
    create_user(session, "vol@example.org", "staff", PASSWORD)
    for _ in range(throttle.ACCOUNT_FREE_TRIES):  # someone guessed at this account
        assert throttle.claim_attempt(session, "vol@example.org", "203.0.113.5") == 0
    session.commit()
    base = live_server.url
    volunteer = browser.new_context()
    copy = browser.new_context()
    try:
        vol = volunteer.new_page()
        sign_in(vol, base, "vol@example.org", PASSWORD)
        expect(vol.get_by_text(re.compile(r"Too many failed sign-ins\. Please wait \d+ minutes?"))).to_be_visible()

        sign_in(page, base, "admin@example.org", PASSWORD)
        page.get_by_role("link", name="Accounts", exact=True).click()
        row = page.get_by_role("row").filter(has_text="vol@example.org")
        expect(row).to_contain_text("Sign-in blocked until")
        row.get_by_role("button", name="Unlock sign-in").click()
        expect(page.get_by_text("vol@example.org can sign in again now.")).to_be_visible()
        expect(page.get_by_role("button", name="Unlock sign-in")).to_have_count(0)

        sign_in(vol, base, "vol@example.org", PASSWORD)
        expect(vol).to_have_url(re.compile(r"/staff/?$"))
        copy.add_cookies(volunteer.cookies())  # someone copied the session cookie
        stolen = copy.new_page()
        stolen.goto(base + "/staff/")
        expect(stolen).to_have_url(re.compile(r"/staff/?$"))
        vol.get_by_role("button", name="Sign out").click()
        stolen.goto(base + "/staff/")
        expect(stolen).to_have_url(re.compile(r"/login"))
    finally:
        volunteer.close()
        copy.close()

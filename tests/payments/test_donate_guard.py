"""Card-testing guard on the donate endpoints: limits per address, per campaign and in total,
back-off after declines, and the human check, verified against a real local stand-in server."""

from __future__ import annotations

import json
import re
import threading
import typing
import urllib.parse
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from fundraiser import donate_guard
from fundraiser.db import utcnow
from fundraiser.models import AttemptStatus, DonateCounter, DonationAttempt
from fundraiser.payments import stripe as adapter
from tests.factories import make_campaign
from tests.netutil import serve_in_thread
from tests.payments.conftest import STRIPE_SETTINGS

GOOD = {"amount": "5000", "frequency": "once", "name": "Dana Donor", "email": "dana@example.org",
        "show_name": "no", "show_amount": "yes"}
DONOR_IP, TESTER_IP, OTHER_IP = "198.51.100.7", "203.0.113.66", "192.0.2.10"


class FakeStripeClient:
    """Stands in for StripeClient at the adapter's own path: answers PaymentIntent and Checkout creates."""

    def __init__(self):
        self.created = []

    def __call__(self):
        return self

    def __getattr__(self, name):  # v1, checkout, sessions, payment_intents...
        return self

    def create(self, params, options):
        self.created.append(params)
        n = len(self.created)

        class Result:
            id = f"pi_fake{n}"
            client_secret = f"pi_fake{n}_secret_x"
            url = f"https://checkout.stripe.com/c/pay/cs_fake{n}"

        return Result()


@pytest.fixture
def guarded(make_app, monkeypatch):
    """An app with Stripe set up (answered by FakeStripeClient) and small limits, plus its client."""

    def build(**limits):
        app = make_app(**STRIPE_SETTINGS, **{k: str(v) for k, v in limits.items()})
        app.config["BACKGROUND_TASKS"] = False
        fake = FakeStripeClient()
        monkeypatch.setattr(adapter, "_client", fake)
        return app, app.test_client(), fake

    return build


def start(client, slug, ip, **changes):
    return client.post(f"/api/campaigns/{slug}/donations", data={**GOOD, **changes},
                       environ_base={"REMOTE_ADDR": ip})


def make_open_campaign(app, **fields):
    with app.app_context():
        from fundraiser.db import get_session

        session = get_session()
        campaign = make_campaign(session, **fields)
        session.commit()
        return campaign.slug, campaign.id


def fail_attempts(app, *, count, ip=None, email="dana@example.org", campaign_id, ago=timedelta(0)):
    """Declined attempts, as the payment_failed webhooks leave them (status failed)."""
    from fundraiser.db import get_session

    with app.app_context():
        session = get_session()
        for i in range(count):
            session.add(DonationAttempt(
                public_id=f"00000000-0000-0000-0000-{ip and ip.replace('.', '')[-6:] or 'e'}{i:05d}"[:36],
                campaign_id=campaign_id, frequency="once", amount_cents=100, fee_covered_cents=0, currency="USD",
                donor_name="Card Tester", donor_email=email, choices={}, status=AttemptStatus.FAILED,
                ip_address=ip, created_at=utcnow() - ago,
            ))
        session.commit()


def test_burst_from_one_address_is_throttled_while_a_donor_elsewhere_still_gives(guarded):
    app, client, fake = guarded(DONATE_LIMIT_PER_ADDRESS=3)
    slug, _ = make_open_campaign(app)
    for _ in range(3):
        assert start(client, slug, TESTER_IP).status_code == 201
    refused = start(client, slug, TESTER_IP)
    assert refused.status_code == 429
    assert 3500 < int(refused.headers["Retry-After"]) <= 3600
    error = refused.get_json()["error"]
    assert "Too many gifts were started from your connection" in error["message"]
    assert "Nothing was charged" in error["message"] and error["retry_after"] == int(refused.headers["Retry-After"])
    # The no-JavaScript form says so on the page, with the donor's details kept.
    page = client.post(f"/campaigns/{slug}/donate", data=GOOD, environ_base={"REMOTE_ADDR": TESTER_IP})
    assert page.status_code == 429 and int(page.headers["Retry-After"]) > 0
    html = page.get_data(as_text=True)
    assert "Too many gifts were started from your connection" in html and 'value="Dana Donor"' in html
    # Stripe was asked only for the three starts that were allowed.
    assert len(fake.created) == 3
    donor = start(client, slug, DONOR_IP)
    assert donor.status_code == 201 and donor.get_json()["client_secret"] == "pi_fake4_secret_x"
    with app.app_context():
        from fundraiser.db import get_session

        attempts = get_session().scalars(select(DonationAttempt.ip_address)).all()
    assert sorted(attempts) == sorted([TESTER_IP] * 3 + [DONOR_IP])


def test_client_address_comes_from_the_trusted_proxy_only(guarded):
    app, client, _ = guarded(DONATE_LIMIT_PER_ADDRESS=1, PROXY_COUNT="1")
    slug, _ = make_open_campaign(app)

    def via_proxy(forwarded):
        return client.post(f"/api/campaigns/{slug}/donations", data=GOOD,
                           environ_base={"REMOTE_ADDR": "10.0.0.2"}, headers={"X-Forwarded-For": forwarded})

    assert via_proxy(TESTER_IP).status_code == 201
    assert via_proxy(TESTER_IP).status_code == 429
    assert via_proxy(DONOR_IP).status_code == 201  # same proxy, another donor
    # A client can't dodge the limit by adding its own X-Forwarded-For: only the last hop is trusted.
    assert via_proxy(f"{OTHER_IP}, {TESTER_IP}").status_code == 429


def test_a_burst_from_one_ipv6_network_is_throttled_however_its_addresses_rotate(guarded):
    """Each start from a new address of the same /64 counts against that network, and so do its
    declines; the next /64 (another subscriber) still gives."""
    app, client, _ = guarded(DONATE_LIMIT_PER_ADDRESS=3, DONATE_DECLINES_BEFORE_BACKOFF=3)
    slug, campaign_id = make_open_campaign(app)
    assert [start(client, slug, f"2001:db8:aa:1::{n}").status_code for n in range(1, 5)] == [201, 201, 201, 429]
    assert start(client, slug, "2001:db8:aa:2::1").status_code == 201
    with app.app_context():
        from fundraiser.db import get_session

        stored = get_session().scalars(select(DonationAttempt.ip_address)).all()
    assert sorted(stored) == ["2001:db8:aa:1::/64"] * 3 + ["2001:db8:aa:2::/64"]
    fail_attempts(app, count=3, ip="2001:db8:aa:3::/64", email="tester@example.net", campaign_id=campaign_id)
    paused = start(client, slug, "2001:db8:aa:3:1:2:3:4", email="fresh@example.org")
    assert paused.status_code == 429 and "your connection" in paused.get_json()["error"]["message"]


def test_campaign_and_total_limits_hold_across_addresses(guarded):
    app, client, _ = guarded(DONATE_LIMIT_PER_CAMPAIGN=2, DONATE_LIMIT_TOTAL=3)
    first, _ = make_open_campaign(app, slug="first", title="First")
    second, _ = make_open_campaign(app, slug="second", title="Second")
    assert start(client, first, "192.0.2.1").status_code == 201
    assert start(client, first, "192.0.2.2").status_code == 201
    busy = start(client, first, "192.0.2.3")
    assert busy.status_code == 429 and "unusual number of gifts" in busy.get_json()["error"]["message"]
    assert start(client, second, "192.0.2.4").status_code == 201  # other campaign: 3 in total
    total = start(client, second, "192.0.2.5")
    assert total.status_code == 429 and int(total.headers["Retry-After"]) > 0


def test_repeated_declines_pause_the_address_and_the_email(guarded):
    app, client, _ = guarded(DONATE_DECLINES_BEFORE_BACKOFF=3, DONATE_BACKOFF_SECONDS=600)
    slug, campaign_id = make_open_campaign(app)
    fail_attempts(app, count=3, ip=TESTER_IP, email="tester@example.net", campaign_id=campaign_id)
    paused = start(client, slug, TESTER_IP, email="fresh@example.org")
    assert paused.status_code == 429 and 590 < int(paused.headers["Retry-After"]) <= 600
    assert "declined, so giving from it is paused for 10 minutes" in paused.get_json()["error"]["message"]
    # The same email from a new address is paused too; someone else from elsewhere is not.
    by_email = start(client, slug, OTHER_IP, email="tester@example.net")
    assert by_email.status_code == 429 and "this email address" in by_email.get_json()["error"]["message"]
    assert start(client, slug, DONOR_IP).status_code == 201


def test_backoff_doubles_with_each_decline_and_ends(app, session):
    from fundraiser.settings import current_settings

    guard = current_settings().donate_guard
    campaign = make_campaign(session)
    session.commit()
    now = utcnow()
    for i in range(5):
        session.add(DonationAttempt(
            public_id=f"10000000-0000-0000-0000-{i:012d}", campaign_id=campaign.id, frequency="once",
            amount_cents=100, currency="USD", donor_name="T", donor_email="t@example.net", choices={},
            status=AttemptStatus.FAILED, ip_address=TESTER_IP, created_at=now - timedelta(minutes=5 - i),
        ))
    session.flush()
    # Five declines with three free: 15 min x 2^2 = an hour from the last one.
    refusal = donate_guard.admit(session, guard, campaign_id=campaign.id, ip_address=TESTER_IP,
                                 email="t@example.net", now=now)
    assert refusal is not None and refusal.status == 429
    assert refusal.retry_after == 3600 - 60
    later = now + timedelta(minutes=60)
    assert donate_guard.admit(session, guard, campaign_id=campaign.id, ip_address=TESTER_IP,
                              email="t@example.net", now=later) is None


def test_a_donor_who_fixes_a_typo_and_changes_the_amount_still_gives(guarded):
    app, client, _ = guarded()  # the default limits
    slug, campaign_id = make_open_campaign(app)
    for typo in ({"email": "dana@example"}, {"name": ""}, {"amount": "other", "custom_amount": "2,5"}):
        assert start(client, slug, DONOR_IP, **typo).status_code == 400
    first = start(client, slug, DONOR_IP, amount="other", custom_amount="25,50")
    assert first.status_code == 201 and first.get_json()["amount_cents"] == 2550
    # One earlier decline (a mistyped card number) doesn't lock them out either.
    fail_attempts(app, count=1, ip=DONOR_IP, campaign_id=campaign_id)
    again = start(client, slug, DONOR_IP, amount="other", custom_amount="30")
    assert again.status_code == 201 and again.get_json()["amount_cents"] == 3000
    with app.app_context():
        from fundraiser.db import get_session

        assert get_session().scalar(select(DonateCounter.count).where(DonateCounter.key == f"ip:{DONOR_IP}")) == 2


# --- the human check -------------------------------------------------------------------------


class SiteVerify(BaseHTTPRequestHandler):
    """Answers like Turnstile's and hCaptcha's siteverify: form-encoded secret/response/remoteip in,
    {"success": ...} out. Only "good-token" with the right secret passes."""

    seen: typing.ClassVar[list[dict[str, str]]] = []

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        SiteVerify.seen.append(form)
        ok = form.get("secret") == "captcha-secret" and form.get("response") == "good-token"
        body = json.dumps({"success": ok, "error-codes": [] if ok else ["invalid-input-response"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def siteverify():
    SiteVerify.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), SiteVerify)
    serve_in_thread(server)
    yield f"http://127.0.0.1:{server.server_port}/siteverify"
    server.shutdown()
    server.server_close()


CAPTCHA = {"CAPTCHA_PROVIDER": "turnstile", "CAPTCHA_SITE_KEY": "1x00000000000000000000AA",
           "CAPTCHA_SECRET_KEY": "captcha-secret", "CAPTCHA_AFTER_STARTS": "2"}


def test_the_check_is_asked_only_after_busy_activity_and_verified_with_the_provider(guarded, siteverify):
    app, client, _ = guarded(**CAPTCHA, CAPTCHA_VERIFY_URL=siteverify)
    slug, _ = make_open_campaign(app)
    page = client.get(f"/campaigns/{slug}", environ_base={"REMOTE_ADDR": DONOR_IP})
    html = page.get_data(as_text=True)
    assert 'data-challenge data-provider="turnstile"' in html and 'data-site-key="1x00000000000000000000AA"' in html
    assert re.search(r"data-challenge [^>]* hidden>", html), "not shown before anything unusual"
    csp = dict(part.strip().split(" ", 1) for part in page.headers["Content-Security-Policy"].split(";"))
    assert "https://challenges.cloudflare.com" in csp["script-src"] and "https://challenges.cloudflare.com" in csp["frame-src"]
    for _ in range(2):
        assert start(client, slug, DONOR_IP).status_code == 201
    asked = start(client, slug, DONOR_IP)
    assert asked.status_code == 403
    error = asked.get_json()["error"]
    assert "quick check" in error["message"]
    assert error["challenge"] == {"provider": "turnstile", "site_key": "1x00000000000000000000AA",
                                  "script": "https://challenges.cloudflare.com/turnstile/v0/api.js?render=explicit"}
    assert SiteVerify.seen == []  # no token, no call
    html = client.get(f"/campaigns/{slug}", environ_base={"REMOTE_ADDR": DONOR_IP}).get_data(as_text=True)
    assert not re.search(r"data-challenge [^>]* hidden>", html), "shown now"
    wrong = start(client, slug, DONOR_IP, captcha_token="forged")
    assert wrong.status_code == 403 and "didn't go through" in wrong.get_json()["error"]["message"]
    passed = start(client, slug, DONOR_IP, captcha_token="good-token")
    assert passed.status_code == 201
    assert SiteVerify.seen[-1] == {"secret": "captcha-secret", "response": "good-token", "remoteip": DONOR_IP}
    # Someone else, from another address, is not asked.
    assert start(client, slug, OTHER_IP).status_code == 201


def test_a_decline_brings_the_check_at_once(guarded, siteverify):
    app, client, _ = guarded(**CAPTCHA, CAPTCHA_VERIFY_URL=siteverify)
    slug, campaign_id = make_open_campaign(app)
    fail_attempts(app, count=1, ip=TESTER_IP, email="t@example.net", campaign_id=campaign_id)
    assert start(client, slug, TESTER_IP).status_code == 403
    # The declined email is asked for the check from any address.
    assert start(client, slug, OTHER_IP, email="t@example.net").status_code == 403
    assert start(client, slug, TESTER_IP, captcha_token="good-token").status_code == 201


def test_provider_unreachable_is_said_plainly_and_nothing_starts(guarded):
    from tests.netutil import free_port

    app, client, fake = guarded(**{**CAPTCHA, "CAPTCHA_AFTER_STARTS": "1"},
                                CAPTCHA_VERIFY_URL=f"http://127.0.0.1:{free_port()}/siteverify")
    slug, _ = make_open_campaign(app)
    assert start(client, slug, DONOR_IP).status_code == 201
    down = start(client, slug, DONOR_IP, captcha_token="good-token")
    assert down.status_code == 503 and "couldn't run the security check" in down.get_json()["error"]["message"]
    assert len(fake.created) == 1
    with app.app_context():
        from fundraiser.db import get_session

        assert get_session().scalar(select(func.count()).select_from(DonationAttempt)) == 1


@pytest.mark.parametrize(("env", "message"), [
    ({"CAPTCHA_PROVIDER": "recaptcha"}, "CAPTCHA_PROVIDER must be turnstile, hcaptcha"),
    ({"CAPTCHA_PROVIDER": "hcaptcha"}, "needs CAPTCHA_SITE_KEY and CAPTCHA_SECRET_KEY"),
    ({"DONATE_LIMIT_PER_ADDRESS": "0"}, "DONATE_LIMIT_PER_ADDRESS must be at least 1"),
    ({"STATEMENT_DESCRIPTOR_SUFFIX": "GIFT*2026"}, "STATEMENT_DESCRIPTOR_SUFFIX may have at most 22"),
])
def test_guard_settings_are_checked(tmp_path, env, message):
    from fundraiser.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match=message):
        load_settings(env, tmp_path)



def test_counts_are_exact_when_many_workers_start_at_once(app):
    """Each start is one upsert: concurrent sessions (as gunicorn workers have) never lose a count."""
    from fundraiser.db import new_session

    results, errors = [], []

    def one_start():
        with app.app_context():
            session = new_session(write=True)
            try:
                results.append(donate_guard._bump(session, "ip:burst", timedelta(hours=1), utcnow())[0])
                session.commit()
            except SQLAlchemyError as exc:  # reported below, with the others
                errors.append(exc)
            finally:
                session.close()

    threads = [threading.Thread(target=one_start) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert sorted(results) == list(range(1, 13))


def _three_starts_each_failing(app, client, deliver, monkeypatch, failure) -> str:
    """Three donations started from the tester's address, each then reported failed by Stripe's
    event `failure(metadata, email)`; the campaign's slug."""
    monkeypatch.setattr(adapter, "_client", FakeStripeClient())
    slug, _ = make_open_campaign(app)
    for n in range(3):
        email = f"tester{n}@example.net"
        assert client.post(f"/campaigns/{slug}/donate", data={**GOOD, "email": email},
                           environ_base={"REMOTE_ADDR": TESTER_IP}).status_code == 303
        with app.app_context():
            from fundraiser.db import get_session

            attempt = get_session().scalar(select(DonationAttempt).where(DonationAttempt.donor_email == email))
            metadata = {"campaign_id": str(attempt.campaign_id), "donation_attempt": attempt.public_id}
        assert deliver(failure(metadata, email)).status_code == 200
    return slug


def test_declines_reported_by_stripe_webhooks_pause_the_address(app, client, deliver, monkeypatch):
    """The back-off counts what the webhooks mark failed: here, bank debits Stripe reports failed."""
    from tests.payments.stripe_shapes import checkout_session, event

    def failed(metadata, email):
        return event("checkout.session.async_payment_failed",
                     checkout_session(5000, metadata=metadata, payment_status="unpaid", email=email))

    slug = _three_starts_each_failing(app, client, deliver, monkeypatch, failed)
    paused = client.post(f"/campaigns/{slug}/donate", data=GOOD, environ_base={"REMOTE_ADDR": TESTER_IP})
    assert paused.status_code == 429 and int(paused.headers["Retry-After"]) > 800
    assert "Several payments from your connection were declined" in paused.get_data(as_text=True).replace("&#39;", "'")


def test_card_declines_pause_the_address_though_each_payment_stays_open_for_a_retry(app, client, deliver, monkeypatch):
    """A declined card leaves its attempt open (the donor may try another card on it), and the
    back-off still counts the decline: card testing pauses as before."""
    from tests.payments.stripe_shapes import event, failed_payment_intent

    slug = _three_starts_each_failing(
        app, client, deliver, monkeypatch,
        lambda metadata, _email: event("payment_intent.payment_failed", failed_payment_intent(5000, metadata=metadata)))
    with app.app_context():
        from fundraiser.db import get_session

        declined = get_session().scalars(select(DonationAttempt).where(DonationAttempt.ip_address == TESTER_IP)).all()
        assert {(a.status, a.failure_code) for a in declined} == {(AttemptStatus.STARTED, "insufficient_funds")}
    paused = client.post(f"/campaigns/{slug}/donate", data=GOOD, environ_base={"REMOTE_ADDR": TESTER_IP})
    assert paused.status_code == 429


def test_hcaptcha_pages_let_exactly_its_hosts_in(guarded):
    app, client, _ = guarded(CAPTCHA_PROVIDER="hcaptcha", CAPTCHA_SITE_KEY="10000000-ffff-ffff-ffff-000000000001",
                             CAPTCHA_SECRET_KEY="0x0000000000000000000000000000000000000000")
    slug, _ = make_open_campaign(app)
    page = client.get(f"/campaigns/{slug}")
    csp = dict(part.strip().split(" ", 1) for part in page.headers["Content-Security-Policy"].split(";"))
    for directive in ("script-src", "frame-src", "style-src", "connect-src"):
        assert csp[directive].endswith("https://hcaptcha.com https://*.hcaptcha.com"), directive
    assert 'data-script="https://js.hcaptcha.com/1/api.js?render=explicit"' in page.get_data(as_text=True)
    # The rest of the app stays closed to it.
    assert "hcaptcha" not in client.get("/").headers["Content-Security-Policy"]

"""Every route, hostile values in every path, query and form parameter: never a 500 (issue 18).

Routes come from app.url_map; parameter names from the code that reads them (request.args/form).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

from fundraiser import ledger
from tests.factories import give, make_campaign, make_donor
from tests.functional.staff_helpers import put_in_session
from tests.payments.conftest import STRIPE_SETTINGS

SOURCE = Path(__file__).resolve().parents[2] / "fundraiser"
NAMES = sorted({m for p in SOURCE.rglob("*.py") for m in re.findall(r"(?:args|form)\.(?:get|getlist)\(\"(\w+)\"", p.read_text())})
HOSTILE = ["\x00", "a\x00b", "99999999999999999999", "-99999999999999999999", "-1", "0", "99999-12-31",
           "2026-02-30", "1e309", "x" * 5000, "\u2028", "[]", ""]


def _cases(app, real: dict[str, str]):
    """Each (method, URL) once: a route without arguments would otherwise be asked five times the
    same (and the admin's backup download built five times per hostile value)."""
    seen = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths = [{a: real.get(a, "1") for a in rule.arguments}]
            for bad in ("99999999999999999999", "0", "%ff%fe", "%00"):
                paths.append({a: bad for a in rule.arguments})
            for args in paths:
                url = rule.rule
                for a, v in args.items():
                    url = re.sub(rf"<(?:\w+:)?{a}>", v if "%" in v else quote(v, safe=""), url)
                if (method, url) not in seen:
                    seen.add((method, url))
                    yield method, url


@pytest.mark.parametrize("role", [
    "anonymous",
    "admin",
])
def test_no_route_answers_500_to_hostile_input(make_app, session, role):
    app = make_app(**STRIPE_SETTINGS)
    campaign = make_campaign(session, slug="spring")
    ledger.ensure_totals(session, campaign)
    gift = give(session, campaign, 5000, donor=make_donor(session))
    session.commit()
    gift_id, donor_id, campaign_id = gift.id, gift.donor_id, campaign.id
    from fundraiser.auth.users import create_user

    admin = create_user(session, "admin@example.org", "admin", "a very good password")
    session.commit()
    real = {"slug": "spring", "campaign_id": str(campaign_id), "gift_id": str(gift_id), "donor_id": str(donor_id),
            "year": "2026", "chart_id": "daily"}
    client = app.test_client()
    failures = []
    # Each value in every parameter at once (the same query for every route).
    queries = {value: urlencode({n: value for n in NAMES}) for value in HOSTILE}
    queries["%ff%fe"] = "&".join(f"{n}=%ff%fe" for n in NAMES)
    for method, url in _cases(app, real):
        for value, query in queries.items():
            if role == "admin":
                put_in_session(client, admin)
            if method == "GET":
                response = client.get(f"{url}?{query}")
            elif url.startswith("/api/") or url == "/stripe/webhook":
                response = client.post(url, data=value.encode("utf-8", "surrogatepass"), content_type="application/json")
            else:
                response = client.post(url, data=query, content_type="application/x-www-form-urlencoded")
            # 503 from the donate path: Stripe's API is a closed port here (a retryable PaymentError).
            if response.status_code >= 500 and not (response.status_code == 503 and url.endswith("/donations")):
                failures.append((method, url, value[:20], response.status_code))
            response.close()
    assert not failures, failures[:40]


@pytest.mark.parametrize("header", ["Host", "X-Forwarded-Host"])
@pytest.mark.parametrize("path", ["/", "/login", "/api/campaigns/spring/progress"])
def test_a_host_name_that_is_not_one_answers_400_with_a_message(make_app, session, header, path):
    """A host label over 63 characters can't be encoded (IDNA): the error page, which builds its
    links from the host, answered 500 to this, signed out (found after issue 18's fuzz)."""
    app = make_app(PROXY_COUNT="1")  # behind nginx, which passes the client's Host on
    make_campaign(session, slug="spring")
    session.commit()
    response = app.test_client().get(path, headers={header: "x" * 64 + ".example.org"})
    assert response.status_code == 400
    body = response.get_json()["error"]["message"] if path.startswith("/api/") else response.get_data(as_text=True)
    assert "not a valid host name" in body

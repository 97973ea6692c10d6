"""The embeddable widget: framing allowed only for listed origins, the rest of the app never framed."""

from __future__ import annotations

import pytest

from fundraiser.config import ConfigError, load_settings
from tests.factories import give, make_campaign


@pytest.fixture
def embed_app(make_app):
    return make_app(EMBED_ALLOWED_ORIGINS="https://www.example.org, https://example.org")


def test_widget_may_be_framed_by_listed_origins_only(embed_app, session):
    campaign = make_campaign(session, title="Giving Tuesday")
    give(session, campaign, 2500)
    session.commit()
    response = embed_app.test_client().get(f"/embed/campaigns/{campaign.slug}")
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self' https://www.example.org https://example.org;" in csp + ";"
    assert "X-Frame-Options" not in response.headers
    html = response.get_data(as_text=True)
    assert 'role="progressbar"' in html and 'data-field="raised">$25<' in html  # server-rendered figures
    assert all(f'data-milestone="{m}"' in html for m in (25, 50, 75, 100))
    assert "Giving Tuesday" in html and 'target="_blank"' in html


def test_every_other_page_refuses_framing(embed_app, session):
    campaign = make_campaign(session)
    session.commit()
    client = embed_app.test_client()
    for url in ("/", f"/campaigns/{campaign.slug}", f"/api/campaigns/{campaign.slug}/progress", "/login"):
        response = client.get(url)
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"], url
        assert response.headers["X-Frame-Options"] == "DENY", url


def test_without_listed_origins_only_the_app_itself_may_frame_the_widget(client, session):
    campaign = make_campaign(session)
    session.commit()
    csp = client.get(f"/embed/campaigns/{campaign.slug}").headers["Content-Security-Policy"]
    assert "frame-ancestors 'self';" in csp + ";"


def test_widget_payments_come_back_to_the_widget(make_app, session):
    from tests.payments.conftest import STRIPE_SETTINGS

    app = make_app(**STRIPE_SETTINGS)
    campaign = make_campaign(session)
    session.commit()
    html = app.test_client().get(f"/embed/campaigns/{campaign.slug}").get_data(as_text=True)
    assert '<input type="hidden" name="embed" value="1">' in html
    assert 'target="_blank"' in html.split('class="donate-form"')[1].split(">")[0]


@pytest.mark.parametrize("raw", ["example.org", "https://example.org/page", "https://*.example.org", "ftp://x.org"])
def test_embed_origins_must_be_plain_origins(raw, tmp_path):
    with pytest.raises(ConfigError, match="EMBED_ALLOWED_ORIGINS"):
        load_settings({"EMBED_ALLOWED_ORIGINS": raw, "SECRET_KEY": "x" * 40}, tmp_path)


def test_unknown_widget_is_a_404_that_still_shows_in_the_frame(embed_app):
    response = embed_app.test_client().get("/embed/campaigns/nope")
    assert response.status_code == 404
    # An archived campaign's old blog post shows "couldn't find", not a browser's broken frame.
    assert "frame-ancestors 'self' https://www.example.org https://example.org;" in response.headers["Content-Security-Policy"] + ";"
    assert "X-Frame-Options" not in response.headers


def test_the_console_snippet_sizes_itself_and_says_where_it_points(make_app, session):
    from tests.functional.staff_helpers import sign_in_as

    app = make_app(BASE_URL="https://give.example.org")
    campaign = make_campaign(session, title="Giving Tuesday")
    session.commit()
    html = sign_in_as(app, session, "staff").get(f"/staff/campaigns/{campaign.id}/edit").get_data(as_text=True)
    assert ('style="width:100%;max-width:420px;height:720px;border:0"' in html.replace("&#34;", '"')
            and "https://give.example.org/static/js/widget-frame.js" in html)
    # Staff are on http://localhost here: the snippet's address is named, with what to do about it.
    assert "These snippets point at <strong>https://give.example.org</strong>" in html

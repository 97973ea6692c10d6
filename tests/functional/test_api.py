"""GET /api/campaigns/<slug>/progress."""

from fundraiser.models import CampaignStatus
from tests.factories import give, make_campaign, make_donor

KEYS = {
    "id", "slug", "title", "currency", "goal_cents", "raised_cents", "gift_count", "donor_count",
    "percent", "ends_at", "updated_at",
}


def test_progress_has_exactly_the_documented_keys(client, session):
    campaign = make_campaign(session, goal_cents=2_500_000)
    give(session, campaign, 1_234_000, donor=make_donor(session))
    session.commit()
    response = client.get(f"/api/campaigns/{campaign.slug}/progress")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == KEYS
    assert body["id"] == campaign.id
    assert (body["raised_cents"], body["goal_cents"], body["gift_count"], body["donor_count"]) == (
        1_234_000, 2_500_000, 1, 1,
    )
    assert body["percent"] == 49.3
    assert body["ends_at"] == campaign.ends_at.isoformat()
    assert body["updated_at"].endswith("+00:00")


def test_etag_gives_304_until_a_gift_changes_it(client, session):
    campaign = make_campaign(session)
    session.commit()
    url = f"/api/campaigns/{campaign.slug}/progress"
    first = client.get(url)
    etag = first.headers["ETag"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    give(session, campaign, 5000)
    session.commit()
    changed = client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.get_json()["raised_cents"] == 5000
    assert changed.headers["ETag"] != etag


def test_etag_changes_when_the_goal_changes(client, session):
    campaign = make_campaign(session)
    session.commit()
    url = f"/api/campaigns/{campaign.slug}/progress"
    etag = client.get(url).headers["ETag"]
    campaign.goal_cents = 2_000_000
    session.commit()
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 200


def test_unknown_or_draft_campaign_is_a_json_404(client, session):
    draft = make_campaign(session, status=CampaignStatus.DRAFT)
    session.commit()
    for slug in ("nope", draft.slug):
        response = client.get(f"/api/campaigns/{slug}/progress")
        assert response.status_code == 404
        assert response.get_json()["error"]["status"] == 404


def test_open_ended_campaign_has_null_end(client, session):
    campaign = make_campaign(session, ends_at=None)
    session.commit()
    assert client.get(f"/api/campaigns/{campaign.slug}/progress").get_json()["ends_at"] is None


def test_unknown_api_path_is_json(client):
    response = client.get("/api/nothing-here")
    assert response.status_code == 404 and "error" in response.get_json()

"""The gift list pages through more than 200 gifts and keeps its filters; a saved gift links to itself."""

import re

from fundraiser.models import GiftMethod
from tests.factories import give, make_campaign


def test_gift_list_pages_past_200_with_filters_kept(staff_http, arrange):
    with arrange() as session:
        campaign = make_campaign(session)
        other = make_campaign(session)
        for n in range(205):
            give(session, campaign, 100 + n, method=GiftMethod.CASH)
        give(session, other, 999, method=GiftMethod.CASH)
        campaign_id = campaign.id
    client = staff_http()
    first = client.get(f"/staff/gifts?campaign={campaign_id}&method=cash").text
    assert len(re.findall(r'href="/staff/gifts/\d+"', first)) == 200
    older = re.search(r'<a rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    assert f"campaign={campaign_id}" in older and "method=cash" in older and "page=2" in older
    second = client.get(older).text
    assert len(re.findall(r'href="/staff/gifts/\d+"', second)) == 5
    assert 'rel="prev"' in second and 'rel="next"' not in second
    assert "$9.99" not in first + second
    assert 'href="/staff/gifts"' in first, "the gift list is in the staff menu"


def test_saved_gift_message_links_to_the_gift(staff_http, arrange):
    with arrange() as session:
        campaign_id = make_campaign(session).id
    client = staff_http()
    token = re.search(r'name="token" value="([^"]+)"', client.get("/staff/gifts/new").text).group(1)
    reply = client.post("/staff/gifts/new", {
        "token": token, "campaign_id": campaign_id, "amount": "25", "method": "cash",
        "received_on": "2026-12-01", "new_donor_name": "Ann <b>Archer</b>",
    })
    assert reply.status == 302
    page = client.get(reply.headers["Location"]).text
    gift_id = re.search(r'<a href="/staff/gifts/(\d+)">Saved gift \1</a>', page).group(1)
    assert "Ann &lt;b&gt;Archer&lt;/b&gt;" in page
    assert client.get(f"/staff/gifts/{gift_id}").status == 200

"""The board dashboard in a real browser: every chart is drawn by Plotly with its data, no console errors."""

import io
import re
from datetime import timedelta

import pypdfium2 as pdfium
from axe_playwright_python.sync_playwright import Axe
from PIL import Image, ImageOps
from playwright.sync_api import expect
from pypdf import PdfReader

from fundraiser import ledger
from fundraiser.auth.users import create_user
from fundraiser.db import utcnow
from fundraiser.models import GiftChannel, GiftMethod, PlanStatus, RecurringPlan
from tests.browser.conftest import sign_in
from tests.factories import give, make_campaign, make_donor, make_event, make_match

# For a failure message: the innermost elements that stick out on the right.
STICKING_OUT = """() => Array.from(document.querySelectorAll('body *')).filter(el =>
  el.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5 &&
  !Array.from(el.children).some(c => c.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5))
  .slice(0, 5).map(el => el.tagName + '.' + el.className + ' ' + (el.textContent || '').trim().slice(0, 40))"""


def scroll_through_charts(page) -> None:
    """Charts are drawn as they near the screen, so read the page the way a person scrolls it."""
    for chart in page.locator("[data-chart]").all():
        chart.scroll_into_view_if_needed()
        expect(chart.locator(".main-svg").first).to_be_attached()


def test_charts_below_the_screen_wait_until_scrolled_to(live_server, page, session):
    campaign = make_campaign(session, slug="spring", title="Spring appeal", goal_cents=500_000)
    for day in range(20):
        give(session, campaign, 1_000, received_at=utcnow() - timedelta(days=day))
    create_user(session, "board@example.org", "board", "a very good password")
    session.commit()
    sign_in(page, live_server.url, "board@example.org", "a very good password")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/board/campaigns/spring")
    first, last = page.locator("[data-chart]").first, page.locator("[data-chart]").last
    first.scroll_into_view_if_needed()
    expect(first.locator(".main-svg").first).to_be_attached()
    assert last.locator(".main-svg").count() == 0
    last.scroll_into_view_if_needed()
    expect(last.locator(".main-svg").first).to_be_attached()
    assert page.console_errors == []


def test_board_member_sees_every_chart_drawn_with_data(live_server, page, session):
    campaign = make_campaign(session, slug="spring", title="Spring appeal", goal_cents=500_000,
                             starts_at=utcnow() - timedelta(days=400))
    plan = RecurringPlan(campaign_id=campaign.id, amount_cents=2_500, currency="USD", status=PlanStatus.ACTIVE)
    session.add(plan)
    session.flush()
    event = make_event(session, campaign, name="Cookie walk")
    donors = [make_donor(session) for _ in range(6)]
    for i in range(60):
        channel = [GiftChannel.ONLINE, GiftChannel.OFFLINE, GiftChannel.EVENT][i % 3]
        gift = give(
            session, campaign, 1_000 + 500 * (i % 7), donor=donors[i % 6],
            received_at=utcnow() - timedelta(days=7 * i), channel=channel,
            method=GiftMethod.CARD if channel == GiftChannel.ONLINE else GiftMethod.CASH,
            event_id=event.id if channel == GiftChannel.EVENT else None,
            recurring_plan_id=plan.id if i % 5 == 0 and channel == GiftChannel.ONLINE else None,
        )
        if i % 11 == 0:
            ledger.refund_gift(session, gift, 500, occurred_at=utcnow() - timedelta(days=7 * i - 1))
    create_user(session, "board@example.org", "board", "a very good password")
    session.commit()

    sign_in(page, live_server.url, "board@example.org", "a very good password")
    page.goto(f"{live_server.url}/board/campaigns/spring")
    scroll_through_charts(page)
    # (wait_for_function would need 'unsafe-eval', which the page rightly refuses)
    expect(page.locator("[data-chart]:not(:has(.main-svg))")).to_have_count(0)
    drawn = page.evaluate(
        "Array.from(document.querySelectorAll('[data-chart]')).map(el => "
        "[el.dataset.chart, el.data.length, el.data.reduce((n, t) => n + (t.y || []).length, 0)])"
    )
    assert [chart for chart, _, _ in drawn] == [
        "progress", "channels", "methods", "monthly", "donors", "retention", "sizes", "recurring", "events", "refunds",
    ]
    assert all(traces >= 1 and points >= 1 for _, traces, points in drawn), drawn
    # Bars and lines are really on the page, not just in memory.
    assert page.locator("[data-chart='monthly'] .point").count() > 0
    assert page.locator("[data-chart='progress'] .scatterlayer .trace").count() >= 3
    table = page.get_by_role("group").filter(has_text="Data table: raised by channel")
    table.locator("summary").click()
    assert table.get_by_role("row", name="Online").is_visible()
    assert page.console_errors == []

    page.goto(f"{live_server.url}/board")
    scroll_through_charts(page)
    expect(page.locator("[data-chart]:not(:has(.main-svg))")).to_have_count(0)
    assert page.locator("[data-chart] .main-svg").count() >= 9
    assert page.console_errors == []


def test_printed_report_is_one_page_per_campaign_each_with_its_own_charts(live_server, page, session):
    for n in (1, 2, 3):
        # Two have what makes a page tallest: an end date (days left, and a projection whose range
        # wraps over three lines) and a match; a page that overflows is followed by another.
        tall = n > 1
        dates = {"starts_at": utcnow() - timedelta(days=30), "ends_at": utcnow() + timedelta(days=30)} if tall else {}
        campaign = make_campaign(session, slug=f"appeal-{n}", title=f"Appeal {n}",
                                 goal_cents=4_000_000 if tall else 50_000, **dates)
        if tall:
            make_match(session, campaign, 20_000, sponsor="Keystone RV", counts_offline=True)
        for day in range(n * 3):
            give(session, campaign, 150_000 if tall else 1_000, received_at=utcnow() - timedelta(days=day),
                 channel=GiftChannel.ONLINE if day % 2 else GiftChannel.OFFLINE)
    create_user(session, "board@example.org", "board", "a very good password")
    session.commit()
    sign_in(page, live_server.url, "board@example.org", "a very good password")
    page.emulate_media(media="print")
    page.set_viewport_size({"width": 1032, "height": 695})  # A4 landscape within the margins: charts drawn at the paper's width
    page.goto(f"{live_server.url}/board/report")
    expect(page.locator("[data-chart]:not(:has(.main-svg))")).to_have_count(0)
    raised = page.evaluate(
        "Array.from(document.querySelectorAll('[data-chart=progress]')).map(el => Math.max(...el.data[0].y))"
    )
    assert sorted(raised) == [30.0, 9_000.0, 13_500.0]  # 3 x $10, 6 and 9 x $1,500: each campaign its own
    pdf = page.pdf(format="A4", landscape=True)
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 4  # the summary, then a page per campaign
    assert page.console_errors == []


def test_board_pages_pass_axe_and_charts_hold_no_hidden_focusable_controls(live_server, page, session):
    campaign = make_campaign(session, slug="spring", title="Spring appeal", goal_cents=500_000,
                             starts_at=utcnow() - timedelta(days=60))
    donor = make_donor(session)
    for day in range(0, 60, 3):
        give(session, campaign, 2_500, donor=donor, received_at=utcnow() - timedelta(days=day))
    create_user(session, "board@example.org", "board", "a very good password")
    session.commit()
    sign_in(page, live_server.url, "board@example.org", "a very good password")
    for path in ("/board", "/board/campaigns/spring", "/board/report"):
        page.goto(live_server.url + path)
        scroll_through_charts(page)
        expect(page.locator("[data-chart]:not(:has(.main-svg))")).to_have_count(0)
        # No mode bar: nothing to send data to Plotly's cloud, nothing unnamed for a keyboard.
        assert page.locator(".modebar, [data-title='Edit in Chart Studio']").count() == 0, path
        focusable = page.locator("[aria-hidden=true] :is(a[href], button, input, select, textarea, [tabindex])")
        assert focusable.count() == 0, path
        violations = Axe().run(page).response["violations"]
        assert violations == [], (path, [(v["id"], [n["target"] for n in v["nodes"]]) for v in violations])
    assert page.console_errors == []


OVERLAPS = """() => Array.from(document.querySelectorAll('[data-chart]')).map(el => {
  const plot = el.querySelector('.nsewdrag').getBoundingClientRect();
  const legend = el.querySelector('.legend');
  const box = legend ? legend.getBoundingClientRect() : null;
  const covers = box ? !(box.bottom <= plot.top || box.top >= plot.bottom || box.right <= plot.left
                         || box.left >= plot.right) : false;
  const card = el.closest('.chart');
  return [el.dataset.chart, covers, card.scrollWidth <= card.clientWidth + 1, Math.round(plot.width)];
})"""


def test_printed_report_opens_with_a_summary_and_legends_never_cover_a_chart(live_server, page, session, tmp_path):
    for n in (1, 2):
        campaign = make_campaign(session, slug=f"appeal-{n}", title=f"Appeal {n}", goal_cents=90_000,
                                 starts_at=utcnow() - timedelta(days=30), ends_at=utcnow() + timedelta(days=30))
        for day in range(12):
            give(session, campaign, 1_500 * n, received_at=utcnow() - timedelta(days=day * 2))
    create_user(session, "board@example.org", "board", "a very good password")
    session.commit()
    sign_in(page, live_server.url, "board@example.org", "a very good password")
    page.emulate_media(media="print")
    page.set_viewport_size({"width": 1050, "height": 740})  # about A4 landscape less the margins
    page.goto(f"{live_server.url}/board/report")
    expect(page.locator("[data-chart]:not(:has(.main-svg))")).to_have_count(0)
    sections = page.locator("section.report-page h2").all_inner_texts()
    assert sections[0].endswith("all campaigns") and sorted(sections[1:]) == ["Appeal 1", "Appeal 2"]
    assert page.locator(".report-summary").get_by_text("printed").count() == 1
    boxes = page.evaluate(OVERLAPS)
    assert [b for b in boxes if b[1] or not b[2]] == [], boxes
    progress_width = [w for chart, _, _, w in boxes if chart == "progress"]
    assert all(w > 800 for w in progress_width), progress_width  # the full width of the page
    pdf = page.pdf(format="A4", landscape=True)
    pages = PdfReader(io.BytesIO(pdf)).pages
    assert len(pages) == 3
    assert [f"Page {n} of 3" in p.extract_text() for n, p in enumerate(pages, start=1)] == [True] * 3
    assert "printed" in pages[0].extract_text()
    assert page.console_errors == []
    # As a PDF reader lays it out and draws it (pypdf's layout mode, PDFium): each campaign on its
    # own page, every card inside the margins.
    texts = [p.extract_text(extraction_mode="layout") for p in pages]
    titles = [next(line for line in t.splitlines() if line.strip()).strip() for t in texts[1:]]
    assert sorted(titles) == ["Appeal 1", "Appeal 2"]
    assert all("Projected total at the end" in t and "Raised so far against the goal" in t for t in texts[1:])
    document = pdfium.PdfDocument(pdf)
    for n, drawn in enumerate(document, start=1):
        drawn.render(scale=40 / 72).to_pil().save(tmp_path / f"page-{n}.png")
    document.close()
    for image_path in sorted(tmp_path.glob("page-*.png")):
        with Image.open(image_path) as image:
            width, height = image.size
            content_bottom = height - round(40 * 14 / 25.4)  # above the 14 mm margin holding the page number
            ink = ImageOps.invert(image.convert("L")).point(lambda v: 255 if v > 24 else 0)
            content = ink.crop((0, 0, width, content_bottom)).getbbox()
        side = round(40 * 10 / 25.4)  # 10 mm of the 12 mm side margins, at 40 dpi
        # Nothing runs into the side margins or off the bottom of the page's content area (a clipped card).
        assert content[0] >= side and content[2] <= width - side and content[3] < content_bottom, (image_path.name, content)


def test_a_board_member_on_a_phone_reads_the_campaigns_without_scrolling_sideways(live_server, page, session):
    spring = make_campaign(session, slug="spring", title="Spring appeal", goal_cents=500_000,
                           starts_at=utcnow() - timedelta(days=60))
    ended = make_campaign(session, slug="tuesday", title="Giving Tuesday", goal_cents=100_000,
                          starts_at=utcnow() - timedelta(days=20), ends_at=utcnow() - timedelta(days=5))
    donor = make_donor(session)
    for day in range(0, 30, 3):
        give(session, spring, 2_500, donor=donor, received_at=utcnow() - timedelta(days=day))
    give(session, spring, 45_000, donor=donor, method=GiftMethod.IN_KIND, description="Laptops")
    give(session, ended, 10_000, donor=donor, received_at=utcnow() - timedelta(days=10))
    create_user(session, "board@example.org", "board", "a very good password")
    session.commit()
    page.set_viewport_size({"width": 320, "height": 640})
    sign_in(page, live_server.url, "board@example.org", "a very good password")
    page.goto(live_server.url + "/board")
    fits = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    assert page.evaluate(fits), page.evaluate(STICKING_OUT)
    row = page.get_by_role("row", name=re.compile("Spring appeal"))
    # Raised counts the laptops, as the figures above do; the goal's share doesn't (the public bar's rule).
    expect(row).to_contain_text("$700.00")
    expect(row).to_contain_text("5.0% (in-kind not counted toward the goal)")
    expect(page.get_by_role("row", name=re.compile("Giving Tuesday"))).to_contain_text("ended, still marked active")
    table = page.get_by_role("region", name="Table of campaigns")
    assert table.evaluate("el => el.scrollWidth > el.clientWidth")  # it scrolls in its box, not the page
    page.goto(live_server.url + "/board/campaigns/spring")
    for summary in page.locator(".chart__table summary").all():
        summary.scroll_into_view_if_needed()
        summary.click()
    assert page.evaluate(fits), page.evaluate(STICKING_OUT)

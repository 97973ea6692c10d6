"""What statements and acknowledgment letters say (IRS Publication 1771), without HTTP."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date, datetime

import pytest
from PIL import Image
from pypdf import PdfReader

from fundraiser import letters, statements
from fundraiser.models import Donor, GiftChannel, GiftMethod, RecurringPlan
from fundraiser.organisation import current_organisation
from fundraiser.settings import current_settings
from tests.documents_helpers import TZ, every_kind_of_gift, pdf_pages, pdf_text
from tests.factories import give, make_campaign, make_donor

ISSUED = date(2026, 1, 20)


def test_statement_lists_each_kind_of_gift_as_publication_1771_asks(session):
    donor, _ = every_kind_of_gift(session, 2025)
    statement = statements.year_statement(session, donor, 2025, TZ, issued_on=ISSUED)
    text = statements.statement_text(statement, current_settings(), current_organisation(), pdf_link="https://x/s.pdf")
    expected_lines = [
        "Dear Zoë Ñúñez,",
        "Charity: Players Philanthropy Fund, Inc., Tax ID (EIN) 27-6601178",
        "Date issued: January 20, 2026",
        "1. Jan 15, 2025: Cash, for Five Year Anniversary Fundraiser",
        "   Amount: $25.00",
        "2. Feb 3, 2025: Check #1042, for Five Year Anniversary Fundraiser",
        "   Amount: $300.00",
        "3. Mar 9, 2025: Card, for Five Year Anniversary Fundraiser",
        "4. Apr 1, 2025: Stock: 10 shares of ACME Corp, for Five Year Anniversary Fundraiser",
        "   Amount: not valued by us",
        "   Tax-deductible amount: non-cash: value not stated by us",
        "5. May 20, 2025: In-kind gift: 40 copies of 'The Explosive Child', for Five Year Anniversary Fundraiser",
        "6. Jun 30, 2025: Donor-advised fund grant, for Five Year Anniversary Fundraiser",
        "   Amount: $1,000.00",
        "   Tax-deductible amount: not deductible by you (donor-advised fund)",
        "7. Sep 12, 2025: Check, for Five Year Anniversary Fundraiser",
        "   Goods or services received in exchange: Gala dinner for two, good-faith estimate $75.00",
        "   Tax-deductible amount: $125.00",
        "8. Oct 4, 2025: Proceeds of Cookie Walk you hosted, for Five Year Anniversary Fundraiser",
        "   Tax-deductible amount: not stated (event proceeds)",
        "9. Nov 2, 2025: Check #1077, for Five Year Anniversary Fundraiser",
        "   Amount: $150.00",
        # Stock ($1,500) and in-kind ($800) are never added: 25 + 300 + 50 + 1,000 + 200 + 640 + 150.
        "Total of money gifts: $2,365.00",
        # 25 + 300 + 50 + 125 + 150: DAF grants and event proceeds are not the donor's deduction.
        "Total tax-deductible amount: $650.00",
        statements.SOME_GOODS,
        statements.NON_CASH_NOTE,
        statements.DAF_NOTE,
        statements.EVENT_NOTE,
        current_organisation().sponsor_statement,
        "A printable copy (PDF) of this statement: https://x/s.pdf",
        statements.THANKS,
    ]
    for line in expected_lines:
        assert line in text.splitlines(), line
    for absent in ("$777.00", "$333.00", "$999.00", "$15.00", "$1,500.00", "$800.00", "10."):
        assert absent not in text, absent


def test_a_statement_of_cash_only_says_no_goods_or_services_were_provided(session):
    donor, gifts = every_kind_of_gift(session, 2025)
    only_cash = statements.single_gift_statement(
        donor, date(2025, 1, 15),
        [line for line in statements.year_statement(session, donor, 2025, TZ).lines if line.gift.id == gifts["cash"].id],
        ISSUED,
    )
    assert statements.notes(only_cash) == [statements.NO_GOODS_ALL]
    assert "No goods or services were provided in exchange for these contributions." in statements.NO_GOODS_ALL


def test_statement_pdf_prints_names_in_any_script_with_the_window_address(session):
    donor, _ = every_kind_of_gift(session, 2025)
    statement = statements.year_statement(session, donor, 2025, TZ, issued_on=ISSUED)
    text = pdf_text(statements.statement_pdf(statement, current_settings()))
    for expected in (
        "2025 giving statement", "Issued January 20, 2026", "Dear Zoë Ñúñez,", "12 Rue Saint-Denis", "Apt 3",
        "Baltimore, MD 21201", "Players Philanthropy Fund, Inc., Tax ID (EIN) 27-6601178", "fiscally sponsored project",
        "10 shares of ACME Corp", "40 copies of", "good-faith estimate $75.00", "Total of money gifts: $2,365.00",
        "Total tax-deductible amount: $650.00", "not deductible by you", "Thank you for your generosity",
        "PO Box 1234", "End Restraint and Seclusion Maryland",
    ):
        assert expected in text, expected
    for absent in ("$777.00", "$333.00", "$999.00", "$800.00", "$1,500.00"):
        assert absent not in text, absent


def test_a_letter_acknowledges_the_corrected_amount_and_no_letter_for_a_voided_gift(session):
    _, gifts = every_kind_of_gift(session, 2025)
    letter = letters.gift_letter(session, gifts["corrected"], TZ, issued_on=ISSUED)
    text = pdf_text(letters.documents_pdf([letter], current_settings(), current_organisation()))
    assert "Acknowledgment of your gift" in text and f"Gift number {gifts['corrected'].id}" in text  # no receipt sent: none named
    assert "$150.00" in text and "$15.00" not in text
    assert "received on November 2, 2025" in text
    assert "No goods or services were provided in exchange for these contributions." in text
    assert letters.gift_letter(session, gifts["voided"], TZ, issued_on=ISSUED) is None
    assert letters.gift_letter(session, gifts["refunded"], TZ, issued_on=ISSUED) is None


def test_letters_for_a_date_range_give_a_page_per_gift_or_per_donor(session):
    every_kind_of_gift(session, 2025, email=None)
    with_email = Donor(name="Has Email", email="has@example.org")
    session.add(with_email)
    session.flush()
    per_gift = letters.letters_for_period(session, date(2025, 1, 1), date(2025, 6, 30), TZ, issued_on=ISSUED,
                                          per_donor=False, without_email_only=True)
    assert (per_gift.gift_count, per_gift.donor_count, len(per_gift.letters)) == (6, 1, 6)
    assert per_gift.without_address == []
    pages = pdf_pages(letters.documents_pdf(per_gift.letters, current_settings(), current_organisation()))
    assert len(pages) == 6 and all("Zoë Ñúñez" in page and "Baltimore, MD 21201" in page for page in pages)
    per_donor = letters.letters_for_period(session, date(2025, 1, 1), date(2025, 6, 30), TZ, issued_on=ISSUED,
                                           per_donor=True, without_email_only=True)
    assert len(per_donor.letters) == 1
    assert "Acknowledgment of your gifts, Jan 1, 2025 to Jun 30, 2025" in pdf_text(
        letters.documents_pdf(per_donor.letters, current_settings(), current_organisation()))


def test_a_long_statement_keeps_its_totals_and_signature_together_and_names_the_donor_on_each_page(session):
    campaign = make_campaign(session)
    donor = make_donor(session, name="Dana Long", email="dana@example.org")
    for day in range(1, 51):
        give(session, campaign, 2500, donor=donor, method=GiftMethod.CASH, received_at=datetime(2025, 1 + day % 12, 1 + day % 28, 12, tzinfo=TZ))
    statement = statements.year_statement(session, donor, 2025, TZ, issued_on=ISSUED)
    page_counts = set()
    for count in range(1, 51):  # every length, so each place a page can break is met
        pages = pdf_pages(letters.documents_pdf([replace(statement, lines=statement.lines[:count])], current_settings(),
                                                current_organisation()))
        page_counts.add(len(pages))
        last = pages[-1]
        assert "Total of money gifts" in last and "With gratitude," in last, f"{count} gifts: the closing was split"
        assert all("Dana Long · 2025 giving statement (continued)" in page for page in pages[1:]), count
        assert "(continued)" not in pages[0]
    assert page_counts == {1, 2, 3}


def test_mailing_lines_follow_the_envelope_and_spell_out_other_countries():
    donor = Donor(name="Ana Lima", address_line1="Rua A, 10", city="Lisboa", postal_code="1000-001", country="PT")
    assert letters.mailing_lines(donor) == ["Ana Lima", "Rua A, 10", "Lisboa, 1000-001", "PORTUGAL"]
    assert letters.has_mailing_address(donor)
    assert not letters.has_mailing_address(Donor(name="No Address"))



def test_letters_carry_the_organisation_logo_when_one_was_uploaded(session):
    donor, _ = every_kind_of_gift(session, 2025)
    statement = statements.year_statement(session, donor, 2025, TZ, issued_on=ISSUED)
    settings = current_settings()
    (settings.instance_path / "logos").mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (120, 60), (20, 90, 160)).save(settings.instance_path / "logos" / "logo.png")
    with_logo = letters.documents_pdf([statement], settings, replace(current_organisation(), logo_file="logos/logo.png"))
    without = letters.documents_pdf([statement], settings, current_organisation())
    assert len(PdfReader(io.BytesIO(with_logo)).pages[0].images) == 1
    assert len(PdfReader(io.BytesIO(without)).pages[0].images) == 0


LETTER_SAYS = {
    "cash": (["Cash, for Five Year Anniversary Fundraiser", "Total tax-deductible amount: $25.00", statements.NO_GOODS_ALL], []),
    "check": (["Check #1042", "Total of money gifts: $300.00", "Total tax-deductible amount: $300.00"], []),
    "card": (["Card, for Five Year Anniversary Fundraiser", "Total tax-deductible amount: $50.00"], []),
    "stock": (["Stock: 10 shares of ACME Corp", "not valued by us", statements.NON_CASH_NOTE],
              ["$1,500.00", "Total of money gifts", "Total tax-deductible"]),
    "in_kind": (["In-kind gift: 40 copies of 'The Explosive Child'", statements.NON_CASH_NOTE],
                ["$800.00", "Total of money gifts", "Total tax-deductible"]),
    "daf": (["Donor-advised fund grant", "$1,000.00", "not deductible by you (donor-advised fund)", statements.DAF_NOTE],
            ["Total tax-deductible"]),
    "quid_pro_quo": (["Gala dinner for two, good-faith estimate $75.00", "Total of money gifts: $200.00",
                      "Total tax-deductible amount: $125.00", statements.SOME_GOODS], [statements.NO_GOODS_ALL]),
    "event": (["Proceeds of Cookie Walk you hosted", "$640.00", statements.EVENT_NOTE], ["Total tax-deductible"]),
}


@pytest.mark.parametrize("kind", sorted(LETTER_SAYS))
def test_the_letter_for_each_kind_of_gift(session, kind):
    _, gifts = every_kind_of_gift(session, 2025)
    letter = letters.gift_letter(session, gifts[kind], TZ, issued_on=ISSUED)
    text = pdf_text(letters.documents_pdf([letter], current_settings(), current_organisation()))
    present, absent = LETTER_SAYS[kind]
    common = ["Acknowledgment of your gift", "Issued January 20, 2026", "Zoë Ñúñez", "Baltimore, MD 21201",
              "Players Philanthropy Fund, Inc., Tax ID (EIN) 27-6601178", current_organisation().sponsor_statement,
              statements.THANKS]
    for expected in common + present:
        assert expected in text, expected
    for unexpected in absent:
        assert unexpected not in text, unexpected


def test_monthly_instalments_each_appear_as_a_monthly_gift(session):
    campaign = make_campaign(session, title="Helpline")
    donor = make_donor(session, name="Mo Monthly")
    plan = RecurringPlan(donor_id=donor.id, campaign_id=campaign.id, amount_cents=1000, currency="USD")
    session.add(plan)
    session.flush()
    for month in (1, 2, 3):
        give(session, campaign, 1000, donor=donor, received_at=datetime(2025, month, 5, 12, tzinfo=TZ),
             channel=GiftChannel.ONLINE, method=GiftMethod.CARD, recurring_plan_id=plan.id)
    statement = statements.year_statement(session, donor, 2025, TZ, issued_on=ISSUED)
    text = statements.statement_text(statement, current_settings(), current_organisation())
    assert text.count("Card (monthly gift), for Helpline") == 3 and "Total tax-deductible amount: $30.00" in text

"""Acknowledgment letters and printed statements, laid out for a US #10 window envelope.

Donors without email get paper: a letter for one gift, letters for every gift (or donor) of a
date range, and the year-end statements for print. Every page puts the organisation's return
address at the top left and the donor's name and mailing address where a #10 window shows it
(0.875 in from the left, 2 in from the top), so a page folded in three goes straight into the
envelope. What the page says comes from `statements` (the same words as the email and the staff
page); this module only lays it out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date
from fpdf import FPDF
from sqlalchemy.orm import Session

from . import receipts, statements
from .config import Settings
from .models import Donor, Gift
from .money import format_money
from .organisation import Organisation
from .statements import Statement

# Inches on a US Letter page.
PAGE_WIDTH = 8.5
LEFT = 0.875
RIGHT = 0.75
RETURN_TOP = 0.45
WINDOW_TOP = 2.0
WINDOW_WIDTH = 3.75
BODY_TOP = 3.45
# Fonts that print any name ("Zoë Ñúñez"): Roboto from the font-roboto package, else DejaVu from
# the system; the PDF core fonts (Latin-1 only) are the last resort.
SYSTEM_FONTS = (Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"), Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"))


def font_files() -> tuple[Path, Path] | None:
    """Regular and bold Unicode TrueType fonts, or None when only the core fonts are available."""
    try:
        import font_roboto
    except ImportError:
        pass
    else:
        folder = Path(font_roboto.font_directory)
        regular, bold = folder / "Roboto-Regular.ttf", folder / "Roboto-Bold.ttf"
        if regular.exists() and bold.exists():
            return regular, bold
    if all(path.exists() for path in SYSTEM_FONTS):
        return SYSTEM_FONTS
    return None


def mailing_lines(donor: Donor, locale: str = "en_US") -> list[str]:
    """The donor's name and postal address as an envelope shows it (country spelled out when not US)."""
    city_line = " ".join(x for x in (f"{donor.city}," if donor.city and (donor.region or donor.postal_code) else donor.city,
                                     donor.region, donor.postal_code) if x)
    lines = [donor.name, donor.address_line1, donor.address_line2, city_line]
    if donor.country and donor.country.upper() != "US":
        lines.append(Locale.parse(locale).territories.get(donor.country.upper(), donor.country).upper())
    return [line.strip() for line in lines if line and line.strip()]


def has_mailing_address(donor: Donor) -> bool:
    """Enough of an address for the post office: a street line and a city or postal code."""
    return bool(donor.address_line1 and (donor.city or donor.postal_code))


def gift_letter(session: Session, gift: Gift, tz: ZoneInfo, *, issued_on: date) -> Statement | None:
    """The acknowledgment of one gift as it stands now (corrected amount), or None when there is
    nothing to acknowledge (no donor record, voided or fully refunded)."""
    if gift.donor is None:
        return None
    day = gift.received_at.astimezone(tz).date()
    found = statements.period_statements(session, day, day, tz, issued_on=issued_on, donor_ids=[gift.donor_id])
    lines = [line for s in found for line in s.lines if line.gift.id == gift.id]
    if not lines:
        return None
    return with_receipt_numbers(session, [statements.single_gift_statement(gift.donor, day, lines, issued_on)])[0]


def with_receipt_numbers(session: Session, documents: list[Statement]) -> list[Statement]:
    """The documents, each acknowledgment of one gift carrying its receipt number (receipts.letter_references)."""
    single = {d.lines[0].gift.id: d.lines[0].amount_cents for d in documents if _is_single(d)}
    references = receipts.letter_references(session, single)
    return [replace(d, receipt_reference=references[d.lines[0].gift.id]) if _is_single(d) else d for d in documents]


def _is_single(document: Statement) -> bool:
    return len(document.lines) == 1 and document.start == document.end


@dataclass(frozen=True)
class LetterBatch:
    """The letters for a date range, and what staff should know before printing them."""

    letters: list[Statement]
    gift_count: int
    donor_count: int
    without_address: list[Donor]


def letters_for_period(
    session: Session, start: date, end: date, tz: ZoneInfo, *, issued_on: date, per_donor: bool, without_email_only: bool,
) -> LetterBatch:
    """A letter per gift (or per donor, listing their gifts) received between two local dates."""
    found = statements.period_statements(session, start, end, tz, issued_on=issued_on)
    if without_email_only:
        found = [s for s in found if not s.donor.email]
    if per_donor:
        letters = found
    else:
        letters = [
            statements.single_gift_statement(s.donor, line.gift.received_at.astimezone(tz).date(), [line], issued_on)
            for s in found for line in s.lines
        ]
    letters = with_receipt_numbers(session, letters)
    return LetterBatch(
        letters=letters, gift_count=sum(len(s.lines) for s in found), donor_count=len(found),
        without_address=[s.donor for s in found if not has_mailing_address(s.donor)],
    )


def documents_pdf(documents: list[Statement], settings: Settings, org: Organisation) -> bytes:
    """One PDF with each letter or statement starting on its own page, ready to fold into a #10 window envelope."""
    pdf = _LetterPdf(settings, org)
    for document in documents:
        pdf.document(document)
    if not documents:
        pdf.add_page()
        pdf.set_font(pdf.family, "", 11)
        pdf.cell(0, 0.3, "Nothing to print.")
    return bytes(pdf.output())


class _LetterPdf(FPDF):
    """fpdf2 with the organisation's letterhead on every document's first page."""

    def __init__(self, settings: Settings, org: Organisation) -> None:
        super().__init__(orientation="portrait", unit="in", format="Letter")
        self.settings = settings
        self.org = org
        self.set_margins(LEFT, 0.6, RIGHT)
        self.set_auto_page_break(auto=True, margin=0.8)
        self.set_title(f"{org.name}: acknowledgments")
        self.continuing: str | None = None  # what a page the document runs onto says at its top
        self.set_author(org.charity_name or org.name)
        fonts = font_files()
        if fonts:
            self.add_font("Letter", "", str(fonts[0]))
            self.add_font("Letter", "B", str(fonts[1]))
            self.family = "Letter"
            self.unicode = True
        else:
            self.family = "Helvetica"
            self.unicode = False

    def text_of(self, value: str) -> str:
        # The core fonts are Latin-1 only: anything else is replaced rather than failing.
        return value if self.unicode else value.encode("latin-1", "replace").decode("latin-1")

    def put(self, text: str, size: float = 10.5, style: str = "", height: float = 0.2, align: str = "L") -> None:
        self.set_font(self.family, style, size)
        self.multi_cell(0, height, self.text_of(text), align=align, new_x="LMARGIN", new_y="NEXT")

    def height_of(self, text: str, size: float = 10.5, style: str = "", height: float = 0.2) -> float:
        self.set_font(self.family, style, size)
        return self.multi_cell(0, height, self.text_of(text), dry_run=True, output="HEIGHT")

    def header(self) -> None:
        """A page a long statement runs onto names whose it is: a batch's pages get shuffled."""
        if self.continuing is None:
            return
        self.set_font(self.family, "", 8.5)
        self.set_text_color(90)
        self.cell(0, 0.2, self.text_of(self.continuing), new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(0)
        self.ln(0.1)

    def footer(self) -> None:
        contact = " · ".join(x for x in (self.org.contact_email, self.org.contact_phone, self.org.website) if x)
        self.set_y(-0.6)
        self.set_font(self.family, "", 8)
        self.set_text_color(90)
        self.cell(0, 0.2, self.text_of(f"{self.org.legal_name}{' · ' + contact if contact else ''}"), align="C")
        self.set_text_color(0)

    def letterhead(self, document: Statement) -> None:
        org, settings = self.org, self.settings
        y = RETURN_TOP
        logo = settings.instance_path / org.logo_file if org.logo_file else None
        if logo is not None and logo.is_file():
            self.image(str(logo), x=0.5, y=y, h=0.55)
            y += 0.62
        self.set_xy(0.5, y)
        self.set_font(self.family, "B", 10)
        self.cell(3.8, 0.18, self.text_of(org.name), new_x="LEFT", new_y="NEXT")
        self.set_font(self.family, "", 9)
        for line in org.address_lines[:4]:
            self.cell(3.8, 0.16, self.text_of(line), new_x="LEFT", new_y="NEXT")
        # The document's title and date, top right, clear of the window.
        self.set_xy(4.9, RETURN_TOP)
        self.set_font(self.family, "B", 12)
        self.multi_cell(PAGE_WIDTH - RIGHT - 4.9, 0.22, self.text_of(statements.title(document, settings)), align="R",
                        new_x="LEFT", new_y="NEXT")
        self.set_font(self.family, "", 9)
        issued = format_date(document.issued_on, format="long", locale=settings.locale)
        self.cell(PAGE_WIDTH - RIGHT - 4.9, 0.18, self.text_of(f"Issued {issued}"), align="R", new_x="LEFT", new_y="NEXT")
        if document.receipt_reference:
            self.cell(PAGE_WIDTH - RIGHT - 4.9, 0.18, document.receipt_reference, align="R")
        # The donor, where the envelope's window is.
        self.set_xy(LEFT, WINDOW_TOP)
        self.set_font(self.family, "", 11)
        for line in mailing_lines(document.donor, settings.locale)[:6]:
            self.cell(WINDOW_WIDTH, 0.19, self.text_of(line), new_x="LEFT", new_y="NEXT")
        self.set_y(BODY_TOP)

    def document(self, document: Statement) -> None:
        org, settings = self.org, self.settings
        self.continuing = None
        self.add_page()
        self.letterhead(document)
        self.continuing = f"{document.donor.name} · {statements.title(document, settings)} (continued)"
        self.put(f"Dear {document.donor.name},", size=11)
        self.ln(0.08)
        self.put(statements.opening(document, settings, org), size=10.5)
        self.ln(0.08)
        ein = f", Tax ID (EIN) {org.charity_ein}" if org.charity_ein else ""
        self.put(f"Charity of record: {org.charity_name}{ein}", style="B", size=10.5)
        self.put(org.sponsor_statement, size=9.5, height=0.17)
        self.ln(0.12)
        self.set_font(self.family, "", 9)
        with self.table(col_widths=(1.0, 2.45, 1.0, 1.35, 1.05), text_align=("LEFT", "LEFT", "RIGHT", "LEFT", "RIGHT"),
                        line_height=0.17, padding=0.04, borders_layout="HORIZONTAL_LINES") as table:
            heading = table.row()
            for text in ("Date received", "Gift", "Amount", "Goods or services you received", "Tax-deductible"):
                heading.cell(text)
            for line in document.lines:
                words = statements.line_words(line, settings)
                row = table.row()
                for text in (words.received, words.what, words.amount, words.goods, words.deductible):
                    row.cell(self.text_of(text))
        self.closing(document)

    def closing(self, document: Statement) -> None:
        """Totals, the notes Publication 1771 asks for, and the signature, kept on one page: a statement
        one row too long otherwise ended on a page holding only "With gratitude"."""
        locale, bold, small = self.settings.locale, {"style": "B"}, {"size": 9.5, "height": 0.17}
        parts: list[tuple[float, str, dict]] = [  # (space before, text, how it is set)
            *((0.0, f"Total of money gifts: {format_money(total, currency, locale)}", bold)
              for currency, total in document.totals_by_currency.items()),
            *((0.0, f"Total tax-deductible amount: {format_money(total, currency, locale)}", bold)
              for currency, total in document.deductible_by_currency.items()),
            *((0.08 if i == 0 else 0.04, note, small) for i, note in enumerate(statements.notes(document))),
            (0.12, statements.THANKS, {}), (0.1, "With gratitude,", {}), (0.0, self.org.name, bold),
        ]
        needed = sum(space + self.height_of(text, **how) for space, text, how in parts)
        if self.get_y() + 0.1 + needed > self.page_break_trigger:
            self.add_page()
        else:
            self.ln(0.1)
        for space, text, how in parts:
            self.ln(space)
            self.put(text, **how)

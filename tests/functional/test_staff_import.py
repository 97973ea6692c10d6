"""CSV import: a dry run shows every row's problems before anything is written; importing twice adds nothing."""

import io
import re

import pytest
from sqlalchemy import func, select

from fundraiser import imports
from fundraiser.models import AuditLog, CampaignTotals, Donor, Gift, OutboxMessage
from tests.factories import make_campaign, make_donor
from tests.functional.staff_helpers import sign_in_as

GOOD_AND_BAD = (
    "Transaction ID,Date,Name,Email,Amount,Campaign,Payment Method\n"
    "T-1,2025-03-01,Ann Archer,ann@example.org,\"1,000.00\",spring,check\n"
    "T-2,03/02/2025,Ben Baker,,25.50,Spring Appeal,cash\n"
    "T-3,2025-03-03,Cy Cole,not-an-email,10,spring,check\n"
    "T-4,2025-13-40,Di Dunn,di@example.org,10,spring,check\n"
    "T-5,2025-03-05,Ed Eng,ed@example.org,ten,spring,check\n"
    "T-6,2025-03-06,Flo Fay,flo@example.org,10,autumn,check\n"
    "T-7,2025-03-07,Gus Gray,gus@example.org,10,spring,barter\n"
)


def upload(client, content: bytes, name="gifts.csv"):
    return client.post("/staff/import", data={"file": (io.BytesIO(content), name)}, content_type="multipart/form-data")


def confirm_url(html: str) -> str:
    return re.search(r'action="(/staff/import/[0-9a-f]+)"', html).group(1)


def test_dry_run_lists_every_problem_then_imports_valid_rows_once(app, session):
    campaign = make_campaign(session, slug="spring", title="Spring Appeal")
    make_donor(session, name="Ann A.", email="ann@example.org")
    session.commit()
    client = sign_in_as(app, session, "staff")
    preview = upload(client, GOOD_AND_BAD.encode())
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200
    text = re.sub(r"<[^>]+>", "", html)
    assert "2 gifts ready to import, totalling $1,025.50" in text
    for problem in ("isn&#39;t an email address", "date:", "amount:", "unknown campaign “autumn”", "unknown method “barter”"):
        assert problem in html
    assert session.scalar(select(func.count()).select_from(Gift)) == 0  # the dry run writes nothing
    url = confirm_url(html)
    guessed = {f"map_{k}": v for k, v in imports.guess_mapping(GOOD_AND_BAD.splitlines()[0].split(",")).items()}
    assert set(guessed) == {"map_external_id", "map_received_on", "map_donor_name", "map_donor_email", "map_amount",
                            "map_campaign", "map_method"}
    for name, column in guessed.items():
        assert re.search(rf'<select id="{name}"[^>]*>(?:(?!</select>).)*<option value="{column}" selected', html, re.S)
    done = client.post(url, data={**guessed, "default_method": "check", "filename": "gifts.csv", "action": "import"},
                       follow_redirects=True)
    assert "Imported 2 gifts from gifts.csv" in done.get_data(as_text=True)
    assert session.get(CampaignTotals, campaign.id).raised_cents == 102550
    assert session.scalar(select(Gift.donor_id).where(Gift.source_key == "import:T-1")) == session.scalar(
        select(Donor.id).where(Donor.email == "ann@example.org"))  # matched by email, not duplicated
    assert session.scalar(select(AuditLog.after).where(AuditLog.action == "gifts.import"))["skipped"] == 5
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0  # receipts only when asked
    again = upload(client, GOOD_AND_BAD.encode()).get_data(as_text=True)
    again = re.sub(r"<[^>]+>", "", again)
    assert "0 gifts ready to import" in again and "2 already imported before" in again


def test_rows_without_an_id_column_are_not_duplicated_on_reimport(app, session):
    campaign = make_campaign(session, slug="spring")
    session.commit()
    client = sign_in_as(app, session, "staff")
    content = b"Date,Name,Amount\n2025-01-02,Ann,10\n2025-01-02,Ann,10\n"
    for _ in range(2):
        html = upload(client, content).get_data(as_text=True)
        client.post(confirm_url(html), data={"map_received_on": "0", "map_donor_name": "1", "map_amount": "2",
                                             "default_campaign": campaign.id, "default_method": "cash", "action": "import"})
    # Two identical rows are two gifts; the second import of the same file adds none.
    assert session.scalar(select(func.count()).select_from(Gift)) == 2
    assert session.scalar(select(func.count()).select_from(Donor)) == 1


def test_malformed_files_get_a_clear_message(app, session):
    client = sign_in_as(app, session, "staff")
    latin1 = upload(client, "Date,Name,Amount\n2025-01-02,Zoë,10\n".encode("latin-1"))
    assert latin1.status_code == 400 and "isn&#39;t UTF-8" in latin1.get_data(as_text=True)
    assert "header row and at least one" in upload(client, b"Date,Name,Amount\n").get_data(as_text=True)
    assert "spreadsheet file" in upload(client, b"PK\x03\x04\x00\x00binary").get_data(as_text=True)
    # (Checked without HTTP: the test client leaves its own spooled upload file open past 500 KB.)
    with pytest.raises(imports.ImportProblem, match="split it"):
        imports.read_csv(b"a,b\n" + b"1,2\n" * (imports.MAX_BYTES // 4 + 1))
    with pytest.raises(imports.ImportProblem, match="at most 5000"):
        imports.read_csv(b"a,b\n" + b"1,2\n" * (imports.MAX_ROWS + 1))


def test_missing_required_columns_are_asked_for(app, session):
    make_campaign(session, slug="spring")
    session.commit()
    client = sign_in_as(app, session, "staff")
    html = upload(client, b"Who,How much\nAnn,10\n").get_data(as_text=True)
    assert "choose the column with the date received" in html and "choose the column with the amount" in html
    assert "Import 1 gift" not in html

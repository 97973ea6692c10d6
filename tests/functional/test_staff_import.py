"""The staff import pages: a dry run shows every row before anything is written, staff map each
campaign value, the import runs in the background with progress, rejected rows come back as CSV."""

import io
import re
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from fundraiser import imports
from fundraiser.ledger import verify_totals
from fundraiser.models import AuditLog, CampaignTotals, Donor, Gift, ImportJob, OutboxMessage
from fundraiser.settings import current_settings
from tests.factories import make_campaign, make_donor
from tests.functional.staff_helpers import PASSWORD, sign_in_as

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "imports"
GOOD_AND_BAD = (
    "Transaction ID,Date,Name,Email,Amount,Campaign,Payment Method\n"
    "T-1,2025-03-01,Ann Archer,ann@example.org,\"1,000.00\",spring,check\n"
    "T-2,03/02/2025,Ben Baker,,25.50,Spring Appeal,cash\n"
    "T-3,2025-03-03,Cy Cole,not-an-email,10,spring,check\n"
    "T-4,2025-13-40,Di Dunn,di@example.org,10,spring,check\n"
    "T-5,2025-03-05,Ed Eng,ed@example.org,ten,spring,check\n"
    "T-6,2025-03-06,Flo Fay,flo@example.org,10,autumn,check\n"
    "T-7,2099-03-07,Gus Gray,gus@example.org,10,spring,check\n"
)


@pytest.fixture
def inline_app(app):
    """Imports run in the request (no background thread), so the test can look right after."""
    app.config["BACKGROUND_TASKS"] = False
    return app


def upload(client, content: bytes, name="gifts.csv"):
    return client.post("/staff/import", data={"file": (io.BytesIO(content), name)}, content_type="multipart/form-data")


def confirm_url(html: str) -> str:
    return re.search(r'action="(/staff/import/[0-9a-f]+)"', html).group(1)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def guessed_form(header_line: str, **extra) -> dict:
    values = {f"map_{k}": v for k, v in imports.guess_mapping(header_line.split(",")).items()}
    values.update(extra)
    return values


def test_dry_run_lists_every_problem_then_imports_valid_rows_once(inline_app, session):
    campaign = make_campaign(session, slug="spring", title="Spring Appeal")
    make_donor(session, name="Ann A.", email="ann@example.org")
    session.commit()
    client = sign_in_as(inline_app, session, "staff")
    preview = upload(client, GOOD_AND_BAD.encode())
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200
    text = text_of(html)
    assert "2 rows to import, new gifts totalling $1,025.50" in text
    for problem in ("isn&#39;t an email address", "date:", "amount:", "campaign “autumn” isn&#39;t matched", "in the future"):
        assert problem in html
    assert "matches Ann A. by email" in text and "new donor" in text
    assert session.scalar(select(func.count()).select_from(Gift)) == 0  # the dry run writes nothing
    url = confirm_url(html)
    guessed = guessed_form(GOOD_AND_BAD.splitlines()[0])
    assert set(guessed) == {"map_external_id", "map_received_on", "map_donor_name", "map_donor_email", "map_amount",
                            "map_campaign", "map_method"}
    for name, column in guessed.items():
        assert re.search(rf'<select id="{name}"[^>]*>(?:(?!</select>).)*<option value="{column}" selected', html, re.DOTALL)
    done = client.post(url, data={**guessed, "filename": "gifts.csv", "action": "import"}, follow_redirects=True)
    page = text_of(done.get_data(as_text=True))
    assert "Imported 2 gifts; recorded 0 refunds." in page and "Donors: 1 matched by email, 1 created." in page
    assert "Row 8: problem: date: in the future" in page
    assert session.get(CampaignTotals, campaign.id).raised_cents == 102550
    assert session.scalar(select(Gift.donor_id).where(Gift.source_key == "import:T-1")) == session.scalar(
        select(Donor.id).where(Donor.email == "ann@example.org"))  # matched by email, not duplicated
    assert session.scalar(select(AuditLog.after).where(AuditLog.action == "gifts.import"))["skipped"] == 5
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0  # receipts only when asked
    again = text_of(upload(client, GOOD_AND_BAD.encode()).get_data(as_text=True))
    assert "0 rows to import" in again and "2 imported before (nothing added)" in again


def test_staff_map_each_campaign_value_and_download_the_rejected_rows(inline_app, session):
    spring = make_campaign(session, slug="spring", title="Spring Appeal")
    general = make_campaign(session, slug="general", title="General Fund")
    session.commit()
    client = sign_in_as(inline_app, session, "staff")
    html = upload(client, (FIXTURES / "donorbox.csv").read_bytes(), "donorbox.csv").get_data(as_text=True)
    text = text_of(html)
    assert "Read as Windows-1252; columns guessed for Donorbox." in text
    assert "Spring Appeal 2025" in text and "isn&#39;t matched to one of ours" in html
    # "General Fund" is matched by its title already; "Spring Appeal 2025" is staff's to map.
    assert re.search(rf'id="campaign_value_0"[^>]*>(?:(?!</select>).)*<option value="{general.id}" selected', html, re.DOTALL)
    url = confirm_url(html)
    form = guessed_form(",".join(imports.read_csv((FIXTURES / "donorbox.csv").read_bytes()).header),
                        source="donorbox", filename="donorbox.csv", campaign_value_0=str(general.id),
                        campaign_value_1=str(spring.id))
    checked = text_of(client.post(url, data={**form, "action": "preview"}).get_data(as_text=True))
    assert "7 rows to import" in checked and "4 skipped" in checked and "1 row with problems" in checked
    rejected = client.get(f"{url}/rejected.csv")
    assert rejected.headers["Content-Disposition"] == 'attachment; filename="donorbox-rejected.csv"'
    body = rejected.get_data(as_text=True)
    assert body.splitlines()[0].endswith(",Reason") and "R-1009" in body and "isn't an amount" in body
    client.post(url, data={**form, "action": "import"})
    job = session.scalar(select(ImportJob))
    assert (job.status, job.imported, job.refunds) == ("done", 7, 2)
    assert session.get(CampaignTotals, spring.id).raised_cents == 100000 + 6000 + 25000
    assert verify_totals(session) == []
    progress = client.get(f"{url}/progress.json").get_json()
    assert progress["status"] == "done" and progress["done_rows"] == progress["total_rows"] == 7
    assert client.post(url, data={**form, "action": "import"}).headers["Location"].endswith(f"{url}/progress")
    # The upload (donors' details) is gone once imported; the rows still to fix can still be downloaded.
    folder = current_settings().instance_path / "imports"
    assert [p.name for p in folder.glob("*")] == [f"{url.rsplit('/', 1)[1]}.rejected.csv"]
    assert client.get(f"{url}/rejected.csv").get_data(as_text=True) == body


def test_receipts_go_out_only_when_asked(inline_app, session):
    campaign = make_campaign(session, slug="spring")
    session.commit()
    client = sign_in_as(inline_app, session, "staff")
    content = b"Date,Name,Email,Amount\n2025-01-02,Ann,ann@example.org,10\n2025-01-03,Ben,,20\n"
    url = confirm_url(upload(client, content).get_data(as_text=True))
    client.post(url, data={"map_received_on": "0", "map_donor_name": "1", "map_donor_email": "2", "map_amount": "3",
                           "default_campaign": campaign.id, "send_receipts": "yes", "action": "import"})
    assert session.scalar(select(OutboxMessage.to_email)) == "ann@example.org"  # Ben has no address
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 1


def test_rows_without_an_id_column_are_not_duplicated_on_reimport(inline_app, session):
    campaign = make_campaign(session, slug="spring")
    session.commit()
    client = sign_in_as(inline_app, session, "staff")
    content = b"Date,Name,Amount\n2025-01-02,Ann,10\n2025-01-02,Ann,10\n"
    for _ in range(2):
        url = confirm_url(upload(client, content).get_data(as_text=True))
        form = {"map_received_on": "0", "map_donor_name": "1", "map_amount": "2", "default_campaign": campaign.id,
                "default_method": "cash"}
        assert "identical to row 2" in client.post(url, data={**form, "action": "preview"}).get_data(as_text=True)
        client.post(url, data={**form, "action": "import"})
    # Two identical rows are two gifts (flagged for a look); the second import of the same file adds none.
    assert session.scalar(select(func.count()).select_from(Gift)) == 2
    assert session.scalar(select(func.count()).select_from(Donor)) == 1


def test_malformed_files_get_a_clear_message(app, session):
    client = sign_in_as(app, session, "staff")
    assert "header row and at least one" in upload(client, b"Date,Name,Amount\n").get_data(as_text=True)
    assert "spreadsheet file" in upload(client, b"PK\x03\x04\x00\x00binary").get_data(as_text=True)
    assert "The file is empty" in upload(client, b"").get_data(as_text=True)
    # (Checked without HTTP: the test client leaves its own spooled upload file open past 500 KB.)
    with pytest.raises(imports.ImportProblem, match="split it"):
        imports.read_csv(b"a,b\n" + b"1,2\n" * (imports.MAX_BYTES // 4 + 1))
    with pytest.raises(imports.ImportProblem, match=f"at most {imports.MAX_ROWS}"):
        imports.read_csv(b"a,b\n" + b"1,2\n" * (imports.MAX_ROWS + 1))


def test_missing_required_columns_are_asked_for(app, session):
    make_campaign(session, slug="spring")
    session.commit()
    client = sign_in_as(app, session, "staff")
    html = upload(client, b"Who,How much\nAnn,10\n").get_data(as_text=True)
    assert "choose the column with the date (or date and time)" in html and "choose the column with the amount" in html
    assert "Import 1 row" not in html


def test_a_large_import_runs_in_the_background_with_progress(app, live_server, session):
    """Against a real server, no outer app context: the job thread imports while the page polls."""
    from bench.import_gifts import export

    campaign = make_campaign(session, slug="spring", title="Spring Appeal")
    make_campaign(session, slug="general", title="General Fund")
    from fundraiser.auth.users import create_user

    create_user(session, "volunteer@example.org", "staff", PASSWORD)
    session.commit()
    session.close()
    http = requests.Session()
    base = live_server.url
    assert http.post(f"{base}/login", data={"email": "volunteer@example.org", "password": PASSWORD},
                     allow_redirects=False).status_code == 302
    data = export(3000)
    preview = http.post(f"{base}/staff/import", files={"file": ("big.csv", data, "text/csv")})
    url = base + confirm_url(preview.text)
    header = imports.read_csv(data).header
    form = guessed_form(",".join(header), default_campaign=str(campaign.id), filename="big.csv", action="import")
    started = http.post(url, data=form, allow_redirects=False)
    assert started.status_code == 302 and started.headers["Location"].endswith("/progress")
    assert "Import of big.csv" in http.get(base + started.headers["Location"]).text
    seen = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        job = http.get(f"{url}/progress.json").json()
        seen.append(job["done_rows"])
        if job["status"] != "running":
            break
        time.sleep(0.2)
    assert job["status"] == "done", job
    assert job["imported"] == job["total_rows"] > 2900
    assert seen == sorted(seen)  # progress only moves forward, batch by batch
    assert any("Imported" in line for line in job["summary"])
    page = http.get(f"{url}/progress").text
    assert "Done." in page

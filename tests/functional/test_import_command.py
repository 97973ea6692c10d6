"""`flask import-gifts`: the same engine as the staff page, saying what it did."""

import re
from pathlib import Path

from sqlalchemy import func, select

from fundraiser import imports
from fundraiser.ledger import verify_totals
from fundraiser.models import Gift
from tests.factories import make_campaign
from tests.functional.staff_helpers import sign_in_as
from tests.functional.test_staff_import import confirm_url, guessed_form, text_of, upload

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "imports"


def test_command_imports_a_platform_export_and_reports_each_row(app, runner, session):
    make_campaign(session, slug="spring", title="Spring Appeal")
    make_campaign(session, slug="general", title="General Fund")
    session.commit()
    path = str(FIXTURES / "donorbox.csv")
    dry = runner.invoke(args=["import-gifts", path, "--campaign", "spring", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Dry run: 7 row(s) would be imported; nothing written." in dry.output
    assert "Row 10: problem: amount:" in dry.output and "Campaign “General Fund” -> general" in dry.output
    assert session.scalar(select(func.count()).select_from(Gift)) == 0
    result = runner.invoke(args=["import-gifts", path, "--campaign", "spring"])
    assert result.exit_code == 0, result.output
    assert "Imported 7 gifts; recorded 2 refunds." in result.output
    assert "Donors: 0 matched by email, 7 created." in result.output
    assert "Row 8: skipped: repeats transaction R-1002 of row 3; imported once" in result.output
    again = runner.invoke(args=["import-gifts", path, "--campaign", "spring"])
    assert "Imported 0 gifts" in again.output and "7 rows imported before (nothing added)." in again.output
    assert session.scalar(select(func.count()).select_from(Gift)) == 7
    assert runner.invoke(args=["verify-totals"]).exit_code == 0
    assert verify_totals(session) == []


def test_command_takes_column_overrides_and_fails_only_when_nothing_can_be_read(app, runner, session, tmp_path):
    make_campaign(session, slug="spring")
    session.commit()
    file = tmp_path / "gifts.csv"
    file.write_text("When,Who,Paid,Contact\n2025-02-01,Ann,10,ann@example.org\n")
    missing = runner.invoke(args=["import-gifts", str(file), "--campaign", "spring"])
    assert missing.exit_code == 1 and "choose the column with the date" in missing.output
    mapped = runner.invoke(args=["import-gifts", str(file), "--campaign", "spring", "--map", "received_on=When",
                                 "--map", "amount=paid", "--map", "donor_name=Who", "--map", "donor_email=Contact"])
    assert mapped.exit_code == 0, mapped.output
    assert "Imported 1 gift;" in mapped.output
    wrong = runner.invoke(args=["import-gifts", str(file), "--map", "amount=Total"])
    assert wrong.exit_code == 1 and "The file has no column called “Total”" in wrong.output
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert runner.invoke(args=["import-gifts", str(empty)]).exit_code == 1
    unknown = runner.invoke(args=["import-gifts", str(file), "--campaign", "nope"])
    assert unknown.exit_code == 1 and "no campaign with the web address “nope”" in unknown.output


def test_preview_and_command_agree(app, runner, session):
    spring = make_campaign(session, slug="spring", title="Spring Appeal")
    make_campaign(session, slug="general", title="General Fund")
    session.commit()
    for name in ("donorbox", "stripe", "paypal", "givebutter", "zeffy", "lgl", "bloomerang"):
        client = sign_in_as(app, session, "staff", email=f"{name}@example.org")
        data = (FIXTURES / f"{name}.csv").read_bytes()
        url = confirm_url(upload(client, data, f"{name}.csv").get_data(as_text=True))
        form = guessed_form(",".join(imports.read_csv(data).header), default_campaign=str(spring.id), action="preview")
        html = client.post(url, data=form).get_data(as_text=True)
        to_import = int(re.search(r"(\d+) rows? to import", text_of(html)).group(1))
        on_page = re.findall(r"<tr>\s*<td>(\d+)</td>(?:(?!</tr>).)*?(problem|skipped):", html, re.DOTALL)
        dry = runner.invoke(args=["import-gifts", str(FIXTURES / f"{name}.csv"), "--campaign", "spring", "--dry-run"])
        assert f"Dry run: {to_import} row(s) would be imported" in dry.output, (name, dry.output)
        assert re.findall(r"Row (\d+): (problem|skipped)", dry.output) == on_page, name

"""Import a 50,000-row Donorbox-style export through the import engine and time it.

    .venv/bin/python bench/import_gifts.py [--rows 50000] [--db sqlite|postgresql]

Generates the file (date-times with AM/PM, "$1,000.00", two campaigns by title, repeated donors,
a few refunded, failed and repeated rows), reads and checks it (the dry run), imports it in
batches exactly as the staff page's background job does (a commit per batch), then checks that
`verify-totals` is clean. Prints a Markdown table row.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import fresh_database, machine

HEADER = ["Name", "Donor Email", "Make Donation Anonymous", "Campaign", "Amount", "Currency", "Total Fee", "Donated At",
          "Address", "City", "State / Province", "Postal Code", "Country", "Receipt Id", "Donation Type", "Status",
          "Refunded Amount"]


def export(rows: int) -> bytes:
    """A Donorbox-style export: ~1 in 5 donors give again; 1 in 100 refunded, 1 in 200 failed, 1 in 500 repeated."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for i in range(rows):
        donor = i % (rows * 4 // 5 or 1)
        status = "refunded" if i % 100 == 7 else "failed" if i % 200 == 3 else "paid"
        receipt = f"R-{i - 1 if i % 500 == 499 else i}"
        hour = 1 + i % 12
        writer.writerow([
            f"Donor {donor}", f"donor{donor}@example.org", "true" if i % 50 == 0 else "false",
            "Spring Appeal 2025" if i % 3 else "General Fund", f"${10 + i % 990:,}.00", "USD", "0.59",
            f"{1 + i % 12:02d}/{1 + i % 28:02d}/2025 {hour}:{i % 60:02d} {'AM' if i % 2 else 'PM'}",
            f"{i} Main St", "Baltimore", "MD", "21201", "United States", receipt, "stripe", status,
            f"{10 + i % 990}.00" if status == "refunded" else "0.00",
        ])
    return out.getvalue().encode()


def run(kind: str, rows: int) -> str:
    from zoneinfo import ZoneInfo

    from fundraiser import create_app, imports
    from fundraiser.audit import Actor
    from fundraiser.db import get_session, make_engine
    from fundraiser.ledger import verify_totals
    from fundraiser.schema import upgrade
    from tests.factories import make_campaign

    workdir = Path(tempfile.mkdtemp(prefix="bench-import-"))
    url = fresh_database(kind, "bench_import_gifts", workdir)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    app = create_app({
        "DATABASE_URL": url, "FUNDRAISER_ENV": "testing", "FUNDRAISER_INSTANCE_PATH": str(workdir / "instance"),
        "SECRET_KEY": "bench-secret-key-bench-secret-key-bench", "ORG_TIMEZONE": "America/New_York",
        "AUTO_SEED_DEMO": "false",
    })
    data = export(rows)
    tz = ZoneInfo("America/New_York")
    with app.app_context():
        session = get_session()
        spring = make_campaign(session, slug="spring", title="Spring Appeal")
        general = make_campaign(session, slug="general", title="General Fund")
        session.commit()
        started, cpu_started = time.perf_counter(), time.process_time()
        csv_file = imports.read_csv(data)
        campaigns = [spring, general]
        mapping, errors = imports.mapping_from_headers(csv_file.header, {}, campaigns, spring, csv_file)
        assert mapping is not None, errors
        check = imports.check_rows(session, csv_file, mapping, campaigns, date(2026, 12, 1), tz)
        checked = time.perf_counter()
        summary = imports.import_rows(session, Actor(user_id=None), check, "bench.csv",
                                      on_batch=lambda _done, _summary: session.commit())
        session.commit()
        finished, cpu = time.perf_counter(), time.process_time() - cpu_started
        differences = verify_totals(session)
    app.extensions["fundraiser.live"].stop()
    total = finished - started
    return (f"| {kind} | {rows:,} | {summary.imported:,} | {summary.refunds:,} | {checked - started:.1f} s | "
            f"{finished - checked:.1f} s | {total:.1f} s | {cpu:.1f} s | {rows / total:,.0f} | "
            f"{'clean' if not differences else len(differences)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--db", action="append", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    print(f"Machine: {machine()}\n")
    print("| database | rows | gifts imported | refunds | read + check | import | total | CPU (this process) | rows/s | verify-totals |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for kind in args.db or ["sqlite"]:
        print(run(kind, args.rows), flush=True)


if __name__ == "__main__":
    main()

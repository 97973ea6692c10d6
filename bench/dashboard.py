"""Board dashboard server time at 1,000,000 gifts, 20 campaigns and 100,000 donors.

    .venv/bin/python bench/dashboard.py --db sqlite --db postgresql

Generates the dataset with bulk inserts (gifts, their ledger entries, refunds, voids, disputes),
builds campaign totals and board rollups with the app's own rebuild functions, then times each
board page in-process (Flask test client, signed in as a board member): the server's time per
page, without network. Target (issue 6): at most 300 ms per page. PostgreSQL uses a database
named bench_board (dropped and re-created); SQLite a file under /tmp.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import fresh_database, machine
from sqlalchemy import func, insert, select, text

from fundraiser import create_app, ledger, ready_to_serve, rollups
from fundraiser.auth.access import SESSION_KEY
from fundraiser.auth.users import create_user, password_stamp
from fundraiser.db import get_session, utcnow
from fundraiser.models import (
    Campaign,
    CampaignStatus,
    CommunityEvent,
    Donor,
    EntryKind,
    Gift,
    GiftChannel,
    GiftMethod,
    LedgerEntry,
    PlanStatus,
    RecurringPlan,
    User,
)
from fundraiser.schema import upgrade

NOW = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)
COMMON_AMOUNTS = [1000, 2500, 5000, 10_000, 25_000, 50_000, 100_000]
METHODS = {
    GiftChannel.ONLINE: ([GiftMethod.CARD, GiftMethod.BANK], [85, 15]),
    GiftChannel.OFFLINE: (
        [GiftMethod.CHECK, GiftMethod.CASH, GiftMethod.BANK, GiftMethod.STOCK, GiftMethod.DAF, GiftMethod.OTHER],
        [50, 20, 15, 5, 5, 5],
    ),
    GiftChannel.EVENT: ([GiftMethod.CASH, GiftMethod.CARD, GiftMethod.CHECK], [50, 35, 15]),
}
CHUNK = 20_000


def generate(session, gifts: int, campaigns: int, donors: int, seed: int) -> dict:
    """Insert the dataset in bulk; returns what was made."""
    rng = random.Random(seed)
    made_campaigns = []
    for i in range(campaigns):
        start = NOW - timedelta(days=rng.randint(120, 1060))
        end = None if i % 5 == 0 else NOW + timedelta(days=rng.randint(-60, 200))
        status = CampaignStatus.CLOSED if end is not None and end < NOW else CampaignStatus.ACTIVE
        made_campaigns.append(Campaign(
            slug=f"campaign-{i + 1}", title=f"Campaign {i + 1}", goal_cents=rng.randint(50, 2000) * 100_000,
            currency="USD", status=status, starts_at=start, ends_at=end, suggested_amounts=[2500, 5000, 10000],
        ))
    session.add_all(made_campaigns)
    session.flush()
    session.execute(insert(Donor), [
        {"id": d, "name": f"Donor {d}", "email": f"donor{d}@example.org", "kind": "person"}
        for d in range(1, donors + 1)
    ])
    events = []
    for i in range(100):
        campaign = made_campaigns[i % campaigns]
        day = campaign.starts_at + (min(campaign.ends_at or NOW, NOW) - campaign.starts_at) * rng.random()
        events.append(CommunityEvent(slug=f"event-{i + 1}", name=f"Event {i + 1}", host_name="Friends",
                                     event_date=day.date(), campaign_id=campaign.id))
    session.add_all(events)
    plans = [RecurringPlan(campaign_id=made_campaigns[i % campaigns].id, donor_id=rng.randint(1, donors),
                           amount_cents=rng.choice([1000, 2500, 5000]), currency="USD",
                           status=PlanStatus.ACTIVE if i % 4 else PlanStatus.CANCELED)
             for i in range(8_000)]
    session.add_all(plans)
    session.flush()
    events_by_campaign: dict[int, list[int]] = {}
    for e in events:
        events_by_campaign.setdefault(e.campaign_id, []).append(e.id)
    plans_by_campaign: dict[int, list[RecurringPlan]] = {}
    for p in plans:
        plans_by_campaign.setdefault(p.campaign_id, []).append(p)
    weights = [rng.uniform(0.3, 3) for _ in made_campaigns]
    gift_rows, entry_rows = [], []
    entry_id = 0
    adjustments = 0

    def flush_rows() -> None:
        if gift_rows:
            session.execute(insert(Gift), gift_rows)
            session.execute(insert(LedgerEntry), entry_rows)
            gift_rows.clear()
            entry_rows.clear()

    for gift_id in range(1, gifts + 1):
        campaign = rng.choices(made_campaigns, weights)[0]
        span_end = min(campaign.ends_at or NOW, NOW)
        received = campaign.starts_at + (span_end - campaign.starts_at) * rng.random()
        channel = rng.choices(list(METHODS), [60, 30, 10])[0]
        method = rng.choices(*METHODS[channel])[0]
        plan = None
        if channel == GiftChannel.ONLINE and rng.random() < 0.15 and plans_by_campaign.get(campaign.id):
            plan = rng.choice(plans_by_campaign[campaign.id])
        amount = plan.amount_cents if plan else (
            rng.choice(COMMON_AMOUNTS) if rng.random() < 0.7 else rng.randint(1, 400) * 500
        )
        # 8% without a donor record (cash), a loyal fifth of donors give a third of the rest.
        r = rng.random()
        donor = plan.donor_id if plan else (
            None if r < 0.08 else rng.randint(1, donors // 5) if r < 0.4 else rng.randint(1, donors)
        )
        event_id = rng.choice(events_by_campaign[campaign.id]) if channel == GiftChannel.EVENT and campaign.id in events_by_campaign else None
        fee = amount * 22 // 1000 + 30 if channel == GiftChannel.ONLINE else None
        gift_rows.append({
            "id": gift_id, "campaign_id": campaign.id, "donor_id": donor, "event_id": event_id,
            "recurring_plan_id": plan.id if plan else None, "amount_cents": amount, "currency": "USD",
            "received_at": received, "channel": channel, "method": method, "fee_cents": fee,
            "is_anonymous": False, "show_amount": False, "comment_hidden": False, "is_sample": False,
            "created_at": received,
        })
        entry_id += 1
        entry_rows.append(_entry(entry_id, gift_id, campaign.id, EntryKind.GIFT, amount, received))
        roll = rng.random()
        later = min(received + timedelta(days=rng.randint(0, 40)), NOW)
        if roll < 0.015:
            entry_id += 1
            refund = amount if rng.random() < 0.6 else rng.randint(1, amount - 1) if amount > 1 else amount
            entry_rows.append(_entry(entry_id, gift_id, campaign.id, EntryKind.REFUND, -refund, later))
        elif roll < 0.018:
            entry_id += 1
            entry_rows.append(_entry(entry_id, gift_id, campaign.id, EntryKind.VOID, -amount, later))
        elif roll < 0.020 and channel == GiftChannel.ONLINE:
            entry_id += 1
            entry_rows.append(_entry(entry_id, gift_id, campaign.id, EntryKind.DISPUTE, -amount, later))
            if rng.random() < 0.5:
                entry_id += 1
                entry_rows.append(_entry(entry_id, gift_id, campaign.id, EntryKind.DISPUTE_WON, amount,
                                         min(later + timedelta(days=30), NOW)))
        adjustments += roll < 0.020
        if len(gift_rows) >= CHUNK:
            flush_rows()
    flush_rows()
    return {"campaigns": campaigns, "donors": donors, "gifts": gifts, "entries": entry_id,
            "adjustments": adjustments, "events": len(events), "plans": len(plans)}


def _entry(entry_id, gift_id, campaign_id, kind, amount, at) -> dict:
    return {"id": entry_id, "gift_id": gift_id, "campaign_id": campaign_id, "kind": kind,
            "amount_cents": amount, "currency": "USD", "occurred_at": at, "created_at": at}


def pages(session) -> dict[str, str]:
    """The board URLs timed, by label."""
    busiest = session.scalar(select(Campaign.slug).join(Gift, Gift.campaign_id == Campaign.id)
                             .group_by(Campaign.slug).order_by(text("count(*) desc")).limit(1))
    return {
        "overview, all time": "/board",
        "overview, 2026, online": "/board?from=2026-01&to=2026-12&channel=online",
        "overview, 3 campaigns": "/board?campaign=campaign-2&campaign=campaign-3&campaign=campaign-4",
        f"campaign page ({busiest})": f"/board/campaigns/{busiest}",
        "campaign page, offline, 2025": f"/board/campaigns/{busiest}?channel=offline&from=2025-01&to=2025-12",
        "chart CSV (overview, donors)": "/board/charts/donors.csv",
        "printable report (20 campaigns)": "/board/report",
        # Not a board page, but the same data: what a donor opens.
        f"public campaign page ({busiest})": f"/campaigns/{busiest}",
    }


def run(kind: str, args) -> tuple[dict, dict]:
    workdir = Path("/tmp")
    if args.reuse:
        url = (f"sqlite:///{workdir / 'bench_board.sqlite3'}" if kind == "sqlite"
               else "postgresql+psycopg://postgres@127.0.0.1:5432/bench_board")
    else:
        url = fresh_database(kind, "bench_board", workdir)
    app = ready_to_serve(create_app({
        "DATABASE_URL": url, "FUNDRAISER_INSTANCE_PATH": str(workdir / "bench_board_instance"),
        "SECRET_KEY": "bench-secret-key-bench-secret-key-bench", "FUNDRAISER_ENV": "development",
        "AUTO_SEED_DEMO": "false", "ORG_TIMEZONE": "America/New_York",
        "BACKUP_KEEP": "0",  # a nightly backup of the million gifts is not what is timed
    }))  # as wsgi.py serves it
    try:
        with app.app_context():
            if args.reuse:
                session = get_session()
                return _dataset(session), {"insert_s": 0.0, "rebuild_s": 0.0, **time_pages(app, session, args)}
            return build_and_time(app, kind, args)
    finally:
        app.extensions["fundraiser.engine"].dispose()


def build_and_time(app, kind: str, args) -> tuple[dict, dict]:
    """Generate the dataset, build totals and rollups, then time the pages."""
    timings: dict = {}
    session = get_session()
    upgrade(app.extensions["fundraiser.engine"])
    started = time.perf_counter()
    made = generate(session, args.gifts, args.campaigns, args.donors, args.seed)
    session.commit()
    timings["insert_s"] = time.perf_counter() - started
    started = time.perf_counter()
    ledger.rebuild_totals(session)
    rows = rollups.rebuild_rollups(session)
    session.commit()
    timings["rebuild_s"] = time.perf_counter() - started
    made["rollup_rows"] = rows
    if kind == "postgresql":
        session.execute(text("ANALYZE"))
        session.commit()
    create_user(session, "board@example.org", "board", "a very good password")
    session.commit()
    timings.update(time_pages(app, session, args))
    return made, timings


def _dataset(session) -> dict:
    """What an existing bench database holds (for --reuse)."""
    models = {"campaigns": Campaign, "donors": Donor, "gifts": Gift, "entries": LedgerEntry}
    return {name: session.scalar(select(func.count()).select_from(model)) for name, model in models.items()}


def time_pages(app, session, args) -> dict:
    """First view, then median and worst server time of each board page, signed in as a board member."""
    user = session.scalar(select(User))
    urls = pages(session)
    timings = {}
    client = app.test_client()
    with client.session_transaction() as s:
        s[SESSION_KEY] = user.id
        s["stamp"] = password_stamp(user)
        s["signed_in_at"] = utcnow().isoformat()
    for label, page in urls.items():
        started = time.perf_counter()
        assert client.get(page).status_code == 200, page  # the first view: cold database pages and templates
        first = (time.perf_counter() - started) * 1000
        assert client.get(page).status_code == 200, page
        samples = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            response = client.get(page)
            samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        timings[label] = (first, statistics.median(samples), max(samples))
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--gifts", type=int, default=1_000_000)
    parser.add_argument("--campaigns", type=int, default=20)
    parser.add_argument("--donors", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--reuse", action="store_true", help="Time the pages on the dataset of the last run.")
    args = parser.parse_args()
    print(f"Machine: {machine()}")
    for kind in args.db or ["sqlite", "postgresql"]:
        made, timings = run(kind, args)
        print(f"\n{kind}: {made}")
        print(f"load average after timing: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (other work on the machine inflates times)")
        insert_s, rebuild_s = timings.pop("insert_s"), timings.pop("rebuild_s")
        if not args.reuse:
            print(f"bulk insert {insert_s:.0f} s; rebuild totals and rollups {rebuild_s:.0f} s")
        print("| page | first view | median | max | target 300 ms |")
        print("| --- | --- | --- | --- | --- |")
        for label, (first, median, worst) in timings.items():
            print(f"| {label} | {first:.0f} ms | {median:.0f} ms | {worst:.0f} ms | {'met' if median <= 300 else 'NOT met'} |")


if __name__ == "__main__":
    main()

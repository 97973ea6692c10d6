"""Live "Recent supporters" (issue 17): what adding the supporters list costs each snapshot rebuild.

    .venv/bin/python bench/live_supporters.py --db sqlite --db postgresql --gifts 5000

The live hub rebuilds a campaign's snapshot after every gift (and every 30 s); since issue 17 the
snapshot carries the ten latest supporters too. This times `live.build_snapshot` with and without
that list, alternately in the same run (so the machine's load hits both alike), on a campaign with
`--gifts` gifts from distinct donors, and prints the medians and their ratio with the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, app_env, flask, fresh_database, machine

sys.path.insert(0, str(ROOT))


def measure(kind: str, gifts: int, rounds: int, workdir: Path) -> dict[str, float]:
    from fundraiser import create_app, ledger, live
    from fundraiser.db import new_session, utcnow
    from fundraiser.models import Campaign, CampaignStatus, Donor, GiftChannel, GiftMethod

    url = fresh_database(kind, "bench_live_supporters", workdir)
    env = app_env(url, workdir / f"instance-{kind}")
    flask(env, "db", "upgrade")
    app = create_app({k: v for k, v in env.items() if k in (
        "DATABASE_URL", "FUNDRAISER_INSTANCE_PATH", "FUNDRAISER_ENV", "SECRET_KEY", "AUTO_SEED_DEMO", "BACKUP_KEEP")})
    with app.app_context():
        s = new_session(write=True)
        campaign = Campaign(slug="spring", title="Spring", goal_cents=10_000_000, currency="USD",
                            status=CampaignStatus.ACTIVE, suggested_amounts=[2500])
        s.add(campaign)
        s.flush()
        ledger.ensure_totals(s, campaign)
        for n in range(gifts):
            donor = Donor(name=f"Donor {n}", email=f"donor{n}@example.org")
            s.add(donor)
            s.flush()
            ledger.record_gift(s, campaign=campaign, amount_cents=1_000 + n % 5_000, currency="USD",
                               received_at=utcnow(), channel=GiftChannel.ONLINE, method=GiftMethod.CARD,
                               donor_id=donor.id, show_amount=n % 2 == 0)
            if n % 500 == 499:
                s.commit()
        s.commit()
        with_list, without = [], []
        real = live.wall_entries
        for _ in range(rounds):
            for times, entries in ((with_list, real), (without, lambda session, campaign: [])):
                live.wall_entries = entries
                start = time.perf_counter()
                live.build_snapshot(s, campaign, campaign.totals)
                times.append(time.perf_counter() - start)
                s.rollback()
        live.wall_entries = real
        s.close()
    app.extensions["fundraiser.engine"].dispose()
    return {"with": statistics.median(with_list) * 1000, "without": statistics.median(without) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", action="append", choices=("sqlite", "postgresql"))
    parser.add_argument("--gifts", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.db or ["sqlite"]:
            result = measure(kind, args.gifts, args.rounds, Path(tmp))
            load = os.getloadavg()
            print(f"{kind}: {args.gifts} gifts, {args.rounds} rounds: snapshot with supporters "
                  f"{result['with']:.2f} ms, without {result['without']:.2f} ms, ratio "
                  f"{result['with'] / result['without']:.2f} (load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})")


if __name__ == "__main__":
    main()

"""A process killed in the middle of recording a gift leaves nothing half-written; a retry completes it."""

import json
import os
import signal
import subprocess
import sys
import textwrap

from sqlalchemy import func, select

from fundraiser import ledger
from fundraiser.models import CampaignTotals, Gift, LedgerEntry
from tests.conftest import app_config
from tests.factories import give, make_campaign

RECORDER = textwrap.dedent(
    """
    import json, sys, time
    from datetime import UTC, datetime
    from fundraiser import create_app, ledger
    from fundraiser.db import new_session
    from fundraiser.models import Campaign

    app = create_app(json.loads(sys.argv[1]))
    with app.app_context():
        session = new_session(write=True)
        campaign = session.get(Campaign, int(sys.argv[2]))
        ledger.record_gift(
            session, campaign=campaign, amount_cents=12_345, currency="USD",
            received_at=datetime.now(UTC), channel="online", method="card", source_key="stripe:pi_killed",
        )
        session.flush()  # gift, entry and totals written inside the open transaction
        print("flushed", flush=True)
        time.sleep(60)   # killed here, before commit
        session.commit()
    """
)


def test_kill_before_commit_leaves_no_trace_and_the_retry_records_once(app, session, database_url, tmp_path):
    campaign = make_campaign(session)
    give(session, campaign, 1000)
    session.commit()
    config = app_config(database_url, tmp_path / "instance")
    proc = subprocess.Popen(
        [sys.executable, "-c", RECORDER, json.dumps(config), str(campaign.id)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.strip() == "flushed", proc.stderr.read()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.stdout.close()
        proc.stderr.close()

    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Gift)) == 1
    assert session.scalar(select(func.count()).select_from(LedgerEntry)) == 1
    assert session.get(CampaignTotals, campaign.id).raised_cents == 1000
    assert ledger.verify_totals(session) == []

    # Stripe (or the volunteer) tries again: the gift is recorded exactly once.
    for _ in range(2):
        give(session, campaign, 12_345, channel="online", method="card", source_key="stripe:pi_killed")
        session.commit()
    assert session.get(CampaignTotals, campaign.id).raised_cents == 13_345
    assert ledger.verify_totals(session) == []

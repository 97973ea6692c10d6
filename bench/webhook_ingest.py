"""Webhook ingestion: signed Stripe events per second against the database's own insert rate.

    .venv/bin/python bench/webhook_ingest.py --db sqlite --db postgresql

8 concurrent senders post signed `payment_intent.succeeded` events to `POST /stripe/webhook`
(gunicorn, the deployment set-up), 10% of them delivered twice. The baseline, measured in the same
run on the same database: 8 threads inserting one row per transaction through SQLAlchemy. Target
(issue 7): at least 0.4 of the baseline, with every gift recorded exactly once (checked against the
ledger, and `verify-totals` clean).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import random
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from common import ROOT, VENV_BIN, app_env, flask, fresh_database, gunicorn, machine

SECRET = "whsec_bench"
SENDERS = 8


def baseline_inserts(url: str, seconds: float) -> float:
    """Rows per second: SENDERS threads, one INSERT per transaction, through SQLAlchemy."""
    from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, insert

    from fundraiser.db import make_engine

    engine = make_engine(url)
    table = Table("bench_rows", MetaData(), Column("id", Integer, primary_key=True),
                  Column("key", String(64), unique=True), Column("payload", JSON))
    table.drop(engine, checkfirst=True)
    table.create(engine)
    done = [0] * SENDERS
    deadline = time.monotonic() + seconds

    def work(n: int) -> None:
        i = 0
        while time.monotonic() < deadline:
            with engine.connect().execution_options(sqlite_immediate=True) as conn:
                conn.execute(insert(table).values(key=f"{n}-{i}", payload={"n": n, "i": i, "pad": "x" * 1500}))
                conn.commit()
            i += 1
        done[n] = i

    threads = [threading.Thread(target=work, args=(n,)) for n in range(SENDERS)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rate = sum(done) / (time.monotonic() - started)
    table.drop(engine)
    engine.dispose()
    return rate


def event_body(n: int, campaign_id: int) -> bytes:
    """A payment_intent.succeeded event in the documented shape (no charge: no fee look-up)."""
    created = int(time.time())
    return json.dumps({
        "id": f"evt_bench{n:08d}", "object": "event", "api_version": "2026-10-28.endive", "created": created,
        "livemode": False, "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None},
        "type": "payment_intent.succeeded",
        "data": {"object": {
            "id": f"pi_bench{n:08d}", "object": "payment_intent", "amount": 2500 + n % 100,
            "amount_received": 2500 + n % 100, "currency": "usd", "created": created, "customer": None,
            "latest_charge": None, "livemode": False, "status": "succeeded", "payment_method_types": ["card"],
            "receipt_email": None, "description": None,
            "metadata": {"campaign_id": str(campaign_id), "frequency": "once", "donor_name": f"Donor {n % 5000}",
                         "donor_email": f"donor{n % 5000}@example.org", "show_name": "yes", "show_amount": "no"},
        }},
    }).encode()


def sign(body: bytes) -> str:
    t = int(time.time())
    return f"t={t},v1={hmac.new(SECRET.encode(), f'{t}.'.encode() + body, hashlib.sha256).hexdigest()}"


def send_events(base: str, events: int, campaign_id: int) -> tuple[float, int, int]:
    """Returns (events per second, deliveries, non-2xx answers)."""
    host, port = base.removeprefix("http://").split(":")
    rng = random.Random(7)
    deliveries = list(range(events))
    deliveries += rng.sample(deliveries, events // 10)  # 10% delivered twice
    rng.shuffle(deliveries)
    chunks = [deliveries[i::SENDERS] for i in range(SENDERS)]
    errors = [0] * SENDERS

    def sender(k: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        for n in chunks[k]:
            body = event_body(n, campaign_id)
            conn.request("POST", "/stripe/webhook", body=body,
                         headers={"Content-Type": "application/json", "Stripe-Signature": sign(body)})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errors[k] += 1
        conn.close()

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(SENDERS)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(deliveries) / (time.monotonic() - started), len(deliveries), sum(errors)


def count_gifts(env: dict[str, str]) -> tuple[int, int]:
    script = ("from fundraiser import create_app\nfrom fundraiser.db import new_session\n"
              "from fundraiser.models import Gift, StripeEvent\nfrom sqlalchemy import func, select\n"
              "app = create_app()\nwith app.app_context():\n    s = new_session()\n"
              "    print(s.scalar(select(func.count()).select_from(Gift).where(Gift.source_key.like('stripe:pi_bench%'))),"
              " s.scalar(select(func.count()).select_from(StripeEvent)))\n")
    out = subprocess.run([str(VENV_BIN / "python"), "-c", script], env=env, cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]), int(out[1])


def run(kind: str, args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        url = fresh_database(kind, "bench_webhooks", Path(tmp))
        env = app_env(url, Path(tmp) / "instance", STRIPE_SECRET_KEY="sk_test_bench",
                      STRIPE_PUBLISHABLE_KEY="pk_test_bench", STRIPE_WEBHOOK_SECRET=SECRET,
                      STRIPE_API_BASE="http://127.0.0.1:9")
        flask(env, "db", "upgrade")
        flask(env, "seed-demo")
        baseline = baseline_inserts(url, args.baseline_seconds)
        with gunicorn(env, "gthread", args.workers, args.threads) as base:
            started = time.monotonic()
            rate, deliveries, errors = send_events(base, args.events, campaign_id=1)
            # Let the workers' background processors finish applying what they stored.
            while count_gifts(env)[0] < args.events and time.monotonic() - started < 600:
                time.sleep(0.5)
            applied_seconds = time.monotonic() - started
        flask(env, "process-webhooks")  # anything left over, as cron would
        gifts, stored_events = count_gifts(env)
        verify = subprocess.run([str(VENV_BIN / "flask"), "--app", "fundraiser", "verify-totals"], env=env, cwd=ROOT,
                                capture_output=True, text=True)
    return {"baseline": baseline, "rate": rate, "applied_rate": args.events / applied_seconds, "ratio": rate / baseline, "deliveries": deliveries,
            "errors": errors, "gifts": gifts, "expected": args.events, "events": stored_events,
            "verify_ok": verify.returncode == 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--baseline-seconds", type=float, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    print(f"Machine: {machine()}")
    print(f"Server: gunicorn -k gthread -w {args.workers} --threads {args.threads}; {SENDERS} senders, "
          f"{args.events} events + 10% duplicate deliveries; baseline: {SENDERS} threads, one INSERT per transaction")
    print("| database | baseline inserts/s | webhook events/s (stored, answered) | ratio | target | gifts applied/s | deliveries | non-2xx | gifts (expected) | verify-totals |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for kind in args.db or ["sqlite", "postgresql"]:
        r = run(kind, args)
        ok = r["ratio"] >= 0.4 and r["gifts"] == r["expected"] and r["verify_ok"] and not r["errors"]
        print(f"| {kind} | {r['baseline']:.0f} | {r['rate']:.0f} | {r['ratio']:.2f} | >= 0.40 {'met' if ok else 'NOT met'} | {r['applied_rate']:.0f} | "
              f"{r['deliveries']} | {r['errors']} | {r['gifts']} ({r['expected']}) | {'clean' if r['verify_ok'] else 'DIFFERENCES'} |")


if __name__ == "__main__":
    main()

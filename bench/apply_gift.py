"""Applying online gifts from stored Stripe events: SQL statements and CPU per gift, in-process.

    .venv/bin/python bench/apply_gift.py --db sqlite --db postgresql

Signed `payment_intent.succeeded` events (bench/webhook_ingest.py's, each from a new donor with an
email, so each gift also creates a donor and queues a receipt) are stored through the inbox as a
delivery would, then applied by `webhooks.process_pending`, the path every online gift takes
(payments/webhooks.py -> ledger -> receipts). Statements are counted with SQLAlchemy's
`before_cursor_execute` event on the app's engine (BEGIN and COMMIT included where the driver
sends them as statements), CPU with time.process_time. Cases: one event due on its own (a
quiet day: the whole round for one gift), and backlogs of each size given (a few gifts arriving
together, and a flood): a round's fixed cost is shared by the gifts applied together.
Target (issue 20): at most 8 statements and 1.5 ms CPU per gift.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from common import app_env, flask, fresh_database, machine
from sqlalchemy import event
from webhook_ingest import SECRET, event_body, sign


def measure(app, first: int, count: int, *, one_by_one: bool) -> tuple[float, float]:
    """Apply `count` events, each stored and then applied on its own (a quiet day: the round
    apply_and_follow_up runs after each delivery) or all stored first and applied as one backlog;
    returns (statements per gift, CPU ms per gift) of the applying alone."""
    from fundraiser.payments.inbox import inbox
    from fundraiser.payments.webhooks import FOLLOW_UP_EVERY, process_pending, verified

    def store(numbers: range) -> None:
        for n in numbers:
            body = event_body(n, campaign_id=1)
            inbox().store(verified(body, sign(body), SECRET))

    statements = [0]

    def counted(*_args) -> None:
        statements[0] += 1

    engine = app.extensions["fundraiser.engine"]
    cpu = 0.0
    applied = 0
    with app.app_context():
        rounds = [range(n, n + 1) for n in range(first, first + count)] if one_by_one else [range(first, first + count)]
        for numbers in rounds:
            store(numbers)
            event.listen(engine, "before_cursor_execute", counted)
            started = time.process_time()
            applied += process_pending(limit=max(FOLLOW_UP_EVERY, len(numbers))).processed
            cpu += time.process_time() - started
            event.remove(engine, "before_cursor_execute", counted)
    if applied != count:
        raise RuntimeError(f"applied {applied} of {count} events")
    return statements[0] / count, cpu * 1000 / count


def run(kind: str, args) -> list[tuple[str, float, float]]:
    from fundraiser import create_app

    with tempfile.TemporaryDirectory() as tmp:
        url = fresh_database(kind, "bench_apply_gift", Path(tmp))
        env = app_env(url, Path(tmp) / "instance", STRIPE_SECRET_KEY="sk_test_bench", STRIPE_PUBLISHABLE_KEY="pk_test_bench",
                      STRIPE_WEBHOOK_SECRET=SECRET, STRIPE_API_BASE="http://127.0.0.1:9")
        flask(env, "db", "upgrade")
        flask(env, "seed-demo")
        os.environ.update(env)
        app = create_app(env)
        app.config["BACKGROUND_TASKS"] = False
        measure(app, 0, 20, one_by_one=False)  # warm-up: caches, prepared settings, the home account
        results = [("one event due on its own", *measure(app, 100, args.single, one_by_one=True))]
        for number, size in enumerate(args.backlog):
            results.append((f"backlog of {size}", *measure(app, 10_000 * (number + 1), size, one_by_one=False)))
        app.extensions["fundraiser.engine"].dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--single", type=int, default=50, help="events applied one round each")
    parser.add_argument("--backlog", type=int, nargs="+", default=[4, 8, 1000],
                        help="events applied as one backlog, one case for each size given")
    args = parser.parse_args()
    print(f"Machine: {machine()}; load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    print("| database | case | statements per gift | CPU per gift |")
    print("| --- | --- | --- | --- |")
    for kind in args.db or ["sqlite", "postgresql"]:
        for case, statements, cpu_ms in run(kind, args):
            print(f"| {kind} | {case} | {statements:.1f} | {cpu_ms:.2f} ms |", flush=True)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

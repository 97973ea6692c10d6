"""The home page and a campaign page against a constant route of the same app, same server set-up.

    .venv/bin/python bench/public_pages.py --db sqlite --db postgresql --dataset demo --dataset million

Target (issue 20): each page at least 0.5 of the constant route's (`/api/health`) requests per
second under 50 concurrent clients (wrk, full 200 answers: no If-None-Match), at the demo data
(`flask seed-demo`) and at 1,000,000 gifts (bench/dashboard.py's generator; campaign totals
rebuilt, board rollups not needed). Routes are measured alternately, several rounds, medians, to
cancel drift on a noisy machine. The million-gift database is kept (`--reuse` measures it again).
Needs `wrk` (apt-get install wrk).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from common import app_env, flask, fresh_database, gunicorn, machine, wrk

DEMO_SLUG = "five-year-anniversary"
MILLION_SLUG = "campaign-1"


def million_gifts(kind: str, args) -> str:
    """The database URL of the million-gift dataset, built unless --reuse."""
    from dashboard import generate

    from fundraiser import create_app, ledger
    from fundraiser.db import get_session
    from fundraiser.schema import upgrade

    workdir = Path("/tmp")
    if args.reuse:
        return (f"sqlite:///{workdir / 'bench_pages_million.sqlite3'}" if kind == "sqlite"
                else "postgresql+psycopg://postgres@127.0.0.1:5432/bench_pages_million")
    url = fresh_database(kind, "bench_pages_million", workdir)
    app = create_app(app_env(url, workdir / "bench_pages_instance"))
    with app.app_context():
        upgrade(app.extensions["fundraiser.engine"])
        session = get_session()
        generate(session, args.gifts, 20, 100_000, seed=20)
        session.commit()
        ledger.rebuild_totals(session)
        session.commit()
    app.extensions["fundraiser.engine"].dispose()
    return url


def run(kind: str, dataset: str, args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        if dataset == "demo":
            url, slug = fresh_database(kind, "bench_pages", Path(tmp)), DEMO_SLUG
            env = app_env(url, Path(tmp) / "instance")
            flask(env, "db", "upgrade")
            flask(env, "seed-demo")
        else:
            url, slug = million_gifts(kind, args), MILLION_SLUG
            env = app_env(url, Path(tmp) / "instance")
        with gunicorn(env, "gthread", args.workers, args.threads) as base:
            routes = {"bare": f"{base}/api/health", "home": f"{base}/", "campaign": f"{base}/campaigns/{slug}"}
            for route in routes.values():
                wrk(route, args.connections, 2)  # warm-up (and each worker's first rendering)
            results = {name: [] for name in routes}
            for _ in range(args.rounds):
                for name, route in routes.items():
                    results[name].append(wrk(route, args.connections, args.seconds))
    summary = {name: {"rps": statistics.median(r["rps"] for r in runs),
                      "p99_ms": statistics.median(r["p99_ms"] for r in runs),
                      "errors": sum(r["non_2xx"] for r in runs)} for name, runs in results.items()}
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--dataset", action="append", choices=["demo", "million"])
    parser.add_argument("--gifts", type=int, default=1_000_000)
    parser.add_argument("--reuse", action="store_true", help="measure the million-gift database built before")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"Machine: {machine()}")
    print(f"Server: gunicorn -k gthread -w {args.workers} --threads {args.threads}; wrk -c{args.connections}, "
          f"{args.rounds} rounds x {args.seconds}s per route, alternating (medians)")
    print("| database | dataset | load avg | constant req/s | home req/s (p99) | ratio | campaign req/s (p99) | ratio | non-2xx |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for kind in args.db or ["sqlite", "postgresql"]:
        for dataset in args.dataset or ["demo", "million"]:
            s = run(kind, dataset, args)
            bare = s["bare"]["rps"]
            print(f"| {kind} | {dataset} | {os.getloadavg()[0]:.1f} | {bare:.0f} | {s['home']['rps']:.0f} ({s['home']['p99_ms']:.0f} ms) | "
                  f"{s['home']['rps'] / bare:.2f} | {s['campaign']['rps']:.0f} ({s['campaign']['p99_ms']:.0f} ms) | "
                  f"{s['campaign']['rps'] / bare:.2f} | {sum(r['errors'] for r in s.values())} |", flush=True)


if __name__ == "__main__":
    main()

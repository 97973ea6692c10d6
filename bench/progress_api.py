"""Progress JSON throughput against a constant route of the same app, same server set-up.

    .venv/bin/python bench/progress_api.py --db sqlite --db postgresql

Target (issue 7): the progress route reaches at least 0.8 of the bare route's requests per second
under 50 concurrent clients. Routes are measured alternately, several rounds, to cancel drift on a
noisy machine. Needs `wrk` (apt-get install wrk).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from common import app_env, flask, fresh_database, gunicorn, machine, wrk

SLUG = "five-year-anniversary"


def run(kind: str, args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        url = fresh_database(kind, "bench_progress", Path(tmp))
        env = app_env(url, Path(tmp) / "instance")
        flask(env, "db", "upgrade")
        flask(env, "seed-demo")
        with gunicorn(env, args.worker_class, args.workers, args.threads) as base:
            routes = {"bare": f"{base}/api/health", "progress": f"{base}/api/campaigns/{SLUG}/progress"}
            for route in routes.values():
                wrk(route, args.connections, 2)  # warm-up
            results = {name: [] for name in routes}
            for _ in range(args.rounds):
                for name, route in routes.items():
                    results[name].append(wrk(route, args.connections, args.seconds))
    summary = {}
    for name, runs in results.items():
        summary[name] = {
            "rps": statistics.median(r["rps"] for r in runs),
            "p99_ms": statistics.median(r["p99_ms"] for r in runs),
            "errors": sum(r["non_2xx"] for r in runs),
        }
    summary["ratio"] = summary["progress"]["rps"] / summary["bare"]["rps"]
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--worker-class", default="gthread")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"Machine: {machine()}")
    print(f"Server: gunicorn -k {args.worker_class} -w {args.workers} --threads {args.threads}; "
          f"wrk -c{args.connections}, {args.rounds} rounds x {args.seconds}s per route (medians)")
    print("| database | bare req/s | bare p99 | progress req/s | progress p99 | ratio | target | non-2xx |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for kind in args.db or ["sqlite", "postgresql"]:
        s = run(kind, args)
        print(
            f"| {kind} | {s['bare']['rps']:.0f} | {s['bare']['p99_ms']:.1f} ms | {s['progress']['rps']:.0f} | "
            f"{s['progress']['p99_ms']:.1f} ms | {s['ratio']:.2f} | >= 0.80 {'met' if s['ratio'] >= 0.8 else 'NOT met'} | "
            f"{s['bare']['errors'] + s['progress']['errors']} |"
        )


if __name__ == "__main__":
    main()

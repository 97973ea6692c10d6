"""Live viewers: 1,000 concurrent stream clients; how long until a recorded gift reaches each of them.

    .venv/bin/python bench/live_viewers.py --db sqlite --db postgresql

The app runs under gunicorn as docs/deploy.md says (gthread workers, enough threads for the
streams). The viewers are raw asyncio sockets in this process; gifts are recorded through the
ledger by a separate process, as staff entry or a webhook worker would, so every update crosses
processes the way it does in production (the hub's version poll, not in-process notification).
Latency is measured from the writer's commit to the moment each viewer has read the new total.
Target (issue 4): p95 under 2 seconds with 1,000 viewers on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, app_env, flask, fresh_database, gunicorn, machine

SLUG = "giving-tuesday"

WRITER = f"""
import sys, time
from fundraiser import create_app, ledger
from fundraiser.db import new_session, utcnow
from fundraiser.models import Campaign, GiftChannel, GiftMethod
from sqlalchemy import select
app = create_app()
with app.app_context():
    for line in sys.stdin:
        amount = int(line)
        s = new_session(write=True)
        campaign = s.scalar(select(Campaign).where(Campaign.slug == {SLUG!r}))
        ledger.record_gift(s, campaign=campaign, amount_cents=amount, currency="USD",
                           received_at=utcnow(),
                           channel=GiftChannel.OFFLINE, method=GiftMethod.CHECK)
        s.commit()
        print(repr(time.time()), flush=True)
        s.close()
"""


class Viewer:
    """One EventSource-like client: remembers when it first saw each raised_cents value."""

    def __init__(self) -> None:
        self.seen: dict[int, float] = {}
        self.connected = asyncio.Event()
        self.error: str | None = None

    async def run(self, host: str, port: int, stop: asyncio.Event) -> None:
        try:
            reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
            writer.write(f"GET /api/campaigns/{SLUG}/progress/stream HTTP/1.1\r\nHost: {host}\r\n"
                         "Accept: text/event-stream\r\n\r\n".encode())
            await writer.drain()
            status = await reader.readline()
            if b" 200 " not in status:
                self.error = status.decode(errors="replace").strip()
                self.connected.set()
                return
            event = None
            while not stop.is_set():
                line = await reader.readline()
                if not line:
                    break
                if line.startswith(b"event: "):
                    event = line[7:].strip()
                elif line.startswith(b"data: ") and event == b"progress":
                    raised = json.loads(line[6:])["raised_cents"]
                    self.seen.setdefault(raised, time.time())
                    self.connected.set()
            writer.close()
        except (OSError, asyncio.IncompleteReadError) as exc:
            self.error = f"{exc.__class__.__name__}: {exc}"
            self.connected.set()


async def measure(base: str, env: dict[str, str], viewers: int, gifts: int, gap: float) -> dict:
    host, port = base.removeprefix("http://").split(":")
    stop = asyncio.Event()
    clients = [Viewer() for _ in range(viewers)]
    tasks = []
    started = time.monotonic()
    for i, client in enumerate(clients):
        tasks.append(asyncio.create_task(client.run(host, int(port), stop)))
        if i % 50 == 49:
            await asyncio.sleep(0.05)  # ramp up, as real visitors arrive
    await asyncio.wait_for(asyncio.gather(*(c.connected.wait() for c in clients)), timeout=120)
    connect_seconds = time.monotonic() - started
    failed = [c.error for c in clients if c.error]
    writer = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITER, cwd=ROOT, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )
    latencies: list[float] = []
    missed = 0
    raised = max(clients[0].seen)
    for n in range(gifts):
        amount = 1000 + n
        raised += amount
        writer.stdin.write(f"{amount}\n".encode())
        await writer.stdin.drain()
        committed = float((await writer.stdout.readline()).decode())
        # Jitter, so commits do not fall at one fixed phase of the servers' poll.
        await asyncio.sleep(gap + random.uniform(0, 1))
        for client in clients:
            if client.error:
                continue
            if raised in client.seen:
                latencies.append(client.seen[raised] - committed)
            else:
                missed += 1
    writer.stdin.close()
    await writer.wait()
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    latencies.sort()
    return {
        "viewers": viewers - len(failed), "failed": len(failed), "first_error": failed[0] if failed else "",
        "connect_s": connect_seconds, "updates": len(latencies), "missed": missed,
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p95": latencies[int(len(latencies) * 0.95) - 1] if latencies else float("nan"),
        "max": latencies[-1] if latencies else float("nan"),
    }


def run(kind: str, args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        url = fresh_database(kind, "bench_live", Path(tmp))
        env = app_env(url, Path(tmp) / "instance", LIVE_POLL_SECONDS=str(args.poll))
        flask(env, "db", "upgrade")
        flask(env, "seed-demo")
        with gunicorn(env, "gthread", args.workers, args.threads) as base:
            return asyncio.run(measure(base, env, args.viewers, args.gifts, args.gap))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--viewers", type=int, default=1000)
    parser.add_argument("--gifts", type=int, default=10)
    parser.add_argument("--gap", type=float, default=3.0, help="seconds between gifts")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=600)
    parser.add_argument("--poll", type=float, default=0.5, help="LIVE_POLL_SECONDS")
    args = parser.parse_args()
    print(f"Machine: {machine()}")
    print(f"Server: gunicorn -k gthread -w {args.workers} --threads {args.threads}, LIVE_POLL_SECONDS={args.poll}; "
          f"{args.viewers} stream clients (asyncio, same machine); {args.gifts} gifts {args.gap}s apart, "
          "recorded by a separate process")
    print("| database | viewers connected | failed | connect time | updates seen | missed | p50 | p95 | max | target p95 < 2 s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for kind in args.db or ["sqlite", "postgresql"]:
        r = run(kind, args)
        print(f"| {kind} | {r['viewers']} | {r['failed']} | {r['connect_s']:.1f} s | {r['updates']} | {r['missed']} | "
              f"{r['p50'] * 1000:.0f} ms | {r['p95'] * 1000:.0f} ms | {r['max'] * 1000:.0f} ms | "
              f"{'met' if r['p95'] < 2 and not r['missed'] and not r['failed'] else 'NOT met'} |")
        if r["first_error"]:
            print(f"  first connection error: {r['first_error']}")


if __name__ == "__main__":
    main()

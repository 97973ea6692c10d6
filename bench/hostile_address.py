"""One hostile client against docs/deploy.md's server: idle streams and parallel sign-ins (issue 18).

    .venv/bin/python bench/hostile_address.py --db postgresql --db sqlite

The app runs as deploy.md says (`gunicorn -k gthread -w 2 --threads 600`, PROXY_COUNT=1 as
behind nginx, default stream caps), without nginx in front: these are the app's own limits, the
ones left if nginx's are missing or set too loose. Phases, one server per database:

1. baseline: the home page and a signed Stripe webhook, 20 times each;
2. 1,250 idle progress streams from one address (the outside test's attack), held open while
   the home page and the webhook are timed again;
3. 1,250 idle streams from 1,250 addresses (many clients, up to the per-process caps), timed again;
4. 40 parallel sign-ins with made-up emails from 40 addresses (so the per-address throttle does
   not stop them first): the answers, and how much the workers' peak memory (VmHWM) grew.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Barrier

import requests
from common import app_env, flask, fresh_database, gunicorn, machine

SECRET = "whsec_bench_hostile_address"
SLUG = "spring-drive"
STREAMS = 1250
SIGN_INS = 40
MiB = 1024 * 1024
SEED = f"""
from datetime import timedelta
from fundraiser import create_app, ledger
from fundraiser.db import new_session, utcnow
from fundraiser.models import Campaign, CampaignStatus
app = create_app()
with app.app_context():
    s = new_session(write=True)
    campaign = Campaign(slug={SLUG!r}, title="Spring drive", summary="", story_md="", goal_cents=1_000_000,
                        currency="USD", status=CampaignStatus.ACTIVE, starts_at=utcnow() - timedelta(days=1),
                        ends_at=utcnow() + timedelta(days=30), suggested_amounts=[2500])
    s.add(campaign)
    s.flush()
    ledger.ensure_totals(s, campaign)
    s.commit()
"""


def timed(base: str, n: int = 20) -> dict[str, float]:
    """Median and worst seconds for the home page and a signed webhook (an event type we ignore)."""
    results = {}
    for name in ("home", "webhook"):
        seconds = []
        for _ in range(n):
            started = time.monotonic()
            if name == "home":
                status = urllib.request.urlopen(base + "/", timeout=60).status
            else:
                body = json.dumps({"id": f"evt_{time.monotonic_ns()}", "object": "event", "type": "customer.created",
                                   "created": int(time.time()), "livemode": False, "api_version": "2026-10-28.endive",
                                   "data": {"object": {"id": "cus_x", "object": "customer"}}}).encode()
                t = int(time.time())
                signature = hmac.new(SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
                request = urllib.request.Request(base + "/stripe/webhook", data=body, headers={
                    "Content-Type": "application/json", "Stripe-Signature": f"t={t},v1={signature}"})
                status = urllib.request.urlopen(request, timeout=60).status
            assert status == 200, (name, status)
            seconds.append(time.monotonic() - started)
        results[name] = (statistics.median(seconds), max(seconds))
    return results


async def open_streams(port: int, addresses: list[str]) -> tuple[dict[int, int], list[asyncio.StreamWriter]]:
    """Open one stream per address (as nginx would forward it); the statuses, and the open sockets."""
    statuses: dict[int, int] = {}
    held = []

    async def one(address: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET /api/campaigns/{SLUG}/progress/stream HTTP/1.1\r\nHost: bench\r\n"
                     f"X-Forwarded-For: {address}\r\n\r\n".encode())
        await writer.drain()
        status = int((await asyncio.wait_for(reader.readline(), 60)).split()[1])
        statuses[status] = statuses.get(status, 0) + 1
        held.append(writer)

    for start in range(0, len(addresses), 100):  # in waves, as a script opening them in a loop would
        await asyncio.gather(*(one(a) for a in addresses[start:start + 100]))
    return statuses, held


def workers_of(port: int) -> list[int]:
    """gunicorn's worker processes for this port: their command line names it, and so does their parent's."""
    def cmdline(pid: str) -> str:
        try:
            return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return ""

    bind = f"127.0.0.1:{port}"
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        if bind in cmdline(entry.name):
            try:
                ppid = Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()[1]
            except OSError:
                continue
            if bind in cmdline(ppid):
                found.append(int(entry.name))
    return found


def peak_rss(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) * 1024


def sign_ins(base: str) -> tuple[dict[int, int], float]:
    """40 sign-ins at once, each from its own address with its own made-up email."""
    def form(n: int):
        browser = requests.Session()
        browser.headers["X-Forwarded-For"] = f"198.51.100.{n}"
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', browser.get(base + "/login", timeout=60).text).group(1)
        return browser, {"csrf_token": token, "email": f"nobody{n}@example.org", "password": "a made-up guess"}

    attempts = [form(n) for n in range(SIGN_INS)]
    barrier = Barrier(SIGN_INS)

    def post(attempt) -> int:
        browser, data = attempt
        barrier.wait()
        return browser.post(base + "/login", data=data, allow_redirects=False, timeout=120).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(SIGN_INS) as pool:
        codes = list(pool.map(post, attempts))
    return {c: codes.count(c) for c in sorted(set(codes))}, time.monotonic() - started


def ms(pair: tuple[float, float]) -> str:
    return f"{pair[0] * 1000:.0f} / {pair[1] * 1000:.0f} ms"


def run(kind: str, workdir: Path) -> list[str]:
    url = fresh_database(kind, "bench_hostile", workdir)
    env = app_env(url, workdir / f"instance-{kind}", PROXY_COUNT="1", STRIPE_WEBHOOK_SECRET=SECRET,
                  STRIPE_SECRET_KEY="sk_test_bench", STRIPE_PUBLISHABLE_KEY="pk_test_bench")
    flask(env, "db", "upgrade")
    subprocess.run([sys.executable, "-c", SEED], env=env, check=True)
    rows = []
    with gunicorn(env, "gthread", workers=2, threads=600) as base:
        port = int(base.rsplit(":", 1)[1])
        workers = workers_of(port)
        baseline = timed(base)
        rows.append(f"| {kind} | baseline | – | {ms(baseline['home'])} | {ms(baseline['webhook'])} | {os.getloadavg()[0]:.2f} |")

        async def attack(addresses: list[str], label: str) -> None:
            statuses, held = await open_streams(port, addresses)
            under = await asyncio.to_thread(timed, base)
            rows.append(f"| {kind} | {label} | {statuses} | {ms(under['home'])} | {ms(under['webhook'])} "
                        f"| {os.getloadavg()[0]:.2f} |")
            for writer in held:
                writer.close()

        asyncio.run(attack(["203.0.113.7"] * STREAMS, f"{STREAMS} streams, one address"))
        time.sleep(3)  # the closed streams give their slots back
        asyncio.run(attack([f"10.{n // 250}.{n % 250}.1" for n in range(STREAMS)], f"{STREAMS} streams, {STREAMS} addresses"))
        before = sum(peak_rss(pid) for pid in workers)
        codes, seconds = sign_ins(base)
        grew = sum(peak_rss(pid) for pid in workers) - before
        peak = sum(peak_rss(pid) for pid in workers)
        rows.append(f"| {kind} | {SIGN_INS} parallel sign-ins, made-up emails | {codes} in {seconds:.1f} s "
                    f"| workers' peak RSS grew {grew / MiB:.0f} MiB | both workers' peak RSS {peak / MiB:.0f} MiB "
                    f"| {os.getloadavg()[0]:.2f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", action="append", choices=["sqlite", "postgresql"], required=True)
    args = parser.parse_args()
    print(f"Machine: {machine()}\n")
    print("| database | phase | answers | home page median / max | webhook median / max | load (1 min) |")
    print("| --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.db:
            for row in run(kind, Path(tmp)):
                print(row, flush=True)


if __name__ == "__main__":
    main()

"""Live viewers: 10,000 concurrent stream clients; how long until a recorded gift reaches each of them.

    .venv/bin/python bench/live_viewers.py --db sqlite --db postgresql
    .venv/bin/python bench/live_viewers.py --viewers 1000 --server fanout --server gunicorn   # side by side

By default the streams are served by the fan-out (`flask serve-streams`, one asyncio process) as
docs/deploy.md routes them; `--server gunicorn` serves them from gthread workers, a thread each.
The viewers are raw asyncio sockets in this process (it raises `ulimit -n` for itself and the
server); gifts are recorded through the ledger by a separate process, as staff entry or a webhook
worker would, so every update crosses processes the way it does in production (the hub's version
poll). Latency is measured from the writer's commit to the moment each viewer has read the new
total; memory per viewer is the server's resident memory growth divided by the viewers.
Target (issue 20): p95 under 1 second with 10,000 viewers on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from common import (
    ROOT,
    VENV_BIN,
    app_env,
    flask,
    free_port,
    fresh_database,
    gunicorn,
    machine,
    serving,
)

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


class Viewer(asyncio.Protocol):
    """One EventSource-like client. It only timestamps what arrives (parsing 10,000 streams as they
    arrive would make this process, not the server, the bottleneck); `first_seen` parses afterwards."""

    __slots__ = ("chunks", "connected", "error", "transport")

    def __init__(self, connected: asyncio.Future) -> None:
        self.chunks: list[tuple[float, bytes]] = []
        self.connected = connected
        self.error: str | None = None
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(f"GET /api/campaigns/{SLUG}/progress/stream HTTP/1.1\r\nHost: viewer\r\n"
                        "Accept: text/event-stream\r\n\r\n".encode())

    def data_received(self, data: bytes) -> None:
        self.chunks.append((time.time(), data))
        if not self.connected.done():
            head = b"".join(c for _, c in self.chunks)
            if not head.startswith(b"HTTP/1.1 200"):
                self.error = head.split(b"\r\n", 1)[0].decode(errors="replace")
                self.connected.set_result(False)
            elif b"event: progress" in head:
                self.connected.set_result(True)

    def connection_lost(self, exc) -> None:
        if not self.connected.done():
            self.error = f"closed before the first event: {exc}"
            self.connected.set_result(False)

    def first_seen(self) -> dict[int, float]:
        """When this viewer first had each raised_cents value in full."""
        seen: dict[int, float] = {}
        buffer = b""
        event = None
        for at, chunk in self.chunks:
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line.startswith(b"event: "):
                    event = line[7:].strip()
                elif line.startswith(b"data: ") and event == b"progress":
                    seen.setdefault(json.loads(line[6:])["raised_cents"], at)
        return seen


def rss_kib(pids: list[int]) -> int:
    """Resident memory of the server's processes together."""
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


async def measure(base: str, env: dict[str, str], server_pids: list[int], viewers: int, gifts: int, gap: float) -> dict:
    host, port = base.removeprefix("http://").split(":")
    loop = asyncio.get_running_loop()
    await asyncio.sleep(2)  # let the server settle before its baseline memory is read
    rss_before = rss_kib(server_pids)
    clients: list[Viewer] = []
    started = time.monotonic()
    for i in range(viewers):
        # Each viewer comes from its own share of 127.0.0.0/8, 20 to an address (the default
        # LIVE_STREAMS_PER_ADDRESS), as visitors from many homes would.
        source = f"127.{1 + i // 20 // 250 % 250}.{1 + i // 20 % 250}.{1 + i // 20 // 62500}"
        client = Viewer(loop.create_future())
        clients.append(client)
        try:
            await loop.create_connection(lambda c=client: c, host, int(port), local_addr=(source, 0))
        except OSError as exc:
            client.error = f"{exc.__class__.__name__}: {exc}"
            client.connected.set_result(False)
        if i % 100 == 99:
            await asyncio.sleep(0.02)  # ramp up, as real visitors arrive
    await asyncio.wait_for(asyncio.gather(*(c.connected for c in clients)), timeout=300)
    connect_seconds = time.monotonic() - started
    await asyncio.sleep(2)
    rss_after = rss_kib(server_pids)
    failed = [c.error for c in clients if c.error]
    writer = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITER, cwd=ROOT, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )
    commits: list[tuple[int, float]] = []
    raised = max(Viewer.first_seen(next(c for c in clients if not c.error)))
    load = os.getloadavg()[0]
    for n in range(gifts):
        amount = 1000 + n
        raised += amount
        writer.stdin.write(f"{amount}\n".encode())
        await writer.stdin.drain()
        commits.append((raised, float((await writer.stdout.readline()).decode())))
        # Jitter, so commits do not fall at one fixed phase of the servers' poll.
        await asyncio.sleep(gap + random.uniform(0, 1))
    load = max(load, os.getloadavg()[0])
    writer.stdin.close()
    await writer.wait()
    latencies: list[float] = []
    missed = 0
    for client in clients:
        if client.error:
            continue
        seen = client.first_seen()
        for value, committed in commits:
            if value in seen:
                latencies.append(seen[value] - committed)
            else:
                missed += 1
        if client.transport is not None:
            client.transport.close()
    latencies.sort()
    connected = viewers - len(failed)
    return {
        "viewers": connected, "failed": len(failed), "first_error": failed[0] if failed else "",
        "connect_s": connect_seconds, "updates": len(latencies), "missed": missed,
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p95": latencies[int(len(latencies) * 0.95) - 1] if latencies else float("nan"),
        "max": latencies[-1] if latencies else float("nan"),
        "kib_per_viewer": (rss_after - rss_before) / connected if connected else float("nan"),
        "server_rss_mib": rss_after / 1024, "load": load,
    }


@contextmanager
def fanout(env: dict[str, str], max_streams: int):
    """`flask serve-streams` on a free port, as docs/deploy.md runs it behind nginx."""
    cmd = [str(VENV_BIN / "flask"), "--app", "fundraiser", "serve-streams", "--bind", f"127.0.0.1:{free_port()}",
           "--max-streams", str(max_streams)]
    with serving(cmd, env, "serve-streams") as (base, proc):
        yield base, proc.pid


def run(kind: str, server: str, args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        url = fresh_database(kind, "bench_live", Path(tmp))
        env = app_env(url, Path(tmp) / "instance", LIVE_POLL_SECONDS=str(args.poll))
        flask(env, "db", "upgrade")
        flask(env, "seed-demo")
        if server == "fanout":
            with fanout(env, args.viewers + 1000) as (base, pid):
                return asyncio.run(measure(base, env, [pid], args.viewers, args.gifts, args.gap))
        # gunicorn serves the streams itself: every viewer holds a thread (the per-worker caps are
        # raised so they can).
        env.update(LIVE_STREAMS_MAX=str(args.threads), LIVE_STREAMS_PER_ADDRESS="20")
        with gunicorn(env, "gthread", args.workers, args.threads) as base:
            return asyncio.run(measure(base, env, gunicorn_pids(base), args.viewers, args.gifts, args.gap))


def gunicorn_pids(base: str) -> list[int]:
    """gunicorn's master and workers: every process listening on the port."""
    port = base.rsplit(":", 1)[1]
    out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], check=True, capture_output=True, text=True).stdout
    return sorted({int(part.split(",")[0]) for part in out.split("pid=")[1:]})


def raise_open_files(wanted: int) -> None:
    """Every viewer is a socket in this process (and in the server, which inherits the limit); the
    hard limit can only be raised by root."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), max(hard, wanted)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(f"Open files allowed: {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--server", action="append", choices=["fanout", "gunicorn"],
                        help="fanout (default), gunicorn, or both, measured one after the other")
    parser.add_argument("--viewers", type=int, default=10000)
    parser.add_argument("--gifts", type=int, default=10)
    parser.add_argument("--gap", type=float, default=3.0, help="seconds between gifts")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=600)
    parser.add_argument("--poll", type=float, default=0.5, help="LIVE_POLL_SECONDS")
    args = parser.parse_args()
    raise_open_files(args.viewers + 4096)
    print(f"Machine: {machine()}; load average at start {os.getloadavg()[0]:.2f}")
    servers = args.server or ["fanout"]
    names = {"fanout": "flask serve-streams (one asyncio process)",
             "gunicorn": f"gunicorn -k gthread -w {args.workers} --threads {args.threads}"}
    print(f"Servers: {'; '.join(names[s] for s in servers)}. LIVE_POLL_SECONDS={args.poll}; {args.viewers} stream "
          f"clients (asyncio, same machine, 20 per source address); {args.gifts} gifts {args.gap}s apart, recorded "
          "by a separate process")
    print("| server | database | viewers connected | failed | connect time | updates seen | missed | p50 | p95 | max "
          "| server memory | per viewer | load average | target p95 < 1 s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for kind in args.db or ["sqlite", "postgresql"]:
        for server in servers:
            r = run(kind, server, args)
            print(f"| {server} | {kind} | {r['viewers']} | {r['failed']} | {r['connect_s']:.1f} s | {r['updates']} | "
                  f"{r['missed']} | {r['p50'] * 1000:.0f} ms | {r['p95'] * 1000:.0f} ms | {r['max'] * 1000:.0f} ms | "
                  f"{r['server_rss_mib']:.0f} MiB | {r['kib_per_viewer']:.1f} KiB | {r['load']:.2f} | "
                  f"{'met' if r['p95'] < 1 and not r['missed'] and not r['failed'] else 'NOT met'} |", flush=True)
            if r["first_error"]:
                print(f"  first connection error: {r['first_error']}")


if __name__ == "__main__":
    main()

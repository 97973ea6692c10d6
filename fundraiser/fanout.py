"""Stream fan-out: one asyncio process serves every live progress stream, so an idle viewer costs a
socket and a few kilobytes instead of a server thread.

`flask --app fundraiser serve-streams --bind 127.0.0.1:8001` runs it; nginx sends the stream URLs
here and everything else to gunicorn (docs/deploy.md). It answers the same URLs with the same
events, caps and errors as the streams of fundraiser/api/views.py, and learns of changes the same
way: a LiveHub (its poller thread reads every campaign's totals version) tells the event loop,
which writes each changed campaign's message, built once, to every viewer of it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import resource
import signal
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from . import live
from .api.views import MAX_STREAM_SLUGS
from .cli import schema_first
from .live import LiveHub, Snapshot, StreamGate
from .settings import current_settings

log = logging.getLogger(__name__)

ONE_CAMPAIGN = re.compile(r"^/api/campaigns/([^/]+)/progress/stream$")
# A viewer that stops reading is dropped once this much is waiting for it: the loop's memory stays
# bounded by viewers × this, not by how long a stalled client stays connected.
MAX_UNREAD_BYTES = 256 * 1024
REQUEST_HEAD_SECONDS = 10.0
REQUEST_HEAD_BYTES = 8192
CLOSED = b"event: closed\ndata: {}\n\n"
KEEP_ALIVE = b": keep-alive\n\n"
STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-cache\r\n"
    b"X-Accel-Buffering: no\r\nAccess-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n"
)


@dataclass
class Audience:
    """The viewers of one set of campaigns and what they have all been sent."""

    seen: dict[str, Snapshot]
    writers: set[asyncio.StreamWriter] = field(default_factory=set)


def _response(status: int, reason: str, body: dict, extra: str = "") -> bytes:
    payload = json.dumps(body).encode()
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
            f"Access-Control-Allow-Origin: *\r\n{extra}Connection: close\r\n\r\n").encode() + payload


def _error(status: int, reason: str, message: str, extra: str = "") -> bytes:
    """The app's JSON error shape ({"error": {"status", "message"}}), so pages treat both servers alike."""
    return _response(status, reason, {"error": {"status": status, "message": message}}, extra)


def forwarded_address(peer: str, forwarded_for: str | None, proxy_count: int) -> str:
    """The client's address as ProxyFix reads it: the one `proxy_count` trusted proxies put last
    in X-Forwarded-For, or the peer when there are no proxies (or fewer entries than proxies)."""
    if proxy_count and forwarded_for:
        hops = [part.strip() for part in forwarded_for.split(",")]
        if len(hops) >= proxy_count and hops[-proxy_count]:
            return hops[-proxy_count]
    return peer


class FanOut:
    """Every open stream of this process, grouped by the campaigns it follows."""

    def __init__(self, hub: LiveHub, *, lifetime: float, most: int, per_address: int, proxy_count: int) -> None:
        self._hub = hub
        self._lifetime = lifetime
        self._most = most
        self._per_address = per_address
        self._proxy_count = proxy_count
        self._audiences: dict[tuple[str, ...], Audience] = {}
        self._gate = StreamGate()  # the app's own caps: per address (an IPv6 one by its /64) and in all
        self._changed = asyncio.Event()

    @property
    def total(self) -> int:
        return self._gate.total

    def changed_from_any_thread(self, loop: asyncio.AbstractEventLoop) -> None:
        """The hub's listener: wake the broadcaster inside the loop."""
        loop.call_soon_threadsafe(self._changed.set)

    # -------------------------------------------------------------- one connection

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(REQUEST_HEAD_SECONDS):
                head = await reader.readuntil(b"\r\n\r\n")
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        try:
            await self._answer(head, reader, writer)
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _answer(self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or parts[0] != "GET":
            writer.write(_error(405, "Method Not Allowed", "Streams answer GET only.", "Allow: GET\r\n"))
            return
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        try:
            target = urlsplit(parts[1])
        except ValueError:
            writer.write(_error(400, "Bad Request", "That address could not be read."))
            return
        slugs = self._route(target.path, target.query)
        if isinstance(slugs, bytes):
            writer.write(slugs)
            return
        snapshots = self._hub.snapshots()
        missing = [slug for slug in slugs if slug not in snapshots]
        if missing:
            writer.write(_error(404, "Not Found", f"No public campaign is called {missing[0]!r}."))
            return
        peer = (writer.get_extra_info("peername") or ("?",))[0]
        address = forwarded_address(peer, headers.get("x-forwarded-for"), self._proxy_count)
        if not self._gate.admit(address, most=self._most, per_address=self._per_address):
            writer.write(_error(429, "Too Many Requests",
                                "Too many live streams are open; the page will check for updates instead.",
                                f"Retry-After: {int(self._lifetime)}\r\n"))
            return
        try:
            await self._stream(slugs, snapshots, reader, writer)
        finally:
            self._gate.release(address)

    def _route(self, path: str, query: str) -> tuple[str, ...] | bytes:
        """The campaigns a stream URL asks for, or the bytes of the error to answer."""
        if path == "/api/health":
            return _response(200, "OK", {"status": "ok"})
        if match := ONE_CAMPAIGN.match(path):
            return (unquote(match.group(1)),)
        if path == "/api/progress/stream":
            slugs = tuple(dict.fromkeys(parse_qs(query).get("slug", [])))
            if 1 <= len(slugs) <= MAX_STREAM_SLUGS:
                return slugs
            return _error(400, "Bad Request", f"Ask for 1 to {MAX_STREAM_SLUGS} campaigns: ?slug=one&slug=two.")
        return _error(404, "Not Found", "This server answers live progress streams only.")

    async def _stream(self, slugs: tuple[str, ...], snapshots: dict[str, Snapshot],
                      reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        audience = self._audiences.get(slugs)
        if audience is None:
            audience = self._audiences[slugs] = Audience(seen={slug: snapshots[slug] for slug in slugs})
        # What this audience was last sent, so the next broadcast brings the newcomer up to date too.
        writer.write(STREAM_HEAD + b"retry: 2000\n\n"
                     + b"".join(live.sse_message(s) for s in audience.seen.values()))
        audience.writers.add(writer)
        try:
            # Viewers send nothing after the request: a read ends when they leave (or the lifetime does).
            async with asyncio.timeout(self._lifetime):
                while await reader.read(4096):
                    pass
        except TimeoutError:
            pass
        finally:
            audience.writers.discard(writer)
            if not audience.writers and self._audiences.get(slugs) is audience:
                del self._audiences[slugs]

    # -------------------------------------------------------------- every viewer

    async def broadcast(self) -> None:
        """On every change of the hub, send each audience what changed for it, built once."""
        while True:
            await self._changed.wait()
            self._changed.clear()
            snapshots = self._hub.snapshots()
            for slugs, audience in list(self._audiences.items()):
                latest = {slug: snapshots.get(slug) for slug in slugs}
                if any(snapshot is None for snapshot in latest.values()):
                    # No longer public: tell the page to stop reconnecting, as the app's stream does.
                    for writer in audience.writers:
                        self._send(writer, CLOSED)
                        writer.close()
                    del self._audiences[slugs]
                    continue
                changed = [s for slug, s in latest.items() if s is not audience.seen[slug]]
                if not changed:
                    continue
                audience.seen = latest
                message = b"".join(live.sse_message(s) for s in changed)
                for writer in list(audience.writers):
                    self._send(writer, message)
            # Give connections waiting to be accepted a turn between large broadcasts.
            await asyncio.sleep(0)

    async def heartbeat(self) -> None:
        """A comment line every HEARTBEAT_SECONDS keeps proxies from closing idle streams."""
        while True:
            await asyncio.sleep(live.HEARTBEAT_SECONDS)
            for audience in list(self._audiences.values()):
                for writer in list(audience.writers):
                    self._send(writer, KEEP_ALIVE)

    @staticmethod
    def _send(writer: asyncio.StreamWriter, message: bytes) -> None:
        transport = writer.transport
        if transport.is_closing():
            return
        if transport.get_write_buffer_size() > MAX_UNREAD_BYTES:
            transport.abort()  # its reader task then ends and frees the slot
            return
        transport.write(message)


def _raise_open_files_limit(wanted: int) -> int:
    """Each viewer is a socket: allow `wanted` open files if the system lets this process (raising
    the hard limit needs root), else as many as the hard limit allows. Returns the limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for limits in ((wanted, max(wanted, hard)), (min(wanted, hard), hard)):
        if limits[0] <= soft:
            return soft
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, limits)
            return limits[0]
        except (ValueError, OSError):
            continue
    return soft


async def serve(app: Flask, host: str, port: int, most: int) -> None:
    """Serve streams until SIGTERM or SIGINT."""
    with app.app_context():
        settings = current_settings()
        hub: LiveHub = live.hub()
    fan_out = FanOut(hub, lifetime=settings.live_stream_seconds, most=most,
                     per_address=settings.live_streams_per_address, proxy_count=settings.proxy_count)
    loop = asyncio.get_running_loop()
    hub.listen(lambda: fan_out.changed_from_any_thread(loop))
    await loop.run_in_executor(None, hub.snapshots)  # first read of every campaign, off the loop
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = await asyncio.start_server(fan_out.handle, host, port, backlog=4096, limit=REQUEST_HEAD_BYTES)
    workers = [asyncio.create_task(fan_out.broadcast()), asyncio.create_task(fan_out.heartbeat())]
    log.warning("Serving live progress streams on %s:%s", host, port)
    started = time.monotonic()
    await stop.wait()
    log.warning("Stopping after %.0f s with %d streams open", time.monotonic() - started, fan_out.total)
    server.close()
    for task in workers:
        task.cancel()
    hub.stop()


@schema_first
@click.command("serve-streams")
@click.option("--bind", default="127.0.0.1:8001", show_default=True, help="host:port to listen on.")
@click.option("--max-streams", default=20000, show_default=True,
              help="Open streams this process holds at most (each is a socket: mind `ulimit -n`).")
@with_appcontext
def serve_streams_command(bind: str, max_streams: int) -> None:
    """Serve every live progress stream from one event loop (put nginx in front; see docs/deploy.md)."""
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter("Give host:port, e.g. 127.0.0.1:8001.", param_hint="--bind")
    limit = _raise_open_files_limit(max_streams + 1024)
    if limit < max_streams + 100:
        click.echo(f"Warning: only {limit} open files are allowed; raise `ulimit -n` (LimitNOFILE=) "
                   f"above --max-streams ({max_streams}).", err=True)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(serve(current_app._get_current_object(), host.strip("[]"), int(port), max_streams))

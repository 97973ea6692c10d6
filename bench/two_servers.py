"""Two app servers on one PostgreSQL behind HAProxy: webhooks recorded once, bars moving across
servers, sign-in valid on both.

    sudo .venv/bin/python bench/two_servers.py

Each server is gunicorn (the docs/deploy.md set-up, fewer threads) in its own network namespace,
joined to this host by a veth pair, so the two share nothing but the database, as two machines
would. PostgreSQL listens on loopback only, so a `socat` relay on the host end of each link stands
in for the network path to a database server. HAProxy (Debian's package) balances between them.
Needs root, `ip`, `haproxy` and `socat`. Prints PASS/FAIL per check and the figures.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlencode

from common import ROOT, VENV_BIN, app_env, flask, free_port, fresh_database, machine
from webhook_ingest import SECRET, event_body, sign

SLUG = "giving-tuesday"
# (namespace, first three octets of its link): server A and server B.
SERVERS = (("fr2s-a", "10.231.1"), ("fr2s-b", "10.231.2"))
APP_PORT = 8000
PASSWORD = "kettle lantern orchard 8841 violet"


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


@contextmanager
def namespace(name: str, net: str):
    """A network namespace linked to the host (host {net}.1, namespace {net}.2), with a relay on
    the host end to the loopback PostgreSQL."""
    subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)  # left over from an interrupted run
    subprocess.run(["ip", "link", "del", f"{name}-h"], check=False, capture_output=True)
    sh("ip", "netns", "add", name)
    relay = None
    try:
        sh("ip", "link", "add", f"{name}-h", "type", "veth", "peer", "name", f"{name}-n")
        sh("ip", "link", "set", f"{name}-n", "netns", name)
        sh("ip", "addr", "add", f"{net}.1/24", "dev", f"{name}-h")
        sh("ip", "link", "set", f"{name}-h", "up")
        sh("ip", "-n", name, "addr", "add", f"{net}.2/24", "dev", f"{name}-n")
        sh("ip", "-n", name, "link", "set", f"{name}-n", "up")
        sh("ip", "-n", name, "link", "set", "lo", "up")
        relay = subprocess.Popen(["socat", f"TCP-LISTEN:5432,bind={net}.1,fork,reuseaddr", "TCP:127.0.0.1:5432"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        yield
    finally:
        if relay is not None:
            os.killpg(relay.pid, signal.SIGTERM)  # the relay and the child it forked per connection
            relay.wait(timeout=10)
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)
        subprocess.run(["ip", "link", "del", f"{name}-h"], check=False, capture_output=True)


def wait_up(host: str, port: int, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 40
    while True:
        try:
            if request(host, port, "GET", "/api/health")[0] == 200:
                return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
        time.sleep(0.3)


@contextmanager
def app_server(name: str, net: str, env: dict[str, str], threads: int):
    """gunicorn inside the namespace, reaching PostgreSQL through the relay."""
    proc = subprocess.Popen(
        ["ip", "netns", "exec", name, str(VENV_BIN / "gunicorn"), "wsgi:app", "--bind", f"{net}.2:{APP_PORT}",
         "--worker-class", "gthread", "--workers", "2", "--threads", str(threads), "--graceful-timeout", "5", "--log-level", "warning"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        wait_up(f"{net}.2", APP_PORT, proc, f"gunicorn in {name}")
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stderr.close()


@contextmanager
def haproxy(port: int, workdir: Path):
    config = workdir / "haproxy.cfg"
    backends = "\n".join(f"    server {name} {net}.2:{APP_PORT} check inter 1s" for name, net in SERVERS)
    config.write_text(f"""global
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 1h
    timeout server 1h
frontend www
    bind 127.0.0.1:{port}
    option forwardfor
    default_backend apps
backend apps
    balance roundrobin
    option httpchk GET /api/health
{backends}
""")
    proc = subprocess.Popen(["haproxy", "-db", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_up("127.0.0.1", port, proc, "haproxy")
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stderr.close()


def request(host: str, port: int, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def deliver(host: str, port: int, body: bytes) -> int:
    return request(host, port, "POST", "/stripe/webhook", body,
                   {"Content-Type": "application/json", "Stripe-Signature": sign(body)})[0]


class Browser:
    """Cookies by hand, so the same session cookie can be shown to any server (as a browser does
    when one load balancer address fronts them all)."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}

    def go(self, host: str, method: str, path: str, form: dict | None = None) -> tuple[int, dict, str]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        address, port = host.rsplit(":", 1)
        conn = http.client.HTTPConnection(address, int(port), timeout=30)
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        text = response.read().decode(errors="replace")
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        conn.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, text


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def campaign_id(env: dict[str, str]) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(env["DATABASE_URL"])
    with engine.connect() as conn:
        found = conn.execute(text("SELECT id FROM campaigns WHERE slug = :s"), {"s": SLUG}).scalar_one()
    engine.dispose()
    return found


def database_counts(env: dict[str, str], first: int, last: int) -> tuple[int, int, int, int, int]:
    """Stored events, those not yet applied, gifts and their total for the bench's payment intents,
    and the campaign's raised."""
    from sqlalchemy import create_engine, text

    engine = create_engine(env["DATABASE_URL"])
    ids = [f"pi_bench{n:08d}" for n in range(first, last)]
    with engine.connect() as conn:
        events, pending = conn.execute(text(
            "SELECT count(*), count(*) FILTER (WHERE processed_at IS NULL) FROM stripe_events WHERE id = ANY(:ids)"),
            {"ids": [f"evt_bench{n:08d}" for n in range(first, last)]}).one()
        gifts, total = conn.execute(text(
            "SELECT count(*), coalesce(sum(amount_cents), 0) FROM gifts WHERE stripe_payment_intent_id = ANY(:ids)"),
            {"ids": ids}).one()
        raised = conn.execute(text("SELECT raised_cents FROM campaign_totals t JOIN campaigns c ON c.id = t.campaign_id "
                                   "WHERE c.slug = :s"), {"s": SLUG}).scalar_one()
    engine.dispose()
    return events, pending, gifts, int(total), raised


def check_webhooks_once(env: dict[str, str], hosts: list[tuple[str, int]], cid: int, count: int) -> dict:
    """Every event delivered to both servers at once and again through the balancer: one gift each."""
    bodies = [event_body(n, cid) for n in range(count)]
    before = database_counts(env, 0, count)[4]
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(lambda job: deliver(*job[0], job[1]),
                                 [(host, body) for body in bodies for host in hosts]))
    answered = time.monotonic() - started
    deadline = time.monotonic() + 300
    expected = sum(2500 + n % 100 for n in range(count))
    while True:
        # Until every stored event is applied, so the next check starts from a quiet ledger.
        events, pending, gifts, total, raised = database_counts(env, 0, count)
        if (events == count and not pending) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    verify = subprocess.run([str(VENV_BIN / "flask"), "--app", "fundraiser", "verify-totals"], check=False, env=env, cwd=ROOT,
                            capture_output=True, text=True)
    return {
        "deliveries": len(statuses), "answered_200": statuses.count(200), "events_stored": events,
        "gifts": gifts, "gift_total_ok": total == expected and raised - before == expected,
        "answered_s": answered, "seconds": time.monotonic() - started, "pending": pending,
        "verify_totals_clean": verify.returncode == 0,
        "passed": (statuses.count(200) == len(statuses) and events == count and gifts == count
                   and total == expected and raised - before == expected and verify.returncode == 0),
    }


def recorded_at(env: dict[str, str], n: int) -> float:
    """When the server that applied event n created its gift (a moment before its commit)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(env["DATABASE_URL"])
    with engine.connect() as conn:
        created = conn.execute(text("SELECT created_at FROM gifts WHERE stripe_payment_intent_id = :pi"),
                               {"pi": f"pi_bench{n:08d}"}).scalar_one()
    engine.dispose()
    return created.timestamp()


def check_bars_move_across(env: dict[str, str], recording: tuple[str, int], watching: tuple[str, int], cid: int,
                           gifts: int, first: int) -> dict:
    """A gift's webhook sent to one server; how long until the other server's stream shows it, from
    the gift's recording (the issue's promise) and from the webhook's delivery (adds the apply)."""
    conn = http.client.HTTPConnection(*watching, timeout=30)
    conn.request("GET", f"/api/campaigns/{SLUG}/progress/stream")
    stream = conn.getresponse()
    totals: list[tuple[float, int]] = []
    arrived = threading.Event()

    def read() -> None:
        event = None
        try:
            while line := stream.fp.readline():
                if line.startswith(b"event: "):
                    event = line[7:].strip()
                elif line.startswith(b"data: ") and event == b"progress":
                    totals.append((time.time(), json.loads(line[6:])["raised_cents"]))
                    arrived.set()
        except (AttributeError, ValueError, OSError):
            return  # the measuring thread closed the stream

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    arrived.wait(10)
    from_delivery, from_recording = [], []
    for n in range(first, first + gifts):
        body = event_body(n, cid)
        known = totals[-1][1]
        sent = time.time()
        status = deliver(*recording, body)
        deadline = sent + 10
        while time.time() < deadline and totals[-1][1] == known:
            time.sleep(0.01)
        if status == 200 and totals[-1][1] == known + 2500 + n % 100:
            from_delivery.append(totals[-1][0] - sent)
            from_recording.append(totals[-1][0] - recorded_at(env, n))
        time.sleep(0.7)
    conn.close()
    return {"gifts": gifts, "from_delivery": from_delivery, "from_recording": from_recording,
            "passed": len(from_recording) == gifts and max(from_recording) < 1.0}


def check_sign_in_across(a: str, b: str, balancer: str) -> dict:
    """Signed in on A: B knows the session; signed out on B: A no longer accepts the copied cookie."""
    browser = Browser()
    page = browser.go(a, "GET", "/login")[2]
    status, headers, _ = browser.go(a, "POST", "/login", {"csrf_token": csrf(page), "email": "bench@example.org",
                                                          "password": PASSWORD})
    signed_in = status == 302 and "/staff" in headers.get("location", "")
    on_b = browser.go(b, "GET", "/staff/")
    on_both = [browser.go(balancer, "GET", "/staff/")[0] for _ in range(6)]
    copied = dict(browser.cookies)
    logout_token = csrf(on_b[2])
    signed_out = browser.go(b, "POST", "/logout", {"csrf_token": logout_token})[0] == 302
    thief = Browser()
    thief.cookies = copied
    after = thief.go(a, "GET", "/staff/")
    return {
        "signed_in_on_a": signed_in, "staff_page_on_b": on_b[0], "through_balancer": on_both,
        "copied_cookie_on_a_after_sign_out_on_b": after[0],
        "passed": signed_in and on_b[0] == 200 and on_both == [200] * 6 and signed_out and after[0] == 302,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200, help="webhook events, each delivered three times")
    parser.add_argument("--moves", type=int, default=5, help="gifts timed from one server to the other's bar")
    parser.add_argument("--threads", type=int, default=32)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("Run as root: the servers get their own network namespaces.")
    print(f"Machine: {machine()}; load average at start {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        url = fresh_database("postgresql", "bench_two_servers", workdir)
        host_env = app_env(url, workdir / "instance", STRIPE_WEBHOOK_SECRET=SECRET, STRIPE_SECRET_KEY="sk_test_bench",
                           STRIPE_PUBLISHABLE_KEY="pk_test_bench", STRIPE_API_BASE="http://127.0.0.1:9",
                           LIVE_POLL_SECONDS="0.5", PROXY_COUNT="1")
        flask(host_env, "db", "upgrade")
        flask(host_env, "seed-demo")
        flask({**host_env, "FUNDRAISER_USER_PASSWORD": PASSWORD}, "create-user", "bench@example.org", "--role", "admin")
        cid = campaign_id(host_env)
        for name, net in SERVERS:
            stack.enter_context(namespace(name, net))
            env = {**host_env, "DATABASE_URL": url.replace("127.0.0.1", f"{net}.1"),
                   "FUNDRAISER_INSTANCE_PATH": str(workdir / f"instance-{name}")}
            stack.enter_context(app_server(name, net, env, args.threads))
        port = free_port()
        stack.enter_context(haproxy(port, workdir))
        a, b = ((f"{net}.2", APP_PORT) for _, net in SERVERS)
        print(f"Servers: gunicorn -k gthread -w 2 --threads {args.threads} in namespaces {SERVERS[0][0]} and "
              f"{SERVERS[1][0]}, PostgreSQL through a relay, HAProxy round robin on 127.0.0.1:{port}")

        once = check_webhooks_once(host_env, [a, b, ("127.0.0.1", port)], cid, args.events)
        print(f"{'PASS' if once['passed'] else 'FAIL'} webhooks recorded once: {once['deliveries']} deliveries "
              f"({args.events} events, each to A, to B and through HAProxy, at once), {once['answered_200']} answered "
              f"200, {once['events_stored']} events stored, {once['gifts']} gifts, totals right: "
              f"{once['gift_total_ok']}, verify-totals clean: {once['verify_totals_clean']}; all answered in "
              f"{once['answered_s']:.1f} s, all applied {once['seconds']:.1f} s after the first delivery "
              f"({once['pending']} still waiting)")

        moves = [check_bars_move_across(host_env, a, b, cid, args.moves, 100000),
                 check_bars_move_across(host_env, b, a, cid, args.moves, 200000)]
        recorded = sorted(x for m in moves for x in m["from_recording"])
        delivered = sorted(x for m in moves for x in m["from_delivery"])
        passed = all(m["passed"] for m in moves)
        print(f"{'PASS' if passed else 'FAIL'} a gift recorded on one server moves the other's bar within 1 s: "
              f"{len(recorded)}/{2 * args.moves} seen; from the gift's recording to the other server's stream "
              f"median {recorded[len(recorded) // 2] * 1000:.0f} ms, max {recorded[-1] * 1000:.0f} ms; from the "
              f"webhook's delivery (adds storing and applying it) median {delivered[len(delivered) // 2] * 1000:.0f} "
              f"ms, max {delivered[-1] * 1000:.0f} ms"
              if recorded else "FAIL no gift reached the other server's stream")

        signs = check_sign_in_across(f"{a[0]}:{a[1]}", f"{b[0]}:{b[1]}", f"127.0.0.1:{port}")
        print(f"{'PASS' if signs['passed'] else 'FAIL'} sign-in across servers: signed in on A "
              f"{signs['signed_in_on_a']}, staff page on B {signs['staff_page_on_b']}, through HAProxy "
              f"{signs['through_balancer']}, copied cookie on A after signing out on B "
              f"{signs['copied_cookie_on_a_after_sign_out_on_b']} (302 = back to sign-in)")
        print(f"Load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

"""gunicorn wsgi:app as docs/deploy.md runs it (gthread workers), for tests of what one hostile
address can do to the whole server: threads, memory, answers under load."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import app_config
from tests.netutil import free_port, wait_for
from tests.payments.conftest import STRIPE_SETTINGS


@contextmanager
def run_gunicorn(database_url: str, instance_path: Path, *, threads: int, workers: int = 1,
                 **env: str) -> Iterator[tuple[int, subprocess.Popen]]:
    """Serve the app behind one trusted proxy (PROXY_COUNT=1, as behind nginx); yields the port
    and the master process, and stops it afterwards."""
    port = free_port()
    environment = {**os.environ, **app_config(database_url, instance_path), **STRIPE_SETTINGS, "PROXY_COUNT": "1", **env}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    server = subprocess.Popen(
        [str(gunicorn), "wsgi:app", "--bind", f"127.0.0.1:{port}", "--worker-class", "gthread",
         "--workers", str(workers), "--threads", str(threads), "--worker-connections", "500",
         "--graceful-timeout", "1", "--log-level", "warning"],
        cwd=Path(__file__).resolve().parents[1], env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )

    def up():
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1)
            return True
        except OSError:
            assert server.poll() is None, "gunicorn exited"
            return False

    try:
        wait_for(up, 30, "gunicorn")
        yield port, server
    finally:
        server.terminate()
        server.wait(timeout=30)


def worker_pids(master: subprocess.Popen) -> list[int]:
    """The master's worker processes (read from /proc: their parent is the master)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master.pid:
            pids.append(int(stat.parent.name))
    return pids


def peak_rss_bytes(pid: int) -> int:
    """The most memory the process has held resident since it started (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise LookupError(f"no VmHWM for process {pid}")

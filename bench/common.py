"""Shared helpers for the benchmark scripts: databases, a gunicorn server, wrk runs, machine facts."""

from __future__ import annotations

import os
import platform
import re
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()} {platform.release()}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_database(kind: str, name: str, workdir: Path) -> str:
    """An empty database URL of the given kind ('sqlite' or 'postgresql')."""
    if kind == "sqlite":
        path = workdir / f"{name}.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def flask(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [str(VENV_BIN / "flask"), "--app", "fundraiser", *args], env=env, cwd=ROOT,
        capture_output=True, text=True, check=True,
    )
    return result.stdout


def app_env(database_url: str, instance: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDRAISER_")}
    env.update(
        DATABASE_URL=database_url, FUNDRAISER_INSTANCE_PATH=str(instance), FUNDRAISER_ENV="development",
        SECRET_KEY="bench-secret-key-bench-secret-key-bench", AUTO_SEED_DEMO="false",
        BACKUP_KEEP="0",  # the nightly backup (a pg_dump of the whole data set) is not what is measured
        **extra,
    )
    return env


@contextmanager
def serving(cmd: list[str], env: dict[str, str], name: str):
    """Start a server command that listens on the port in `cmd`; yields (base URL, process) once
    its /api/health answers, and stops it afterwards."""
    port = cmd[cmd.index("--bind") + 1].rsplit(":", 1)[1]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/api/health", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start: {proc.stderr.read().decode()[-2000:]}") from None
                time.sleep(0.2)
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # threads still held by streams past the graceful timeout
            proc.kill()
            proc.wait()
        proc.stderr.close()


@contextmanager
def gunicorn(env: dict[str, str], worker_class: str, workers: int, threads: int, app: str = "wsgi:app"):
    """Run `gunicorn wsgi:app` (or another app of bench/) on a free port; yields its base URL."""
    cmd = [
        str(VENV_BIN / "gunicorn"), app, "--pythonpath", str(ROOT / "bench"), "--bind", f"127.0.0.1:{free_port()}",
        "--workers", str(workers), "--worker-class", worker_class, "--threads", str(threads), "--log-level", "warning",
        "--worker-connections", "2000",
    ]
    with serving(cmd, env, "gunicorn") as (base, _proc):
        yield base


def wrk(url: str, connections: int, seconds: int, threads: int = 2) -> dict[str, float]:
    """Requests per second and latency percentiles (ms) from one wrk run."""
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True, text=True, check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    percentiles = {}
    for pct, value, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE):
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
        percentiles[f"p{pct}_ms"] = float(value) * scale
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {"rps": rps, **percentiles, "non_2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": errors.group(0) if errors else ""}

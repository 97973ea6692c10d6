"""The README's first command: the app starts on the embedded SQLite default and shows the demo."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_app_starts_as_the_readme_says_and_shows_the_demo(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "FUNDRAISER_", "AUTO_SEED"))}
    env["FUNDRAISER_INSTANCE_PATH"] = str(tmp_path / "instance")
    flask = Path(sys.executable).with_name("flask")
    proc = subprocess.Popen(
        [str(flask), "--app", "fundraiser", "run", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        home = _get_when_up(f"http://127.0.0.1:{port}/", proc)
        assert "Five Year Anniversary Fundraiser" in home
        assert "Restrained and Secluded in the Schoolhouse" in home
        assert "Sample data" in home or "sample data" in home
        page = _get_when_up(f"http://127.0.0.1:{port}/campaigns/five-year-anniversary", proc)
        assert "Holiday Cookie Walk" in page and 'role="progressbar"' in page
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()
    assert (tmp_path / "instance" / "fundraiser.sqlite3").exists()


def _get_when_up(url: str, proc: subprocess.Popen, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the app exited: {proc.stdout.read().decode(errors='replace')}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read().decode()
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"{url} did not answer within {timeout}s")

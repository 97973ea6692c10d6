"""gunicorn's entry point (wsgi.py) as production loads it."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_served_app_keeps_what_start_up_built_out_of_full_garbage_collections(tmp_path):
    """A full collection walked every object start-up made on each report-sized request; wsgi.py
    freezes them (fundraiser.ready_to_serve)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "FUNDRAISER_", "AUTO_SEED"))}
    env.update(FUNDRAISER_INSTANCE_PATH=str(tmp_path / "instance"), AUTO_SEED_DEMO="false")
    result = subprocess.run([sys.executable, "-c", "import gc, wsgi; print(gc.get_freeze_count(), wsgi.app.name)"],
                            cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=60)
    frozen, name = result.stdout.split()
    assert name == "fundraiser" and int(frozen) > 50_000

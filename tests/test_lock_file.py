"""The hashed lock file that docs/deploy.md installs production from covers pyproject's runtime
dependencies (read offline: no index is asked)."""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "production.txt"


def pinned() -> dict[str, tuple[str, int]]:
    """Each locked package's version and how many hashes it carries."""
    found = {}
    for block in re.split(r"\n(?=\S)", LOCK.read_text()):
        match = re.match(r"([A-Za-z0-9._-]+)==(\S+)", block)
        if match:
            found[canonicalize_name(match.group(1))] = (match.group(2), block.count("--hash=sha256:"))
    return found


def test_every_runtime_dependency_is_locked_with_hashes_in_range():
    locks = pinned()
    dependencies = [Requirement(r) for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]]
    for requirement in dependencies:
        name = canonicalize_name(requirement.name)
        assert name in locks, f"{requirement.name} is not in {LOCK.name}: run pip-compile (see its header)"
        version, hashes = locks[name]
        assert requirement.specifier.contains(version, prereleases=True), f"{name}=={version} is outside {requirement}"
        assert hashes, f"{name} has no hash"
        for extra in requirement.extras:  # psycopg[binary] pulls psycopg-binary
            assert canonicalize_name(f"{name}-{extra}") in locks, f"{name}[{extra}] is not locked"
    assert all(hashes for _, hashes in locks.values())


def test_the_production_install_uses_the_lock_file():
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    assert "--require-hashes -r requirements/production.txt" in deploy

"""WCAG 2.2 AA contrast of the colour pairs the pages use, read from the stylesheet itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = (Path(__file__).resolve().parents[2] / "static" / "css" / "site.css").read_text()
VARS = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})", CSS))


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def colour(name: str) -> str:
    return VARS[name] if not name.startswith("#") else name


TEXT = [  # (foreground, background): body text needs 4.5:1
    ("ink", "bg"), ("ink", "card"), ("muted", "card"), ("muted", "bg"), ("brand", "card"), ("fill", "card"),
    ("#ffffff", "brand"), ("ink", "warn-bg"),
    ("#5c4300", "#fff4d6"),  # milestone celebration
    ("#08513e", "#e8f3ef"),  # "be the first" start state
]
UI = [  # bar against its track: non-text contrast needs 3:1
    ("fill", "track"), ("brand", "track"),
    # The focus ring against its halo, and the halo against the darkest backgrounds it meets.
    ("focus-ring", "focus-halo"), ("focus-halo", "brand"), ("focus-halo", "brand-dark"), ("focus-halo", "ink"),
]


@pytest.mark.parametrize(("fg", "bg"), TEXT)
def test_text_colours_meet_aa(fg, bg):
    assert contrast(colour(fg), colour(bg)) >= 4.5, (fg, bg)


@pytest.mark.parametrize(("fg", "bg"), UI)
def test_bars_stand_out_from_their_track(fg, bg):
    assert contrast(colour(fg), colour(bg)) >= 3.0, (fg, bg)

"""What resizing a cover costs staff at upload and saves donors: one phone-sized photo through
images.store_cover, timed, with the bytes a phone and a desktop download against the original.

    .venv/bin/python bench/cover_images.py [--runs 5]

The photo is synthetic but photo-like (smooth gradients plus sensor-like noise, 4032 x 3024, saved
as a quality-92 JPEG as a phone would), so the encoders have real detail to compress.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageFilter

from bench.common import machine
from fundraiser import images


def phone_photo(width: int = 4032, height: int = 3024) -> bytes:
    gradient = Image.linear_gradient("L").resize((width, height))
    noise = Image.effect_noise((width, height), 40).filter(ImageFilter.GaussianBlur(1))
    photo = Image.merge("RGB", (gradient, noise, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    out = io.BytesIO()
    photo.save(out, format="JPEG", quality=92)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    data = phone_photo()
    load_before = os.getloadavg()
    timings = []
    with tempfile.TemporaryDirectory() as folder:
        for run in range(args.runs):
            started = time.perf_counter()
            stored = images.store_cover(Path(folder) / str(run), "1", data)
            timings.append(time.perf_counter() - started)
        sizes = {p.name.rsplit("-", 1)[1]: p.stat().st_size for p in (Path(folder) / "0").iterdir()}
    print(f"machine: {machine()}; load average before: {load_before}")
    print(f"original: 4032x3024 JPEG, {len(data) / 1024:,.0f} KiB; stored {stored.width}x{stored.height} largest")
    print(f"store_cover: median {statistics.median(timings):.2f} s, min {min(timings):.2f} s over {args.runs} runs")
    for name in sorted(sizes, key=lambda n: (int(n.split(".")[0]), n)):
        print(f"  {name:>9}: {sizes[name] / 1024:,.0f} KiB ({sizes[name] / len(data):.1%} of the original)")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

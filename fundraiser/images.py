"""Campaign pictures: covers and story images checked, resized and re-encoded when staff upload them.

Every upload is opened by Pillow (never trusted by its name or extension), refused when its pixel
count could decompress into a bomb, and re-encoded: whatever the file carried besides pixels
(metadata, a script hidden in a comment) is dropped, and a donor on a phone downloads a 480-pixel
WebP rather than the 5 MB photo staff took. Covers are kept at several widths, each as WebP with
a JPEG beside it for the few browsers without WebP; pages pick one through `srcset`.
"""

from __future__ import annotations

import io
import secrets
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

ACCEPTED_FORMATS = frozenset({"PNG", "JPEG", "WEBP", "GIF"})
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
# 40 megapixels: more than any phone camera, far less than a bomb's decompressed size.
MAX_PIXELS = 40_000_000
COVER_WIDTHS = (480, 960, 1600)
STORY_MAX_WIDTH = 1200
COVER_FOLDER = "covers"
STORY_FOLDER = "story"
WEBP_QUALITY = 80
JPEG_QUALITY = 82
ALT_MAX = 300
ORIENTATION_TAG = 0x0112


class ImageError(ValueError):
    """An uploaded picture we can't use; the message says why, in words staff can act on."""


@dataclass(frozen=True)
class StoredCover:
    """A cover written to disk: the name its files share and the size of the largest copy."""

    name: str
    width: int
    height: int


@dataclass(frozen=True)
class CoverSources:
    """What a `<picture>` element needs to show a cover at any width without the page shifting."""

    webp_srcset: str
    jpeg_srcset: str
    src: str
    width: int
    height: int
    alt: str


def open_checked(data: bytes, max_width: int) -> Image.Image:
    """Open an upload as a picture, refusing empty, oversized, unknown-format and bomb files;
    upright, and for a JPEG decoded no larger than `max_width` needs (a quarter of the work for a
    phone photo)."""
    if not data:
        raise ImageError("Please choose an image file.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageError(
            f"The image is {len(data) // 1024:,} KB; pictures can be at most {MAX_UPLOAD_BYTES // 1024 // 1024} MB."
        )
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its two limits; a warning here is a refusal too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=sorted(ACCEPTED_FORMATS))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError("That image is too large in pixels; please upload one under 40 megapixels.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ImageError("Pictures must be PNG, JPEG, WebP or GIF images.") from None
    if image.width * image.height > MAX_PIXELS:
        raise ImageError("That image is too large in pixels; please upload one under 40 megapixels.")
    if image.format == "JPEG":
        # Orientations 5-8 are stored sideways: the stored height becomes the shown width.
        sideways = image.getexif().get(ORIENTATION_TAG, 1) in (5, 6, 7, 8)
        stored_across = image.height if sideways else image.width
        scale = max_width / stored_across
        image.draft(None, (max(1, round(image.width * scale)), max(1, round(image.height * scale))))
    try:
        image.load()
    except (OSError, SyntaxError, ValueError):
        raise ImageError(f"This file isn't a readable {image.format} image.") from None
    # Phones store photos sideways with an orientation tag; the copies we make are upright.
    return ImageOps.exif_transpose(image)


def _encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG":
        flat = Image.new("RGB", image.size, "white")
        rgba = image.convert("RGBA")
        flat.paste(rgba, mask=rgba.getchannel("A"))
        flat.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    else:
        image.convert("RGBA" if image.mode in ("RGBA", "LA", "P", "PA") else "RGB").save(
            out, format="WEBP", quality=WEBP_QUALITY, method=4
        )
    return out.getvalue()


def _resized(image: Image.Image, width: int) -> Image.Image:
    if image.width <= width:
        return image
    height = max(1, round(image.height * width / image.width))
    return image.resize((width, height), Image.Resampling.LANCZOS)


def cover_widths(largest: int) -> list[int]:
    """The widths a cover is kept at: each standard width below its own, then its own (at most 1600)."""
    return [w for w in COVER_WIDTHS if w < largest] + [largest]


def cover_file(name: str, width: int, ext: str) -> str:
    return f"{name}-{width}.{ext}"


def check_alt(alt: str) -> str:
    """Alt text is required with a cover: the picture means nothing to a donor using a screen reader without it."""
    alt = " ".join(alt.split())
    if not alt:
        raise ImageError("Please describe the picture for donors who can't see it (alt text).")
    if len(alt) > ALT_MAX:
        raise ImageError(f"Please shorten the alt text to {ALT_MAX} characters.")
    return alt


def store_cover(folder: Path, prefix: str, data: bytes) -> StoredCover:
    """Check an uploaded cover and write WebP and JPEG copies at each width under `folder`."""
    image = open_checked(data, COVER_WIDTHS[-1])
    largest = min(image.width, COVER_WIDTHS[-1])
    name = f"{prefix}-{secrets.token_hex(8)}"
    folder.mkdir(parents=True, exist_ok=True)
    height = 0
    # Largest first, each copy made from the one before: less to resample at every step.
    for width in reversed(cover_widths(largest)):
        image = _resized(image, width)
        height = height or image.height  # the largest copy's, made first
        (folder / cover_file(name, width, "webp")).write_bytes(_encode(image, "WEBP"))
        (folder / cover_file(name, width, "jpg")).write_bytes(_encode(image, "JPEG"))
    return StoredCover(name=name, width=largest, height=height)


def cover_sources(name: str | None, width: int | None, height: int | None, alt: str, url_for_file) -> CoverSources | None:
    """The `<picture>` sources of a processed cover, or None when there is none (or it predates processing)."""
    if not name or not width or not height:
        return None
    widths = cover_widths(width)

    def srcset(ext: str) -> str:
        return ", ".join(f"{url_for_file(cover_file(name, w, ext))} {w}w" for w in widths)

    return CoverSources(
        webp_srcset=srcset("webp"), jpeg_srcset=srcset("jpg"),
        src=url_for_file(cover_file(name, widths[min(1, len(widths) - 1)], "jpg")),
        width=width, height=height, alt=alt,
    )


_story_sizes: dict[Path, tuple[int, int]] = {}


def story_image_size(path: Path) -> tuple[int, int] | None:
    """A stored story picture's (width, height), for the page to reserve its space before it loads;
    None when the file is not there. Read from the file's header once: a story picture is never
    replaced (each upload gets a new random name), so the size read holds for the process."""
    size = _story_sizes.get(path)
    if size is None:
        try:
            with Image.open(path) as image:
                size = image.size
        except (OSError, UnidentifiedImageError):
            return None
        _story_sizes[path] = size
    return size


def store_story_image(folder: Path, data: bytes) -> tuple[str, int, int]:
    """Check a picture for a campaign's story and keep it as one WebP at most 1200 pixels wide."""
    image = _resized(open_checked(data, STORY_MAX_WIDTH), STORY_MAX_WIDTH)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{secrets.token_hex(10)}.webp"
    (folder / name).write_bytes(_encode(image, "WEBP"))
    return name, image.width, image.height

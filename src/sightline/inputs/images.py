"""Turning files, bytes, PIL images and arrays into H×W×3 uint8 RGB arrays, EXIF orientation applied."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".jfif"})
MAX_PIXELS = 100_000_000  # refuse decompression bombs; PIL's own check only warns below 2x its limit
# the formats the docs promise; Pillow would otherwise try every plugin it has (EPS runs Ghostscript, and
# rarer decoders such as QOI, DDS or SPIDER raise unexpected errors on crafted bytes)
# JPEG includes MPO (phone photos); PPM is how the SDK sends raw pixels to a server on the same machine
IMAGE_FORMATS = ("JPEG", "PNG", "BMP", "WEBP", "TIFF", "GIF", "PPM")
EXIF_ORIENTATION = 0x0112
# the header ``raw_rgb_bytes`` writes (and any spacing of it): width, height, 8-bit samples, no comments
RAW_RGB_HEADER = re.compile(rb"P6\s+(\d{1,9})\s+(\d{1,9})\s+255\s")


class ImageDecodeError(ValueError):
    """The bytes are not a readable image; the message says why in words a user understands."""


def array_to_rgb(array: np.ndarray) -> np.ndarray:
    """Normalise an array to uint8 RGB: grayscale, single-channel, RGBA, 16-bit and float are handled."""
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise ImageDecodeError(f"an image array must be H×W, H×W×1, H×W×3 or H×W×4, got shape {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ImageDecodeError(f"the image array is empty (shape {a.shape})")
    if a.dtype == np.uint8:
        pass
    elif a.dtype == np.uint16:
        a = (a >> 8).astype(np.uint8)
    elif a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif np.issubdtype(a.dtype, np.floating):
        scale = 255.0 if np.nanmax(a) <= 1.0 else 1.0  # floats in [0, 1] are the usual convention
        a = np.clip(np.nan_to_num(a) * scale, 0, 255).round().astype(np.uint8)
    elif np.issubdtype(a.dtype, np.integer):
        a = np.clip(a, 0, 255).astype(np.uint8)
    else:
        raise ImageDecodeError(f"an image array of dtype {a.dtype} cannot be read as pixels")
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    elif a.shape[2] == 4:
        a = a[..., :3]
    return np.ascontiguousarray(a)


def check_pixels(width: int, height: int, max_pixels: int = MAX_PIXELS) -> None:
    """Refuse an image over ``max_pixels`` before its pixels are decoded."""
    if width * height > max_pixels:
        raise ImageDecodeError(f"the image is {width}×{height} pixels, over the limit of {max_pixels:,}")


def pil_to_rgb(image: Image.Image, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Apply EXIF orientation and convert any PIL mode to uint8 RGB.

    An upright RGB image is copied once, into the array: ``exif_transpose`` and ``convert("RGB")`` each
    return a full copy even when they change nothing (two extra passes over every decoded image, with the GIL held)."""
    check_pixels(image.width, image.height, max_pixels)
    if image.getexif().get(EXIF_ORIENTATION, 1) != 1:
        image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(image)
        if image.mode != "F" and a.max(initial=0) > 255:
            a = (a.astype(np.uint32) >> 8) if a.max() <= 65535 else a / a.max() * 255
        return array_to_rgb(np.clip(a, 0, 255).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image)


def raw_rgb_bytes(rgb: np.ndarray) -> bytes:
    """H×W×3 uint8 RGB pixels as the binary PPM that ``raw_rgb`` reads back with one copy."""
    height, width = rgb.shape[:2]
    return b"P6\n%d %d\n255\n" % (width, height) + np.ascontiguousarray(rgb).tobytes()


def raw_rgb(data: bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray | None:
    """The pixels of a binary PPM with 8-bit samples and exactly its pixels' bytes, or None for anything else.

    This is how the SDK sends in-memory pixels to a server on the same machine; through Pillow they cost
    ~0.78 ms per 640×480 image (a decode and two copies) against ~0.13 ms for one copy here, on the
    server's cores that the model shares (benchmarks/raw_pixels.py). Any other PPM (comments, 16-bit, truncated) goes to Pillow."""
    header = RAW_RGB_HEADER.match(data, 0, 32)
    if header is None:
        return None
    width, height = int(header[1]), int(header[2])
    check_pixels(width, height, max_pixels)
    if width == 0 or height == 0 or len(data) - header.end() != width * height * 3:
        return None
    # a copy: the array is the caller's to change, and bytes are read-only
    return np.frombuffer(data, np.uint8, width * height * 3, header.end()).reshape(height, width, 3).copy()


def decode_image_bytes(data: bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode encoded image bytes (JPEG, PNG, ...) to RGB; raises ``ImageDecodeError`` with a clear reason.

    The size is checked from the header, before any pixel is decoded."""
    if not data:
        raise ImageDecodeError("the file is empty (0 bytes)")
    raw = raw_rgb(data, max_pixels)
    return raw if raw is not None else decode_with_pillow(data, max_pixels)


def decode_with_pillow(data: bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """``decode_image_bytes`` for every form but the SDK's raw pixels."""
    try:
        with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as image:
            check_pixels(image.width, image.height, max_pixels)
            image.load()
            return pil_to_rgb(image, max_pixels)
    except UnidentifiedImageError:
        raise ImageDecodeError("not an image in a format sightline can read (JPEG, PNG, BMP, WebP, TIFF, GIF)") from None
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError(f"the image is too large to decode safely: {exc}") from None
    except ImageDecodeError:
        raise
    except Exception as exc:  # noqa: BLE001  any decoder failure on crafted bytes is this item's, never the request's
        raise ImageDecodeError(f"the image is corrupt or truncated ({type(exc).__name__}: {str(exc)[:200]})") from None


def read_image_file(path: str | Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read an image file from disk to RGB."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ImageDecodeError("the file does not exist") from None
    except IsADirectoryError:
        raise ImageDecodeError("this is a folder, not an image file") from None
    except OSError as exc:
        raise ImageDecodeError(f"the file could not be read ({exc.strerror or exc})") from None
    return decode_image_bytes(data, max_pixels)


def is_image_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS

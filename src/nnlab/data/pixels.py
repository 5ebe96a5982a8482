"""Images as their pixels mean: one decoder for every Pillow mode, used by the image datasets and ``predict``.

:func:`open_image` turns a file (or its bytes) into an 8-bit ``'L'`` or ``'RGB'`` Pillow image whose values mean
what the file's values meant, whatever the file's mode:

============================  ==================================================================================
file mode                     how a value ``v`` becomes an 8-bit level
============================  ==================================================================================
``1``, ``L``, ``P``, ``RGB``  as Pillow converts them (``1`` -> 0/255, ``P`` through its palette)
``CMYK``, ``YCbCr``, ``HSV``  Pillow's conversion to RGB
``LA``, ``PA``, ``RGBA``,     alpha composited over **black** (the background of nnlab's image datasets), so a
``P`` with transparency       fully transparent pixel is 0 whatever colour it hides
``I;16``, ``I;16B``, ...      16-bit unsigned: ``round(v * 255 / 65535)`` (not clipped at 255)
``I`` (32-bit int)            values in 0..65535 are read as 16-bit (``v * 255 / 65535``: Pillow's historical
                              mode for 16-bit PNGs); anything outside that range is stretched from its min..max
``F`` (32-bit float)          values in [0, 1] are fractions (``v * 255``); in [0, 255] levels as they are;
                              anything else is stretched from its min..max; NaN or inf refused
16-bit RGB (48-bit PNG)       Pillow keeps the high byte: ``v // 256``, within one level of ``v * 255 / 65535``
============================  ==================================================================================

The EXIF orientation tag is applied first (``ImageOps.exif_transpose``), as a phone's photo is shown.

Images above ``max_pixels`` pixels (default: Pillow's ``Image.MAX_IMAGE_PIXELS``, 89,478,485; raise it with
``$NNLAB_MAX_IMAGE_PIXELS`` or the ``max_pixels`` argument) are refused before they are decoded, with one line
naming the size and the limit: a decompression bomb cannot exhaust the memory.
"""

from __future__ import annotations

import io
import os
import threading
import warnings
from pathlib import Path

import numpy as np

from .paths import DataFormatError

__all__ = ["ImageTooLargeError", "open_image", "image_pixel_limit", "MAX_PIXELS_ENV"]

MAX_PIXELS_ENV = "NNLAB_MAX_IMAGE_PIXELS"
_PIL_LIMIT_LOCK = threading.Lock()


class ImageTooLargeError(DataFormatError):
    """An image with more pixels than the limit (a possible decompression bomb); the message names both."""


def image_pixel_limit(max_pixels: int | None = None) -> int:
    """The largest number of pixels :func:`open_image` decodes: ``max_pixels`` if given, else
    ``$NNLAB_MAX_IMAGE_PIXELS``, else Pillow's ``Image.MAX_IMAGE_PIXELS`` (89,478,485 by default)."""
    if max_pixels is not None:
        if isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer)) or max_pixels < 1:
            raise ValueError(f"open_image: max_pixels must be a positive int, got {max_pixels!r}")
        return int(max_pixels)
    env = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if env:
        try:
            value = int(env.replace("_", ""))
        except ValueError:
            value = 0
        if value < 1:
            raise DataFormatError(f"${MAX_PIXELS_ENV} must be a positive integer (a number of pixels), got {env!r}")
        return value
    from PIL import Image

    return int(Image.MAX_IMAGE_PIXELS or 89_478_485)


def _too_large(where: str, width: int, height: int, limit: int) -> ImageTooLargeError:
    return ImageTooLargeError(
        f"{where}: image of {width}x{height} = {width * height:,} pixels is above the limit of {limit:,} pixels "
        f"(a possible decompression bomb); if you trust the file, raise the limit with "
        f"{MAX_PIXELS_ENV}={width * height}"
    )


def _open(data: bytes, where: str, limit: int):
    """``Image.open`` with Pillow's own bomb check replaced by ours (no warning leaks onto stderr)."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with _PIL_LIMIT_LOCK:
            saved = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None  # our check below, with our limit and message
            try:
                img = Image.open(io.BytesIO(data))
            finally:
                Image.MAX_IMAGE_PIXELS = saved
    if img.width * img.height > limit:
        raise _too_large(where, img.width, img.height, limit)
    return img


def _to_8bit(img, where: str):
    """A Pillow image of any mode -> 8-bit 'L' or 'RGB'/'RGBA' image whose levels follow the value range."""
    from PIL import Image

    mode = img.mode
    if mode.startswith("I;16") or mode == "I":
        a = np.asarray(img).astype(np.float64)
        if mode == "I" and (a.size and (a.min() < 0 or a.max() > 65535)):
            lo, hi = float(a.min()), float(a.max())
            levels = (a - lo) * (255.0 / (hi - lo))
        else:
            levels = a * (255.0 / 65535.0)
        return Image.fromarray(np.clip(np.rint(levels), 0, 255).astype(np.uint8), "L")
    if mode == "F":
        a = np.asarray(img).astype(np.float64)
        if not np.isfinite(a).all():
            bad = int(a.size - np.count_nonzero(np.isfinite(a)))
            raise DataFormatError(f"{where}: the image holds {bad} NaN or infinite pixel values; expected finite "
                                  "values")
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
        if lo >= 0 and hi <= 1:
            levels = a * 255.0
        elif lo >= 0 and hi <= 255:
            levels = a
        else:
            levels = (a - lo) * (255.0 / (hi - lo))
        return Image.fromarray(np.clip(np.rint(levels), 0, 255).astype(np.uint8), "L")
    if mode == "P" and "transparency" in img.info:
        return img.convert("RGBA")
    if mode == "PA":
        return img.convert("RGBA")
    if mode in ("LA", "La"):
        return img.convert("LA")
    if mode in ("RGBA", "RGBa"):
        return img.convert("RGBA")
    return img


def _flatten_alpha(img):
    """Composite an image with alpha over black; 'LA' -> 'L', 'RGBA' -> 'RGB'."""
    from PIL import Image

    if img.mode not in ("LA", "RGBA"):
        return img
    a = np.asarray(img).astype(np.float64)
    alpha = a[..., -1:] / 255.0
    out = np.rint(a[..., :-1] * alpha).astype(np.uint8)
    return Image.fromarray(out[..., 0], "L") if img.mode == "LA" else Image.fromarray(out, "RGB")


def open_image(source: str | os.PathLike | bytes, mode: str = "RGB", where: str | None = None,
               max_pixels: int | None = None, draft_size: int | None = None):
    """Decode an image file (or its bytes) into an 8-bit Pillow image of ``mode`` ('L' or 'RGB') by value range.

    Parameters
    ----------
    source : a path or the file's bytes.
    mode : 'L' (one grey channel) or 'RGB'.
    where : how messages name the image (default: the path).
    max_pixels : refuse images with more pixels (default :func:`image_pixel_limit`).
    draft_size : for a JPEG, let Pillow decode at a reduced scale that is still at least this size.

    Returns
    -------
    A loaded ``PIL.Image.Image`` of ``mode``, EXIF orientation applied, alpha composited over black, high bit
    depths scaled by their range (see the module docstring).

    Raises :class:`~nnlab.data.paths.DataNotFoundError`/``PermissionError`` for a file that is missing or not
    readable, :class:`ImageTooLargeError` above the pixel limit and :class:`DataFormatError` for a file that is
    not a readable image.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if mode not in ("L", "RGB"):
        raise ValueError(f"open_image: mode must be 'L' or 'RGB', got {mode!r}")
    limit = image_pixel_limit(max_pixels)
    if isinstance(source, (bytes, bytearray)):
        data, where = bytes(source), where or "<image bytes>"
    else:
        path = Path(source).expanduser()
        where = where or str(path)
        if path.is_dir():
            raise DataFormatError(f"{where}: is a folder, not an image file")
        data = path.read_bytes()  # FileNotFoundError / PermissionError say what they are
    try:
        img = _open(data, where, limit)
        if draft_size is not None and img.format == "JPEG":
            img.draft(mode, (2 * draft_size, 2 * draft_size))
        img = ImageOps.exif_transpose(img)
        img = _flatten_alpha(_to_8bit(img, where))
        img = img.convert(mode)
        img.load()
    except ImageTooLargeError:
        raise
    except DataFormatError:
        raise
    except Image.DecompressionBombError as exc:  # pragma: no cover - our check runs first
        raise DataFormatError(f"{where}: {exc}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        why = "not an image format Pillow knows" if isinstance(exc, UnidentifiedImageError) else \
            " ".join(str(exc).split())
        raise DataFormatError(f"cannot decode {where} ({why}); it is not a readable image (expected a PNG or "
                              "JPEG file, or another format Pillow reads)") from None
    return img
